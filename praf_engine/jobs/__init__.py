"""Jobs: the registry of runnable jobs, the runner (cron_status rows, locks, run_id) and the scheduler."""

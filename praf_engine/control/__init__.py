"""The control plane: the database is how any process steers jobs of the home — requests to run a job now
(``requests``), progress and stop requests of running jobs (``progress``), pauses (job_control). ADR 0014."""

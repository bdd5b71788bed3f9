"""The scheduler's process: SchedulerHost (lock, heartbeat, loop), the daemon entry, sd_notify, `praf-engine status`."""

from praf_engine.daemon.host import SchedulerHost

__all__ = ["SchedulerHost"]

"""The scheduler: the table (``plan``) and PipelineScheduler (``core``), hosted by the daemon or the TUI.

Import the submodule you need: importing ``praf_engine.scheduler.plan`` (the job order, read by the service's
scheduler state on every poll) must not load ``core`` (schedule, the runner, the request queue: ~25 ms), which only
a process that hosts the scheduler uses.
"""

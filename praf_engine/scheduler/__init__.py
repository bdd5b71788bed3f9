"""The scheduler core: the table (plan.py) and PipelineScheduler (core.py), hosted by the daemon or the TUI."""

from praf_engine.scheduler.core import PipelineScheduler
from praf_engine.scheduler.plan import Plan, Slot, build_plan

__all__ = ["PipelineScheduler", "Plan", "Slot", "build_plan"]

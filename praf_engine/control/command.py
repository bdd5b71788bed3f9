"""The control plane's commands: `praf-engine pause JOB`, `resume JOB`, `stop RUN_ID|JOB` and `run JOB --detach`
(with the detached process's own `run JOB --request ID`); cli.py only registers them."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from praf_engine.errors import PipelineError
from praf_engine.wiring import Wiring


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("pause", parents=[common], help="pause a job: the scheduler records its scheduled runs as skipped "
                       "(JOBPAUSED) until `resume`; requests and `run` still run it")
    p.add_argument("job")
    p = sub.add_parser("resume", parents=[common], help="resume a paused job: its next scheduled time runs it")
    p.add_argument("job")
    p = sub.add_parser("stop", parents=[common], help="ask a running job (run id, or job name) to finish its current batch and "
                       "end INTERRUPTED, whichever process runs it")
    p.add_argument("target", metavar="RUN_ID|JOB")


def run_control_command(service: Any, args: argparse.Namespace) -> int:
    """pause / resume / stop through the service (the same calls as the TUI's Scheduler screen)."""
    out = Console(stderr=True)
    if args.command == "stop":
        run = service.stop_job(args.target)
        out.print(f"stop requested: {run.job} run {run.run_id} (started {run.started_at:%Y-%m-%d %H:%M} UTC, pid "
                  f"{run.pid}@{run.host}) finishes its current batch and ends INTERRUPTED", markup=False)
        return 0
    was = (service.pause_job if args.command == "pause" else service.resume_job)(args.job, by="cli")
    state = "paused" if args.command == "pause" else "resumed"
    already = (was and args.command == "pause") or (not was and args.command == "resume")
    out.print(f"job {args.job} {'was already' if already else 'is now'} {state}"
              + (": its scheduled runs are recorded as skipped (JOBPAUSED) until `praf-engine resume`" if args.command == "pause" else ""),
              markup=False)
    return 0


def run_detached(wiring: Wiring, args: argparse.Namespace) -> int:
    """`run JOB --detach`: request the job (the live scheduler, else a detached process) and return at once.
    `run JOB --request ID`: the detached process itself, running request ID."""
    from praf_engine.control.requests import request_job, requester, run_request

    out = Console(stderr=True)
    if args.request is not None:
        return run_request(wiring, args.request, expect_job=args.job)
    info = request_job(wiring, args.job, None, requester("cli"))
    if info.route == "scheduler":
        out.print(f"job {args.job}: request {info.id} handed to the home's scheduler, which starts it within 2 s "
                  "(`praf-engine status` shows it)", markup=False)
    elif info.pid is None:
        raise PipelineError("INTERNAL", f"request {info.id} of job {args.job} has no process", {"request": info.id})
    else:
        out.print(f"job {args.job}: started as detached process {info.pid} (request {info.id}); it outlives this shell. "
                  "Follow it with `praf-engine status`; stop it with `praf-engine stop " + args.job + "`", markup=False)
    return 0

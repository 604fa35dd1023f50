"""Scheduled work: refresh, purge and budget-reset jobs over named key sets.

Jobs are declared in config (``[[jobs]]``, ``[keysets]``) or at runtime, and run through the
public [`Orchestrator`][polysource.Orchestrator] API, so every provider call goes through the normal
pipeline (cache, single-flight, breakers, rate limits, budgets). Without a job runner plugin an
in-process [`Scheduler`][polysource.jobs.Scheduler] runs them on the orchestrator's clock; a
plugin's
``job_runner`` hook can run them elsewhere (a worker fleet) instead, with the same
definitions.
"""

from __future__ import annotations

from polysource.jobs.model import Job, JobInfo, KeySet, Schedule, parse_interval
from polysource.jobs.scheduler import Jobs, Scheduler

__all__ = ["Job", "JobInfo", "Jobs", "KeySet", "Schedule", "Scheduler", "parse_interval"]

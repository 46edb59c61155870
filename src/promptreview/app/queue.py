"""The work queue: huey, on its SQLite backend inside ``serve`` or on Redis with ``worker`` processes.

Why huey (the README has the longer argument): it has exactly the two backends this product
needs behind one API, SQLite (one command, nothing else to run) and Redis (any number of workers
on any number of machines), plus a key-value store and counters on the same backend, which hold
the ledger, leases and metrics (``state.py``). Celery needs a broker even on one machine, RQ and
Dramatiq have no embedded backend.

A job's life: ``submit`` (webhook handler) records it in the ledger and enqueues its id; a worker
takes it (:meth:`Queue.execute`), drops it if a newer push superseded it, waits (re-scheduled a
second later) while its PR or its installation's slots are busy, then runs it holding three leases
that a heartbeat renews; it leaves the ledger only when it has finished. ``reap`` re-queues a
job whose run lease expired (its worker died).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from promptreview.app.config import AppConfig
from promptreview.app.events import Job
from promptreview.app.log import JobLog, emit
from promptreview.app.state import OWNER, Lease, State
from promptreview.github.core import Superseded

TASK_NAME = "promptreview.review"
BUSY_RETRY_S = 1.0


def make_huey(config: AppConfig) -> Huey:
    if config.queue_url is None:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("promptreview", filename=str(config.state_dir / "queue.sqlite"), results=False)
    return RedisHuey("promptreview", url=config.queue_url, results=False)


Runner = Callable[[AppConfig, Job, JobLog, Callable[[], None]], tuple[Any, int]]


class Queue:
    """Submitting and executing jobs, with the guarantees the module docstring lists."""

    def __init__(self, config: AppConfig, runner: Runner | None = None) -> None:
        self.config = config
        self.huey = make_huey(config)
        self.state = State(self.huey, config.lease_s)
        self._runner = runner
        self.task = self.huey.task(name=TASK_NAME)(self.execute)

    # -- the server's side --------------------------------------------------------------------------
    def submit(self, job: Job) -> str:
        """Record and enqueue ``job``; a push first bumps its PR's generation (superseding older jobs)."""
        generation = self.state.new_push(job.pr_key) if job.push else self.state.generation(job.pr_key)
        job_id = uuid.uuid4().hex[:16]
        self.state.record(job_id, job, generation)
        self.task(job_id)
        self.state.count("jobs_submitted_total")
        return job_id

    def reap(self, *, everything_running: bool = False) -> list[str]:
        """Re-queue orphaned jobs; at an embedded server's start every "running" job is one."""
        found = [
            job_id
            for job_id, entry in self.state.entries()
            if entry.get("state") == "running"
            and (everything_running or not self.state.run_lease(job_id).is_live())
        ]
        for job_id in found:
            self.state.storage.delete_data(f"run:{job_id}")
            self.state.mark(job_id, state="queued")
            self.task(job_id)
            self.state.count("jobs_requeued_total")
            emit("warning", "re-queued a job whose worker stopped", job=job_id)
        return found

    def pending(self) -> int:
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    # -- the worker's side ----------------------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        entry = self.state.entry(job_id)
        if entry is None:
            return  # finished already (a duplicate enqueue)
        job = Job.from_json(entry["job"])
        owner = f"{OWNER}:{uuid.uuid4().hex[:8]}"
        context = {
            "delivery": job.delivery,
            "job": job_id,
            "repo": job.repo,
            "pr": job.pr_number,
            "sha": job.head_sha,
            "event": job.event,
        }
        run = self.state.run_lease(job_id, owner)
        if not run.acquire():
            return  # another worker runs it
        generation = int(entry.get("gen", 0))
        if self.state.generation(job.pr_key) > generation:
            self._finish(job_id, [run], "superseded", context, 0.0)
            return
        held = self._admit(job, owner, run, context)
        if held is None:
            return
        self.state.mark(job_id, state="running", attempts=int(entry.get("attempts", 0)) + 1)
        self._run(job_id, job, generation, held, context)

    def _admit(self, job: Job, owner: str, run: Lease, context: dict[str, Any]) -> list[Lease] | None:
        """Take the PR's lease and an installation slot, or re-schedule the job and give back the rest."""
        pr = self.state.pr_lease(job.pr_key, owner)
        if not pr.acquire():
            run.release()
            self.task.schedule((context["job"],), delay=BUSY_RETRY_S)
            return None
        slot = self.state.installation_slot(job.installation_id, self.config.installation_limit, owner)
        if slot is None:
            pr.release()
            run.release()
            self.task.schedule((context["job"],), delay=BUSY_RETRY_S)
            emit("info", "installation at its job limit; job waits", **context)
            return None
        return [run, pr, slot]

    def _run(
        self, job_id: str, job: Job, generation: int, held: list[Lease], context: dict[str, Any]
    ) -> None:
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(held, stop, self.config.lease_s / 3), daemon=True)
        beat.start()
        log = JobLog(context)
        started = time.monotonic()
        outcome, calls = "error", 0

        def cancelled() -> None:
            if self.state.generation(job.pr_key) > generation:
                raise Superseded("a newer push to the pull request superseded this job")

        emit("info", "job started", **context)
        try:
            finished, calls = self._runner_fn()(self.config, job, log, cancelled)
            summary = getattr(finished, "summary", None)
            outcome = _outcome(finished, summary)
        except Superseded:
            outcome = "superseded"
        except Exception as exc:  # one job's bug must not take the worker down
            log.error(f"job failed: {type(exc).__name__}: {exc}")
        finally:
            stop.set()
            beat.join(timeout=5)
        self.state.count("model_calls_total", calls)
        self._finish(job_id, held, outcome, context, time.monotonic() - started)

    def _runner_fn(self) -> Runner:
        if self._runner is None:
            from promptreview.app.job import run_job

            self._runner = run_job
        return self._runner

    def _finish(
        self, job_id: str, held: list[Lease], outcome: str, context: dict[str, Any], seconds: float
    ) -> None:
        self.state.forget(job_id)
        for lease in reversed(held):
            lease.release()
        self.state.count(f"jobs_finished_total:{outcome}")
        self.state.count("job_duration_ms_sum", seconds * 1000)
        self.state.count("job_duration_count")
        emit("info", f"job finished: {outcome}", outcome=outcome, seconds=round(seconds, 3), **context)


def _outcome(finished: Any, summary: Any) -> str:
    if getattr(finished, "internal", False) or getattr(finished, "usage", False):
        return "error"
    if summary is None:
        return "error"
    if summary.verdict == "skipped":
        return "skipped"
    return str(summary.conclusion)


def _heartbeat(leases: list[Lease], stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        for lease in leases:
            try:
                lease.renew()
            except Exception as exc:  # storage hiccup: the next beat tries again
                emit("warning", f"could not renew a lease: {type(exc).__name__}: {exc}")

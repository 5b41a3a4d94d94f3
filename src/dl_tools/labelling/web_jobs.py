"""The web labeller's computations, off the request threads: one worker thread runs them in turn.

A CRF cannot be stopped half-way, so a second "compute" of an image cancels the first while it still waits and
queues behind it once it runs; the page follows the job it asked for last (``status``). Saving goes through the
same worker, so it never runs beside a computation of the same strokes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import DlToolsError

log = logging.getLogger(__name__)

#: Finished jobs kept for ``status`` (the oldest are forgotten first).
KEPT_JOBS = 200
#: What a failed job reports when the error is a bug, not bad input (the traceback is in the server's log).
INTERNAL_ERROR = "internal error: see the messages in the server's terminal"


@dataclass
class Job:
    """One computation: ``key`` (the image's name), its state ("queued", "running", "done", "failed",
    "cancelled"), its result or one-line error, and its run time in seconds."""

    id: int
    key: str
    kind: str
    state: str = "queued"
    result: Any = None
    error: str | None = None
    seconds: float = 0.0
    future: Future | None = field(default=None, repr=False)

    def status(self) -> dict:
        return {"job": self.id, "image": self.key, "kind": self.kind, "state": self.state, "error": self.error,
                "seconds": round(self.seconds, 3)}


class Jobs:
    """The single worker thread of the computations and the record of their states."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dl-tools-compute")
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, key: str, kind: str, work: Callable[[], Any]) -> Job:
        """Queue ``work()`` for image ``key``; a queued job of the same key and kind is cancelled (the newer
        request replaces it)."""
        with self._lock:
            for job in self._jobs.values():
                if job.key == key and job.kind == kind and job.state == "queued" and job.future.cancel():
                    job.state = "cancelled"
            job = Job(next(self._ids), key, kind)
            self._jobs[job.id] = job
            job.future = self._pool.submit(self._run, job, work)
            for old in list(self._jobs)[:-KEPT_JOBS]:
                if self._jobs[old].state not in ("queued", "running"):
                    del self._jobs[old]
        return job

    def _run(self, job: Job, work: Callable[[], Any]) -> Any:
        job.state = "running"
        started = time.perf_counter()
        try:
            job.result = work()
            job.state = "done"
        except DlToolsError as exc:  # bad input (no strokes, an image that cannot be read): the page says why
            job.error, job.state = str(exc), "failed"
        except Exception:  # a bug: the traceback goes to the terminal, the page gets one line
            log.exception("the %s of %s failed", job.kind, job.key)
            job.error, job.state = INTERNAL_ERROR, "failed"
        finally:
            job.seconds = time.perf_counter() - started
        return job.result

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    async def wait(self, job: Job) -> Job:
        """Wait, without blocking the server, until ``job`` ends; returns it."""
        try:
            await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            if not job.future.cancelled():  # the request itself was cancelled (the page went away)
                raise
        return job

    def shutdown(self) -> None:
        """Cancel the queued computations, then wait for the running job and the queued saves (a save asked for
        is done; its outputs are written atomically anyway)."""
        with self._lock:
            for job in self._jobs.values():
                if job.kind == "compute" and job.state == "queued" and job.future.cancel():
                    job.state = "cancelled"
        self._pool.shutdown(wait=True)

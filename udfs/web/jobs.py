"""A bounded pool of worker processes for analysis jobs, with a time limit per job.

At most ``workers`` jobs run at once, each in its own process (so a job past its
``timeout`` is killed without harming the server or other jobs) and at most
``max_queued`` wait; more are refused (:class:`PoolFull`, HTTP 429). Finished jobs
are kept, newest ``keep`` of them, for their results to be fetched.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from udfs.web.worker import JobInput, run_job

__all__ = ["Job", "JobPool", "PoolFull"]

log = logging.getLogger("udfs.web")


class PoolFull(RuntimeError):
    """Too many jobs queued."""


@dataclass
class Job:
    """One analysis: its state (queued, running, done, failed) and its output."""

    id: str
    input: JobInput
    status: str = "queued"
    error: str | None = None
    output: dict[str, Any] = field(default_factory=dict)
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None


def _child(job: JobInput, conn: Any) -> None:
    conn.send(run_job(job))
    conn.close()


class JobPool:
    """Run jobs in at most ``workers`` processes at once; kill one after ``timeout`` seconds."""

    def __init__(self, *, workers: int = 2, max_queued: int = 16, timeout: float = 300.0, keep: int = 100) -> None:
        self.workers = workers
        self.max_queued = max_queued
        self.timeout = timeout
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._queue: list[Job] = []
        self._lock = threading.Condition()
        self._running = 0
        self._processes: set[Any] = set()
        self._closed = False
        self._context = multiprocessing.get_context("spawn")
        self._threads = [threading.Thread(target=self._serve, name=f"udfs-web-worker-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, job_input: JobInput) -> Job:
        with self._lock:
            if self._closed:
                raise PoolFull("the server is shutting down")
            if len(self._queue) >= self.max_queued:
                raise PoolFull(f"{len(self._queue)} jobs are waiting already; try again later")
            job = Job(uuid.uuid4().hex, job_input)
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep + self.max_queued + self.workers:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
            self._queue.append(job)
            self._lock.notify()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"workers": self.workers, "running": self._running, "queued": len(self._queue),
                    "max_queued": self.max_queued}

    def _serve(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._queue.pop(0)
                job.status = "running"
                job.started = time.time()
                self._running += 1
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running -= 1
                    job.finished = time.time()
                    job.input = {}  # drop the upload

    def _run(self, job: Job) -> None:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_child, args=(job.input, send), daemon=True)
        with self._lock:
            if self._closed:
                return
            process.start()
            self._processes.add(process)
        send.close()
        output: dict[str, Any] | None = None
        if receive.poll(self.timeout):
            try:
                output = receive.recv()
            except EOFError:
                output = None
        receive.close()
        process.join(5 if output is not None else 0.1)
        if process.is_alive():
            process.kill()
            process.join()
        with self._lock:
            self._processes.discard(process)
        if output is None:
            timed_out = time.time() - (job.started or 0) >= self.timeout
            job.status = "failed"
            job.error = (f"time limit of {self.timeout:g}s exceeded; the job was stopped" if timed_out
                         else f"the worker died (exit code {process.exitcode})")
        elif "error" in output:
            job.status = "failed"
            job.error = output["error"]
            if "traceback" in output:
                log.error("job %s: %s", job.id, output["traceback"])
        else:
            job.status = "done"
            job.output = output
        log.info("job %s %s in %.1fs", job.id, job.status, time.time() - (job.started or 0))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            running = list(self._processes)
        for process in running:  # a job cut short by shutdown fails; the server must not hang
            process.kill()
        for thread in self._threads:
            thread.join(timeout=10)

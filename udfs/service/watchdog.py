"""``udfs watchdog``: re-enable Kapacitor tasks that stopped because their UDF went away.

Kapacitor (1.5 - 1.8) stops a task for good when one of its UDFs dies: a killed process
UDF or a restarted ``udfs serve`` leaves the task ``status: enabled`` but ``executing:
false``, with an error such as ``write error: write |1: broken pipe``, until someone
runs ``kapacitor disable`` and ``kapacitor enable``. The watchdog does exactly that,
through the HTTP API: it polls ``GET /kapacitor/v1/tasks`` and PATCHes each failed task
``disabled`` then ``enabled`` (an ``enabled`` -> ``enabled`` PATCH changes nothing in
Kapacitor).

Per task, retries back off: the first attempt is immediate, the next ones wait 1 s,
2 s, 4 s ... up to ``max_delay``; once a task has stayed executing for ``stable``
seconds after an attempt, it starts again from an immediate attempt. A failed task
whose error is empty is touched only when a second poll still sees it so: a task that
someone is enabling at that very moment is briefly enabled, not executing and without
an error, and must be left alone. Disabled tasks are never touched.

A UDF that goes away while no point comes leaves its task ``executing: true`` with no
error; Kapacitor only logs ``keepalive timedout``. With ``follow_log`` the watchdog reads
Kapacitor's log stream (:mod:`udfs.service.keepalive_log`) and restarts such tasks too.

Inside ``udfs serve`` (``--kapacitor-url``) the first poll also restarts the executing
tasks that call the server's UDFs: a server that has just started has no connection
yet, so such a task is still attached to the previous server's closed socket (Kapacitor
1.5.7 keeps it "executing" until its next point, which fails and is lost) or waits in
Kapacitor's dial backoff (up to a minute between dials) for the socket to come back.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import click

from udfs.cli import _LOG_LEVELS, _log_format_option, _seconds, _setup_logging
from udfs.io.kapacitor import KapacitorAPI, KapacitorError, TaskState, api_from_options, connection_options
from udfs.service.keepalive_log import KeepaliveTimeouts

__all__ = ["Attempt", "TaskWatchdog", "uses_udf", "watchdog"]

log = logging.getLogger("udfs.watchdog")

_UDF_CALL = re.compile(r"@(\w+)\s*\(")


def uses_udf(script: str, names: Iterable[str]) -> bool:
    """Whether the TICKscript ``script`` calls one of the UDFs ``names`` (``@name(``).

    >>> uses_udf("stream|from()@sigma().field('v')", ["sigma", "mad"])
    True
    >>> uses_udf("stream|from()|log()", ["sigma"])
    False
    """
    wanted = set(names)
    return any(match.group(1) in wanted for match in _UDF_CALL.finditer(script))


@dataclass(frozen=True)
class Attempt:
    """One re-enable of one task and what came of it."""

    task: str
    attempt: int  # 1 for the first attempt since the task last ran stably
    error: str  # why the task had stopped, as Kapacitor saved it
    executing: bool  # executing right after the attempt
    outcome: str  # what happened, for the log
    next_delay: float  # seconds before another attempt may follow


@dataclass
class _Retry:
    attempts: int = 0
    last_attempt: float = 0.0
    next_try: float = 0.0
    silent_seen: bool = False  # seen failed without an error once already


class TaskWatchdog:
    """Finds enabled tasks that are not executing and re-enables them, with per-task backoff.

    Parameters
    ----------
    api:
        The Kapacitor to watch.
    patterns:
        Only tasks whose id matches one of these globs (``fnmatch``); empty: every task.
    udfs:
        Only tasks whose script calls one of these UDFs; empty: any task.
    first_delay, max_delay:
        Seconds before the second attempt, doubled after each failed one up to ``max_delay``.
    stable:
        Seconds a task must stay executing after an attempt before its backoff is forgotten.
    confirm_silent:
        Wait for a second sighting of a failed task without an error (see the module docs);
        off for a one-shot run, where there is no second poll.
    follow_log:
        Also follow Kapacitor's log (in :meth:`run`) and restart the executing tasks it says
        lost their UDF (``keepalive timedout``; see :mod:`udfs.service.keepalive_log`).
    reattach_first:
        On the first poll, also restart the watched tasks that are executing. For the
        watchdog of a ``udfs serve`` that has just started: no task can be attached to
        it yet, so an executing task calling its UDFs is still attached to the previous
        server's closed connection (Kapacitor notices only when the task's next point
        arrives, and loses that point) or is waiting in Kapacitor's dial backoff.
    clock:
        Monotonic seconds (a fake one in tests).
    """

    def __init__(self, api: KapacitorAPI, *, patterns: Iterable[str] = (), udfs: Iterable[str] = (),
                 first_delay: float = 1.0, max_delay: float = 60.0, stable: float = 60.0,
                 confirm_silent: bool = True, follow_log: bool = False, reattach_first: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.patterns = tuple(patterns)
        self.udfs = tuple(udfs)
        self.first_delay, self.max_delay, self.stable = first_delay, max(max_delay, first_delay), stable
        self.confirm_silent = confirm_silent
        self._reattach = reattach_first
        self.keepalive = KeepaliveTimeouts() if follow_log else None
        self._lost: dict[str, str] = {}  # executing tasks whose UDF stopped answering keepalives
        self._clock = clock
        self._retries: dict[str, _Retry] = {}
        self._disabled_by_us: set[str] = set()  # disabled, enable not yet answered
        self._unreachable: str | None = None  # the last "cannot reach" message, logged once

    def watched(self, task: TaskState) -> bool:
        """Whether ``task`` is one this watchdog looks after (its id and UDF filters)."""
        if self.patterns and not any(fnmatch.fnmatchcase(task.id, pattern) for pattern in self.patterns):
            return False
        return not self.udfs or uses_udf(task.script, self.udfs)

    def check(self) -> list[Attempt]:
        """One poll: re-enable each watched failed task whose backoff allows it; what was done.

        Raises :class:`KapacitorError` when the task list cannot be read.
        """
        reattach, self._reattach = self._reattach, False  # only if the first poll gets the list
        if self.keepalive is not None:
            self._lost.update(self.keepalive.take())
        tasks = [task for task in self.api.tasks(with_script=bool(self.udfs)) if self.watched(task)]
        now = self._clock()
        attempts = []
        present = {task.id for task in tasks}
        for ident in set(self._retries) - present:
            del self._retries[ident]  # deleted (or renamed) meanwhile
        self._lost = {ident: error for ident, error in self._lost.items() if ident in present}
        self._disabled_by_us &= present
        for task in tasks:
            if task.id in self._disabled_by_us and task.status == "disabled":
                attempts.append(self._enable_again(task, now))  # our disable went through, our enable did not
                continue
            self._disabled_by_us.discard(task.id)
            if reattach and task.status == "enabled" and task.executing:
                fresh = self._retries[task.id] = _Retry()
                attempts.append(self._reenable(task, fresh, now, "it was executing, but attached to no server "
                                                                "(this udfs serve has just started)"))
                continue
            retry = self._retries.get(task.id)
            lost = self._lost.pop(task.id, None)  # stopped or disabled meanwhile: nothing more to it
            if lost is not None and task.status == "enabled" and task.executing:
                retry = self._retries.setdefault(task.id, _Retry())
                if now >= retry.next_try:
                    attempts.append(self._reenable(task, retry, now, f"it was executing, but its UDF is gone: {lost}"))
                else:
                    self._lost[task.id] = lost  # when the backoff allows
                continue
            if not task.failed:
                if retry is not None and (task.status != "enabled" or not retry.attempts
                                          or now - retry.last_attempt >= self.stable):
                    del self._retries[task.id]  # running stably (or disabled by someone): start afresh
                continue
            if retry is None:
                retry = self._retries[task.id] = _Retry()
            if not task.error and self.confirm_silent and not retry.silent_seen:
                retry.silent_seen = True  # perhaps being enabled right now: look again next poll
                continue
            if now >= retry.next_try:
                attempts.append(self._reenable(task, retry, now, f"it had stopped: {task.error or 'no error saved'}"))
        return attempts

    def _delay(self, attempts: int) -> float:
        return float(min(self.first_delay * 2 ** (attempts - 1), self.max_delay))

    def _reenable(self, task: TaskState, retry: _Retry, now: float, why: str) -> Attempt:
        retry.attempts += 1
        retry.last_attempt = now
        retry.silent_seen = False
        delay = self._delay(retry.attempts)
        retry.next_try = now + delay
        started = time.monotonic()
        try:
            self.api.set_status(task.id, "disabled")
        except KapacitorError as exc:
            return self._report(task, retry.attempts, why, executing=False, delay=delay,
                                outcome=f"could not disable it: {exc.reason or exc}")
        self._disabled_by_us.add(task.id)
        return self._finish_enable(task, retry.attempts, why, delay, started)

    def _enable_again(self, task: TaskState, now: float) -> Attempt:
        retry = self._retries.setdefault(task.id, _Retry(attempts=1, last_attempt=now))
        return self._finish_enable(task, retry.attempts, "an earlier attempt left it disabled",
                                   self._delay(retry.attempts), time.monotonic())

    def _finish_enable(self, task: TaskState, attempt: int, why: str, delay: float, started: float) -> Attempt:
        try:
            answer = self.api.set_status(task.id, "enabled")
        except KapacitorError as exc:
            if exc.status is not None:
                # Kapacitor answered: it stores the status before starting the task, so the
                # task is enabled again even when starting it failed (a missing UDF socket).
                self._disabled_by_us.discard(task.id)
            return self._report(task, attempt, why, executing=False, delay=delay,
                                outcome=f"re-enabling failed: {exc.reason or exc}")
        self._disabled_by_us.discard(task.id)
        took = (time.monotonic() - started) * 1000
        if answer.get("executing"):
            return self._report(task, attempt, why, executing=True, delay=delay,
                                outcome=f"re-enabled in {took:.0f} ms, executing")
        why = answer.get("error") or "no error given"
        error = answer.get("error") or "no error given"
        return self._report(task, attempt, why, executing=False, delay=delay,
                            outcome=f"re-enabled in {took:.0f} ms but not executing: {error}")

    def _report(self, task: TaskState, attempt: int, why: str, *, executing: bool, delay: float,
                outcome: str) -> Attempt:
        if executing:
            log.info("task %s: %s (attempt %d; %s)", task.id, outcome, attempt, why)
        else:
            log.warning("task %s: %s (attempt %d; %s); next attempt in %g s", task.id, outcome, attempt, why, delay)
        return Attempt(task=task.id, attempt=attempt, error=task.error, executing=executing, outcome=outcome,
                       next_delay=delay)

    def poll(self) -> list[Attempt]:
        """:meth:`check`, with Kapacitor being unreachable logged once per outage instead of raised."""
        try:
            attempts = self.check()
        except KapacitorError as exc:
            if str(exc) != self._unreachable:
                log.warning("%s; trying again", exc)
                self._unreachable = str(exc)
            return []
        if self._unreachable is not None:
            log.info("Kapacitor at %s answers again", self.api.url)
            self._unreachable = None
        return attempts

    def run(self, stop: threading.Event, *, interval: float = 2.0) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        log.info("watching the tasks of Kapacitor at %s every %g s%s", self.api.url, interval, self._scope())
        if self.keepalive is not None:
            self.keepalive.start(self.api, stop)
        while not stop.is_set():
            self.poll()
            stop.wait(interval)

    def _scope(self) -> str:
        parts = []
        if self.patterns:
            parts.append("whose id matches " + " or ".join(self.patterns))
        if self.udfs:
            parts.append("calling " + " or ".join(f"@{name}()" for name in self.udfs))
        return f", only tasks {' and '.join(parts)}" if parts else ""

    def start(self, stop: threading.Event, *, interval: float = 2.0) -> threading.Thread:
        """Run :meth:`run` in a daemon thread until ``stop`` is set."""
        thread = threading.Thread(target=self.run, args=(stop,), kwargs={"interval": interval},
                                  name="udfs-watchdog", daemon=True)
        thread.start()
        return thread


@click.command()
@connection_options()
@click.option("--interval", default="2s", show_default=True, callback=_seconds, metavar="DURATION",
              help="How often Kapacitor's task list is read (500ms, 2s, 1m ...).")
@click.option("--max-backoff", default="60s", show_default=True, callback=_seconds, metavar="DURATION",
              help="Longest wait between two attempts at one task: the first attempt is immediate, the next ones "
                   "wait 1s, 2s, 4s ... up to this.")
@click.option("--task", "patterns", multiple=True, metavar="GLOB",
              help="Only tasks whose id matches GLOB (repeatable; default: every task).")
@click.option("--udf", "udf_names", multiple=True, metavar="NAME",
              help="Only tasks whose TICKscript calls @NAME() (repeatable; default: any task).")
@click.option("--follow-log/--no-follow-log", default=True, show_default=True,
              help="Also follow Kapacitor's log (/kapacitor/v1preview/logs) and restart the tasks whose UDF stopped "
                   "answering keepalives while no point came (Kapacitor keeps those 'executing').")
@click.option("--once", is_flag=True,
              help="One pass, then exit: 0 when every watched enabled task executes afterwards, 1 otherwise.")
@click.option("--timeout", default="10s", show_default=True, callback=_seconds, metavar="DURATION",
              help="How long each request to Kapacitor may take.")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True)
@_log_format_option
def watchdog(kapacitor_url: str, kapacitor_username: str | None, kapacitor_password: str | None, interval: float,
             max_backoff: float, patterns: tuple[str, ...], udf_names: tuple[str, ...], follow_log: bool, once: bool,
             timeout: float,
             log_level: str, log_format: str) -> None:
    """Re-enable Kapacitor tasks that stopped because a UDF went away.

    Kapacitor stops a task when its UDF dies (a killed process UDF, a restarted
    `udfs serve`) and never restarts it: the task stays enabled but not executing.
    This polls the task list and, for each such task, does what `kapacitor disable`
    + `kapacitor enable` would, with backoff per task (immediately, then after 1s,
    2s, 4s ... up to --max-backoff). One log line per attempt on stderr: task,
    why it had stopped, attempt number, result. Disabled tasks are left alone.
    Stop with SIGTERM or Ctrl-C.
    """
    _setup_logging(log_level, "watchdog", log_format)
    api = api_from_options(kapacitor_url, kapacitor_username, kapacitor_password, timeout=timeout)
    dog = TaskWatchdog(api, patterns=patterns, udfs=udf_names, max_delay=max_backoff, confirm_silent=not once,
                       follow_log=follow_log and not once)
    if not once:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
        try:
            dog.run(stop, interval=interval)
        except KeyboardInterrupt:
            pass
        return
    try:
        attempts = dog.check()
    except KapacitorError as exc:
        raise click.ClickException(str(exc)) from None
    still = [attempt.task for attempt in attempts if not attempt.executing]
    if still:
        raise click.ClickException(f"{len(still)} task(s) still not executing: {', '.join(still)}")
    log.info(
        "%s", f"re-enabled {len(attempts)} task(s)" if attempts else "no stopped task to re-enable")

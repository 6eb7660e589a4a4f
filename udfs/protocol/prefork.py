"""Prefork workers: N processes accepting on the same listening sockets.

The parent binds every socket once (under the directory lock) and forks the workers;
each worker runs the accept loop of :class:`~udfs.protocol.transport.SocketServer` on
the inherited listeners, so the kernel hands each new connection to one worker, where
it stays for its lifetime (a Kapacitor task node's state lives in one process). The
parent only supervises: it restarts a worker that died, forwards SIGTERM/SIGINT to the
workers, waits for them and removes the socket files at exit.
"""

from __future__ import annotations

import logging
import mmap
import os
import signal
import struct
import threading
import time
from collections.abc import Callable

from udfs.protocol.transport import SocketServer

__all__ = ["serve_prefork"]

log = logging.getLogger("udfs.serve")

_RESTART_PAUSE = 1.0  # a worker that dies right after starting is restarted after this
_STOP_GRACE = 10.0  # seconds the workers have to end after SIGTERM, then SIGKILL
_CONNECTIONS_GRACE = 2.0  # a stopping worker waits this long for its connections to close


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this worker when the parent dies (even by SIGKILL)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


class _ConnectionCounts:
    """Open connections per worker, in memory shared by the parent and every worker."""

    def __init__(self, workers: int) -> None:
        self._slots = mmap.mmap(-1, 8 * workers)
        self._workers = workers

    def set(self, index: int, count: int) -> None:
        struct.pack_into("q", self._slots, 8 * index, count)

    def busier_than_another(self, index: int) -> bool:
        counts = struct.unpack_from(f"{self._workers}q", self._slots)
        return counts[index] > min(counts)


def _worker_main(
    server: SocketServer, index: int, after_fork: Callable[[int], None] | None, parent: int,
    counts: _ConnectionCounts,
) -> None:
    _die_with_parent(parent)
    server.after_fork()
    counts.set(index, 0)
    server.on_connections = lambda count: counts.set(index, count)
    server.defer_accept = lambda: counts.busier_than_another(index)
    server.install_signal_handlers()
    try:
        if after_fork is not None:
            after_fork(index)
        server.serve_forever(remove_files=False)
        deadline = time.monotonic() + _CONNECTIONS_GRACE
        while server.open_connections() and time.monotonic() < deadline:
            time.sleep(0.02)
    except BaseException:
        log.exception("worker %d failed", index)
        logging.shutdown()
        os._exit(1)
    logging.shutdown()
    os._exit(0)


def serve_prefork(
    server: SocketServer,
    workers: int,
    *,
    after_fork: Callable[[int], None] | None = None,
    on_exit: Callable[[int], None] | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Run ``workers`` worker processes on ``server``'s bound sockets until SIGTERM/SIGINT.

    ``after_fork(index)`` runs in each new worker (metrics export, closing the parent's
    own descriptors); ``on_exit(index)`` runs in the parent when a worker ended;
    ``on_started()`` runs in the parent once, when the first workers accept.
    Returns the exit status for the parent (0 after a requested stop).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    stop = threading.Event()
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
    parent = os.getpid()
    # The kernel wakes every worker for a new connection and the first to call accept()
    # wins, often the same one: a worker with more connections than another defers.
    counts = _ConnectionCounts(workers)

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child (covered by subprocess tests)
            _worker_main(server, index, after_fork, parent, counts)
        children[pid] = (index, time.monotonic())
        log.info("worker %d started (pid %d)", index, pid)

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(workers):
            spawn(index)
        if on_started is not None:
            on_started()
        restart_at: dict[int, float] = {}
        while not stop.is_set():
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                now = time.monotonic()
                for index, when in list(restart_at.items()):
                    if now >= when:
                        del restart_at[index]
                        spawn(index)
                stop.wait(0.1)
                continue
            index, started = children.pop(pid, (-1, 0.0))
            if index < 0:
                continue
            if on_exit is not None:
                on_exit(index)
            log.error("worker %d (pid %d) ended with %s; restarting it", index, pid, _describe(status))
            quick = time.monotonic() - started < _RESTART_PAUSE
            restart_at[index] = time.monotonic() + (_RESTART_PAUSE if quick else 0.0)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + _STOP_GRACE
        while children and time.monotonic() < deadline:
            pid, _status = os.waitpid(-1, os.WNOHANG)
            if pid:
                index, _ = children.pop(pid, (-1, 0.0))
                if on_exit is not None and index >= 0:
                    on_exit(index)
            else:
                time.sleep(0.02)
        for pid in children:
            log.warning("worker pid %d did not stop within %.0f s; killing it", pid, _STOP_GRACE)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        server.close(remove_files=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"

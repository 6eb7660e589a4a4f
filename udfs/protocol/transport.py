"""Transports: stdin/stdout for process UDFs, a unix-socket server for socket UDFs.

Both are thin drivers around :class:`udfs.protocol.agent.Agent` over an
:class:`~udfs.protocol.channel.FdChannel`.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from udfs.protocol.agent import Agent, Handler
from udfs.protocol.channel import FdChannel
from udfs.protocol.metrics import METRICS
from udfs.protocol.sockets import BoundSocket, DirectoryLock, SocketInUseError, bind_socket, check_mode, remove_socket

__all__ = ["SocketInUseError", "SocketServer", "run_stdio"]

log = logging.getLogger("udfs.transport")

HandlerFactory = Callable[[], Handler]

# accept() failures that mean "out of resources for now": back off, keep serving.
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0


def _exit_now() -> None:
    logging.shutdown()
    os._exit(0)


def run_stdio(handler: Handler, *, label: str = "udf", exit_when_stuck: bool = False) -> int:
    """Serve one Kapacitor task over stdin/stdout (process UDF). Returns the exit status.

    stdout is the protocol: nothing else may write to it. The protocol writes to a
    private duplicate of the stdout descriptor; for the duration, descriptor 1 itself
    and ``sys.stdout`` point at stderr, so a stray ``print``, a write to
    ``sys.__stdout__`` or a C library writing to fd 1 cannot corrupt the stream.
    With ``exit_when_stuck`` (``udfs run``), a handler still busy in one call shortly
    after Kapacitor closed stdin ends the process: Kapacitor waits for it to exit.
    """
    in_fd = sys.stdin.fileno()
    stdout_fd = sys.stdout.fileno()
    sys.stdout.flush()
    out_fd = os.dup(stdout_fd)
    os.dup2(sys.stderr.fileno(), stdout_fd)
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr
    channel = FdChannel(in_fd, out_fd)
    try:
        agent = Agent(
            handler, channel.read, channel.write, label=label, hung_up=channel.hung_up,
            on_eof=channel.give_up_at, abandon=_exit_now if exit_when_stuck else None,
            stalled_for=channel.stalled_for,
        )
        return agent.run()
    finally:
        channel.restore()
        sys.stdout = saved_stdout
        try:
            saved_stdout.flush()  # text written meanwhile belongs to stderr, not the protocol
        except (OSError, ValueError):
            pass
        os.dup2(out_fd, stdout_fd)
        os.close(out_fd)


class SocketServer:
    """Serve several UDFs, one unix socket each, many concurrent connections per socket.

    Every accepted connection gets a fresh handler from its socket's factory and a
    thread of its own; an error on one connection closes that connection only. Running
    out of descriptors or threads delays new connections (with a log line and a
    back-off) and never ends the server.

    Parameters
    ----------
    sockets : mapping of path to (label, handler factory)
    mode : int
        Permission bits of the socket files (0o660: Kapacitor's group may connect);
        read/write bits only.
    """

    def __init__(self, sockets: Mapping[Path, tuple[str, HandlerFactory]], *, mode: int = 0o660) -> None:
        self._sockets = dict(sockets)
        self._mode = check_mode(mode)
        self._bound: dict[socket.socket, tuple[BoundSocket, str, HandlerFactory]] = {}
        self._locks: list[DirectoryLock] = []
        self._selector = selectors.DefaultSelector()
        self._stop_r, self._stop_w = os.pipe()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self._owner_pid = os.getpid()
        self.ready = threading.Event()
        #: Prefork balancing: ``defer_accept()`` True means "let a less busy worker take it".
        self.defer_accept: Callable[[], bool] = lambda: False
        #: Called with the number of open connections whenever it changes.
        self.on_connections: Callable[[int], None] = lambda count: None

    def bind(self) -> None:
        """Lock the directories, create and listen on every socket (before Kapacitor starts).

        On any failure, what was already created is removed again and the error raised.
        """
        try:
            for directory in sorted({path.parent for path in self._sockets}):
                lock = DirectoryLock(directory)
                lock.acquire()
                self._locks.append(lock)
            for path, (label, factory) in self._sockets.items():
                bound = bind_socket(path, self._mode)
                self._bound[bound.sock] = (bound, label, factory)
                log.info("listening for %s on %s", label, path)
        except BaseException:
            self._close_listeners(remove=True)
            raise
        for sock in self._bound:
            self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._stop_r, selectors.EVENT_READ)
        self.ready.set()

    def serve_forever(self, *, remove_files: bool = True) -> None:
        """Accept until :meth:`shutdown`; ``remove_files=False`` in prefork workers."""
        if not self._bound:
            self.bind()
        backoff = 0.0
        try:
            while True:
                if backoff:
                    # Out of descriptors or threads: listeners stay readable, so wait on the
                    # stop pipe only; live connections are served meanwhile by their threads.
                    if select.select([self._stop_r], [], [], backoff)[0]:
                        return
                for key, _ in self._selector.select():
                    if key.fileobj == self._stop_r:
                        return
                    listener = key.fileobj
                    assert isinstance(listener, socket.socket)
                    if self.defer_accept():
                        # Another worker has fewer connections: give it a moment to accept,
                        # then accept anyway if it did not (it may be busy).
                        time.sleep(0.002)
                    if self._accept(listener):
                        backoff = 0.0
                    else:
                        backoff = min(max(backoff * 2, _BACKOFF_FIRST), _BACKOFF_MAX)
                        break
        finally:
            self._close_listeners(remove=remove_files and os.getpid() == self._owner_pid)

    def _accept(self, listener: socket.socket) -> bool:
        """Accept one connection; False when resources ran out (back off)."""
        bound, label, factory = self._bound[listener]
        try:
            conn, _addr = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return True
        except OSError as exc:
            if exc.errno not in _RESOURCE_ERRNOS:
                raise
            METRICS.add("udfs_accept_errors_total", 1, udf=label, reason=errno.errorcode.get(exc.errno, "?"))
            log.warning("%s: cannot accept a connection on %s (%s); retrying shortly",
                        label, bound.path, exc.strerror)
            return False
        try:
            self._start_connection(conn, label, factory)
        except RuntimeError as exc:  # "can't start new thread"
            METRICS.add("udfs_accept_errors_total", 1, udf=label, reason="thread")
            log.warning("%s: cannot start a thread for a new connection (%s); closed it, retrying shortly",
                        label, exc)
            with self._lock:
                self._connections.discard(conn)
                self.on_connections(len(self._connections))
            conn.close()
            return False
        return True

    def _start_connection(self, conn: socket.socket, label: str, factory: HandlerFactory) -> None:
        with self._lock:
            self._counter += 1
            number = self._counter
            self._connections.add(conn)
            self.on_connections(len(self._connections))
        name = f"{label}#{number}" if os.getpid() == self._owner_pid else f"{label}#{os.getpid()}.{number}"
        thread = threading.Thread(target=self._serve_connection, args=(conn, name, factory), name=name, daemon=True)
        thread.start()

    def _serve_connection(self, conn: socket.socket, label: str, factory: HandlerFactory) -> None:
        log.debug("%s: connection opened", label)
        status = 1
        channel: FdChannel | None = None

        def abandon() -> None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        try:
            channel = FdChannel(conn.fileno(), conn.fileno())
            handler = factory()
            agent = Agent(handler, channel.read, channel.write, label=label, hung_up=channel.hung_up,
                          on_eof=channel.give_up_at, abandon=abandon, stalled_for=channel.stalled_for)
            # Read-ahead while the output is blocked, as in process mode: a stopping Kapacitor
            # does not read answers here either (with a 16 KiB send buffer, disable hung).
            status = agent.run()
        except Exception:
            log.exception("%s: connection failed", label)
        finally:
            with self._lock:
                self._connections.discard(conn)
                self.on_connections(len(self._connections))
            abandon()
            conn.close()
            # Health checks open a connection every few seconds: clean closes are debug noise.
            if status == 0:
                log.debug("%s: connection closed", label)
            else:
                log.warning("%s: connection closed after an error", label)

    def after_fork(self) -> None:
        """In a new worker process: a selector and stop pipe of its own (both are per process)."""
        self._selector = selectors.DefaultSelector()
        self._stop_r, self._stop_w = os.pipe()
        for sock in self._bound:
            self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._stop_r, selectors.EVENT_READ)
        with self._lock:
            self._connections.clear()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def close(self, *, remove_files: bool = True) -> None:
        """Close the listeners (and remove their files when this process created them)."""
        self._close_listeners(remove=remove_files and os.getpid() == self._owner_pid)

    def shutdown(self) -> None:
        """Stop accepting; safe to call from a signal handler or another thread."""
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass

    @property
    def listeners(self) -> list[BoundSocket]:
        return [bound for bound, _label, _factory in self._bound.values()]

    def _close_listeners(self, *, remove: bool) -> None:
        for sock, (bound, _label, _factory) in list(self._bound.items()):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            if remove:
                remove_socket(bound)
            else:
                sock.close()
        self._bound.clear()
        for lock in self._locks:
            lock.release()
        self._locks.clear()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.shutdown())

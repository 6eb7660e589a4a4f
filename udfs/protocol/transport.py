"""Transports: stdin/stdout for process UDFs, a unix-socket server for socket UDFs.

Both are thin drivers around :class:`udfs.protocol.agent.Agent`.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import signal
import socket
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from udfs.protocol.agent import Agent, Handler

__all__ = ["SocketServer", "SocketInUseError", "run_stdio", "prepare_socket_path"]

log = logging.getLogger("udfs.transport")

HandlerFactory = Callable[[], Handler]


def _write_all_fd(fd: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    return write


def run_stdio(handler: Handler, *, label: str = "udf") -> int:
    """Serve one Kapacitor task over stdin/stdout (process UDF). Returns the exit status.

    stdout is the protocol: nothing else may write to it. The protocol writes to a
    private duplicate of the stdout descriptor; for the duration, descriptor 1 itself
    and ``sys.stdout`` point at stderr, so a stray ``print``, a write to
    ``sys.__stdout__`` or a C library writing to fd 1 cannot corrupt the stream.
    """
    import sys

    in_fd = sys.stdin.fileno()
    stdout_fd = sys.stdout.fileno()
    sys.stdout.flush()
    out_fd = os.dup(stdout_fd)
    os.dup2(sys.stderr.fileno(), stdout_fd)
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        agent = Agent(handler, lambda n: os.read(in_fd, n), _write_all_fd(out_fd), label=label)
        return agent.run()
    finally:
        sys.stdout = saved_stdout
        try:
            saved_stdout.flush()  # text written meanwhile belongs to stderr, not the protocol
        except (OSError, ValueError):
            pass
        os.dup2(out_fd, stdout_fd)
        os.close(out_fd)


class SocketInUseError(RuntimeError):
    """Another live server is listening on the socket path."""


def prepare_socket_path(path: Path) -> None:
    """Make ``path`` free for binding, removing a stale socket file safely.

    A socket file left behind by a crashed server is removed; one a live server
    still answers on is not (that would steal its clients); a path that is not a
    socket at all is never touched.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise
        log.info("removing stale socket %s", path)
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise SocketInUseError(f"{path} is in use by a running server")


class SocketServer:
    """Serve several UDFs, one unix socket each, many concurrent connections per socket.

    Every accepted connection gets a fresh handler from its socket's factory and a
    thread of its own; an error on one connection closes that connection only.

    Parameters
    ----------
    sockets : mapping of path to (label, handler factory)
    mode : int
        Permission bits of the socket files (0o660: Kapacitor's group may connect).
    """

    def __init__(
        self,
        sockets: Mapping[Path, tuple[str, HandlerFactory]],
        *,
        mode: int = 0o660,
    ) -> None:
        self._sockets = dict(sockets)
        self._mode = mode
        self._listeners: dict[socket.socket, tuple[Path, str, HandlerFactory]] = {}
        self._selector = selectors.DefaultSelector()
        self._stop_r, self._stop_w = os.pipe()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self.ready = threading.Event()

    def bind(self) -> None:
        """Create and listen on every socket (before Kapacitor starts)."""
        for path, (label, factory) in self._sockets.items():
            prepare_socket_path(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            # Bind under a umask so the file never exists with looser permissions.
            old_umask = os.umask(0o777 & ~self._mode)
            try:
                sock.bind(str(path))
            finally:
                os.umask(old_umask)
            os.chmod(path, self._mode)
            sock.listen(64)
            sock.setblocking(False)
            self._listeners[sock] = (path, label, factory)
            self._selector.register(sock, selectors.EVENT_READ)
            log.info("listening for %s on %s", label, path)
        self._selector.register(self._stop_r, selectors.EVENT_READ)
        self.ready.set()

    def serve_forever(self) -> None:
        if not self._listeners:
            self.bind()
        try:
            while True:
                for key, _ in self._selector.select():
                    if key.fileobj == self._stop_r:
                        return
                    listener = key.fileobj
                    assert isinstance(listener, socket.socket)
                    try:
                        conn, _addr = listener.accept()
                    except BlockingIOError:
                        continue
                    self._start_connection(conn, *self._listeners[listener])
        finally:
            self._close_listeners()

    def _start_connection(self, conn: socket.socket, path: Path, label: str, factory: HandlerFactory) -> None:
        conn.setblocking(True)
        with self._lock:
            self._counter += 1
            number = self._counter
            self._connections.add(conn)
        thread = threading.Thread(
            target=self._serve_connection,
            args=(conn, f"{label}#{number}", factory),
            name=f"{label}#{number}",
            daemon=True,
        )
        thread.start()

    def _serve_connection(self, conn: socket.socket, label: str, factory: HandlerFactory) -> None:
        log.debug("%s: connection opened", label)
        status = 1
        try:
            handler = factory()
            agent = Agent(handler, conn.recv, conn.sendall, label=label)
            status = agent.run()
        except Exception:
            log.exception("%s: connection failed", label)
        finally:
            with self._lock:
                self._connections.discard(conn)
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
            # Health checks open a connection every few seconds: clean closes are debug noise.
            if status == 0:
                log.debug("%s: connection closed", label)
            else:
                log.warning("%s: connection closed after an error", label)

    def shutdown(self) -> None:
        """Stop accepting; safe to call from a signal handler or another thread."""
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass

    def _close_listeners(self) -> None:
        for sock, (path, _label, _factory) in self._listeners.items():
            self._selector.unregister(sock)
            sock.close()
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self._listeners.clear()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.shutdown())

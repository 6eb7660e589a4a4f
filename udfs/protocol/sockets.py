"""Unix socket files of the server: one owner per directory, atomic creation, safe cleanup.

A server first takes an exclusive ``flock`` on ``DIR/.udfs-serve.lock`` (held for its
whole life, released by the kernel even after SIGKILL), so a second server on the same
directory is refused before it touches anything. Each socket is bound and listening
under a temporary name and then ``rename()``d into place: a client never sees a socket
that exists but does not listen, and a stale file is replaced in one step, never
unlinked first. At exit only files that are still the ones this server created (same
inode) are removed.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import stat
from pathlib import Path

__all__ = ["BoundSocket", "DirectoryLock", "SocketInUseError", "bind_socket", "check_mode", "remove_socket"]

log = logging.getLogger("udfs.transport")

LOCK_NAME = ".udfs-serve.lock"
_LISTEN_BACKLOG = 128


class SocketInUseError(RuntimeError):
    """Another live server owns the socket directory or listens on the socket path."""


def check_mode(mode: int) -> int:
    """Validate socket file permissions: only read/write bits (within 0o666).

    >>> oct(check_mode(0o660))
    '0o660'
    >>> check_mode(0o4777)
    Traceback (most recent call last):
    ...
    ValueError: socket mode must be read/write permission bits within 0666 (e.g. 660), got 4777
    """
    if not isinstance(mode, int) or mode < 0 or mode & ~0o666:
        shown = f"{mode:o}" if isinstance(mode, int) and mode >= 0 else str(mode)
        raise ValueError(f"socket mode must be read/write permission bits within 0666 (e.g. 660), got {shown}")
    return mode


class DirectoryLock:
    """The exclusive lock a server holds on its socket directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise SocketInUseError(
                    f"{self.path.parent} is in use: another udfs serve (pid {holder}) holds {self.path}"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the lock goes with the descriptor; the file may stay
            self._fd = None


class BoundSocket:
    """A listening socket at ``path`` and the inode of the file this server created."""

    def __init__(self, sock: socket.socket, path: Path, inode: int) -> None:
        self.sock = sock
        self.path = path
        self.inode = inode


def _check_existing(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
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
        # Refused: nobody listens. With the directory lock held, no udfs server is
        # between bind and listen on it (ours never expose that state: rename below).
        log.info("replacing stale socket %s", path)
        return
    finally:
        probe.close()
    raise SocketInUseError(f"{path} is in use by a running server")


def bind_socket(path: Path, mode: int) -> BoundSocket:
    """Create a listening socket at ``path`` with ``mode``, atomically (call under the lock)."""
    check_mode(mode)
    _check_existing(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Bind under a umask so the file never exists with looser permissions.
        old_umask = os.umask(0o777 & ~mode)
        try:
            sock.bind(str(temporary))
        finally:
            os.umask(old_umask)
        os.chmod(temporary, mode)
        sock.listen(_LISTEN_BACKLOG)
        inode = os.lstat(temporary).st_ino
        os.rename(temporary, path)
    except BaseException:
        sock.close()
        temporary.unlink(missing_ok=True)
        raise
    sock.setblocking(False)
    return BoundSocket(sock, path, inode)


def remove_socket(bound: BoundSocket) -> None:
    """Close ``bound`` and remove its file if it is still the one this server created."""
    bound.sock.close()
    try:
        if os.lstat(bound.path).st_ino == bound.inode:
            bound.path.unlink()
        else:
            log.warning("%s was replaced by someone else; leaving it", bound.path)
    except FileNotFoundError:
        pass

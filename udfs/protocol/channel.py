"""A byte channel over file descriptors whose writes can be given up on.

Blocking reads and writes, as the agent expects, except that once Kapacitor has closed
its end (:meth:`FdChannel.give_up_at`) a write that cannot complete by the deadline
raises instead of waiting forever for a peer that stopped reading, and the agent can
ask whether the peer hung up without reading the data still queued before the end.
"""

from __future__ import annotations

import os
import select
import time

__all__ = ["FdChannel"]

_POLL_SLICE_MS = 100
_HANGUP = select.POLLHUP | getattr(select, "POLLRDHUP", 0) | select.POLLERR


class FdChannel:
    """Reads from ``read_fd``, writes to ``write_fd`` (the same descriptor for a socket).

    The write descriptor is switched to non-blocking mode (:meth:`restore` switches
    it back); the read descriptor is left alone unless it is the same one.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._rfd = read_fd
        self._wfd = write_fd
        self._was_blocking = os.get_blocking(write_fd)
        os.set_blocking(write_fd, False)
        self._writable = select.poll()
        self._writable.register(write_fd, select.POLLOUT)
        self._readable = select.poll()
        self._readable.register(read_fd, select.POLLIN)
        self._hangup = select.poll()
        self._hangup.register(read_fd, _HANGUP)
        self._deadline: float | None = None
        self._stalled_since: float | None = None

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at end of stream."""
        while True:
            if self._rfd == self._wfd:  # non-blocking: wait for data first
                self._readable.poll()
            try:
                return os.read(self._rfd, size)
            except BlockingIOError:
                continue

    def write(self, data: bytes | memoryview) -> None:
        """Write all of ``data``; raise ``TimeoutError`` past the deadline, ``OSError`` on a closed peer."""
        view = memoryview(data)
        try:
            self._write_all(view)
        finally:
            self._stalled_since = None

    def _write_all(self, view: memoryview) -> None:
        while view:
            try:
                view = view[os.write(self._wfd, view) :]
                continue
            except BlockingIOError:
                if self._stalled_since is None:
                    self._stalled_since = time.monotonic()
            deadline = self._deadline
            if deadline is None:
                self._writable.poll(_POLL_SLICE_MS)  # re-checks the deadline a caller may set meanwhile
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Kapacitor stopped reading after closing the input; output given up")
            self._writable.poll(min(_POLL_SLICE_MS, max(1, int(left * 1000))))

    def stalled_for(self) -> float:
        """Seconds the current write has been waiting for the peer to read (0 when none waits)."""
        since = self._stalled_since
        return 0.0 if since is None else time.monotonic() - since

    def give_up_at(self, deadline: float) -> None:
        """Writes still blocked at ``time.monotonic()`` ``deadline`` fail."""
        self._deadline = deadline

    def hung_up(self) -> bool:
        """Whether the peer closed its end (even with unread data before the end)."""
        return any(event & _HANGUP for _fd, event in self._hangup.poll(0))

    def restore(self) -> None:
        """Put the write descriptor back in its original blocking mode."""
        try:
            os.set_blocking(self._wfd, self._was_blocking)
        except OSError:
            pass

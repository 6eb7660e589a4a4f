"""The threaded agent: one Kapacitor connection, one handler, around the sans-IO core.

A reader thread reads, lets :class:`~udfs.protocol.dispatch.Dispatcher` split the
bytes, writes keepalive answers straight away (so a handler busy for a long time
never gets its task killed with "keepalive timedout") and queues the rest. The
thread that called :meth:`Agent.run` hands the queued requests, in order and in
chunks, to the handler and flushes the responses once per chunk.

When Kapacitor goes away the agent is gone within a second: Kapacitor stops a task
by closing the UDF's input and does not read much more of its output (1.5.7 then
waits >120 s for a process blocked writing to stdout; in socket mode it panics on
late responses). So at the end of input the queued work is handled only for
:data:`DRAIN_SECONDS` and the rest is discarded; a write that cannot complete by
then is given up (``on_eof`` tells the transport the deadline); a handler stuck in
one call past :data:`ABANDON_SECONDS` is abandoned through ``abandon`` (the
transport closes the socket or ends the process). The input backlog is bounded
(:data:`BACKLOG_BYTES`): the reader stops reading while the handler is behind.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from udfs.protocol import udf_pb2 as pb
from udfs.protocol.dispatch import Dispatcher, Failure, Handler, Outbox, PeerClosedError
from udfs.protocol.framing import DEFAULT_MAX_FRAME, encode_frame
from udfs.protocol.metrics import METRICS

__all__ = [
    "ABANDON_SECONDS", "Agent", "BACKLOG_BYTES", "DRAIN_SECONDS", "HEARTBEAT_SECONDS", "Handler", "OVERFLOW_BYTES",
    "Outbox",
    "STALL_SECONDS",
]

log = logging.getLogger("udfs.agent")

_READ_SIZE = 64 * 1024
#: Input read ahead of the handler, at most (then the reader waits: backpressure).
BACKLOG_BYTES = 128 * 1024
#: While the output has been blocked this long, the reader reads ahead further ...
STALL_SECONDS = 0.2
#: ... up to this much: Kapacitor 1.5.7 stops a task by pushing what is left in its edges
#: into the UDF and only then closing the input, while it no longer reads the output. A
#: reader that stopped at BACKLOG_BYTES would never see that end (a deadlock that hung
#: ``kapacitor disable``); a few MiB of read-ahead lets Kapacitor get there.
OVERFLOW_BYTES = 16 * 1024 * 1024
#: A busy handler that wrote nothing for this long sends a sign of life (a keepalive
#: response, or its buffered output): Kapacitor's keepalive timeout is 10 s by default.
HEARTBEAT_SECONDS = 0.5
#: After the end of input, queued work is handled for this long, the rest discarded.
DRAIN_SECONDS = 0.5
#: After the end of input, a handler still inside one call is abandoned after this long.
ABANDON_SECONDS = 0.85


class _Backlog:
    """Chunks of request payloads between the reader and the handler, bounded in bytes."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: collections.deque[tuple[list[bytes], int]] = collections.deque()
        self._size = 0
        self._cond = threading.Condition()
        self.ended: Failure | bool = False  # True: clean end of input; a Failure: why not

    def put(self, chunk: list[bytes], size: int, *, give_up: Callable[[], bool],
            overflow: Callable[[], bool] = lambda: False) -> bool:
        """Queue ``chunk``; wait while full. False when ``give_up()`` said stop while waiting.

        While ``overflow()`` is true the backlog may grow to :data:`OVERFLOW_BYTES`."""
        with self._cond:
            while self._size >= self._limit:
                if self._size < OVERFLOW_BYTES and overflow():
                    break
                if give_up():
                    return False
                self._cond.wait(0.05)
            self._chunks.append((chunk, size))
            self._size += size
            self._cond.notify_all()
        return True

    def pending(self) -> bool:
        return self._size > 0

    def end(self, how: Failure | bool) -> None:
        with self._cond:
            if self.ended is False:
                self.ended = how
            self._cond.notify_all()

    def get(self) -> list[bytes] | None:
        """The next chunk, or None once the input has ended and nothing is left."""
        with self._cond:
            while not self._chunks:
                if self.ended is not False:
                    return None
                self._cond.wait()
            chunk, size = self._chunks.popleft()
            self._size -= size
            self._cond.notify_all()
            return chunk

    def discard(self) -> int:
        """Drop everything queued; return how many requests were dropped."""
        with self._cond:
            dropped = sum(len(chunk) for chunk, _ in self._chunks)
            self._chunks.clear()
            self._size = 0
            self._cond.notify_all()
            return dropped


class Agent:
    """Run one handler over one byte stream until it ends.

    Parameters
    ----------
    handler : Handler
        Fresh handler for this connection.
    read : callable
        ``read(n) -> bytes``; returns ``b""`` at end of stream.
    write : callable
        ``write(data)`` writes all of ``data`` or raises ``OSError``.
    label : str
        Prefix of log lines (the UDF name and connection number).
    hung_up : callable, optional
        ``hung_up() -> bool``: whether the peer closed its end, asked while the backlog is full.
    on_eof : callable, optional
        ``on_eof(deadline)``: writes must give up at ``time.monotonic()`` ``deadline``.
    abandon : callable, optional
        Called when the handler is still busy :data:`ABANDON_SECONDS` after the input ended.
    stalled_for : callable, optional
        ``stalled_for() -> float``: seconds a write has been waiting for the peer to read.
    """

    def __init__(
        self,
        handler: Handler,
        read: Callable[[int], bytes],
        write: Callable[[bytes], None],
        *,
        label: str = "udf",
        max_frame: int = DEFAULT_MAX_FRAME,
        hung_up: Callable[[], bool] | None = None,
        on_eof: Callable[[float], None] | None = None,
        abandon: Callable[[], None] | None = None,
        backlog_bytes: int = BACKLOG_BYTES,
        stalled_for: Callable[[], float] | None = None,
    ) -> None:
        self.handler = handler
        self.outbox = Outbox(write)
        self.core = Dispatcher(handler, self.outbox, label=label, max_frame=max_frame)
        self._read = read
        self._label = label
        self._hung_up = hung_up or (lambda: False)
        self._on_eof = on_eof
        self._abandon = abandon
        self._stalled_for = stalled_for or (lambda: 0.0)
        self._overflowing = False
        self._busy = False
        self._backlog = _Backlog(backlog_bytes)
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._clock_lock = threading.Lock()
        self._clock_started = False

    # -- reader thread -------------------------------------------------------
    def _reader(self) -> None:
        core = self.core
        backlog = self._backlog
        ending: Failure | bool = True

        def give_up() -> bool:
            # Behind and the peer hung up: the end is coming; the clock starts now.
            if self._hung_up():
                self._start_clock()
            return self._stopping.is_set() or core.cancelled

        def overflow() -> bool:
            stalled = self._stalled_for() >= STALL_SECONDS
            if stalled and not self._overflowing:
                log.warning("%s: output blocked for %.1f s (Kapacitor is not reading); reading ahead up to "
                            "%d MiB so that it can close the input", self._label, STALL_SECONDS,
                            OVERFLOW_BYTES >> 20)
            self._overflowing = stalled
            return stalled

        try:
            while not self._stopping.is_set():
                intake = core.receive(self._read(_READ_SIZE))
                if intake.answers:
                    self.outbox.send_now(intake.answers)
                if intake.failure is not None or intake.ended:
                    ending = intake.failure or True
                    break
                if intake.work and not backlog.put(intake.work, sum(map(len, intake.work)), give_up=give_up,
                                                   overflow=overflow):
                    break
        except PeerClosedError as exc:
            ending = Failure(str(exc), notify_peer=False, kind="peer_closed")
        except OSError as exc:
            ending = Failure(f"connection error while reading: {exc}", notify_peer=False, kind="peer_closed")
        except Exception as exc:  # pragma: no cover - defensive: never die silently
            ending = Failure(f"reader failed: {exc!r}", kind="reader")
        backlog.end(ending)
        if isinstance(ending, Failure) and not ending.notify_peer:
            self._cancel("the connection failed")
        if ending is True or not getattr(ending, "notify_peer", True):
            self._start_clock()

    def _start_clock(self) -> None:
        """Kapacitor closed its end: from now on, what is left to do is bounded in time."""
        with self._clock_lock:
            if self._clock_started:
                return
            self._clock_started = True
        if self._stalled_for() >= STALL_SECONDS:
            # Nobody reads what we would write: draining would only wait for the deadline.
            if self._on_eof is not None:
                self._on_eof(time.monotonic())
            self._cancel("input closed while the output is blocked")
        elif self._on_eof is not None:
            self._on_eof(time.monotonic() + DRAIN_SECONDS)
        threading.Thread(target=self._clock, name=f"{self._label}-closing", daemon=True).start()

    def _clock(self) -> None:
        if not self._done.wait(DRAIN_SECONDS):
            self._cancel("input closed")
        if not self._done.wait(ABANDON_SECONDS - DRAIN_SECONDS) and self._abandon is not None:
            log.warning("%s: the handler is still busy %.2f s after the input closed; abandoning it",
                        self._label, ABANDON_SECONDS)
            self._stopping.set()
            self.outbox.discard()
            self._abandon()

    def _cancel(self, why: str) -> None:
        self.core.cancelled = True
        self._backlog.end(True)
        dropped = self._backlog.discard()
        if dropped:
            log.warning("%s: %s; %d queued requests discarded", self._label, why, dropped)

    # -- handler side --------------------------------------------------------
    def run(self) -> int:
        """Serve until end of input. Returns 0 on a clean end, 1 after a fatal error."""
        reader = threading.Thread(target=self._reader, name=f"{self._label}-reader", daemon=True)
        reader.start()
        threading.Thread(target=self._heartbeat, name=f"{self._label}-heartbeat", daemon=True).start()
        core = self.core
        backlog = self._backlog
        failure: Failure | None = None
        METRICS.add("udfs_connections_total", 1, udf=core.udf)
        METRICS.set_part("udfs_connections_open", id(self), 1, udf=core.udf)
        try:
            while (chunk := backlog.get()) is not None:
                self._busy = True
                failure = core.handle(chunk)
                if core.cancelled:
                    break
                if failure is None:
                    try:
                        self.outbox.flush()
                    except PeerClosedError as exc:
                        failure = Failure(str(exc), notify_peer=False, kind="peer_closed")
                self._busy = False
                core.report()
                if failure is not None:
                    break
            if failure is None and isinstance(backlog.ended, Failure):
                failure = backlog.ended
            if failure is not None:
                self._fail(failure)
        finally:
            self._stopping.set()
            self._done.set()
            try:
                self.handler.close()
            except Exception:
                log.exception("%s: error while closing the handler", self._label)
            try:
                self.outbox.flush()
            except PeerClosedError:
                pass
            self.outbox.closed = True
            core.report()
            core.forget_gauges()
            METRICS.set_part("udfs_connections_open", id(self), None, udf=core.udf)
        return 0 if failure is None else 1

    def _heartbeat(self) -> None:
        beat = lambda: encode_frame(pb.Response(keepalive=pb.KeepaliveResponse(time=time.time_ns())))  # noqa: E731
        while not self._done.wait(HEARTBEAT_SECONDS / 4):
            if (self._busy or self._backlog.pending()) and not self._clock_started and self._stalled_for() == 0:
                self.outbox.heartbeat(HEARTBEAT_SECONDS, beat)

    def _fail(self, failure: Failure) -> None:
        METRICS.add("udfs_errors_total", 1, udf=self.core.udf, kind=failure.kind)
        log.error("%s: %s", self._label, failure.message)
        if not failure.notify_peer:
            self.outbox.discard()
            return
        try:
            self.outbox.send(self.core.error_response(failure))
            self.outbox.flush()
        except PeerClosedError:
            pass

"""The sans-IO core of the agent: bytes from Kapacitor in, handler calls and bytes out.

:class:`Dispatcher` does no I/O and starts no thread. :meth:`Dispatcher.receive`
splits what was read into keepalive answers (to write at once, ahead of queued work)
and request payloads for the handler; :meth:`Dispatcher.handle` runs the handler over
payloads, its output collected by an :class:`Outbox`; a problem comes back as a
:class:`Failure` value, never as an exception. The threaded
:class:`~udfs.protocol.agent.Agent` is a thin driver around it, and tests drive it
directly.

Examples
--------
>>> from udfs.protocol import udf_pb2 as pb
>>> from udfs.protocol.framing import encode_frame
>>> class Echo(Handler):
...     def point(self, point): self.outbox.point(point)
>>> written = []
>>> core = Dispatcher(Echo(), Outbox(written.append))
>>> intake = core.receive(encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=9)))
...                       + encode_frame(pb.Request(point=pb.Point(time=1))))
>>> pb.Response.FromString(intake.answers[1:]).keepalive.time, len(intake.work)
(9, 1)
>>> core.handle(intake.work) is None, core.outbox.flush(), len(written)
(True, None, 1)
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from udfs.protocol import udf_pb2 as pb
from udfs.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FrameError,
    decode_message,
    encode_frame,
    encode_point_response,
    is_keepalive_request,
    point_request_body,
)
from udfs.protocol.metrics import METRICS

__all__ = ["Dispatcher", "Failure", "Handler", "Intake", "Outbox", "PeerClosedError"]

log = logging.getLogger("udfs.agent")

_FLUSH_BYTES = 64 * 1024


class PeerClosedError(ConnectionError):
    """Writing to Kapacitor failed: it closed the connection or stopped the task."""


class Outbox:
    """Buffered, thread-safe writer of responses for one connection.

    Handlers call :meth:`point`, :meth:`begin_batch`, :meth:`end_batch` at any time,
    from any thread. The agent flushes after each chunk of requests; a handler that
    emits from a background thread calls :meth:`flush` itself. A failing ``write``
    raises :class:`PeerClosedError` and closes the outbox: later output is dropped.
    """

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0
        self.points_out = 0
        self.closed = False
        self.last_write = time.monotonic()

    def _append(self, frame: bytes) -> None:
        with self._lock:
            self._pending.append(frame)
            self._size += len(frame)
            if self._size >= _FLUSH_BYTES:
                self._flush_locked()

    def point(self, point: pb.Point) -> None:
        """Emit one point."""
        self.points_out += 1
        self._append(encode_point_response(point))

    def begin_batch(self, begin: pb.BeginBatch) -> None:
        self._append(encode_frame(pb.Response(begin=begin)))

    def end_batch(self, end: pb.EndBatch) -> None:
        self._append(encode_frame(pb.Response(end=end)))

    def send(self, response: pb.Response) -> None:
        """Emit any response message."""
        self._append(encode_frame(response))

    def send_now(self, data: bytes) -> None:
        """Write already framed ``data`` ahead of anything buffered (keepalive answers)."""
        with self._lock:
            self._write_locked(data)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def heartbeat(self, idle: float, beat: Callable[[], bytes]) -> bool:
        """After ``idle`` seconds without a write: flush what is buffered, or write ``beat()``.

        Kapacitor counts any response as a sign of life, so a handler busy with a long queue
        (its output buffered, or nothing to emit) is not killed for "keepalive timedout"
        while the keepalive requests wait unread behind the points. Never waits for the
        lock: a write already in progress is a sign of life too. True if it wrote.
        """
        if time.monotonic() - self.last_write < idle or not self._lock.acquire(blocking=False):
            return False
        try:
            if self.closed:
                return False
            if self._pending:
                self._flush_locked()
            else:
                self._write_locked(beat())
            return True
        except PeerClosedError:
            return False
        finally:
            self._lock.release()

    def discard(self) -> int:
        """Drop buffered output and close; return how many bytes were dropped."""
        with self._lock:
            dropped = self._size
            self._pending, self._size, self.closed = [], 0, True
            return dropped

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending = []
        self._size = 0
        self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._write(data)
        except OSError as exc:
            self.closed = True
            raise PeerClosedError(f"connection error while writing: {exc}") from exc
        self.last_write = time.monotonic()


class Handler:
    """What a UDF implements. The agent calls these on one thread, in request order.

    Output goes through :attr:`outbox` (set by the agent before the first call).
    Raising from any method is treated as fatal for the connection: the agent logs
    the traceback, sends an ``ErrorResponse`` (which stops the Kapacitor task) and
    closes. Recoverable problems (a bad point) must be handled inside the handler.
    """

    outbox: Outbox

    def info(self) -> pb.InfoResponse:
        raise NotImplementedError

    def init(self, request: pb.InitRequest) -> pb.InitResponse:
        raise NotImplementedError

    def snapshot(self) -> pb.SnapshotResponse:
        return pb.SnapshotResponse(snapshot=b"")

    def restore(self, request: pb.RestoreRequest) -> pb.RestoreResponse:
        return pb.RestoreResponse(success=True)

    def begin_batch(self, begin: pb.BeginBatch) -> None:
        raise NotImplementedError("this UDF does not accept batches")

    def point(self, point: pb.Point) -> None:
        raise NotImplementedError

    def end_batch(self, end: pb.EndBatch) -> None:
        raise NotImplementedError("this UDF does not accept batches")

    def gauges(self) -> dict[str, float]:
        """Current values for the metrics gauges (e.g. ``{"groups": 12}``); cheap, polled."""
        return {}

    def close(self) -> None:
        """The connection is over (end of input or a fatal error)."""


@dataclass(frozen=True)
class Failure:
    """Why a connection must end. ``notify_peer``: send Kapacitor an ``ErrorResponse``."""

    message: str
    notify_peer: bool = True
    kind: str = "protocol"


@dataclass
class Intake:
    """What one read produced: answers to write now, work for the handler, or the end."""

    answers: bytes = b""
    work: list[bytes] = field(default_factory=list)
    ended: bool = False
    failure: Failure | None = None


class Dispatcher:
    """One connection's protocol state: decoder, handler, outbox, counters.

    Parameters
    ----------
    handler : Handler
        Fresh handler for this connection (its ``outbox`` is set here).
    outbox : Outbox
        Where the handler's responses go.
    label : str
        Prefix of log lines; also the ``udf`` label of the metrics (text before ``#``).
    """

    def __init__(
        self, handler: Handler, outbox: Outbox, *, label: str = "udf", max_frame: int = DEFAULT_MAX_FRAME
    ) -> None:
        self.handler = handler
        self.outbox = outbox
        handler.outbox = outbox
        self.label = label
        self.udf = label.split("#", 1)[0]
        self.decoder: FrameDecoder[pb.Request] = FrameDecoder(pb.Request, max_frame=max_frame)
        self.points_in = 0
        #: Set (from any thread) to make :meth:`handle` stop before the next request.
        self.cancelled = False
        self._reported_in = 0
        self._reported_out = 0

    def receive(self, data: bytes) -> Intake:
        """Take bytes read from Kapacitor (``b""`` = end of input)."""
        try:
            if not data:
                self.decoder.close()
                return Intake(ended=True)
            answers: list[bytes] = []
            work: list[bytes] = []
            for payload in self.decoder.feed_raw(data):
                if is_keepalive_request(payload):
                    request = decode_message(pb.Request, payload)
                    if request.WhichOneof("message") == "keepalive":
                        answer = pb.Response(keepalive=pb.KeepaliveResponse(time=request.keepalive.time))
                        answers.append(encode_frame(answer))
                        continue
                work.append(payload)
            return Intake(answers=b"".join(answers), work=work)
        except FrameError as exc:
            return Intake(failure=Failure(f"malformed input from Kapacitor: {exc}"))

    def handle(self, payloads: list[bytes]) -> Failure | None:
        """Run the handler over request payloads, in order; None when all went well."""
        handler = self.handler
        on_point = handler.point
        points = 0
        try:
            for payload in payloads:
                if self.cancelled:
                    break
                body = point_request_body(payload)
                if body is not None:
                    points += 1
                    on_point(decode_message(pb.Point, body))
                else:
                    points += self._dispatch(decode_message(pb.Request, payload))
        except FrameError as exc:
            return Failure(f"malformed input from Kapacitor: {exc}")
        except PeerClosedError as exc:
            return Failure(str(exc), notify_peer=False, kind="peer_closed")
        except Exception as exc:
            # Includes an OSError of the handler's own (a file it opened): reported as what it is.
            log.error("%s: handler failed:\n%s", self.label, traceback.format_exc().rstrip())
            return Failure(f"{type(exc).__name__}: {exc}", kind="handler")
        finally:
            self.points_in += points
        return None

    def _dispatch(self, request: pb.Request) -> int:
        handler = self.handler
        send = self.outbox.send
        kind = request.WhichOneof("message")
        if kind == "point":  # a point the fast path leaves to the general parser
            handler.point(request.point)
            return 1
        if kind == "begin":
            handler.begin_batch(request.begin)
        elif kind == "end":
            handler.end_batch(request.end)
        elif kind == "info":
            send(pb.Response(info=handler.info()))
        elif kind == "init":
            send(pb.Response(init=handler.init(request.init)))
        elif kind == "snapshot":
            started = time.perf_counter()
            snapshot = handler.snapshot()
            METRICS.add("udfs_snapshot_seconds_total", time.perf_counter() - started, udf=self.udf)
            METRICS.add("udfs_snapshot_bytes_total", len(snapshot.snapshot), udf=self.udf)
            METRICS.add("udfs_snapshots_total", 1, udf=self.udf)
            send(pb.Response(snapshot=snapshot))
        elif kind == "restore":
            send(pb.Response(restore=handler.restore(request.restore)))
        elif kind == "keepalive":  # one the reader did not answer (another member came first)
            send(pb.Response(keepalive=pb.KeepaliveResponse(time=request.keepalive.time)))
        else:
            # A request type from a newer Kapacitor: ignoring it keeps the task alive.
            log.warning("%s: ignoring a request of unknown type (%d bytes)", self.label, request.ByteSize())
        return 0

    def report(self) -> None:
        """Push this connection's counts and gauges to the process metrics."""
        udf = self.udf
        if self.points_in != self._reported_in:
            METRICS.add("udfs_points_in_total", self.points_in - self._reported_in, udf=udf)
            self._reported_in = self.points_in
        out = self.outbox.points_out
        if out != self._reported_out:
            METRICS.add("udfs_points_out_total", out - self._reported_out, udf=udf)
            self._reported_out = out
        try:
            for name, value in self.handler.gauges().items():
                METRICS.set_part(f"udfs_{name}", id(self), value, udf=udf)
        except Exception:  # pragma: no cover - metrics must never end a connection
            log.debug("%s: gauges failed", self.label, exc_info=True)

    def error_response(self, failure: Failure) -> pb.Response:
        """The ``ErrorResponse`` telling Kapacitor about ``failure``."""
        return pb.Response(error=pb.ErrorResponse(error=failure.message))

    def forget_gauges(self) -> None:
        try:
            names = list(self.handler.gauges())
        except Exception:  # pragma: no cover
            names = []
        for name in names:
            METRICS.set_part(f"udfs_{name}", id(self), None, udf=self.udf)

"""The agent loop: one Kapacitor connection, one handler.

A reader thread decodes requests and answers keepalives itself, straight away, so a
handler busy for a long time (fitting a model, compiling a kernel) never gets its
task killed with "keepalive timedout". Every other request is handed, in order and
in chunks, to the handler on the agent's own thread. Responses are buffered and
written once per chunk, which keeps the per-point cost close to protobuf's own.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

from udfs.protocol import udf_pb2 as pb
from udfs.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FrameError,
    encode_frame,
    encode_point_response,
)

__all__ = ["Agent", "Handler", "Outbox"]

log = logging.getLogger("udfs.agent")

_READ_SIZE = 64 * 1024
_FLUSH_BYTES = 64 * 1024
# Chunks of decoded requests waiting for the handler; 4096 x 64 KiB bounds the
# backlog at about 256 MiB of input when the handler falls behind.
_BACKLOG_CHUNKS = 4096


class Outbox:
    """Buffered, thread-safe writer of responses for one connection.

    Handlers call :meth:`point`, :meth:`begin_batch`, :meth:`end_batch` at any time,
    from any thread. The agent flushes after each chunk of requests; a handler that
    emits from a background thread calls :meth:`flush` itself.
    """

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0
        self.closed = False

    def _append(self, frame: bytes) -> None:
        with self._lock:
            self._pending.append(frame)
            self._size += len(frame)
            if self._size >= _FLUSH_BYTES:
                self._flush_locked()

    def point(self, point: pb.Point) -> None:
        """Emit one point."""
        self._append(encode_point_response(point))

    def begin_batch(self, begin: pb.BeginBatch) -> None:
        self._append(encode_frame(pb.Response(begin=begin)))

    def end_batch(self, end: pb.EndBatch) -> None:
        self._append(encode_frame(pb.Response(end=end)))

    def send(self, response: pb.Response) -> None:
        """Emit any response message."""
        self._append(encode_frame(response))

    def send_now(self, response: pb.Response) -> None:
        """Emit a response ahead of anything buffered (keepalive answers)."""
        frame = encode_frame(response)
        with self._lock:
            if not self.closed:
                self._write(frame)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending = []
        self._size = 0
        if not self.closed:
            self._write(data)


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

    def close(self) -> None:
        """The connection is over (end of input or a fatal error)."""


_STOP = object()


def _parse_request(payload: bytes) -> pb.Request:
    try:
        return pb.Request.FromString(payload)
    except DecodeError as exc:
        raise FrameError(f"undecodable Request of {len(payload)} bytes: {exc}") from exc


def _parse_point(payload: bytes) -> pb.Point:
    try:
        return pb.Point.FromString(payload)
    except DecodeError as exc:
        raise FrameError(f"undecodable Point of {len(payload)} bytes: {exc}") from exc


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
    """

    def __init__(
        self,
        handler: Handler,
        read: Callable[[int], bytes],
        write: Callable[[bytes], None],
        *,
        label: str = "udf",
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.handler = handler
        self._read = read
        self.outbox = Outbox(write)
        handler.outbox = self.outbox
        self._label = label
        self._decoder: FrameDecoder[pb.Request] = FrameDecoder(pb.Request, max_frame=max_frame)
        self._chunks: queue.Queue[Any] = queue.Queue(maxsize=_BACKLOG_CHUNKS)
        self._failure: str | None = None
        self._stopping = threading.Event()

    # -- reader thread -------------------------------------------------------
    def _reader(self) -> None:
        outbox = self.outbox
        decoder = self._decoder
        try:
            while not self._stopping.is_set():
                data = self._read(_READ_SIZE)
                if not data:
                    decoder.close()
                    break
                payloads = decoder.feed_raw(data)
                if not payloads:
                    continue
                chunk = []
                for payload in payloads:
                    # 0x1a starts Request.keepalive (field 3, length-delimited); answer it
                    # here, ahead of any work queued for the handler.
                    if payload[:1] == b"\x1a":
                        request = _parse_request(payload)
                        outbox.send_now(
                            pb.Response(keepalive=pb.KeepaliveResponse(time=request.keepalive.time))
                        )
                    else:
                        chunk.append(payload)
                if chunk:
                    self._put(chunk)
        except FrameError as exc:
            self._failure = f"malformed input from Kapacitor: {exc}"
        except OSError as exc:
            if not self._stopping.is_set():
                self._failure = f"connection error while reading: {exc}"
        except Exception as exc:  # pragma: no cover - defensive: never die silently
            self._failure = f"reader failed: {exc!r}"
        finally:
            self._put(_STOP)

    def _put(self, item: Any) -> None:
        # Bounded backlog: wait for the handler, but give up once the agent is stopping
        # (a handler that failed will never drain the queue; this thread must still end).
        while not self._stopping.is_set():
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    # -- handler side --------------------------------------------------------
    def run(self) -> int:
        """Serve until end of input. Returns 0 on a clean end, 1 after a fatal error."""
        reader = threading.Thread(target=self._reader, name=f"{self._label}-reader", daemon=True)
        reader.start()
        handler = self.handler
        outbox = self.outbox
        on_point = handler.point
        status = 0
        try:
            while True:
                chunk = self._chunks.get()
                if chunk is _STOP:
                    break
                for payload in chunk:
                    # Fast path for the common case, Request{point}: 0x8a 0x01, a length,
                    # then the Point. Parsing the Point directly skips the wrapper.
                    if payload[:2] == b"\x8a\x01" and len(payload) > 3:
                        size = payload[2]
                        start = 3
                        if size >= 0x80:  # two-byte length; longer ones take the slow path
                            size = (size & 0x7F) | (payload[3] << 7) if payload[3] < 0x80 else -1
                            start = 4
                        if start + size == len(payload):
                            on_point(_parse_point(payload[start:]))
                            continue
                    request = _parse_request(payload)
                    self._dispatch(request.WhichOneof("message"), request)
                outbox.flush()
            if self._failure is not None:
                status = 1
                self._fail(self._failure)
        except FrameError as exc:
            status = 1
            self._fail(f"malformed input from Kapacitor: {exc}")
        except OSError as exc:
            status = 1
            log.error("%s: connection error while writing: %s", self._label, exc)
        except Exception as exc:
            status = 1
            log.error("%s: handler failed:\n%s", self._label, traceback.format_exc().rstrip())
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            self._stopping.set()
            try:
                handler.close()
            except Exception:
                log.exception("%s: error while closing the handler", self._label)
            try:
                outbox.flush()
            except OSError:
                pass
            outbox.closed = True
        return status

    def _dispatch(self, kind: str | None, request: pb.Request) -> None:
        handler = self.handler
        outbox = self.outbox
        if kind == "point":  # points the fast path in run() leaves to the general parser
            handler.point(request.point)
        elif kind == "begin":
            handler.begin_batch(request.begin)
        elif kind == "end":
            handler.end_batch(request.end)
        elif kind == "info":
            outbox.send(pb.Response(info=handler.info()))
        elif kind == "init":
            outbox.send(pb.Response(init=handler.init(request.init)))
        elif kind == "snapshot":
            outbox.send(pb.Response(snapshot=handler.snapshot()))
        elif kind == "restore":
            outbox.send(pb.Response(restore=handler.restore(request.restore)))
        elif kind == "keepalive":  # only when dispatched directly, not via the reader
            outbox.send(pb.Response(keepalive=pb.KeepaliveResponse(time=request.keepalive.time)))
        else:
            # A request type from a newer Kapacitor: ignoring it keeps the task alive.
            log.warning("%s: ignoring a request of unknown type (%d bytes)", self._label, request.ByteSize())

    def _fail(self, message: str) -> None:
        log.error("%s: %s", self._label, message)
        try:
            self.outbox.send(pb.Response(error=pb.ErrorResponse(error=message)))
            self.outbox.flush()
        except OSError:
            pass

"""Sans-IO framing of Kapacitor's UDF protocol.

Every message on the wire is an unsigned varint holding the byte length of the
message, followed by the serialized protobuf message. There is no footer. This
module turns messages into bytes and bytes into messages and does no I/O at all,
so it can be tested (and fuzzed) without a subprocess or a socket.

Examples
--------
>>> from udfs.protocol import udf_pb2 as pb
>>> frame = encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=7)))
>>> frame
b'\\x04\\x1a\\x02\\x08\\x07'
>>> decoder = FrameDecoder(pb.Request)
>>> decoder.feed(frame[:2]), len(decoder.feed(frame[2:]))
([], 1)
"""

from __future__ import annotations

from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FrameDecoder",
    "FrameError",
    "TruncatedFrameError",
    "encode_frame",
    "encode_varint",
    "encode_point_response",
    "split_frames",
]

#: Largest message accepted by default. A Kapacitor batch point is a few hundred
#: bytes; anything near this size is garbage, not data.
DEFAULT_MAX_FRAME = 64 * 1024 * 1024

_MAX_VARINT_BYTES = 10

M = TypeVar("M", bound=Message)


class FrameError(ValueError):
    """The byte stream is not a valid sequence of length-prefixed messages."""


class TruncatedFrameError(FrameError):
    """The stream ended in the middle of a frame."""


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer as a protobuf unsigned varint.

    >>> encode_varint(1), encode_varint(300)
    (b'\\x01', b'\\xac\\x02')
    """
    if value < 0:
        raise ValueError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Lengths below 2**14 (every point Kapacitor sends) take a table lookup instead of a loop.
_VARINTS = [encode_varint(n) for n in range(1 << 14)]


def _varint(value: int) -> bytes:
    if value < 16384:
        return _VARINTS[value]
    return encode_varint(value)


def encode_frame(message: Message) -> bytes:
    """Serialize ``message`` and prefix it with its length."""
    data = message.SerializeToString()
    return _varint(len(data)) + data


# Tag of ``Response.point`` (field 17, wire type 2) as it appears on the wire.
_POINT_FIELD_TAG = encode_varint((17 << 3) | 2)


def encode_point_response(point: Message) -> bytes:
    """Frame ``Response(point=point)`` without copying the point into a Response.

    Produces exactly the bytes of ``encode_frame(Response(point=point))``; it skips
    the copy, which is the most expensive step of emitting a point from Python.
    """
    data = point.SerializeToString()
    body_len = len(data)
    prefix = _varint(body_len)
    return _varint(2 + len(prefix) + body_len) + _POINT_FIELD_TAG + prefix + data


def _read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """Return ``(value, next_pos)``, or None when the varint is not complete yet."""
    result = 0
    shift = 0
    end = len(buf)
    for i in range(pos, min(pos + _MAX_VARINT_BYTES, end)):
        byte = buf[i]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i + 1
        shift += 7
    if end - pos >= _MAX_VARINT_BYTES:
        raise FrameError(
            f"invalid frame length: more than {_MAX_VARINT_BYTES} varint bytes "
            f"(first bytes {bytes(buf[pos:pos + 12])!r}); is this a Kapacitor UDF stream?"
        )
    return None


def split_frames(data: bytes) -> list[bytes]:
    """Split a complete byte string into message payloads (used on recordings)."""
    frames: list[bytes] = []
    pos = 0
    while pos < len(data):
        header = _read_varint(data, pos)
        if header is None:
            raise TruncatedFrameError(f"stream ends inside a length prefix at byte {pos}")
        length, start = header
        if start + length > len(data):
            raise TruncatedFrameError(
                f"stream ends inside a frame at byte {pos}: "
                f"announced {length} bytes, only {len(data) - start} present"
            )
        frames.append(data[start : start + length])
        pos = start + length
    return frames


class FrameDecoder(Generic[M]):
    """Incremental decoder: feed it bytes as they arrive, get whole messages back.

    Parameters
    ----------
    message_type : type
        The protobuf class of the messages in this direction (``Request`` on the
        UDF side, ``Response`` on the Kapacitor side).
    max_frame : int
        Frames announcing more bytes than this raise :class:`FrameError` at once,
        instead of waiting forever for a body that garbage input promised.
    """

    def __init__(self, message_type: type[M], *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._parse = message_type.FromString
        self._name = message_type.__name__
        self._max_frame = max_frame
        self._buf = b""
        self.messages_decoded = 0
        self.bytes_consumed = 0

    @property
    def pending(self) -> int:
        """Number of buffered bytes that do not form a whole frame yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[M]:
        """Add ``data`` and return every message completed by it, in order."""
        payloads = self.feed_raw(data)
        parse = self._parse
        try:
            return [parse(payload) for payload in payloads]
        except DecodeError:
            for index, payload in enumerate(payloads):
                try:
                    parse(payload)
                except DecodeError as exc:
                    raise FrameError(
                        f"undecodable {self._name} of {len(payload)} bytes "
                        f"(message {self.messages_decoded - len(payloads) + index + 1} of the stream): {exc}"
                    ) from exc
            raise  # pragma: no cover - the loop above re-raises

    def feed_raw(self, data: bytes) -> list[bytes]:
        """Like :meth:`feed`, but return the undecoded message payloads."""
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        while pos < end:
            first = buf[pos]
            if first < 0x80:
                length = first
                start = pos + 1
            else:
                header = _read_varint(buf, pos)
                if header is None:
                    break
                length, start = header
                if length > self._max_frame:
                    raise FrameError(
                        f"frame of {length} bytes announced at stream offset "
                        f"{self.bytes_consumed + pos} exceeds the limit of {self._max_frame} bytes"
                    )
            stop = start + length
            if stop > end:
                break
            out.append(buf[start:stop])
            pos = stop
        self._buf = buf[pos:] if pos < end else b""
        self.bytes_consumed += pos
        self.messages_decoded += len(out)
        return out

    def close(self) -> None:
        """Declare end of stream; raise :class:`TruncatedFrameError` if a frame is cut."""
        if self._buf:
            header = None
            try:
                header = _read_varint(self._buf, 0)
            except FrameError:
                pass
            if header is None:
                detail = "inside a length prefix"
            else:
                detail = f"inside a frame: announced {header[0]} bytes, got {len(self._buf) - header[1]}"
            raise TruncatedFrameError(
                f"stream closed {detail} (offset {self.bytes_consumed}, "
                f"{len(self._buf)} bytes unparsed)"
            )

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
    "MAX_SNAPSHOT_BYTES",
    "FrameDecoder",
    "FrameError",
    "TruncatedFrameError",
    "decode_message",
    "encode_frame",
    "encode_varint",
    "encode_point_response",
    "is_keepalive_request",
    "max_snapshot_bytes",
    "restore_request_size",
    "point_request_body",
    "split_frames",
]

#: Largest message accepted, in bytes: the one frame limit of the project (the agent,
#: the decoders and the snapshot writers all use this). A Kapacitor point is a few
#: hundred bytes; only a snapshot of many groups comes near it (ten thousand groups of
#: 1,000 float64 values are 80 MB); a length above it is garbage, not data.
DEFAULT_MAX_FRAME = 128 * 1024 * 1024

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


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def restore_request_size(snapshot_bytes: int) -> int:
    """Bytes of ``Request(restore=RestoreRequest(snapshot=...))`` carrying ``snapshot_bytes`` bytes.

    Two length-delimited fields, each a one-byte tag (fields 5 and 1) and a varint
    length; the frame's own length prefix is not part of a frame's size.

    >>> from udfs.protocol import udf_pb2 as pb
    >>> len(pb.Request(restore=pb.RestoreRequest(snapshot=b"x" * 300)).SerializeToString())
    306
    >>> restore_request_size(300)
    306
    """
    inner = 1 + _varint_size(snapshot_bytes) + snapshot_bytes if snapshot_bytes else 0  # empty: left out
    return 1 + _varint_size(inner) + inner


def max_snapshot_bytes(max_frame: int) -> int:
    """The largest snapshot whose RestoreRequest a decoder with ``max_frame`` still reads.

    A UDF must not write a snapshot larger than this: Kapacitor would store it and send
    it back at the next start, and the agent would refuse the frame, failing the task
    at every restart.
    """
    n = max_frame
    while restore_request_size(n) > max_frame:
        n -= 1
    return n


#: The snapshot limit that goes with :data:`DEFAULT_MAX_FRAME` (what the UDFs' writers check).
MAX_SNAPSHOT_BYTES = max_snapshot_bytes(DEFAULT_MAX_FRAME)


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


# Keys of the Request oneof members the agent peeks at (field number << 3 | wire type 2).
_KEEPALIVE_KEY = encode_varint((3 << 3) | 2)  # b"\x1a"
_POINT_KEY = encode_varint((17 << 3) | 2)  # b"\x8a\x01"


def is_keepalive_request(payload: bytes) -> bool:
    """Whether a Request payload starts with its ``keepalive`` member (a cheap pre-check).

    A True answer still needs :func:`decode_message`: in theory a later oneof member
    could follow and win.

    >>> from udfs.protocol import udf_pb2 as pb
    >>> is_keepalive_request(pb.Request(keepalive=pb.KeepaliveRequest(time=1)).SerializeToString())
    True
    >>> is_keepalive_request(pb.Request(point=pb.Point(time=1)).SerializeToString())
    False
    """
    return payload[:1] == _KEEPALIVE_KEY


def point_request_body(payload: bytes) -> bytes | None:
    """The serialized ``Point`` when a Request payload is exactly ``Request{point}``, else None.

    This is the agent's fast path: parsing the Point straight out of the frame skips
    building the Request wrapper. None (anything else, or a point followed by more
    fields) means "decode the whole Request".

    >>> from udfs.protocol import udf_pb2 as pb
    >>> point = pb.Point(time=5, name="cpu")
    >>> point_request_body(pb.Request(point=point).SerializeToString()) == point.SerializeToString()
    True
    >>> point_request_body(pb.Request(info=pb.InfoRequest()).SerializeToString()) is None
    True
    """
    if payload[:2] != _POINT_KEY:
        return None
    size = len(payload)
    if size > 2 and payload[2] < 0x80:  # one-byte length: most points
        length, start = payload[2], 3
    else:
        try:
            header = _read_varint(payload, 2)
        except FrameError:
            return None
        if header is None:
            return None
        length, start = header
    if start + length != size:
        return None
    return payload[start:]


def decode_message(message_type: type[M], payload: bytes, *, where: str = "") -> M:
    """Parse ``payload`` as ``message_type``; the one place protobuf decode errors become FrameError.

    ``where`` is appended to the message (e.g. the message's position in the stream).

    >>> from udfs.protocol import udf_pb2 as pb
    >>> try:
    ...     decode_message(pb.Request, bytes([0x0A, 0x05, 0x61]))
    ... except FrameError as exc:
    ...     print(str(exc)[:33])
    undecodable Request of 3 bytes: E
    """
    try:
        return message_type.FromString(payload)
    except DecodeError as exc:
        raise FrameError(f"undecodable {message_type.__name__} of {len(payload)} bytes{where}: {exc}") from exc


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

    Reading a large frame in many small pieces costs time linear in its size: the
    pieces of an incomplete frame are kept in a list and joined once, when the frame
    is complete (joining on every feed made a 60 MB frame take about a minute).

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
        self._type = message_type
        self._max_frame = max_frame
        self._pieces: list[bytes] = []  # bytes not forming a whole frame yet, unjoined
        self._pending = 0  # their total length
        self._need = 0  # how many pending bytes there must be before parsing can progress
        self.messages_decoded = 0
        self.bytes_consumed = 0

    @property
    def pending(self) -> int:
        """Number of buffered bytes that do not form a whole frame yet."""
        return self._pending

    @property
    def needed(self) -> int:
        """Bytes still missing for the frame being read (0 when nothing is pending)."""
        return max(self._need - self._pending, 0) if self._pieces else 0

    def feed(self, data: bytes) -> list[M]:
        """Add ``data`` and return every message completed by it, in order."""
        payloads = self.feed_raw(data)
        first = self.messages_decoded - len(payloads) + 1
        return [
            decode_message(self._type, payload, where=f" (message {first + index} of the stream)")
            for index, payload in enumerate(payloads)
        ]

    def feed_raw(self, data: bytes) -> list[bytes]:
        """Like :meth:`feed`, but return the undecoded message payloads."""
        if self._pieces:
            if data:
                self._pieces.append(data)
                self._pending += len(data)
            if self._pending < self._need:
                return []
            buf = b"".join(self._pieces) if len(self._pieces) > 1 else self._pieces[0]
            self._pieces = []
        else:
            buf = data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        need = 0
        while pos < end:
            first = buf[pos]
            if first < 0x80:
                length = first
                start = pos + 1
            else:
                header = _read_varint(buf, pos)
                if header is None:
                    need = end - pos + 1
                    break
                length, start = header
                if length > self._max_frame:
                    raise FrameError(
                        f"frame of {length} bytes announced at stream offset "
                        f"{self.bytes_consumed + pos} exceeds the limit of {self._max_frame} bytes"
                    )
            stop = start + length
            if stop > end:
                need = stop - pos
                break
            out.append(buf[start:stop])
            pos = stop
        if pos < end:
            self._pieces = [buf[pos:] if pos else buf]
            self._pending = end - pos
            self._need = need
        else:
            self._pending = 0
            self._need = 0
        self.bytes_consumed += pos
        self.messages_decoded += len(out)
        return out

    def close(self) -> None:
        """Declare end of stream; raise :class:`TruncatedFrameError` if a frame is cut."""
        if self._pieces:
            buf = b"".join(self._pieces)
            header = None
            try:
                header = _read_varint(buf, 0)
            except FrameError:
                pass
            if header is None:
                detail = "inside a length prefix"
            else:
                detail = f"inside a frame: announced {header[0]} bytes, got {len(buf) - header[1]}"
            raise TruncatedFrameError(
                f"stream closed {detail} (offset {self.bytes_consumed}, "
                f"{len(buf)} bytes unparsed)"
            )

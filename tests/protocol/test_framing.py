"""Framing: random round trips, varint edges, the real-Kapacitor recordings, bad input.

Expected bytes come from the protobuf wire-format spec (written out here or produced
by protobuf itself), or from the recordings in ``kapacitor-transcripts/``; never from
``udfs.protocol.framing`` itself.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format

from udfs.protocol import udf_pb2 as pb
from udfs.protocol.framing import (
    DEFAULT_MAX_FRAME,
    FrameDecoder,
    FrameError,
    TruncatedFrameError,
    encode_frame,
    encode_point_response,
    encode_varint,
    split_frames,
)

from .transcripts import (
    TRANSCRIPTS,
    frames,
    jsonl,
    map_key_orders,
    message_type,
    sort_map_entries,
    take_frames,
    varint,
)

SEED = 20240229
N_MESSAGES = 10_000
RECORDINGS = sorted(p.name for p in TRANSCRIPTS.glob("*.bin"))

# -- random messages of every kind ---------------------------------------------------

_ALPHABET = "abcxyz_=, .:-/\\\"'\n\té水🙂0123456789"
_INT64 = (0, 1, -1, 127, 128, 2**31, 2**32, 2**63 - 1, -(2**63), 1_795_356_266_000_000_000)
_DOUBLES = (0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, 5e-324, 1.7976931348623157e308, 1e-300)


class RandomMessages:
    """Random Requests/Responses covering every oneof member and every field type."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def text(self) -> str:
        r = self.rng.random()
        # Mostly short; sometimes long enough for 2- and 3-byte length prefixes.
        n = 0 if r < 0.1 else self.rng.randint(1, 12) if r < 0.97 else self.rng.choice((127, 128, 300, 20_000))
        return "".join(self.rng.choice(_ALPHABET) for _ in range(n))

    def int64(self) -> int:
        if self.rng.random() < 0.3:
            return self.rng.choice(_INT64)
        return self.rng.randint(-(2**63), 2**63 - 1)

    def double(self) -> float:
        if self.rng.random() < 0.3:
            return self.rng.choice(_DOUBLES)
        return self.rng.uniform(-1e12, 1e12)

    def tags(self) -> dict[str, str]:
        return {self.text(): self.text() for _ in range(self.rng.randint(0, 4))}

    def point(self) -> pb.Point:
        rnd = self.rng
        p = pb.Point(
            time=self.int64(), name=self.text(), database=self.text(), retentionPolicy=self.text(),
            group=self.text(), dimensions=[self.text() for _ in range(rnd.randint(0, 3))],
            tags=self.tags(), byName=rnd.random() < 0.5,
        )
        for _ in range(rnd.randint(0, 3)):
            p.fieldsDouble[self.text()] = self.double()
        for _ in range(rnd.randint(0, 3)):
            p.fieldsInt[self.text()] = self.int64()
        for _ in range(rnd.randint(0, 2)):
            p.fieldsString[self.text()] = self.text()
        for _ in range(rnd.randint(0, 2)):
            p.fieldsBool[self.text()] = rnd.random() < 0.5
        return p

    def option_value(self) -> pb.OptionValue:
        kind = self.rng.randrange(5)
        if kind == pb.BOOL:
            return pb.OptionValue(type=pb.BOOL, boolValue=self.rng.random() < 0.5)
        if kind == pb.INT:
            return pb.OptionValue(type=pb.INT, intValue=self.int64())
        if kind == pb.DOUBLE:
            return pb.OptionValue(type=pb.DOUBLE, doubleValue=self.double())
        if kind == pb.STRING:
            return pb.OptionValue(type=pb.STRING, stringValue=self.text())
        return pb.OptionValue(type=pb.DURATION, durationValue=self.int64())

    def info_response(self) -> pb.InfoResponse:
        options = {
            self.text(): pb.OptionInfo(valueTypes=[self.rng.randrange(5) for _ in range(self.rng.randint(0, 3))])
            for _ in range(self.rng.randint(0, 5))
        }
        return pb.InfoResponse(wants=self.rng.randrange(2), provides=self.rng.randrange(2), options=options)

    def init_request(self) -> pb.InitRequest:
        options = [
            pb.Option(name=self.text(), values=[self.option_value() for _ in range(self.rng.randint(0, 3))])
            for _ in range(self.rng.randint(0, 5))
        ]
        return pb.InitRequest(options=options, taskID=self.text(), nodeID=self.text())

    def begin(self) -> pb.BeginBatch:
        return pb.BeginBatch(
            name=self.text(), group=self.text(), tags=self.tags(), size=self.int64(), byName=self.rng.random() < 0.5
        )

    def end(self) -> pb.EndBatch:
        return pb.EndBatch(
            name=self.text(), group=self.text(), tmax=self.int64(), tags=self.tags(), byName=self.rng.random() < 0.5
        )

    def snapshot_bytes(self) -> bytes:
        return self.rng.randbytes(self.rng.choice((0, 1, 17, 200, 5000)))

    def request(self, kind: str) -> pb.Request:
        makers: dict[str, Callable[[], Any]] = {
            "info": pb.InfoRequest,
            "init": self.init_request,
            "keepalive": lambda: pb.KeepaliveRequest(time=self.int64()),
            "snapshot": pb.SnapshotRequest,
            "restore": lambda: pb.RestoreRequest(snapshot=self.snapshot_bytes()),
            "begin": self.begin,
            "point": self.point,
            "end": self.end,
        }
        return pb.Request(**{kind: makers[kind]()})

    def response(self, kind: str) -> pb.Response:
        makers: dict[str, Callable[[], Any]] = {
            "info": self.info_response,
            "init": lambda: pb.InitResponse(success=self.rng.random() < 0.5, error=self.text()),
            "keepalive": lambda: pb.KeepaliveResponse(time=self.int64()),
            "snapshot": lambda: pb.SnapshotResponse(snapshot=self.snapshot_bytes()),
            "restore": lambda: pb.RestoreResponse(success=self.rng.random() < 0.5, error=self.text()),
            "error": lambda: pb.ErrorResponse(error=self.text()),
            "begin": self.begin,
            "point": self.point,
            "end": self.end,
        }
        return pb.Response(**{kind: makers[kind]()})


def _kinds(cls: Any) -> list[str]:
    return [f.name for f in cls.DESCRIPTOR.oneofs_by_name["message"].fields]


def _random_messages(cls: type, n: int, seed: int) -> list[Any]:
    gen = RandomMessages(seed)
    kinds = _kinds(cls)
    make = gen.request if cls is pb.Request else gen.response
    return [make(gen.rng.choice(kinds)) for _ in range(n)]


def _feed_in_chunks(decoder: FrameDecoder[Any], data: bytes, rng: random.Random) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(data):
        band = rng.random()
        size = rng.randint(1, 16) if band < 0.4 else rng.randint(17, 2048) if band < 0.9 else rng.randint(2049, 70_000)
        out.extend(decoder.feed(data[pos : pos + size]))
        pos += size
    decoder.close()
    return out


@pytest.mark.parametrize("cls", [pb.Request, pb.Response], ids=["Request", "Response"])
def test_random_round_trip_in_random_chunks(cls: type) -> None:
    originals = _random_messages(cls, N_MESSAGES, SEED)
    kinds = Counter(m.WhichOneof("message") for m in originals)
    assert set(kinds) == set(_kinds(cls)), "every message kind must be exercised"

    encoded = [encode_frame(m) for m in originals]
    stream = b"".join(encoded)
    # Each frame is exactly: varint(len(body)) + body, per the spec.
    for frame, message in zip(encoded[:500], originals[:500], strict=True):
        body = message.SerializeToString()
        assert frame == varint(len(body)) + body

    decoder: FrameDecoder[Any] = FrameDecoder(cls)
    decoded = _feed_in_chunks(decoder, stream, random.Random(SEED + 1))
    assert len(decoded) == len(originals)
    for i, (got, want) in enumerate(zip(decoded, originals, strict=True)):
        assert got == want, f"message {i} ({want.WhichOneof('message')}) changed in the round trip"
    assert decoder.messages_decoded == N_MESSAGES
    assert decoder.bytes_consumed == len(stream)
    assert decoder.pending == 0

    assert split_frames(stream) == [m.SerializeToString() for m in originals]


@pytest.mark.parametrize("cls", [pb.Request, pb.Response], ids=["Request", "Response"])
def test_one_byte_chunks(cls: type) -> None:
    originals = _random_messages(cls, 400, SEED + 2)
    stream = b"".join(encode_frame(m) for m in originals)
    decoder: FrameDecoder[Any] = FrameDecoder(cls)
    decoded = []
    for i in range(len(stream)):
        decoded.extend(decoder.feed(stream[i : i + 1]))
    decoder.close()
    assert decoded == originals


def test_empty_feed_and_zero_length_frames() -> None:
    decoder = FrameDecoder(pb.Request)
    assert decoder.feed(b"") == []
    # A default Request serializes to nothing: a frame of length 0 is one message.
    assert encode_frame(pb.Request()) == b"\x00"
    assert decoder.feed(b"\x00\x00") == [pb.Request(), pb.Request()]
    decoder.close()


def test_doubles_survive_bit_exact() -> None:
    values = [math.nan, -0.0, 5e-324, -math.inf]
    point = pb.Point(fieldsDouble={f"v{i}": v for i, v in enumerate(values)})
    (got,) = FrameDecoder(pb.Request).feed(encode_frame(pb.Request(point=point)))
    for i, v in enumerate(values):
        assert math.copysign(1.0, got.point.fieldsDouble[f"v{i}"]) == math.copysign(1.0, v)
        assert repr(got.point.fieldsDouble[f"v{i}"]) == repr(v)


# -- varints ------------------------------------------------------------------------

# Written out from the spec: 7 bits per byte, least significant group first.
VARINTS = {
    0: b"\x00",
    1: b"\x01",
    127: b"\x7f",
    128: b"\x80\x01",
    300: b"\xac\x02",
    16383: b"\xff\x7f",
    16384: b"\x80\x80\x01",
    2**21 - 1: b"\xff\xff\x7f",
    2**32: b"\x80\x80\x80\x80\x10",
    2**64 - 1: b"\xff" * 9 + b"\x01",
}


@pytest.mark.parametrize("value", sorted(VARINTS))
def test_varint_edges(value: int) -> None:
    assert encode_varint(value) == VARINTS[value]
    assert varint(value) == VARINTS[value]


def test_varint_matches_protobuf() -> None:
    # An int64 field holding a positive value is tag 0x08 followed by the varint
    # (proto3 leaves a 0 out entirely).
    rng = random.Random(SEED)
    values = [*VARINTS][1:-1] + [2**63 - 1] + [1 + (rng.randrange(2**63) >> rng.randrange(63)) for _ in range(2000)]
    for value in values:
        assert b"\x08" + encode_varint(value) == pb.KeepaliveRequest(time=value).SerializeToString()


def test_negative_varint_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        encode_varint(-1)


def _request_of_body_size(size: int) -> pb.Request:
    """A Request whose serialization is exactly ``size`` bytes (size >= 6)."""
    for name_len in range(size, -1, -1):
        request = pb.Request(point=pb.Point(name="n" * name_len))
        if request.ByteSize() == size:
            return request
    raise AssertionError(f"no request of {size} bytes")


@pytest.mark.parametrize("size", [126, 127, 128, 129, 16382, 16383, 16384, 16385, 2**21 + 3])
def test_frames_at_varint_boundaries(size: int) -> None:
    request = _request_of_body_size(size)
    frame = encode_frame(request)
    assert frame[: len(varint(size))] == varint(size)
    assert len(frame) == len(varint(size)) + size
    # Split at every position in and around the header.
    for cut in range(0, 6):
        decoder = FrameDecoder(pb.Request)
        got = decoder.feed(frame[:cut]) + decoder.feed(frame[cut:])
        assert got == [request]
        decoder.close()


def test_decoder_reads_a_five_byte_length() -> None:
    # 2**32 needs 5 varint bytes; the limit error quotes the decoded value.
    decoder = FrameDecoder(pb.Request)
    with pytest.raises(FrameError, match=str(2**32)):
        decoder.feed(VARINTS[2**32] + b"\x00" * 10)


# -- encode_point_response -------------------------------------------------------------

def test_encode_point_response_equals_encode_frame() -> None:
    gen = RandomMessages(SEED + 3)
    points = [gen.point() for _ in range(3000)]
    # Sizes straddling every length-prefix boundary of both the point and the response.
    points += [pb.Point(name="n" * k, tags={"host": "h"}) for k in [*range(115, 135), *range(16365, 16390)]]
    exact = 0
    for point in points:
        fast = encode_point_response(point)
        slow = encode_frame(pb.Response(point=point))
        if not map_key_orders(point.SerializeToString(), pb.Point.DESCRIPTOR):
            assert fast == slow
            exact += 1
        else:
            # Response(point=point) copies the point, and upb may iterate the copy's maps
            # in another order: the same entries, the same length, possibly another order.
            assert len(fast) == len(slow)
            (fast_payload,), _ = take_frames(fast)
            (slow_payload,), _ = take_frames(slow)
            assert sort_map_entries(fast_payload, pb.Response.DESCRIPTOR) == sort_map_entries(
                slow_payload, pb.Response.DESCRIPTOR
            )
    assert exact > 100


def test_encode_point_response_decodes_to_the_point() -> None:
    point = pb.Point(time=5, name="cpu", tags={"host": "a 1"}, fieldsDouble={"v": 1.5})
    (response,) = FrameDecoder(pb.Response).feed(encode_point_response(point))
    assert response.WhichOneof("message") == "point"
    assert response.point == point


# -- the real-Kapacitor recordings -------------------------------------------------------

@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_decodes_and_reencodes(name: str) -> None:
    cls = message_type(name)
    data = (TRANSCRIPTS / name).read_bytes()
    payloads = frames(name)  # split by the spec-based reader, not by udfs
    assert split_frames(data) == payloads

    decoder: FrameDecoder[Any] = FrameDecoder(cls)
    decoded = decoder.feed(data)
    decoder.close()
    assert len(decoded) == len(payloads) == len(jsonl(name))

    plain_identical = 0
    for i, (payload, message) in enumerate(zip(payloads, decoded, strict=True)):
        assert message == cls.FromString(payload)
        assert len(encode_frame(message)) == len(varint(len(payload))) + len(payload)
        # Byte identity up to the order of map entries (see transcripts.py for why).
        assert message.SerializeToString(deterministic=True) == sort_map_entries(payload, cls.DESCRIPTOR), (
            f"{name} frame {i}: re-encoding differs beyond map-entry order"
        )
        # Where no map has two entries there is no order to choose: the plain bytes match.
        if not map_key_orders(payload, cls.DESCRIPTOR):
            assert encode_frame(message) == varint(len(payload)) + payload, f"{name} frame {i}"
            plain_identical += 1
    print(f"{name}: {plain_identical} of {len(payloads)} frames byte-identical without sorting maps")

    canonical = b"".join(varint(len(p)) + sort_map_entries(p, cls.DESCRIPTOR) for p in payloads)
    deterministic = b"".join(varint(m.ByteSize()) + m.SerializeToString(deterministic=True) for m in decoded)
    assert deterministic == canonical


@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_matches_its_jsonl(name: str) -> None:
    cls = message_type(name)
    for i, (payload, line) in enumerate(zip(frames(name), jsonl(name), strict=True)):
        message = cls.FromString(payload)
        assert json_format.Parse(line, cls()) == message, f"{name} line {i + 1}"
        assert json_format.MessageToDict(message) == json.loads(line), f"{name} line {i + 1}"


def test_go_writes_map_entries_in_random_order() -> None:
    """What Kapacitor (Go) did: the same two tags appear in both orders.

    Kapacitor marshals with golang/protobuf's ``proto.Marshal``, which sorts map keys
    only in deterministic mode; otherwise it takes ``reflect.Value.MapKeys()``, i.e.
    Go's map iteration order. Go starts that iteration at a random slot of the bucket,
    so a two-entry map comes out reversed about 1 time in 8 (here: 1 of the 12
    two-tag points in each requests file). Hence the recordings are compared modulo
    map-entry order, and plain ``SerializeToString()`` cannot reproduce them.
    """
    orders: Counter[tuple[Any, ...]] = Counter()
    for name in ("stream.requests.bin", "socket.conn2.requests.bin"):
        for payload in frames(name):
            orders.update(
                v for k, v in map_key_orders(payload, pb.Request.DESCRIPTOR).items() if k == "point.tags"
            )
    assert set(orders) == {(b"host", b"line"), (b"line", b"host")}
    # The recording UDF's InfoResponse lists the same 7 options in a different order in
    # each of its three processes.
    info_orders = {
        map_key_orders(frames(name)[0], pb.Response.DESCRIPTOR)["info.options"]
        for name in ("stream.responses.bin", "batch.responses.bin", "socket.conn1.responses.bin")
    }
    assert len(info_orders) == 3
    assert {frozenset(o) for o in info_orders} == {
        frozenset({b"field", b"size", b"threshold", b"enabled", b"window", b"pair", b"flag"})
    }


# -- bad input ---------------------------------------------------------------------------

def _feed_all(data: bytes, cls: type = pb.Request, **kwargs: Any) -> list[Any]:
    decoder: FrameDecoder[Any] = FrameDecoder(cls, **kwargs)
    out = decoder.feed(data)
    decoder.close()
    return out


def test_random_garbage_raises_frame_error() -> None:
    rng = random.Random(SEED + 4)
    for _ in range(200):
        blob = rng.randbytes(rng.choice((3, 64, 1024, 4096)))
        with pytest.raises(FrameError) as info:
            _feed_all(blob)
        # The message says what is wrong and where.
        assert re.search(r"offset \d+|message \d+ of the stream|varint", str(info.value)), info.value


def test_eleven_byte_varint() -> None:
    with pytest.raises(FrameError, match="varint") as info:
        FrameDecoder(pb.Request).feed(b"\xff" * 10 + b"\x01" + b"\x00" * 20)
    assert not isinstance(info.value, TruncatedFrameError)
    # Raised as soon as the 11th byte could exist, not only at close().
    with pytest.raises(FrameError, match="varint"):
        FrameDecoder(pb.Request).feed(b"\xff" * 10)


def test_frame_announcing_two_gigabytes_fails_at_once() -> None:
    decoder = FrameDecoder(pb.Request)
    with pytest.raises(FrameError) as info:
        decoder.feed(encode_varint(2**31) + b"\x0a\x00")
    message = str(info.value)
    assert str(2**31) in message and str(DEFAULT_MAX_FRAME) in message
    assert "offset 0" in message


def test_custom_max_frame() -> None:
    big = encode_frame(_request_of_body_size(200))
    assert len(_feed_all(big, max_frame=200)) == 1
    with pytest.raises(FrameError, match="199"):
        _feed_all(big, max_frame=199)


@pytest.mark.parametrize(
    "body",
    [
        b"\x0f",  # field 1 with wire type 7 (does not exist)
        b"\x0a\x05ab",  # Request.info announced as 5 bytes, only 2 follow
        b"\x8a\x01\x04\x0a\x10ab",  # Request.point whose name claims 16 bytes inside a 4-byte point
        b"\x80",  # a tag cut in the middle
    ],
)
def test_valid_length_undecodable_body(body: bytes) -> None:
    ok = encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=1)))
    decoder = FrameDecoder(pb.Request)
    with pytest.raises(FrameError) as info:
        decoder.feed(ok + varint(len(body)) + body)
    message = str(info.value)
    assert f"undecodable Request of {len(body)} bytes" in message
    assert "message 2 of the stream" in message


def test_error_position_counts_across_feeds() -> None:
    ok = encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=1)))
    decoder = FrameDecoder(pb.Request)
    for _ in range(3):
        assert len(decoder.feed(ok)) == 1
    with pytest.raises(FrameError, match="message 4 of the stream"):
        decoder.feed(b"\x01\x0f")


def test_truncated_inside_a_frame() -> None:
    stream = b"".join(encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=t))) for t in range(3))
    point = encode_frame(pb.Request(point=pb.Point(name="cpu", time=7)))
    decoder = FrameDecoder(pb.Request)
    assert len(decoder.feed(stream + point[:-3])) == 3
    with pytest.raises(TruncatedFrameError) as info:
        decoder.close()
    message = str(info.value)
    assert f"announced {len(point) - 1} bytes, got {len(point) - 4}" in message
    assert f"offset {len(stream)}" in message
    with pytest.raises(TruncatedFrameError, match="inside a frame"):
        split_frames(stream + point[:-3])


def test_truncated_inside_a_length_prefix() -> None:
    decoder = FrameDecoder(pb.Request)
    assert decoder.feed(b"\x80\x80") == []
    with pytest.raises(TruncatedFrameError, match="inside a length prefix"):
        decoder.close()
    with pytest.raises(TruncatedFrameError, match="length prefix"):
        split_frames(b"\x00\x80")


def test_every_truncation_of_a_recording_is_reported() -> None:
    data = (TRANSCRIPTS / "stream.requests.bin").read_bytes()
    complete, _ = take_frames(data)
    boundaries = set()
    pos = 0
    for payload in complete:
        pos += len(varint(len(payload))) + len(payload)
        boundaries.add(pos)
    for cut in range(1, len(data)):
        decoder = FrameDecoder(pb.Request)
        decoded = decoder.feed(data[:cut])
        if cut in boundaries:
            decoder.close()
        else:
            with pytest.raises(TruncatedFrameError):
                decoder.close()
        assert len(decoded) == sum(1 for b in boundaries if b <= cut)

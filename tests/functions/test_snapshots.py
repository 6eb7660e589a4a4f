"""The snapshot container: exact round trips, old JSON snapshots, malformed input, size and limit.

What used to fail (issue 10): ``@mad()`` state written as JSON text took about 18
bytes and a float-to-text conversion per stored value (41 MB, 18 s for 10,000 groups
of 1,000), and a snapshot past the frame limit was written although the agent's own
reader would refuse it at the next start.
"""

from __future__ import annotations

import json
import logging
import math
import random
import struct

import numpy as np
import pytest

from udfs.functions import base as base_module
from udfs.functions import load
from udfs.functions.snapshots import MAGIC, MIN_ARRAY, decode_snapshot, encode_snapshot
from udfs.protocol import FrameDecoder, FrameError, encode_frame, framing
from udfs.protocol import udf_pb2 as pb

from .harness import Harness


def same(a: object, b: object) -> bool:
    """Equal with types, NaN equal to NaN, -0.0 apart from 0.0: what "exactly" means for state."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return a == b


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.choice(["floats", "f32", "decimals", "ints", "rows", "ragged", "mixed", "bools", "dict", "scalar",
                       "short"])
    n = rng.choice([0, 1, MIN_ARRAY - 1, MIN_ARRAY, 100])
    if kind == "floats":
        specials = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
        return [rng.choice(specials) if rng.random() < 0.1 else rng.gauss(50, 20) for _ in range(n)]
    if kind == "f32":  # exactly representable in float32: stored in 4 bytes, back as the same float64
        return [float(rng.randint(-1000, 1000)) / 4 for _ in range(n)]
    if kind == "decimals":  # read from text: stored as int32 counts of 10**-k, back as the same doubles
        k = rng.randint(0, 8)  # 7 and 8 places: more than the container scales, float64 then
        values = [round(rng.gauss(50, 20), k) for _ in range(n)]
        return values if rng.random() < 0.8 else [*values, math.nan, 3e9, -0.0]  # some that cannot be counts
    if kind == "ints":
        big = [2**63 - 1, -(2**63), 2**63, -(2**64)]  # the last two do not fit int64: JSON
        return [rng.choice(big) if rng.random() < 0.05 else rng.randint(-(10**12), 10**12) for _ in range(n)]
    if kind == "rows":
        width = rng.randint(1, 4)
        return [[rng.random() for _ in range(width)] for _ in range(n)]
    if kind == "ragged":
        return [[rng.random() for _ in range(rng.randint(1, 3))] for _ in range(n)]
    if kind == "mixed":
        return [rng.choice([1, 2.5, True, None, "x"]) for _ in range(n)]
    if kind == "bools":
        return [rng.random() < 0.5 for _ in range(n)]
    if kind == "dict" and depth < 3:
        keys = ["$array", "$dict", "host=a", "values", ""]
        return {rng.choice(keys) + str(i % 2 * i): random_value(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if kind == "short":
        return [1.5, 2.5]
    return rng.choice([None, True, 3, 2.5, "text", math.nan, {"$array": 0}, {"$dict": []}])


@pytest.mark.parametrize("seed", range(60))
def test_round_trip_is_exact(seed: int) -> None:
    rng = random.Random(seed)
    document = {"format": "udfs-snapshot", "state": {f"k{i}": random_value(rng) for i in range(6)}}
    data = encode_snapshot(document)
    assert data.startswith(MAGIC)
    assert same(decode_snapshot(data), json.loads(json.dumps(document)))  # tuples and all: JSON's view


def test_long_numeric_lists_are_raw_arrays() -> None:
    values = [random.Random(1).gauss(0, 1) for _ in range(10_000)]
    temperatures = [round(70 + 10 * math.sin(i / 50), 3) for i in range(10_000)]
    data = encode_snapshot({"values": values, "quarters": [i / 4 for i in range(10_000)],
                            "times": list(range(0, 10**13, 10**9)), "temperatures": temperatures})
    # 8 bytes per float64, 4 per float32-exact or 3-decimal value, 8 per int64; JSON text took ~19, ~7, ~14, ~6.
    assert len(data) < 8 * 10_000 + 4 * 10_000 + 8 * 10_000 + 4 * 10_000 + 500
    decoded = decode_snapshot(data)
    assert same(decoded["values"], values) and same(decoded["temperatures"], temperatures)


def test_version_1_json_snapshots_still_restore() -> None:
    # What every UDF wrote before the container: the document as JSON text.
    first = Harness(load("mad")(), window=20, min_periods=5)
    first.feed([pb.Point(time=i, group="g", fieldsDouble={"value": math.sin(i)}) for i in range(50)])
    document = decode_snapshot(first.udf.snapshot().snapshot)
    old = json.dumps(document, separators=(",", ":")).encode()
    second = Harness(load("mad")(), window=20, min_periods=5)
    assert second.udf.restore(pb.RestoreRequest(snapshot=old)).success
    assert same(decode_snapshot(second.udf.snapshot().snapshot), document)


def test_mutated_containers_raise_value_error_or_decode() -> None:
    rng = random.Random(3)
    data = encode_snapshot({"a": [float(i) for i in range(40)], "b": {"$array": 1}, "c": list(range(30))})
    for _ in range(3000):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(mutated))
            if rng.random() < 0.2:
                del mutated[position:]
            elif mutated:
                mutated[position] = rng.randrange(256)
        try:
            decode_snapshot(bytes(mutated))
        except ValueError:  # json, unicode and our own errors are all ValueErrors
            pass


def test_mad_state_takes_about_8_bytes_per_stored_value() -> None:
    h = Harness(load("mad")(), window=1000, emit="anomalies", calibration="none")
    rng = np.random.default_rng(2)
    for g in range(20):
        point = pb.Point(group=f"host=h{g}", fieldsDouble={"value": 0.0})
        for i, x in enumerate(rng.normal(50, 5, 1000).tolist()):
            point.time, point.fieldsDouble["value"] = i, x
            h.udf.point(point)
    data = h.udf.snapshot().snapshot
    assert len(data) < 20 * 1000 * 8 * 1.05, len(data)  # JSON text was 20 * 1000 * ~18.5
    restored = Harness(load("mad")(), window=1000, emit="anomalies", calibration="none")
    assert restored.udf.restore(pb.RestoreRequest(snapshot=data)).success
    assert restored.udf.snapshot().snapshot == data


def test_the_snapshot_limit_is_what_a_restore_can_carry() -> None:
    limit = framing.MAX_SNAPSHOT_BYTES
    assert framing.DEFAULT_MAX_FRAME - 12 <= limit < framing.DEFAULT_MAX_FRAME
    small = 10_000
    fits = framing.max_snapshot_bytes(small)
    frame = encode_frame(pb.Request(restore=pb.RestoreRequest(snapshot=b"s" * fits)))
    [request] = FrameDecoder(pb.Request, max_frame=small).feed(frame)
    assert len(request.restore.snapshot) == fits
    with pytest.raises(FrameError, match="exceeds the limit"):
        FrameDecoder(pb.Request, max_frame=small).feed(
            encode_frame(pb.Request(restore=pb.RestoreRequest(snapshot=b"s" * (fits + 1))))
        )


def test_a_snapshot_the_agent_could_not_read_back_is_not_written(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(load("mad")(), window=100, emit="anomalies", calibration="none")
    for g in range(5):
        h.feed([pb.Point(time=i, group=f"g{g}", fieldsDouble={"value": float(i % 7)}) for i in range(100)])
    size = len(h.udf.snapshot().snapshot)
    monkeypatch.setattr(framing, "MAX_SNAPSHOT_BYTES", size - 1)
    with caplog.at_level(logging.ERROR):
        assert h.udf.snapshot().snapshot == b""
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"snapshot of {size} bytes (5 groups) exceeds the {size - 1} bytes" in record.getMessage()
    assert "max_groups" in record.getMessage()
    monkeypatch.setattr(framing, "MAX_SNAPSHOT_BYTES", size)
    assert len(h.udf.snapshot().snapshot) == size
    assert base_module.framing is framing

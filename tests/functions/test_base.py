"""The UDF base: Init refusals, snapshot/restore, bad points, the skip log.

``moving_average`` is the per-group UDF under test; expected averages are computed
here from the definition (mean of the last ``size`` values of each group).
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
import types
from collections import defaultdict, deque
from typing import Any

import pytest

from udfs.functions import FUNCTIONS, load
from udfs.functions import base as base_module
from udfs.functions.base import UDF, SkipLog, numeric_field
from udfs.functions.mirror import Mirror
from udfs.functions.moving_average import MovingAverage
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.functions.snapshots import decode_snapshot
from udfs.params.constraints import Interval, check_param
from udfs.protocol import Agent, FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb

from .harness import Harness, init_request


def moving_average(size: int = 4) -> Harness[MovingAverage]:
    harness = Harness(MovingAverage(), field="value", size=size, as_="avg")
    assert harness.response.success
    return harness


def sample(value: float, group: str, t: int) -> pb.Point:
    return pb.Point(time=t, name="m", group=group, tags={"g": group}, fieldsDouble={"value": value})


def naive_moving_average(points: list[pb.Point], size: int) -> list[tuple[int, str, float]]:
    windows: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=size))
    out = []
    for p in points:
        windows[p.group].append(p.fieldsDouble["value"])
        if len(windows[p.group]) == size:
            out.append((p.time, p.group, math.fsum(windows[p.group]) / size))
    return out


def summary(points: list[pb.Point]) -> list[tuple[int, str, float]]:
    return [(p.time, p.group, p.fieldsDouble["avg"]) for p in points]


# -- Init -----------------------------------------------------------------------------

class WithDetectorParam(UDF):
    name = "with_detector_param"
    summary = "configure() validates like a detector constructor."
    options = OptionSet([OptionSpec("alpha", (ValueType.DOUBLE,), default=0.5)])

    def configure(self, config: dict[str, Any]) -> None:
        check_param("alpha", config["alpha"], Interval(float, 0, 1, closed="neither"))


class WithFileAtInit(UDF):
    name = "with_file_at_init"
    summary = "configure() opens a file the system refuses."

    def configure(self, config: dict[str, Any]) -> None:
        raise OSError(36, "File name too long", "x" * 300)


@pytest.mark.parametrize(
    "udf_cls, request_, words",
    [
        (MovingAverage, init_request(size=3), ["missing required option", "field()"]),
        (MovingAverage, init_request(field="v", size=0), ["size()", ">= 1", "got 0"]),
        (MovingAverage, init_request(field="v", size=2.0), ["size()", "must be INT", "got DOUBLE"]),
        (MovingAverage, init_request(field="v", window=3), ["unknown option window()", "field", "size", "as"]),
        (WithDetectorParam, init_request(alpha=1.5), ["alpha", "got 1.5"]),
        # An OSError of configure (a file it opens) refuses the task instead of stopping it with a traceback.
        (WithFileAtInit, init_request(), ["File name too long"]),
    ],
    ids=["missing", "constraint", "type", "unknown", "configure", "os-error"],
)
def test_init_failure_is_an_init_response(
    udf_cls: type[UDF], request_: pb.InitRequest, words: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    udf = udf_cls()
    with caplog.at_level(logging.ERROR):
        response = udf.init(request_)
    assert isinstance(response, pb.InitResponse)
    assert response.success is False
    assert response.error.startswith(f"{udf_cls.name}: ")
    for word in words:
        assert word in response.error, response.error
    assert not udf.initialized
    assert any("init refused" in r.getMessage() and "task" in r.getMessage() for r in caplog.records)


def test_init_success_keeps_task_and_node() -> None:
    udf = MovingAverage()
    assert udf.init(init_request(field="v")) == pb.InitResponse(success=True)
    assert (udf.task_id, udf.node_id, udf.initialized) == ("task", "node", True)
    assert udf.config == {"field": "v", "size": 10, "as": "average", "max_groups": 10_000, "idle_timeout": 0}


# -- snapshot / restore -----------------------------------------------------------------

def _stream(seed: int, n: int, groups: tuple[str, ...], *, exact: bool) -> list[pb.Point]:
    rng = random.Random(seed)
    values = (lambda: rng.randint(-1000, 1000) / 4) if exact else (lambda: rng.gauss(0, 1) * 1e3)
    return [sample(values(), rng.choice(groups), seed * 10_000 + t) for t in range(n)]


GROUPS = ("host=a", "host=b", "host=c", "")


def _round_trip(exact: bool) -> None:
    first = _stream(1, 120, GROUPS, exact=exact)
    later = _stream(2, 200, GROUPS + ("host=new",), exact=exact)
    original = moving_average(size=6)
    original.feed(first)
    snapshot = original.udf.snapshot().snapshot

    restored = moving_average(size=6)
    assert restored.udf.restore(pb.RestoreRequest(snapshot=snapshot)) == pb.RestoreResponse(success=True)
    out_original, out_restored = original.feed(later), restored.feed(later)
    assert out_restored == out_original

    # Not vacuous: the state matters, and the output is the moving average.
    assert moving_average(size=6).feed(later) != out_original
    expected = naive_moving_average(first + later, 6)[-len(out_original):]
    assert [(t, g) for t, g, _ in expected] == [(t, g) for t, g, _ in summary(out_original)]
    for (_, _, want), (_, _, got) in zip(expected, summary(out_original), strict=True):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_snapshot_restore_round_trip_several_groups() -> None:
    _round_trip(exact=True)


def test_snapshot_restore_round_trip_is_bit_exact_for_real_data() -> None:
    _round_trip(exact=False)


def _valid_snapshot() -> bytes:
    harness = moving_average()
    harness.feed(_stream(3, 30, GROUPS, exact=True))
    return harness.udf.snapshot().snapshot


def _document(**changes: Any) -> bytes:
    """A version 1 (JSON) snapshot, as UDFs wrote them before the container, with ``changes``."""
    document = decode_snapshot(_valid_snapshot())
    document.update(changes)
    return json.dumps(document).encode()


CORRUPT = {
    "random-bytes": random.Random(5).randbytes(256),
    "empty": b"",
    "not-utf8": b"\xff\xfe{}",
    "json-list": b"[1, 2, 3]",
    "json-null": b"null",
    "other-udf": Mirror().snapshot().snapshot,
    "old-version": _document(version=MovingAverage.state_version - 1),
    "future-version": _document(version=MovingAverage.state_version + 1),
    "no-format": _document(format="something-else"),
    "truncated": _valid_snapshot()[: len(_valid_snapshot()) // 2],
    "truncated-json": _document()[: len(_document()) // 2],
    "container-header-only": _valid_snapshot()[:12],
    "container-future-version": _valid_snapshot()[:8] + b"\x03" + _valid_snapshot()[9:],
    "state-null": _document(state=None),
    "state-no-groups": _document(state={}),
    "groups-list": _document(state={"groups": [[1.0, 2.0]]}),
    "group-null": _document(state={"groups": {"host=a": None}}),
    "group-number": _document(state={"groups": {"host=a": 3.5}}),
    "group-words": _document(state={"groups": {"host=a": [1.0, "two"]}}),
    "group-nested": _document(state={"groups": {"host=a": [[1.0], [2.0]]}}),
    "one-bad-group": _document(state={"groups": {"host=a": [1.0, 2.0], "host=b": "bad"}}),
}

# Wrong shapes that an earlier group_from_json turned into numbers: each must start
# fresh like the cases above.
WRONG_SHAPES = {
    "group-digit-string": _document(state={"groups": {"host=a": "1234"}}),
    "group-mapping": _document(state={"groups": {"host=a": {"1": 2, "3": 4}}}),
    "group-nan": json.dumps(
        {"format": "udfs-snapshot", "udf": "moving_average", "version": MovingAverage.state_version,
         "state": {"groups": {"host=a": {"values": [1.0, float("nan"), 2.0, 3.0], "total": 6.0}}}}
    ).encode(),
}


def _check_fresh_after(snapshot: bytes, caplog: pytest.LogCaptureFixture) -> None:
    harness = moving_average()
    harness.feed(_stream(4, 40, GROUPS, exact=True))  # state to be thrown away
    assert harness.udf.groups
    with caplog.at_level(logging.WARNING, logger="udfs.moving_average"):
        response = harness.udf.restore(pb.RestoreRequest(snapshot=snapshot))
    assert response == pb.RestoreResponse(success=True)
    assert harness.udf.groups == {}
    later = _stream(6, 60, GROUPS, exact=True)
    assert harness.feed(later) == moving_average().feed(later)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "starting fresh" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_unusable_snapshot_starts_fresh(name: str, caplog: pytest.LogCaptureFixture) -> None:
    _check_fresh_after(CORRUPT[name], caplog)


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
def test_wrong_shape_starts_fresh(name: str, caplog: pytest.LogCaptureFixture) -> None:
    _check_fresh_after(WRONG_SHAPES[name], caplog)


def test_restore_of_a_valid_snapshot_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    harness = moving_average()
    with caplog.at_level(logging.INFO, logger="udfs.moving_average"):
        assert harness.udf.restore(pb.RestoreRequest(snapshot=_valid_snapshot())).success
    assert set(harness.udf.groups) == set(GROUPS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_snapshot_is_always_bytes_for_every_udf(name: str) -> None:
    udf = load(name)()
    response = udf.snapshot()
    assert isinstance(response, pb.SnapshotResponse)
    assert isinstance(response.snapshot, bytes)
    document = decode_snapshot(response.snapshot)
    assert (document["format"], document["udf"], document["version"]) == ("udfs-snapshot", name, udf.state_version)
    # What Kapacitor stores comes back on restart: restoring it must succeed.
    assert load(name)().restore(pb.RestoreRequest(snapshot=response.snapshot)).success


def test_snapshot_with_state_is_bytes_and_decodes() -> None:
    harness = moving_average()
    harness.feed(_stream(7, 50, GROUPS, exact=True))
    data = harness.udf.snapshot().snapshot
    assert isinstance(data, bytes)
    groups = decode_snapshot(data)["state"]["groups"]
    assert set(groups) == set(GROUPS)
    assert all(isinstance(v["values"], list) and len(v["values"]) <= 4 for v in groups.values())


class UnserialisableState(UDF):
    name = "unserialisable"
    summary = "get_state returns something JSON cannot hold."

    def get_state(self) -> Any:
        return {"seen": {1, 2, 3}}  # a set, like a detector that forgot to convert


def test_snapshot_of_unserialisable_state_is_still_bytes(caplog: pytest.LogCaptureFixture) -> None:
    udf = UnserialisableState()
    with caplog.at_level(logging.ERROR):
        response = udf.snapshot()
    assert isinstance(response.snapshot, bytes)
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert UnserialisableState().restore(pb.RestoreRequest(snapshot=response.snapshot)).success


def test_snapshot_through_the_agent_never_stops_the_task() -> None:
    requests = [pb.Request(init=pb.InitRequest()), pb.Request(snapshot=pb.SnapshotRequest())]
    out: list[bytes] = []
    status = Agent(UnserialisableState(), io.BytesIO(b"".join(map(encode_frame, requests))).read, out.append).run()
    kinds = [r.WhichOneof("message") for r in FrameDecoder(pb.Response).feed(b"".join(out))]
    assert (status, kinds) == (0, ["init", "snapshot"])


# -- bad points -----------------------------------------------------------------------

def test_bad_points_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def p(t: int, **fields: Any) -> pb.Point:
        point = pb.Point(time=t, name="m", group="g")
        for k, v in fields.items():
            {float: point.fieldsDouble, int: point.fieldsInt, str: point.fieldsString, bool: point.fieldsBool}[
                type(v)
            ][k] = v
        return point

    points = [
        p(1, value=1.0),
        p(2, other=5.0),  # missing field
        p(3, value="high"),  # string
        p(4, value=True),  # bool
        p(5, value=math.nan),
        p(6, value=math.inf),
        p(7, value=3),  # an integer field is a number
        p(8, value=-math.inf),
        p(9, value=5.0),
    ]
    requests = [pb.Request(init=init_request(field="value", size=2, as_="avg"))]
    requests += [pb.Request(point=x) for x in points]
    out: list[bytes] = []
    udf = MovingAverage()
    with caplog.at_level(logging.INFO, logger="udfs.moving_average"):
        status = Agent(udf, io.BytesIO(b"".join(map(encode_frame, requests))).read, out.append).run()
    responses = FrameDecoder(pb.Response).feed(b"".join(out))
    assert status == 0
    assert not any(r.HasField("error") for r in responses)
    outputs = [(r.point.time, r.point.fieldsDouble["avg"]) for r in responses if r.HasField("point")]
    assert outputs == [(7, 2.0), (9, 4.0)]  # later points are still processed

    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped point")]
    for t, reason in [(2, "missing"), (3, "string"), (4, "bool"), (5, "nan")]:
        assert any(f" at {t}: " in m and reason in m and "'value'" in m for m in skipped), (t, skipped)
    assert udf.skips.total == 6
    assert any("6 points skipped in total" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"fieldsDouble": {"value": 2.5}}, 2.5),
        ({"fieldsInt": {"value": -4}}, -4.0),
        ({"fieldsDouble": {"value": math.nan}}, "is nan"),
        ({"fieldsDouble": {"value": -math.inf}}, "is -inf"),
        ({"fieldsString": {"value": "x"}}, "is a string"),
        ({"fieldsBool": {"value": False}}, "is a bool"),
        ({"fieldsDouble": {"b": 1.0}, "fieldsInt": {"a": 1}}, "is missing (fields: a, b)"),
        ({}, "is missing (fields: none)"),
    ],
)
def test_numeric_field(fields: dict[str, Any], expected: float | str) -> None:
    got = numeric_field(pb.Point(**fields), "value")
    if isinstance(expected, float):
        assert got == expected and isinstance(got, float)
    else:
        assert isinstance(got, str) and "'value'" in got and expected in got


# -- SkipLog ----------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_skip_log_summarises_floods(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    monkeypatch.setattr(base_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    logger = logging.getLogger("test.skips")
    skips = SkipLog(logger, burst=3, interval=60.0)

    def messages() -> list[str]:
        out = [r.getMessage() for r in caplog.records]
        caplog.clear()
        return out

    with caplog.at_level(logging.WARNING, logger="test.skips"):
        for i in range(10_000):
            skips.skip("bad value", "point %d is bad", i)
        got = messages()
        assert got == [
            "skipped point: point 0 is bad",
            "skipped point: point 1 is bad",
            "skipped point: point 2 is bad",
            "further 'bad value' skips are summarised every 60s",
        ]
        for i in range(10):
            skips.skip("late", "point %d is late", i)
        assert len(messages()) == 4  # each kind has its own burst

        clock.now += 59.0
        skips.skip("bad value", "point %d is bad", 10_000)
        assert messages() == []  # still inside the interval

        clock.now += 1.0
        skips.skip("bad value", "point %d is bad", 10_001)
        # 9997 suppressed in the flood, then two more; 7 of the late ones.
        assert sorted(messages()) == ["skipped 7 more points: late", "skipped 9999 more points: bad value"]

        clock.now += 10.0
        skips.skip("bad value", "x")
        assert messages() == []
        clock.now += 60.0
        skips.skip("bad value", "x")
        assert messages() == ["skipped 2 more points: bad value"]
    assert skips.total == 10_014

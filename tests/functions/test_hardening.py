"""Regressions of the hardening campaign (issue 10) at the UDF level: what used to stop a task.

Each test here failed before its fix: an edge duration beyond int64, a snapshot whose
state a detector accepted and then died on, ...
"""

from __future__ import annotations

import json
import logging

import pytest

from udfs.functions import load
from udfs.functions.snapshots import decode_snapshot
from udfs.protocol import udf_pb2 as pb

from .harness import Duration, Harness

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def state_point(t: int, value: str, group: str = "line=1") -> pb.Point:
    return pb.Point(time=t, name="dsl", group=group, tags={"line": group}, fieldsString={"state": value})


@pytest.mark.parametrize("emit", ["changes", "all"])
def test_edge_durations_beyond_int64_are_left_out(emit: str) -> None:
    # Points 584 years apart: previous_duration and duration do not fit the int64 of a field.
    h = Harness(load("edge")(), field="state", emit=emit)
    out = h.feed([state_point(INT64_MIN + 1, "SHOWTIME"), state_point(INT64_MAX, "SHOWTIME"),
                  state_point(INT64_MAX, "TRAINING")])
    last = out[-1]
    assert last.fieldsBool["changed"] and "previous_duration" not in last.fieldsInt
    assert last.fieldsInt["changes"] == 1
    if emit == "all":
        assert "duration" not in out[1].fieldsInt  # INT64_MAX - (INT64_MIN + 1)


def test_edge_snapshot_with_a_null_time_starts_fresh(caplog: pytest.LogCaptureFixture) -> None:
    first = Harness(load("edge")(), field="state")
    first.feed([state_point(1_000, "SHOWTIME"), state_point(2_000, "TRAINING")])
    document = decode_snapshot(first.udf.snapshot().snapshot)
    document["state"]["groups"]["line=1"]["entered"] = None
    second = Harness(load("edge")(), field="state")
    with caplog.at_level(logging.WARNING):
        assert second.udf.restore(pb.RestoreRequest(snapshot=json.dumps(document).encode())).success
    assert any("starting fresh" in r.getMessage() and "entered" in r.getMessage() for r in caplog.records)
    assert not second.udf.groups
    [out] = second.feed([state_point(3_000, "TRAINING")])  # a first point again, no crash
    assert out.fieldsBool["changed"] and out.fieldsInt["changes"] == 0


# -- bounded groups -----------------------------------------------------------------

STEP = 10_000_000_000


def value_point(t: int, group: str, value: float = 1.0) -> pb.Point:
    return pb.Point(time=t, name="cpu", group=group, tags={"host": group}, fieldsDouble={"value": value})


def mad(**options: object) -> Harness:
    h = Harness(load("mad")(), window=20, min_periods=5, emit="anomalies", calibration="none", **options)
    assert h.response.success, h.response.error
    return h


def test_an_eviction_is_logged_naming_the_group_and_the_option(caplog: pytest.LogCaptureFixture) -> None:
    h = mad(max_groups=2)
    with caplog.at_level(logging.WARNING):
        h.feed([value_point(i * STEP, g) for i, g in enumerate(["a", "b", "a", "c"])])
    assert list(h.udf.groups) == ["a", "c"]  # b was the least recently seen
    [line] = [r.getMessage() for r in caplog.records if "evicted" in r.getMessage()]
    assert line == "evicted group: task task group b: max_groups 2 reached; a later point starts it afresh"


def test_a_restore_keeps_at_most_max_groups_the_most_recently_seen() -> None:
    wide = mad(max_groups=100)
    wide.feed([value_point(i * STEP, f"g{i % 5}") for i in range(50)])
    narrow = mad(max_groups=3)
    assert narrow.udf.restore(pb.RestoreRequest(snapshot=wide.udf.snapshot().snapshot)).success
    assert list(narrow.udf.groups) == ["g2", "g3", "g4"]


def test_groups_of_a_snapshot_without_times_are_idle_from_the_first_point_after_it() -> None:
    first = mad()
    first.feed([value_point(i * STEP, g) for i, g in enumerate(["a", "b"] * 10)])
    document = decode_snapshot(first.udf.snapshot().snapshot)
    del document["state"]["seen"]  # as written before max_groups and idle_timeout
    second = mad(idle_timeout=Duration(100 * STEP))
    assert second.udf.restore(pb.RestoreRequest(snapshot=json.dumps(document).encode())).success
    second.feed([value_point(10_000 * STEP, "b")])
    assert set(second.udf.groups) == {"a", "b"}  # a's time is unknown: counted from now, not evicted
    second.feed([value_point(10_150 * STEP, "b")])
    assert list(second.udf.groups) == ["b"]


@pytest.mark.parametrize(("option", "value", "words"), [
    ("max_groups", 0, ["max_groups()", ">= 1"]),
    ("max_groups", 2**63 - 1, ["max_groups()", "<= 10000000"]),
    ("idle_timeout", Duration(-1), ["idle_timeout()", ">= 0s"]),
])
def test_group_options_are_bounded(option: str, value: object, words: list[str]) -> None:
    for name in ("mad", "moving_average", "edge"):
        extra = {"field": "value"} if name == "moving_average" else {}
        response = Harness(load(name)(), **extra, **{option: value}).response
        assert not response.success and all(w in response.error for w in words), response.error

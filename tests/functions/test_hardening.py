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

from .harness import Harness

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

"""``@matrix_profile()``: options to detector, per-group verdicts on the output points, snapshots.

The UDF is driven in-process with a real ``Outbox``; its fields are compared with
``MatrixProfile`` run directly on each group's values, which
``tests/detectors/test_matrix_profile.py`` checks against the naive reference and stumpy.
"""

from __future__ import annotations

import math

import numpy as np

from udfs.detectors.calibration import calibrated
from udfs.detectors.matrix_profile import MatrixProfile
from udfs.functions.matrix_profile import MatrixProfileUDF
from udfs.protocol import udf_pb2 as pb

from .harness import Duration, Harness

OPTIONS = {"m": 8, "history": 120, "min_history": 30, "threshold": 3.0, "normalize": True}
# The detector's own threshold decides, at every point: what this file checks is the detector's plumbing.
OWN_VERDICTS = {"calibration": "none", "cooldown": Duration(0)}


def stream(n: int) -> list[pb.Point]:
    """Two groups: a sine with a discord, and a random walk."""
    rng = np.random.default_rng(4)
    wave = np.sin(np.arange(n) / 3.0) + rng.normal(0, 0.02, n)
    wave[n // 2 : n // 2 + 6] = 0.5
    walk = np.cumsum(rng.normal(size=n))
    points = []
    for i in range(n):
        for group, values in (("host=a", wave), ("host=b", walk)):
            points.append(pb.Point(time=i * 10**9, name="cpu", group=group, tags={"host": group[5:]},
                                   fieldsDouble={"value": float(values[i])}))
    return points


def test_fields_match_the_detector_per_group() -> None:
    harness = Harness(MatrixProfileUDF(), **OPTIONS, **OWN_VERDICTS)
    assert harness.response.success, harness.response.error
    points = stream(300)
    out = harness.feed(points)
    assert len(out) == len(points)
    detectors = {g: calibrated(MatrixProfile)(**OPTIONS, **OWN_VERDICTS) for g in ("host=a", "host=b")}
    for p, q in zip(points, out, strict=True):
        verdict = detectors[p.group].update(p.time, p.fieldsDouble["value"])
        assert q.tags["detector"] == "matrix_profile" and q.fieldsBool["is_anomaly"] == verdict.is_anomaly
        if math.isfinite(verdict.score):
            assert q.fieldsDouble["anomaly_score"] == verdict.score
        else:
            assert "anomaly_score" not in q.fieldsDouble
        if verdict.details["neighbor_age"] is None:
            assert "neighbor_age" not in q.fieldsInt and "distance" not in q.fieldsDouble
        else:
            assert q.fieldsInt["neighbor_age"] == verdict.details["neighbor_age"]
            assert q.fieldsDouble["distance"] == verdict.details["distance"]
    wave = [q for q in out if q.group == "host=a"]
    top = max(wave, key=lambda q: q.fieldsDouble.get("anomaly_score", 0.0))
    assert 150 <= top.time // 10**9 < 150 + 6 + 8 and top.fieldsBool["is_anomaly"]  # the discord, m = 8


def test_snapshot_restore_continues_identically() -> None:
    points = stream(260)
    original = Harness(MatrixProfileUDF(), **OPTIONS)
    original.feed(points[:300])
    restored = Harness(MatrixProfileUDF(), **OPTIONS)
    assert restored.udf.restore(pb.RestoreRequest(snapshot=original.udf.snapshot().snapshot)).success
    assert restored.feed(points[300:]) == original.feed(points[300:])


def test_bad_options_are_refused_naming_the_option() -> None:
    response = Harness(MatrixProfileUDF(), m=64).response  # min_history 128 needs m + ceil(m / 4) + 1 <= 128 ...
    assert response.success
    response = Harness(MatrixProfileUDF(), m=120).response  # ... which m = 120 breaks
    assert not response.success and "min_history" in response.error
    response = Harness(MatrixProfileUDF(), history=100).response
    assert not response.success and "min_history" in response.error

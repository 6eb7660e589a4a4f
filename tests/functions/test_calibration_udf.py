"""The calibration options every detector UDF of numbers shares, through the protocol."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from udfs.detectors import REGISTRY
from udfs.detectors.calibration import CALIBRATION_PARAMETERS, calibrated
from udfs.detectors.calibration.parameters import calibration_parameters
from udfs.functions import FUNCTIONS, load
from udfs.functions.detector_udf import DetectorUDF
from udfs.protocol import udf_pb2 as pb

from .harness import Duration, Harness

DETECTOR_UDFS = [name for name in sorted(FUNCTIONS) if issubclass(load(name), DetectorUDF)]
MINUTE = 60 * 10**9


@pytest.mark.parametrize("name", DETECTOR_UDFS)
def test_calibration_options_are_declared_once_for_every_udf_of_numbers(name: str) -> None:
    cls = load(name)
    names = {spec.name for spec in cls.options}
    if not cls.is_calibrated():
        assert not names & set(CALIBRATION_PARAMETERS), name
        return
    # The same declarations, with the detector's own defaults where it declares some.
    own = cls.detector_class().calibration_defaults
    for param in calibration_parameters(own).values():
        assert cls.options[param.name].param == param
        assert (param.default == CALIBRATION_PARAMETERS[param.name].default) == (param.name not in own)


def test_a_detector_declaring_its_own_calibration_default_gets_it_in_its_udf() -> None:
    assert load("contextual").options["calibration"].param.default == "none"
    assert load("mad").options["calibration"].param.default == CALIBRATION_PARAMETERS["calibration"].default
    assert calibrated(REGISTRY["contextual"])().verdicts.settings["calibration"] == "none"


def test_edge_and_batch_and_second_stages_are_not_calibrated() -> None:
    assert not load("edge").is_calibrated() and not load("iqr_batch").is_calibrated()
    assert not load("daily_peak").is_calibrated() and load("mad").is_calibrated()


def stream(n: int) -> list[pb.Point]:
    rng = np.random.default_rng(8)
    points = []
    for i in range(n):
        for group in ("host=a", "host=b"):
            x = float(rng.normal(10.0, 1.0) + (25.0 if i in (500, 650, 651) else 0.0))
            points.append(pb.Point(time=i * MINUTE, name="cpu", group=group, fieldsDouble={"value": x}))
    return points


OPTIONS = {"calibration": "spot", "risk": 1e-3, "learning_period": 200, "cooldown": Duration(60 * MINUTE)}


def test_udf_verdicts_are_the_calibrated_detectors_per_group() -> None:
    harness = Harness(load("zscore")(), **OPTIONS)
    assert harness.response.success, harness.response.error
    points = stream(800)
    out = harness.feed(points)
    reference = {g: calibrated(REGISTRY["zscore"])(**{**OPTIONS, "cooldown": 60 * MINUTE})
                 for g in ("host=a", "host=b")}
    flagged = 0
    for p, q in zip(points, out, strict=True):
        v = reference[p.group].update(p.time, p.fieldsDouble["value"])
        assert q.fieldsBool["is_anomaly"] == v.is_anomaly
        flagged += v.is_anomaly
        if v.details["calibrated_score"] is None:
            assert "calibrated_score" not in q.fieldsDouble
        else:
            assert q.fieldsDouble["calibrated_score"] == v.details["calibrated_score"]
        assert q.fieldsString.get("alert_rule") == v.details["alert_rule"]
        if math.isfinite(v.score):
            assert q.fieldsDouble["anomaly_score"] == v.score  # the raw score stays
    assert flagged >= 2  # the spikes at 500 and 650 in both groups, 651 within the cooldown
    assert any(q.fieldsString.get("alert_rule") == "cooldown" for q in out)


def test_snapshot_keeps_the_calibration_state() -> None:
    points = stream(900)
    whole = Harness(load("mad")(), **OPTIONS)
    expected = whole.feed(points)
    first = Harness(load("mad")(), **OPTIONS)
    first.feed(points[:1000])
    snapshot = first.udf.snapshot().snapshot
    second = Harness(load("mad")(), **OPTIONS)
    assert second.udf.restore(pb.RestoreRequest(snapshot=snapshot)).success and second.udf.alerting
    assert second.feed(points[1000:]) == expected[1000:]
    other = Harness(load("mad")(), **{**OPTIONS, "risk": 1e-4})  # other calibration: starts fresh
    assert other.udf.restore(pb.RestoreRequest(snapshot=snapshot)).success and not other.udf.groups


@pytest.mark.parametrize(("options", "words"), [
    ({"calibration": "gauss"}, ["calibration()", "'likelihood'"]),
    ({"risk": 0.0}, ["risk()", ">= 1e-09"]),
    ({"cooldown": Duration(-5 * 10**9)}, ["cooldown()", "-5s"]),
])
def test_bad_calibration_options_are_refused_naming_them(options: dict[str, object], words: list[str]) -> None:
    response = Harness(load("zscore")(), **options).response
    assert not response.success and all(w in response.error for w in words), response.error


def test_a_window_that_cannot_fill_is_reported_once_per_group(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness(load("sigma")())
    points = [pb.Point(time=i * 30 * MINUTE, name="taxi", group=g, fieldsDouble={"value": float(i % 7)})
              for i in range(60) for g in ("a", "b")]
    with caplog.at_level(logging.WARNING):
        harness.feed(points)
    messages = [r.getMessage() for r in caplog.records if "holds" in r.getMessage()]
    assert len(messages) == 2 and all("every 30m" in m and ".full_duration(50h)" in m and ".min_points(48)" in m
                                      for m in messages)

"""``@isolation_forest()``: options, the vector of fields, background fitting, snapshots, pre-trained models.

The UDF is driven in-process with a real ``Outbox``; its verdicts are compared with
the detector fitting inline (``IsolationForestDetector`` itself), which
``tests/detectors/test_isolation_forest.py`` checks against scikit-learn.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from udfs.detectors.calibration import calibrated
from udfs.detectors.isolation_forest import IsolationForestDetector
from udfs.functions import load
from udfs.functions.isolation_forest import IsolationForestUDF
from udfs.functions.snapshots import decode_snapshot
from udfs.models.store import save_model
from udfs.protocol import udf_pb2 as pb

from .harness import Duration, Harness

FIELDS = ["temperature", "humidity", "ink_level"]


def forest(**options: Any) -> Harness[IsolationForestUDF]:
    return Harness(IsolationForestUDF(), **options)


def settled(harness: Harness[IsolationForestUDF], points: list[pb.Point]) -> list[pb.Point]:
    """Feed points, waiting for every fit a point starts (as an inline fit would)."""
    return harness.feed(points, after_each=harness.udf.wait_for_fits)


def points(n: int, *, seed: int = 0, groups: tuple[str, ...] = ("p1",), start: int = 0) -> list[pb.Point]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(start, start + n):
        for g in groups:
            t, h, ink = rng.normal(200.0, 1.0), rng.normal(45.0, 1.0), rng.uniform(20.0, 100.0)
            if i % 97 == 50:
                t += 15.0
            out.append(pb.Point(time=i * 10**9, name="printer", group=f"printer={g}", tags={"printer": g},
                                fieldsDouble={"temperature": t, "humidity": h, "ink_level": ink}))
    return out


def since(out: list[pb.Point], time: int) -> list[pb.Point]:
    """The points of ``out`` at or after ``time`` (held points come out later, in order)."""
    return [p for p in out if p.time >= time]


def verdicts(out: list[pb.Point]) -> list[tuple[int, str, float, bool]]:
    return [(p.time, p.group, p.fieldsDouble.get("anomaly_score", math.nan), p.fieldsBool["is_anomaly"]) for p in out]


def inline_verdicts(stream: list[pb.Point], **params: Any) -> list[tuple[int, str, float, bool]]:
    # The UDF's verdicts are the detector's followed by the shared calibration (default options).
    detectors: dict[str, Any] = {}
    out = []
    for p in stream:
        detector = detectors.setdefault(p.group, calibrated(IsolationForestDetector)(**params))
        v = detector.update(p.time, [p.fieldsDouble[f] for f in FIELDS])
        out.append((p.time, p.group, v.score, v.is_anomaly))
    return out


def same(a: list[tuple[int, str, float, bool]], b: list[tuple[int, str, float, bool]]) -> bool:
    return len(a) == len(b) and all(
        x[:2] == y[:2] and x[3] == y[3] and (x[2] == y[2] or (math.isnan(x[2]) and math.isnan(y[2])))
        for x, y in zip(a, b, strict=True)
    )


SMALL = {"field": FIELDS, "train_size": 60, "n_estimators": 25}
SMALL_PARAMS = {"train_size": 60, "n_estimators": 25}


# -- options and output -------------------------------------------------------------

def test_info_is_answered_without_scikit_learn() -> None:
    code = ("import sys; from udfs.functions import load; load('isolation_forest')().info(); "
            "sys.exit(any(m in sys.modules for m in ('sklearn', 'joblib')))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
    assert load("isolation_forest") is IsolationForestUDF


def test_repeated_field_calls_make_the_vector_and_the_output_schema() -> None:
    h = forest(**SMALL)
    assert h.response.success, h.response.error
    out = settled(h, points(200))
    assert len(out) == 200
    assert all("anomaly_score" in p.fieldsDouble for p in out)  # the training points too, once fitted
    first = out[0]
    assert dict(first.tags) == {"printer": "p1", "detector": "isolation_forest", "source": "printer",
                                "field": "temperature,humidity,ink_level"}
    assert first.fieldsDouble["temperature"] > 0
    # The training points (held, then scored by the forest fitted on them) aside, the
    # verdicts are those of the detector fitting inline.
    assert same(verdicts(out)[60:], inline_verdicts(points(200), **SMALL_PARAMS)[60:])


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"field": ["a", "b"], "lags": 2}, ["lags()", "exactly one field()"]),
        ({"field": ["a", "a"]}, ["field()", "twice"]),
        ({"field": [""]}, ["field()", "name a field"]),
        ({"contamination": 0.7}, ["contamination()", "<= 0.5"]),
        ({"n_estimators": 0}, ["n_estimators", ">= 1"]),
        ({"train_size": 1}, ["train_size", ">= 2"]),
        ({"threshold": 2.0}, ["threshold", "<= 1"]),
        ({"emit": "some"}, ["emit()", "'anomalies'"]),
    ],
)
def test_bad_options_are_refused_in_init(options: dict[str, Any], words: list[str]) -> None:
    response = forest(**options).response
    assert not response.success
    assert response.error.startswith("isolation_forest: ")
    assert all(w in response.error for w in words), response.error


def test_contamination_zero_means_auto_and_lags_take_one_field() -> None:
    h = forest(field=["temperature"], lags=3, contamination=0.0, train_size=40, n_estimators=10)
    assert h.response.success, h.response.error
    assert h.udf.params["contamination"] == 0.0 and h.udf.params["lags"] == 3
    assert len(settled(h, points(100))) == 100


def test_a_point_missing_a_field_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    h = forest(**SMALL)
    bad = points(1)[0]
    del bad.fieldsDouble["humidity"]
    bad.fieldsString["humidity"] = "n/a"
    missing = points(1)[0]
    del missing.fieldsDouble["ink_level"]
    with caplog.at_level("WARNING"):
        assert h.feed([bad, missing, *points(3)]) == []  # the good ones are held for the first forest
    assert h.udf.skips.total == 2
    text = caplog.text
    assert "'humidity' is a string" in text and "'ink_level' is missing" in text


# -- background fitting -----------------------------------------------------------------

class GatedFits:
    """fit_model waiting for ``release`` after the first ``free`` fits (fits run on the UDF's thread)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, free: int) -> None:
        self.release = threading.Event()
        self.started = 0
        real = IsolationForestDetector.fit_model

        def fit_model(detector: IsolationForestDetector, data: np.ndarray) -> Any:
            self.started += 1
            if self.started > free:
                self.release.wait(30)
            return real(detector, data)

        monkeypatch.setattr(IsolationForestDetector, "fit_model", fit_model)

    def wait_started(self, n: int) -> bool:
        """Whether exactly ``n`` fits have started, once the thread picked up what was submitted."""
        deadline = time.monotonic() + 5.0
        while self.started < n and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        return self.started == n


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], GatedFits]]:
    """Make fits wait; every gate opens at teardown so the process's one fitting thread never stays stuck."""
    gates: list[GatedFits] = []

    def make(free: int = 0) -> GatedFits:
        gates.append(GatedFits(monkeypatch, free))
        return gates[-1]

    yield make
    for gate in gates:
        gate.release.set()


def test_points_are_held_while_the_first_fit_runs_then_scored(gated: Callable[[int], GatedFits]) -> None:
    stream = points(400)
    expected = inline_verdicts(stream, **SMALL_PARAMS)
    gate = gated(0)
    h = forest(**SMALL)
    began = time.monotonic()
    out = h.feed(stream[:300])
    elapsed = time.monotonic() - began
    assert out == [] and gate.wait_started(1)  # nothing passes unscored; one fit in flight
    assert elapsed < 5.0, elapsed  # the fit is blocked for good: the agent did not wait for it
    gate.release.set()
    h.udf.wait_for_fits(30)
    rest = h.feed(stream[300:])
    assert len(rest) == 400 and all("anomaly_score" in p.fieldsDouble for p in rest)
    assert [p.time for p in rest] == [p.time for p in stream]  # in order, training points included
    # The held points after the training set, and the later ones, are scored by the same
    # forest as the detector fitting inline on the same training set.
    train = SMALL_PARAMS["train_size"]
    assert same(verdicts(rest)[train:], expected[train:])


def test_held_points_are_bounded(gated: Callable[[int], GatedFits], monkeypatch: pytest.MonkeyPatch) -> None:
    from udfs.functions import isolation_forest as module

    monkeypatch.setattr(module, "HOLD_LIMIT", 100)
    gated(0)
    h = forest(**SMALL)
    out = h.feed(points(250))
    assert len(out) == 150 and all("anomaly_score" not in p.fieldsDouble for p in out)
    assert h.udf.skips.total == 150


def test_the_previous_forest_scores_during_a_refit(gated: Callable[[int], GatedFits]) -> None:
    stream = points(400)
    first_forest_only = inline_verdicts(stream, **SMALL_PARAMS)  # never refits
    gate = gated(1)  # the first fit goes through, refits wait
    h = forest(**SMALL, refit_every=50)
    settled(h, stream[:60])  # first forest fitted
    during = since(h.feed(stream[60:300]), stream[60].time)  # refit due at point 110: blocked
    assert gate.wait_started(2)
    assert same(verdicts(during), first_forest_only[60:300])
    gate.release.set()
    h.udf.wait_for_fits(30)
    after = settled(h, stream[300:])
    assert not same(verdicts(after), first_forest_only[300:])  # the refit was swapped in
    assert gate.started > 2  # and the next refits were started


# -- snapshots ------------------------------------------------------------------------

@pytest.mark.parametrize("cut", [30, 121, 400])
def test_snapshot_restore_continues_with_identical_verdicts(cut: int) -> None:
    options = {**SMALL, "refit_every": 40}
    stream = points(300, groups=("p1", "p2"))
    original = forest(**options)
    settled(original, stream[: cut - 2])
    original.feed(stream[cut - 2 : cut])  # cut=121: p2's first fit starts here, likely running at the snapshot
    snapshot = original.udf.snapshot().snapshot
    assert b"joblib" not in snapshot and decode_snapshot(snapshot)["state"]["model"] is None
    original.udf.wait_for_fits(30)
    restored = forest(**options)
    assert restored.udf.restore(pb.RestoreRequest(snapshot=snapshot)).success
    assert restored.udf.groups.keys() == original.udf.groups.keys()
    restored.udf.wait_for_fits(30)  # the saved training sets are refitted in the background
    # Points the original held for its first forest at the snapshot are not in it.
    assert same(verdicts(settled(restored, stream[cut:])),
                verdicts(since(settled(original, stream[cut:]), stream[cut].time)))


def test_snapshot_with_other_options_restores_fresh() -> None:
    original = forest(**SMALL)
    settled(original, points(100))
    other = forest(**{**SMALL, "seed": 1})
    assert other.udf.restore(pb.RestoreRequest(snapshot=original.udf.snapshot().snapshot)).success
    assert other.udf.groups == {}


# -- pre-trained models -------------------------------------------------------------------

def training_vectors(n: int = 400) -> np.ndarray:
    return np.array([[p.fieldsDouble[f] for f in FIELDS] for p in points(n, seed=9)])


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The deployer's configured model directory; tasks may only choose inside it.
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    directory = tmp_path / "models"
    detector = IsolationForestDetector(n_estimators=30, seed=3)
    meta = {"detector": "isolation_forest", "fields": FIELDS, "lags": 0, "rows": 400}
    save_model(detector.fit_estimator(training_vectors()), directory, "printer", meta)
    return directory


def test_a_pretrained_model_scores_from_the_first_point(model_dir: Path) -> None:
    h = forest(field=FIELDS, model="printer", model_dir=str(model_dir), calibration="none", cooldown=Duration(0))
    assert h.response.success, h.response.error
    stream = points(150)
    out = h.feed(stream)
    reference = IsolationForestDetector(n_estimators=30, seed=3).fit_estimator(training_vectors())
    expected = -reference.decision_function([[p.fieldsDouble[f] for f in FIELDS] for p in stream])
    assert np.allclose([p.fieldsDouble["anomaly_score"] for p in out], expected, rtol=0, atol=1e-11)
    assert [p.fieldsBool["is_anomaly"] for p in out] == list(expected > 0)
    assert h.udf.groups["printer=p1"].needs_fit() is False  # nothing is collected nor fitted
    # Snapshots name the model; a task with another (or no) model starts fresh from them.
    snapshot = h.udf.snapshot().snapshot
    assert decode_snapshot(snapshot)["state"]["model"]["name"] == "printer"
    again = forest(field=FIELDS, model="printer", model_dir=str(model_dir), calibration="none",
                   cooldown=Duration(0))
    assert again.udf.restore(pb.RestoreRequest(snapshot=snapshot)).success and again.udf.groups
    untrained = forest(**SMALL)
    assert untrained.udf.restore(pb.RestoreRequest(snapshot=snapshot)).success and not untrained.udf.groups


def test_model_dir_defaults_to_the_environment(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PATH", str(model_dir))
    assert forest(field=FIELDS, model="printer").response.success


def _tamper(model_dir: Path, tmp_path: Path, case: str) -> str:
    """Spoil the stored model as ``case`` says; return the model name to ask for."""
    joblib_file, meta_file = model_dir / "printer.joblib", model_dir / "printer.json"
    if case == "checksum":
        meta = json.loads(meta_file.read_text())
        meta["sha256"] = "0" * 64
        meta_file.write_text(json.dumps(meta))
    elif case == "tampered":
        joblib_file.write_bytes(joblib_file.read_bytes() + b"\x00")
    elif case == "no metadata":
        meta_file.unlink()
    elif case == "symlink":
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        for f in (joblib_file, meta_file):
            f.rename(outside / f.name)
        (model_dir / "printer.joblib").symlink_to(outside / "printer.joblib")
        (model_dir / "printer.json").symlink_to(outside / "printer.json")
    elif case in ("symlink loop", "symlink loop in the directory"):
        for f in (joblib_file, meta_file):
            f.unlink()
        (model_dir / "printer.joblib").symlink_to(model_dir / "printer.json")
        (model_dir / "printer.json").symlink_to(model_dir / "printer.joblib")
        if case == "symlink loop in the directory":
            (model_dir / "loop").symlink_to(model_dir / "loop")
            return "loop/printer"
    elif case == "name too long":
        return "p" * 300  # ENAMETOOLONG from the file system, not a missing file
    return {"traversal": "../models/printer", "absolute": str(model_dir / "printer")}.get(case, "printer")


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("traversal", ["must not contain '..'"]),
        ("absolute", ["must be relative"]),
        ("symlink", ["outside the model directory"]),
        ("checksum", ["does not match the sha256"]),
        ("tampered", ["does not match the sha256"]),
        ("no metadata", ["no metadata printer.json"]),
        ("symlink loop", ["cannot be resolved", "Symlink loop"]),
        ("symlink loop in the directory", ["cannot be resolved"]),
        ("name too long", ["File name too long", "(300 characters)"]),
    ],
)
def test_unsafe_or_spoiled_models_are_refused_before_unpickling(
    case: str, words: list[str], model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _tamper(model_dir, tmp_path, case)
    import joblib

    loads: list[Any] = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: loads.append(a))
    response = forest(field=FIELDS, model=name, model_dir=str(model_dir)).response
    assert not response.success
    assert response.error.startswith("isolation_forest: option model(): "), response.error
    assert all(w in response.error for w in words), response.error
    assert loads == []  # nothing was unpickled


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"field": ["temperature", "ink_level", "humidity"]}, ["trained on fields temperature,humidity,ink_level",
                                                              "reads fields temperature,ink_level,humidity"]),
        ({"field": ["temperature"], "lags": 2}, ["with lags 0", "with lags 2"]),
        ({"field": FIELDS, "model": "other"}, ["no metadata other.json"]),
        ({"field": FIELDS, "model_dir": "missing"}, ["does not exist"]),
    ],
)
def test_a_model_for_other_fields_is_refused(options: dict[str, Any], words: list[str], model_dir: Path) -> None:
    response = forest(**{"model": "printer", "model_dir": str(model_dir), **options}).response
    assert not response.success and "option model(): " in response.error
    assert all(w in response.error for w in words), response.error


@pytest.mark.parametrize("chosen", ["/tmp", "..", "models/../.."])
def test_a_task_cannot_choose_a_model_dir_outside_the_configured_one(chosen: str, model_dir: Path) -> None:
    # Whoever may define tasks must not point the UDF at a directory they can write to:
    # loading a model there would run their code.
    response = forest(field=FIELDS, model="printer", model_dir=chosen).response
    assert not response.success
    assert response.error.startswith("isolation_forest: option model_dir(): ")
    assert "outside the model directory" in response.error


def test_a_checked_file_holding_something_else_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    meta = {"detector": "isolation_forest", "fields": FIELDS, "lags": 0}
    save_model({"not": "a forest"}, tmp_path, "odd", meta)
    response = forest(field=FIELDS, model="odd", model_dir=str(tmp_path)).response
    assert not response.success
    assert "option model(): expected a fitted scikit-learn IsolationForest, got dict" in response.error


def test_points_held_for_the_first_forest_go_out_when_it_is_fitted_without_another_point() -> None:
    # A burst, then nothing: before, the held points waited for the next point or for
    # Kapacitor's next snapshot (60 s later); the real-Kapacitor test saw 0 of 600 after 90 s.
    import time as _time

    from udfs.functions import REGISTRY as UDFS

    from .test_common_udfs import Driver, make_point, run_options

    cls = UDFS["isolation_forest"]
    options = {**run_options(cls), "train_size": 50, "refit_every": 0, "n_estimators": 10}
    driver = Driver(cls, options)
    for i in range(60):
        driver.udf.point(make_point(cls, i, "a"))  # no settle: nothing waits for the fit
    deadline = _time.monotonic() + 20
    out: list = []
    while _time.monotonic() < deadline and len(out) < 60:
        out += [r for r in driver.output() if r.WhichOneof("message") == "point"]
        _time.sleep(0.05)
    assert len(out) == 60, f"{len(out)} of 60 points out"
    assert [r.point.time for r in out] == sorted(r.point.time for r in out)

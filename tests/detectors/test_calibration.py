"""The calibration layer against naive references, scipy's GPD, and its own promises.

Naive references recompute everything from the full history at every step (like
``tests/detectors/naive.py``); the streaming calibrators must agree at every point.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest

from udfs.detectors.base import Verdict
from udfs.detectors.calibration import (
    CALIBRATION_PARAMETERS,
    AnomalyLikelihood,
    CalibratedVerdicts,
    Cooldown,
    DSpot,
    LikelihoodOrDSpot,
    LikelihoodOrSpot,
    Spot,
)
from udfs.detectors.calibration.base import log_tail_score
from udfs.detectors.calibration.gpd import ParetoTail, fit_pareto
from udfs.detectors.calibration.spot import SHAPE_RANGE
from udfs.params.constraints import InvalidParameterError


def heavy_stream(n: int, seed: int) -> list[float]:
    """Raw scores like a z-score's: |normal| with rare large spikes, and a few NaNs (warm-up gaps)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = abs(rng.gauss(0.0, 1.0)) + (rng.expovariate(0.2) if rng.random() < 0.01 else 0.0)
        out.append(math.nan if i % 97 == 3 else x)
    return out


# -- anomaly likelihood -------------------------------------------------------------------

def naive_likelihood(raws: list[float], *, risk: float, learning_period: int, short_window: int,
                     historic_window: int) -> list[tuple[float, bool]]:
    finite: list[float] = []
    averages: list[float] = []
    estimate: tuple[float, float] | None = None
    out = []
    for x in raws:
        if not math.isfinite(x):
            out.append((math.nan, False))
            continue
        m = float(np.mean((finite[-(short_window - 1):] if short_window > 1 else []) + [x]))
        if estimate is None or len(finite) < learning_period:
            out.append((math.nan, False))
        else:
            mu, sd = estimate
            p = 0.5 * math.erfc((m - mu) / sd / math.sqrt(2))
            out.append((log_tail_score(p), p <= risk))
        finite.append(x)
        averages.append(m)
        n = len(finite)
        if n >= learning_period and (n - learning_period) % 100 == 0:
            # The history moves by whole blocks of 100: the last historic_window // 100 complete
            # blocks and the block being filled.
            first_block = max(0, len(averages) // 100 - max(1, historic_window // 100))
            window = np.array(averages[first_block * 100:])
            floor = math.sqrt(1.5e-5) * max(1.0, abs(window.mean()))
            estimate = (float(window.mean()), max(float(window.std()), floor))
    return out


@pytest.mark.parametrize("short_window", [1, 10])
def test_likelihood_matches_the_naive_reference(short_window: int) -> None:
    params = {"risk": 1e-3, "learning_period": 150, "short_window": short_window, "historic_window": 400}
    raws = heavy_stream(1500, seed=1)
    calibrator = AnomalyLikelihood(**params)
    for step, (x, (value, alert)) in enumerate(zip(raws, naive_likelihood(raws, **params), strict=True)):
        got = calibrator.update(step, x)
        assert got.alert == alert, step
        assert (math.isnan(got.value) and math.isnan(value)) or got.value == pytest.approx(value, abs=1e-9), step
    assert any(alert for _, alert in naive_likelihood(raws, **params))  # the test sees alerts


# -- the generalised Pareto tail ------------------------------------------------------------

def test_pareto_tail_agrees_with_scipy() -> None:
    from scipy.stats import genpareto

    for gamma, sigma in [(0.2, 1.5), (-0.2, 2.0), (0.0, 1.0)]:
        tail = ParetoTail(gamma, sigma)
        for y in (0.1, 1.0, 4.0):
            assert tail.survival(y) == pytest.approx(genpareto.sf(y, gamma, scale=sigma), rel=1e-9)
        for p in (0.5, 1e-2, 1e-5):
            assert tail.quantile(p) == pytest.approx(genpareto.isf(p, gamma, scale=sigma), rel=1e-9)


@pytest.mark.parametrize(("gamma", "sigma"), [(0.25, 1.5), (-0.2, 2.0), (0.0, 0.7)])
def test_pareto_fit_recovers_the_parameters(gamma: float, sigma: float) -> None:
    from scipy.stats import genpareto

    sample = genpareto.rvs(gamma, scale=sigma, size=20000, random_state=np.random.default_rng(5))
    fitted = fit_pareto(sample.tolist())
    assert fitted.gamma == pytest.approx(gamma, abs=0.05) and fitted.sigma == pytest.approx(sigma, rel=0.05)


# -- SPOT / DSPOT -----------------------------------------------------------------------------

def naive_spot(raws: list[float], *, risk: float, learning_period: int, level: float, historic_window: int,
               drift_window: int | None = None) -> list[tuple[float, bool]]:
    """Siffer's algorithm recomputed from the full record at every step."""
    normal: list[float] = []  # raw scores learned (not alerts), for the drift baseline
    initial: list[float] = []
    learned: list[float] = []  # transformed scores learned after initialisation, by index from 0
    out = []
    for raw in raws:
        if not math.isfinite(raw):
            out.append((math.nan, False))
            continue
        if drift_window is not None and len(normal) < drift_window:
            out.append((math.nan, False))
            normal.append(raw)
            continue
        baseline = float(np.mean(normal[-drift_window:])) if drift_window is not None else 0.0
        x = raw - baseline
        if len(initial) < learning_period:
            out.append((math.nan, False))
            initial.append(x)
            normal.append(raw)
            continue
        t = float(np.quantile(initial, level))
        record = initial + learned
        span = min(len(record), historic_window)
        peaks = [v - t for v in record[-span:] if v > t]
        tail = fit_pareto(peaks, SHAPE_RANGE)
        if x <= t:
            p = 1.0
        elif not peaks:
            p = 1.0 / (span + 1)
        else:
            p = len(peaks) / span * tail.survival(x - t)
            if p <= risk:
                p = max(p, sum(y >= x - t for y in peaks) / (span + 1))
        out.append((log_tail_score(p), p <= risk))
        if p > risk:
            learned.append(x)
            normal.append(raw)
        else:  # an alert is learned as a score exactly at z_q
            if not peaks:
                z = x
            else:
                ratio = risk * span / len(peaks)
                z = t + (tail.quantile(ratio) if ratio < 1 else 0.0)
            learned.append(max(z, t))
    return out


@pytest.mark.parametrize("cls", [Spot, DSpot])
def test_spot_matches_the_naive_reference(cls: type[Spot]) -> None:
    params: dict[str, Any] = {"risk": 2e-3, "learning_period": 200, "level": 0.95, "historic_window": 600}
    if cls is DSpot:
        params["drift_window"] = 15
    raws = heavy_stream(2500, seed=2)
    raws = [x + 0.002 * i if math.isfinite(x) else x for i, x in enumerate(raws)]  # a slow drift
    calibrator = cls(**params)
    expected = naive_spot(raws, **params)
    for step, (x, (value, alert)) in enumerate(zip(raws, expected, strict=True)):
        got = calibrator.update(step, x)
        assert got.alert == alert, step
        assert (math.isnan(got.value) and math.isnan(value)) or got.value == pytest.approx(value, abs=1e-9), step
    assert sum(alert for _, alert in expected) >= 3


def test_spot_keeps_its_false_alarm_budget() -> None:
    """On i.i.d. scores the share of alerts is close to the stated risk."""
    rng = np.random.default_rng(11)
    scores = rng.standard_normal(60_000) ** 2  # chi-square(1): a light, not exponential, tail
    spot = Spot(risk=1e-3, learning_period=2000, historic_window=20_000)
    alerts = sum(spot.update(i, float(x)).alert for i, x in enumerate(scores))
    rate = alerts / (len(scores) - 2000)
    assert 0.3e-3 < rate < 3e-3, rate


# -- the default: likelihood or SPOT ------------------------------------------------------

@pytest.mark.parametrize(("combined", "extreme_cls"), [(LikelihoodOrSpot, Spot), (LikelihoodOrDSpot, DSpot)])
def test_likelihood_or_spot_is_either_part_at_every_step(combined: type[LikelihoodOrSpot],
                                                         extreme_cls: type[Spot]) -> None:
    params: dict[str, Any] = {"risk": 1e-3, "learning_period": 150, "historic_window": 600, "level": 0.95,
                              "short_window": 10}
    if extreme_cls is DSpot:
        params["drift_window"] = 15
    raws = heavy_stream(2500, seed=6)
    raws[1800] = 40.0  # an isolated extreme score: SPOT's, not the likelihood's
    raws[2100:2130] = [x + 3.0 for x in raws[2100:2130]]  # a sustained rise: the likelihood's
    calibrator = combined(**params)
    likelihood = AnomalyLikelihood(**{k: params[k] for k in AnomalyLikelihood.parameters})
    extreme = extreme_cls(**{k: params[k] for k in extreme_cls.parameters})
    rules = set()
    for step, x in enumerate(raws):
        got, a, b = calibrator.update(step, x), likelihood.update(step, x), extreme.update(step, x)
        assert got.alert == (a.alert or b.alert), step
        assert got.rule == ("+".join(c.name for c, v in ((likelihood, a), (extreme, b)) if v.alert) or None), step
        finite = [v.value for v in (a, b) if not math.isnan(v.value)]
        assert (math.isnan(got.value) and not finite) or got.value == max(finite), step
        assert (math.isnan(got.threshold) and math.isnan(b.threshold)) or got.threshold == b.threshold, step
        rules.add(got.rule)
    assert {"likelihood", extreme_cls.name} <= rules, rules  # the stream exercises both parts


# -- suppression and the composed stage --------------------------------------------------------

def test_cooldown_matches_a_naive_reference() -> None:
    rng = random.Random(3)
    cooldown = Cooldown(50)
    passed_at: list[int] = []
    t = 0
    for _ in range(2000):
        t += rng.randint(1, 9)
        alert = rng.random() < 0.2
        expected = alert and all(t >= last + 50 for last in passed_at[-1:])
        assert cooldown.update(t, alert) == expected
        if expected:
            passed_at.append(t)
    assert len(passed_at) > 20


def test_none_is_the_detectors_own_verdict_with_a_cooldown() -> None:
    stage = CalibratedVerdicts(calibration="none", cooldown=0)
    flags = [i % 3 == 0 for i in range(30)]
    assert [stage.update(i, Verdict(float(i), f)).is_anomaly for i, f in enumerate(flags)] == flags


def test_no_alert_while_learning_even_for_a_huge_score() -> None:
    stage = CalibratedVerdicts(calibration="likelihood", learning_period=50, cooldown=0)
    for i in range(49):
        out = stage.update(i, Verdict(1.0, False))
        assert not out.is_anomaly and out.details["calibrated_score"] is None
    assert not stage.update(49, Verdict(1e9, True)).is_anomaly  # the 50th score is still learning
    for i in range(50, 300):
        stage.update(i, Verdict(1.0 + 0.01 * (i % 5), False))
    spike = stage.update(300, Verdict(1e9, True))
    assert spike.is_anomaly and spike.details["alert_rule"] == "likelihood"
    assert stage.update(301, Verdict(1e9, True)).is_anomaly  # cooldown 0


@pytest.mark.parametrize("mode", ["likelihood+spot", "likelihood+dspot", "likelihood", "spot", "dspot", "none"])
def test_state_round_trip_keeps_calibrating_identically(mode: str) -> None:
    raws = heavy_stream(1200, seed=4)
    original = CalibratedVerdicts(calibration=mode, risk=1e-3, learning_period=100, cooldown=20)
    for cut in (0, 50, 600):
        stage = CalibratedVerdicts(**original.params())
        for i, x in enumerate(raws[:cut]):
            stage.update(i, Verdict(x, x > 4.0))
        restored = CalibratedVerdicts.from_state(json.loads(json.dumps(stage.state_dict())))
        assert json.dumps(restored.state_dict()) == json.dumps(stage.state_dict())
        for i, x in enumerate(raws[cut:cut + 300], start=cut):
            a, b = stage.update(i, Verdict(x, x > 4.0)), restored.update(i, Verdict(x, x > 4.0))
            assert a.is_anomaly == b.is_anomaly and a.details == b.details or (
                json.dumps(a.details) == json.dumps(b.details))


@pytest.mark.parametrize(("params", "name"), [
    ({"calibration": "gauss"}, "calibration"), ({"risk": 0.0}, "risk"), ({"risk": 0.9}, "risk"),
    ({"cooldown": -1}, "cooldown"), ({"learning_period": 2}, "learning_period"), ({"level": 0.1}, "level"),
    ({"drift_window": 0}, "drift_window"), ({"short_window": 2.5}, "short_window"),
])
def test_bad_calibration_parameters_are_refused_by_name(params: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidParameterError, match=name):
        CalibratedVerdicts(**params)


def test_every_calibration_parameter_is_documented_and_bounded() -> None:
    for param in CALIBRATION_PARAMETERS.values():
        assert param.help.endswith(")") or param.help.endswith(".")
        if param.kind in ("int", "float", "duration"):
            assert param.low is not None and param.high is not None, param.name

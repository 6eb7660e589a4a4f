"""The network-measurement detectors and spectral residual against their naive references, step by step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.detectors import naive_network as naive
from udfs.detectors import REGISTRY

T0 = 1_700_000_000_000_000_000


def latency(n: int, seed: int) -> list[float]:
    """ICMP-like latency: a base level with jitter, spikes, a level shift and a jittery stretch."""
    rng = np.random.default_rng(seed)
    x = 20.0 + rng.gamma(2.0, 0.5, n)
    x[rng.random(n) < 0.02] += rng.uniform(20, 80)
    x[n // 2:] += 15.0
    x[3 * n // 4: 3 * n // 4 + n // 10] += rng.normal(0, 8, n // 10)
    return [float(v) for v in x]


def run(name: str, values: list[float], **params: object) -> list:
    detector = REGISTRY[name](**params)
    return [detector.update(T0 + i * 10**9, v) for i, v in enumerate(values)]


def same_scores(fast: list[float], slow: list[float]) -> None:
    assert len(fast) == len(slow)
    for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
        if math.isnan(b):
            assert math.isnan(a), i
        elif math.isinf(b):
            assert a == b, i
        else:
            assert a == pytest.approx(b, rel=1e-7, abs=1e-9), i


@pytest.mark.parametrize("params", [
    {"window": 32, "extrapolate": 5, "gradient_points": 5, "mag_window": 3, "score_window": 21, "threshold": 6.0},
    {"window": 20, "extrapolate": 2, "gradient_points": 1, "mag_window": 4, "score_window": 5, "threshold": 1.0},
])
@pytest.mark.parametrize("seed", [0, 1])
def test_spectral_residual(params: dict, seed: int) -> None:
    values = latency(300, seed)
    verdicts = run("spectral_residual", values, **params)
    same_scores([v.score for v in verdicts], naive.spectral_residual(values, **params))
    assert [v.is_anomaly for v in verdicts] == [
        (not math.isnan(v.score)) and v.score > params["threshold"] for v in verdicts]


@pytest.mark.parametrize("params", [{"lag": 30, "threshold": 5.0, "influence": 0.0},
                                    {"lag": 10, "threshold": 2.0, "influence": 0.4}])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spike(params: dict, seed: int) -> None:
    values = latency(400, seed)
    verdicts = run("spike", values, **params)
    same_scores([v.score for v in verdicts], naive.spike(values, **params))


@pytest.mark.parametrize("params", [{"consecutive": 3, "window": 30, "max_rate": 0.2, "lost_at": 1.0},
                                    {"consecutive": 5, "window": 10, "max_rate": 0.5, "lost_at": 0.3}])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss(params: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = [float(v) for v in np.where(rng.random(500) < 0.15, rng.choice([0.2, 0.5, 1.0], 500), 0.0)]
    values[200:210] = [1.0] * 10  # an outage
    flags = [v.is_anomaly for v in run("loss", values, **params)]
    assert flags == naive.loss(values, **params)
    assert any(flags[200:210])


@pytest.mark.parametrize("params", [{"warmup": 30, "drift": 0.5, "threshold": 10.0, "clip": 3.0},
                                    {"warmup": 10, "drift": 0.0, "threshold": 4.0, "clip": 1e9}])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changepoint(params: dict, seed: int) -> None:
    values = latency(600, seed)
    flags = [v.is_anomaly for v in run("changepoint", values, **params)]
    assert flags == naive.changepoint(values, **params)


def test_changepoint_flags_a_level_shift_once() -> None:
    rng = np.random.default_rng(3)
    values = [float(v) for v in np.concatenate([rng.normal(20, 1, 3000), rng.normal(25, 1, 300)])]
    flagged = [i for i, v in enumerate(run("changepoint", values)) if v.is_anomaly]
    assert len(flagged) == 1 and 3000 <= flagged[0] <= 3010, flagged


@pytest.mark.parametrize("params", [{"reference": 100, "recent": 30, "alpha": 1e-4, "min_distance": 0.3, "bins": 10},
                                    {"reference": 40, "recent": 10, "alpha": 0.01, "min_distance": 0.0, "bins": 5}])
@pytest.mark.parametrize("seed", [0, 1])
def test_distribution_shift(params: dict, seed: int) -> None:
    values = latency(500, seed)
    flags = [v.is_anomaly for v in run("distribution_shift", values, **params)]
    assert flags == naive.distribution_shift(values, **params)


@pytest.mark.parametrize("params", [{"bucket": 1.0, "window": 60, "persist": 10, "min_jump": 2},
                                    {"bucket": 5.0, "window": 20, "persist": 1, "min_jump": 1},
                                    {"bucket": None, "window": 60, "persist": 10, "min_jump": 2},
                                    {"bucket": None, "window": 20, "persist": 1, "min_jump": 1}])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mode_change(params: dict, seed: int) -> None:
    values = latency(600, seed)
    flags = [v.is_anomaly for v in run("mode_change", values, **params)]
    assert flags == naive.mode_change(values, **params)
    assert any(flags[300:400])  # the level shift moves the mode


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mode_change_learned_bucket_is_unit_free(seed: int) -> None:
    """Unset, the bucket is learned from the series: the same latency in ms, in units of 1/1024 ms or
    of 1024 ms (exact in floating point) gives the same flags, where one fixed bucket cannot."""
    values = latency(600, seed)
    want = [v.is_anomaly for v in run("mode_change", values)]
    assert any(want)
    for factor in (1024.0, 1 / 1024):
        scaled = [v * factor for v in values]
        assert [v.is_anomaly for v in run("mode_change", scaled)] == want
        assert [v.is_anomaly for v in run("mode_change", scaled, bucket=1.0)] != want

"""The fast Dickey-Fuller test and ks_test's p-value shortcut against statsmodels and scipy.

Windows: random (white noise, random walks, AR(1), a quantised walk far from zero)
and slices of the NAB series, 300 points like ks_test's reference on 10 s data and
other lengths. Every window must give statsmodels' selected lag, statistic and
p-value to 1e-8, or be one the fast path hands to statsmodels (few); the verdict
of :func:`adf_rejects_unit_root` must be statsmodels' on all of them.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.tsa.stattools import adfuller

from udfs.detectors import _dickey_fuller as df
from udfs.detectors._skyline import _ks_statistic, _ks_surely_significant

NAB = Path(__file__).resolve().parents[2] / "data/nab/data"


def _windows() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    windows = []
    for i in range(240):
        n = int(rng.integers(24, 700)) if i % 2 else 300
        noise = rng.normal(size=n)
        kind = i % 4
        if kind == 0:
            x = noise
        elif kind == 1:
            x = np.cumsum(noise)
        elif kind == 2:
            x = 1e6 + np.round(np.cumsum(noise) * 10) / 10
        else:
            x = np.zeros(n)
            for t in range(1, n):
                x[t] = 0.8 * x[t - 1] + noise[t]
        windows.append(x)
    for path in sorted(NAB.glob("*/*.csv")):
        with path.open() as f:
            values = np.array([float(row["value"]) for row in csv.DictReader(f)])
        for start in rng.integers(0, len(values) - 300, 8):
            windows.append(values[start : start + 300])
    return [w for w in windows if w.max() > w.min()]


def _statsmodels(x: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return adfuller(x, 10, result_object=True)


def test_fast_adf_is_statsmodels() -> None:
    windows = _windows()
    undecided = 0
    for x in windows:
        expected = _statsmodels(x)
        try:
            statistic, lag = df.adf_statistic(x)
        except df._Undecided:
            undecided += 1
        else:
            assert lag == expected.lags
            assert statistic == pytest.approx(expected.statistic, rel=1e-8, abs=1e-8)
            assert df._mackinnon_pvalue(statistic) == pytest.approx(expected.pvalue, abs=1e-8)
        assert df.adf_rejects_unit_root(x) == (expected.pvalue < 0.05)
    assert len(windows) > 400 and undecided <= len(windows) // 50


@pytest.mark.parametrize(
    "x",
    [
        np.arange(100.0),  # a ramp: constant differences, a rank-deficient design
        np.arange(100.0) % 7,  # a saw tooth: the lags predict the differences exactly
        np.repeat(np.arange(50.0), 2),  # a staircase
    ],
    ids=["ramp", "saw", "staircase"],
)
def test_degenerate_windows_get_statsmodels_verdict(x: np.ndarray) -> None:
    try:
        expected: bool | None = bool(_statsmodels(x).pvalue < 0.05)
    except (ValueError, np.linalg.LinAlgError):
        expected = None
    assert df.adf_rejects_unit_root(x) == expected


def test_errors_are_statsmodels_errors() -> None:
    assert df.adf_rejects_unit_root(np.arange(23.0) ** 2) is None  # 10 lags need 24 points
    with pytest.raises(ValueError):
        _statsmodels(np.arange(23.0) ** 2)
    with pytest.raises(ValueError, match="constant"):
        df.adf_statistic(np.ones(50))


def test_mackinnon_pvalue_is_statsmodels() -> None:
    from statsmodels.tsa.adfvalues import mackinnonp

    for tau in np.linspace(-25, 5, 301):
        assert df._mackinnon_pvalue(float(tau)) == pytest.approx(mackinnonp(tau, "c", 1), rel=1e-12, abs=1e-15)


def test_ks_shortcut_only_skips_significant_p_values() -> None:
    """Where the shortcut skips scipy (D > 0.5, bound < 1e-3), scipy's p-value is below 0.05."""
    rng = np.random.default_rng(3)
    skipped = 0
    for _ in range(600):
        n, m = int(rng.integers(20, 400)), int(rng.integers(20, 120))
        reference = rng.normal(size=n)
        probe = rng.normal(rng.uniform(0.8, 2.5), 1.0, size=m)
        statistic = _ks_statistic(reference, probe)
        result = stats.ks_2samp(reference, probe)
        assert statistic == pytest.approx(result.statistic, abs=1e-12)
        if statistic > 0.5 and _ks_surely_significant(statistic, n, m):
            skipped += 1
            bound = 2 * math.exp(-2 * statistic**2 * n * m / (n + m))
            assert result.pvalue < 0.05
            assert result.pvalue < 10 * bound  # the margin of 50 is not needed, only held
    assert skipped > 100

"""The augmented Dickey-Fuller test as Skyline's ks_test runs it, from one QR per regression.

Skyline calls ``statsmodels.tsa.stattools.adfuller(x, 10)``: a constant, lag selection
by AIC over 0..10 lagged differences, MacKinnon's approximate p-value. statsmodels
builds and fits eleven ``OLS`` models for the selection (one pseudo-inverse each, and
model bookkeeping around it: ~5 ms in all), then a twelfth for the chosen lag.

The eleven selection regressions share one sample (the first ``maxlag`` differences are
lost to the lags in every one of them) and their designs are the leading columns of one
matrix ``[1, x_{t-1}, dx_{t-1}, ..., dx_{t-10}]``. The R factor of that matrix with the
response appended gives every residual sum of squares at once: with ``r`` the response's
column of R, the model of the first ``k`` columns leaves ``ssr_k = sum(r[k:] ** 2)``.
The final regression, on its own longer sample, is one more QR with the lagged level
as the last regressor, whose t statistic is then ``r[k-1] * sign(R[k-1, k-1]) / s``.
Householder QR is backward stable, as statsmodels' SVD-based pseudo-inverse is, so the
statistic agrees with statsmodels' to rounding (~1e-12 relative on real windows).

Where the answer would hinge on rounding, :func:`adf_rejects_unit_root` asks statsmodels
itself: a (nearly) rank-deficient design, where the pseudo-inverse and a QR part ways
(a ramp, whose differences are constant), two lags with AIC values within 1e-9 of
each other, or a p-value within 1e-9 of the level. So the verdict is statsmodels',
only faster (~0.1 ms).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["adf_pvalue_fast", "adf_rejects_unit_root", "adf_statistic"]

_MAXLAG = 10
_LOG_2PI = math.log(2 * math.pi)
_RANK_TOLERANCE = 1e-9  # |R[i, i]| against its column's norm: below, the pseudo-inverse decides
_TIE = 1e-9


class _Undecided(Exception):
    """The fast path cannot promise statsmodels' answer: ask statsmodels."""


_geqrf: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, int]] | None = None


def _r_factor(design: np.ndarray) -> np.ndarray:
    """The R of ``design``'s QR (response last), refusing a design too close to rank-deficient."""
    global _geqrf
    if _geqrf is None:
        from scipy.linalg import lapack  # imported on first use; numpy's qr costs 3x the set-up

        _geqrf = lapack.dgeqrf
    qr, _, _, info = _geqrf(design, overwrite_a=True)
    columns = design.shape[1]
    r = np.triu(qr[:columns])
    # A column's norm is that of its column of R (Q is orthogonal): the diagonal against it
    # is how much of the column the ones before it leave unexplained.
    norms = np.sqrt(np.einsum("ij,ij->j", r, r))
    if info != 0 or not np.all(np.abs(np.diagonal(r)) > _RANK_TOLERANCE * norms):
        raise _Undecided("rank-deficient design or perfect fit")
    return r


def _lag_matrix(x: np.ndarray, diffs: np.ndarray, maxlag: int) -> np.ndarray:
    """Row ``t`` of the differences: ``1, x[t] - c, dx[t-1], ..., dx[t-maxlag], dx[t]`` (NaN before the start).

    ``c`` is the mean of ``x``: the constant spans the shift, and the level column is
    better conditioned for a series whose mean dwarfs its spread.
    """
    n = len(diffs)
    rows = np.empty((n, maxlag + 3))
    rows[:, 0] = 1.0
    rows[:, 1] = x[:n]
    rows[:, 1] -= x.mean()
    padded = np.concatenate([np.full(maxlag, np.nan), diffs])
    windows = np.lib.stride_tricks.sliding_window_view(padded, maxlag + 1)  # row t: dx[t-maxlag..t]
    rows[:, 2 : maxlag + 2] = windows[:, maxlag - 1 :: -1]
    rows[:, -1] = diffs
    return rows


def adf_statistic(x: np.ndarray, maxlag: int = _MAXLAG) -> tuple[float, int]:
    """The ADF t statistic of ``x`` (constant, AIC lag choice up to ``maxlag``) and the lag used.

    Raises ``ValueError`` as statsmodels does for a constant or too short ``x``, and
    ``_Undecided`` where only statsmodels' own arithmetic can settle the outcome.

    The selection's R (columns: constant, level, ``maxlag`` lagged differences, response)
    gives each lag's residual sum of squares. The chosen lag's regression runs on that
    sample plus the ``maxlag - lag`` earlier rows its shorter lags allow: a matrix with
    the Gram matrix of all those rows is the selection's R (its leading columns, and the
    response's) stacked on the earlier rows, so its (small) QR is the final R. The level
    moves last there, where its t statistic is ``r[k-1, k] * sign(R[k-1, k-1]) / s``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.max() == x.min():
        raise ValueError("Invalid input, x is constant")
    if maxlag > len(x) // 2 - 2:
        raise ValueError("maxlag must be less than (nobs/2 - 1 - ntrend)")
    diffs = np.diff(x)
    rows = _lag_matrix(x, diffs, maxlag)
    nobs = len(diffs) - maxlag
    r = _r_factor(np.asfortranarray(rows[maxlag:]))
    response = r[:, -1]
    tail_ssr = np.cumsum(response[::-1] ** 2)[::-1]  # tail_ssr[k]: model of the first k columns
    aics = [nobs * (_LOG_2PI + math.log(tail_ssr[k] / nobs) + 1) + 2 * k for k in range(2, maxlag + 3)]
    order = sorted(range(len(aics)), key=aics.__getitem__)  # statsmodels: min of (aic, lag)
    lag = order[0]
    if abs(aics[order[1]] - aics[lag]) <= _TIE * max(1.0, abs(aics[lag])):
        raise _Undecided("AIC tie")
    k = lag + 2
    columns = [0, *range(2, k), 1, maxlag + 2]  # constant, lagged differences, level, response
    final = _r_factor(np.asfortranarray(np.vstack([r[:, columns], rows[lag:maxlag, columns]])))
    s = abs(final[k, k]) / math.sqrt(len(diffs) - lag - k)
    return float(final[k - 1, k] * math.copysign(1.0, final[k - 1, k - 1]) / s), lag


_mackinnon: Callable[[float], float] | None = None


def _mackinnon_pvalue(statistic: float) -> float:
    """MacKinnon's (1994, 2010 tables) p-value for one series with a constant, as ``mackinnonp``."""
    global _mackinnon
    if _mackinnon is None:
        from statsmodels.tsa import adfvalues  # its tables; scipy.stats is loaded by then anyway

        small, large = adfvalues.tau_c_smallp[0].tolist(), adfvalues.tau_c_largep[0].tolist()
        star, lowest, highest = adfvalues.tau_star_c[0], adfvalues.tau_min_c[0], adfvalues.tau_max_c[0]

        def pvalue(tau: float) -> float:
            if tau > highest:
                return 1.0
            if tau < lowest:
                return 0.0
            coefficients = small if tau <= star else large
            z = 0.0
            for c in reversed(coefficients):  # Horner, highest power first, as numpy.polyval
                z = z * tau + c
            return 0.5 * math.erfc(-z / math.sqrt(2))

        _mackinnon = pvalue
    return _mackinnon(statistic)


def adf_pvalue_fast(x: np.ndarray, maxlag: int = _MAXLAG) -> float:
    """The ADF p-value by the fast path only (``_Undecided`` where it cannot match statsmodels)."""
    return _mackinnon_pvalue(adf_statistic(x, maxlag)[0])


def adf_rejects_unit_root(x: np.ndarray, level: float = 0.05) -> bool | None:
    """Whether ``adfuller(x, 10)``'s p-value is below ``level``; None where statsmodels raises.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> adf_rejects_unit_root(rng.normal(size=300))  # white noise: no unit root
    True
    >>> adf_rejects_unit_root(np.cumsum(rng.normal(size=300)))  # a random walk
    False
    >>> adf_rejects_unit_root(np.arange(20.0)) is None  # too short for 10 lags
    True
    """
    try:
        pvalue = adf_pvalue_fast(x)
        if abs(pvalue - level) > _TIE:
            return pvalue < level
    except _Undecided:
        pass
    except ValueError:
        return None
    return _statsmodels_rejects(x, level)


def _statsmodels_rejects(x: np.ndarray, level: float) -> bool | None:
    from statsmodels.tsa.stattools import adfuller  # imported on first use: statsmodels loads slowly

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning about the result type, log(0) noise
            result = adfuller(x, _MAXLAG)
    except (ValueError, np.linalg.LinAlgError):
        return None  # e.g. too few points for 10 lags: Skyline records an error, not a vote
    pvalue = result.pvalue if hasattr(result, "pvalue") else result[1]
    return bool(pvalue < level)

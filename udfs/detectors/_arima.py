"""ARIMA and seasonal ARIMA for the forecast detector: the order search and the one-step recursions.

:func:`fit_arima` chooses ``ARIMA(p, d, q)`` or, given a seasonal ``period`` ``s``,
``ARIMA(p, d, q)(P, D, Q)s`` by the lowest AIC over a small bounded search, fitted by
statsmodels; :class:`ArimaModel` then follows each value with the model's own
recursions (plain numbers, so a snapshot restores the model exactly).

The seasonal search, like auto-ARIMA's but bounded:

1. ``D`` (seasonal differencing): 1 when the seasonal strength of the history (STL,
   ``1 - var(remainder) / var(seasonal + remainder)``) is at least 0.64, the rule of
   Wang, Smith and Hyndman (2006) that R's ``forecast::nsdiffs`` applies; else 0.
2. ``(p, d, q)`` by AIC over ``p <= max_p``, ``d <= max_d``, ``q <= max_q`` with that
   ``D`` and no seasonal AR/MA term (18 fits at the defaults).
3. With that ``(p, d, q)``: ``(P, Q)`` in ``(1, 0)``, ``(0, 1)``, ``(1, 1)`` against
   ``(0, 0)`` by AIC (3 fits), only for ``s <= MAX_SEASONAL_ARMA_PERIOD``: a seasonal
   AR or MA term puts ``s`` states into the Kalman filter, and with a day of 5-minute
   data (``s`` = 288) one such fit takes minutes here (358 s of CPU for
   ``(1, 0, 1)(1, 1, 0)288`` on 700 values), so longer periods keep the seasonal
   difference alone.

Seasonal fits use statsmodels' ``SARIMAX`` with ``simple_differencing=True`` (the
differenced series is fitted, which keeps the Kalman state small), a constant only
when nothing is differenced. Non-seasonal fits are statsmodels' ``ARIMA`` as before.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_SEASONAL_ARMA_PERIOD", "SEASONAL_STRENGTH", "ArimaModel", "fit_arima", "quiet_fit",
           "seasonal_strength"]

#: Longest seasonal period for which seasonal AR/MA terms are tried (see the module docstring).
MAX_SEASONAL_ARMA_PERIOD = 60
#: Seasonal strength from which the season is differenced (``D`` = 1).
SEASONAL_STRENGTH = 0.64


def quiet_fit(fit: Any) -> Any:
    """``fit()`` without statsmodels' convergence chatter; the fit is used as it comes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return fit()


def _differencing(d: int, big_d: int, s: int) -> list[float]:
    """Coefficients of ``(1 - B)^d (1 - B^s)^D`` in ascending powers of ``B``."""
    poly = np.array([1.0])
    for _ in range(d):
        poly = np.convolve(poly, [1.0, -1.0])
    for _ in range(big_d):
        poly = np.convolve(poly, np.r_[1.0, np.zeros(s - 1), -1.0])
    return [float(c) for c in poly]


class ArimaModel:
    """``ARIMA(p, d, q)(P, D, Q)s`` one-step recursions on ``w = (1 - B)^d (1 - B^s)^D y - mu``:
    ``w^ = sum a_i w[-i] + sum b_j e[-j]``, with ``a`` and ``b`` the multiplied-out AR and MA
    polynomials (``phi(B) Phi(B^s)``, ``theta(B) Theta(B^s)``); ``P = D = Q = 0`` is plain ARIMA."""

    def __init__(self, order: Sequence[int], mu: float, ar: Sequence[float], ma: Sequence[float],
                 ys: Sequence[float], ws: Sequence[float], es: Sequence[float],
                 seasonal: Sequence[int] = (0, 0, 0, 0)) -> None:
        self.p, self.d, self.q = (int(o) for o in order)
        self.P, self.D, self.Q, self.s = (int(o) for o in seasonal)
        self.mu = float(mu)
        self.ar, self.ma = [float(a) for a in ar], [float(m) for m in ma]
        delta = _differencing(self.d, self.D, self.s)
        # Only the nonzero terms: a seasonal model has ~s lags, few of them nonzero.
        self._ar_terms = [(i, a) for i, a in enumerate(self.ar, start=1) if a]
        self._ma_terms = [(j, b) for j, b in enumerate(self.ma, start=1) if b]
        self._carry_terms = [(k, -c) for k, c in enumerate(delta) if k and c]
        self.ys: deque[float] = deque((float(v) for v in ys), maxlen=max(len(delta) - 1, 1))  # newest last
        self.ws: deque[float] = deque((float(v) for v in ws), maxlen=max(len(self.ar), 1))
        self.es: deque[float] = deque((float(v) for v in es), maxlen=max(len(self.ma), 1))

    @property
    def order(self) -> tuple[int, int, int]:
        return self.p, self.d, self.q

    @property
    def seasonal_order(self) -> tuple[int, int, int, int] | None:
        """``(P, D, Q, s)``, None for a model without a season."""
        return (self.P, self.D, self.Q, self.s) if self.s else None

    def _w_hat(self, ws: Sequence[float], es: Sequence[float]) -> float:
        total = 0.0
        for i, a in self._ar_terms:
            total += a * ws[-i]
        for j, b in self._ma_terms:
            total += b * es[-j]
        return total

    def _carry(self, ys: Sequence[float]) -> float:
        """What the differencing carries over from earlier values (``y[-1]`` for ``d`` = 1)."""
        total = 0.0
        for k, c in self._carry_terms:
            total += c * ys[-k]
        return total

    def predict(self) -> float:
        return self._carry(self.ys) + self.mu + self._w_hat(self.ws, self.es)

    def ahead(self, h: int) -> float:
        ys, ws, es = list(self.ys), list(self.ws), list(self.es)
        predicted = self.predict()
        for _ in range(h):
            w = self._w_hat(ws, es)
            predicted = self._carry(ys) + self.mu + w
            ys.append(predicted)
            ws.append(w)
            es.append(0.0)
        return predicted

    def advance(self, y: float) -> None:
        w = y - self._carry(self.ys) - self.mu
        e = w - self._w_hat(self.ws, self.es)
        if self.ar:
            self.ws.append(w)
        if self.ma:
            self.es.append(e)
        if self._carry_terms:
            self.ys.append(y)

    def state(self) -> dict[str, Any]:
        return {"order": [self.p, self.d, self.q], "seasonal": [self.P, self.D, self.Q, self.s], "mu": self.mu,
                "ar": self.ar, "ma": self.ma, "ys": list(self.ys), "ws": list(self.ws), "es": list(self.es)}

    @classmethod
    def from_state(cls, s: Mapping[str, Any]) -> ArimaModel:
        p, d, q = (int(o) for o in s["order"])
        big_p, big_d, big_q, period = (int(o) for o in s.get("seasonal", (0, 0, 0, 0)))  # absent before seasons
        numbers = [float(s["mu"]), *map(float, [*s["ar"], *s["ma"], *s["ys"], *s["ws"], *s["es"]])]
        lengths = (len(s["ar"]), len(s["ma"]), len(s["ys"]), len(s["ws"]), len(s["es"]))
        n_ar, n_ma = p + period * big_p, q + period * big_q
        if (lengths != (n_ar, n_ma, d + period * big_d, n_ar, n_ma) or d > 1 or big_d > 1 or period < 0
                or (period == 0 and big_p + big_d + big_q) or not all(map(math.isfinite, numbers))):
            raise ValueError("forecast state has a malformed ARIMA model")
        return cls((p, d, q), s["mu"], s["ar"], s["ma"], s["ys"], s["ws"], s["es"], (big_p, big_d, big_q, period))


def seasonal_strength(y: np.ndarray, period: int) -> float:
    """``max(0, 1 - var(remainder) / var(seasonal + remainder))`` of statsmodels' STL of ``y``."""
    from statsmodels.tsa.seasonal import STL

    result = quiet_fit(lambda: STL(y, period=period).fit())
    remainder, seasonal = np.asarray(result.resid, float), np.asarray(result.seasonal, float)
    total = float(np.var(seasonal + remainder))
    return max(0.0, 1.0 - float(np.var(remainder)) / total) if total > 0 else 0.0


def fit_arima(y: np.ndarray, max_p: int, max_d: int, max_q: int,
              period: int = 0) -> tuple[ArimaModel, np.ndarray, tuple[int, int, int]]:
    """The ARIMA order with the lowest AIC over ``p <= max_p, d <= max_d, q <= max_q`` (statsmodels),
    seasonal with ``period`` ``s`` > 0 (the search of the module docstring).

    A constant (the mean) when nothing is differenced, none otherwise. Returns the model
    with its state at the end of ``y``, the in-sample one-step errors (after a burn-in)
    and ``(p, d, q)`` (the seasonal order is the model's ``seasonal_order``).
    """
    if period:
        return _fit_seasonal(y, max_p, max_d, max_q, period)
    from statsmodels.tsa.arima.model import ARIMA

    best: tuple[float, Any, tuple[int, int, int]] | None = None
    for d in range(max_d + 1):
        for p in range(max_p + 1):
            for q in range(max_q + 1):
                try:
                    result = quiet_fit(ARIMA(y, order=(p, d, q), trend="c" if d == 0 else "n").fit)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                aic = float(result.aic)
                if math.isfinite(aic) and (best is None or aic < best[0]):
                    best = (aic, result, (p, d, q))
    if best is None:
        raise ValueError("no ARIMA order could be fitted")
    _, result, (p, d, q) = best
    params = dict(zip(result.param_names, np.asarray(result.params, float), strict=True))
    resid = np.asarray(result.resid, float)
    w = np.diff(y, n=d) - params.get("const", 0.0) if d else y - params.get("const", 0.0)
    model = ArimaModel((p, d, q), params.get("const", 0.0), [params[f"ar.L{i}"] for i in range(1, p + 1)],
                       [params[f"ma.L{j}"] for j in range(1, q + 1)], y[len(y) - d:].tolist() if d else [],
                       w[len(w) - p:].tolist() if p else [], resid[len(resid) - q:].tolist() if q else [])
    return model, resid[min(len(resid) - 1, d + max(p, q)):], (p, d, q)


def sarimax_fit(y: np.ndarray, order: tuple[int, int, int], seasonal: tuple[int, int, int, int]) -> Any:
    """statsmodels' SARIMAX fitted as the seasonal search fits each candidate."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    trend = "c" if order[1] == 0 and seasonal[1] == 0 else "n"
    model = SARIMAX(y, order=order, seasonal_order=seasonal, trend=trend, simple_differencing=True)
    return quiet_fit(lambda: model.fit(disp=False))


def _fit_seasonal(y: np.ndarray, max_p: int, max_d: int, max_q: int,
                  period: int) -> tuple[ArimaModel, np.ndarray, tuple[int, int, int]]:
    big_d = 1 if seasonal_strength(y, period) >= SEASONAL_STRENGTH else 0
    fits: dict[tuple[tuple[int, int, int], tuple[int, int, int, int]], Any] = {}

    def attempt(order: tuple[int, int, int], seasonal: tuple[int, int, int, int]) -> None:
        try:
            result = sarimax_fit(y, order, seasonal)
        except (ValueError, np.linalg.LinAlgError):
            return
        if math.isfinite(float(result.aic)):
            fits[order, seasonal] = result

    for d in range(max_d + 1):
        for p in range(max_p + 1):
            for q in range(max_q + 1):
                attempt((p, d, q), (0, big_d, 0, period))
    if not fits:
        raise ValueError("no seasonal ARIMA order could be fitted")
    order = min(fits, key=lambda key: float(fits[key].aic))[0]
    if period <= MAX_SEASONAL_ARMA_PERIOD:
        for big_p, big_q in ((1, 0), (0, 1), (1, 1)):
            attempt(order, (big_p, big_d, big_q, period))
    (p, d, q), seasonal = min(fits, key=lambda key: float(fits[key].aic))
    result = fits[(p, d, q), seasonal]
    return _from_sarimax(y, (p, d, q), seasonal, result)


def _from_sarimax(y: np.ndarray, order: tuple[int, int, int], seasonal: tuple[int, int, int, int],
                  result: Any) -> tuple[ArimaModel, np.ndarray, tuple[int, int, int]]:
    """The recursions of a fitted SARIMAX, at the end of ``y``."""
    (p, d, q), (big_p, big_d, big_q, s) = order, seasonal
    ar = [-float(c) for c in np.asarray(result.polynomial_reduced_ar, float)[1:]]
    ma = [float(c) for c in np.asarray(result.polynomial_reduced_ma, float)[1:]]
    n_ar, n_ma, n_y = p + s * big_p, q + s * big_q, d + s * big_d
    ar, ma = (ar + [0.0] * n_ar)[:n_ar], (ma + [0.0] * n_ma)[:n_ma]
    params = dict(zip(result.param_names, np.asarray(result.params, float), strict=True))
    intercept = params.get("intercept", 0.0)
    mu = intercept / (1.0 - math.fsum(ar)) if intercept else 0.0  # SARIMAX's intercept as the mean
    delta = np.asarray(_differencing(d, big_d, s))
    x = np.convolve(y, delta, mode="valid")  # the differenced series, as fitted
    w = x - mu
    resid = np.asarray(result.resid, float)
    es = _kalman_errors(x, ar, ma, intercept, np.asarray(result.predicted_state, float)[:, -1]) if n_ma else []
    model = ArimaModel(order, mu, ar, ma, y[len(y) - n_y:].tolist() if n_y else [],
                       w[len(w) - n_ar:].tolist() if n_ar else [], es, seasonal)
    return model, resid[min(len(resid) - 1, max(n_ar, n_ma)):], order


def _kalman_errors(x: np.ndarray, ar: Sequence[float], ma: Sequence[float], intercept: float,
                   state: np.ndarray) -> list[float]:
    """The last ``len(ma)`` errors for which the recursions predict what the Kalman filter does.

    The Kalman filter's own one-step errors (``resid``) differ from the MA errors while
    its gain has not converged, which takes long for a seasonal MA near -1 (a differenced
    fixed season). SARIMAX's state is Harvey's (``state[i]`` sums ``phi_k x[T+1+i-k]``,
    ``k > i``, and ``theta_k e[T+1+i-k]``, plus the intercept in ``state[0]``), so the
    filter's predicted state at the end of ``x`` is linear in the last errors: solved
    for them (least squares; exact when the state is the filter's), the recursions and
    statsmodels agree on every later forecast.
    """
    r, n_ma = len(state), len(ma)
    phi = np.zeros(r + 1)
    phi[1:len(ar) + 1] = ar[:r]
    theta = np.zeros(r + 1)
    theta[1:n_ma + 1] = ma[:r]
    rows, rhs = [], []
    for i in range(r):
        known = (intercept if i == 0 else 0.0) + math.fsum(
            phi[k] * x[len(x) + i - k] for k in range(i + 1, r + 1) if phi[k])
        rows.append([theta[i + m] if i + m <= r else 0.0 for m in range(1, n_ma + 1)])
        rhs.append(float(state[i]) - known)
    solved = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)[0]
    return [float(e) for e in solved[::-1]]  # e[T+1-m] for m = n_ma .. 1: oldest first

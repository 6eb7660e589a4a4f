"""Spectral residual saliency (Ren et al., KDD 2019), scored on the newest point without look-ahead."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["SpectralResidual", "saliency_map"]

_EPS = 1e-8


def saliency_map(values: np.ndarray, mag_window: int) -> np.ndarray:
    """The spectral residual saliency map of ``values`` (Ren et al. 2019, eq. 1-5).

    ``L = log|FFT(x)|``, ``R = L - mean_q(L)`` (a moving average of width ``mag_window``),
    ``S = |IFFT(exp(R + i * phase))|``.

    Examples
    --------
    >>> x = np.zeros(32); x[20] = 10.0
    >>> int(np.argmax(saliency_map(x, 3)))
    20
    """
    spectrum = np.fft.fft(values)
    amplitude = np.abs(spectrum)
    log_amplitude = np.log(np.maximum(amplitude, _EPS))
    kernel = np.ones(mag_window) / mag_window
    # A circular moving average: the spectrum is periodic, so its ends wrap.
    padded = np.concatenate([log_amplitude[-(mag_window // 2):] if mag_window > 1 else log_amplitude[:0],
                             log_amplitude, log_amplitude[: mag_window - 1 - mag_window // 2]])
    average = np.convolve(padded, kernel, mode="valid")
    residual = log_amplitude - average
    phase = np.angle(spectrum)
    return np.abs(np.fft.ifft(np.exp(residual + 1j * phase)))


def extrapolate(values: np.ndarray, gradient_points: int, count: int) -> np.ndarray:
    """``count`` points to append after the series ``values`` ends (the paper's step 1).

    The gradient ``g`` is the mean slope from each of the ``gradient_points`` points
    before the last one to the last one; every added point is
    ``x[n - m + 1] + g * m`` (``m = gradient_points``), as in Ren et al. 2019 section 3.2.
    """
    n = len(values)
    m = min(gradient_points, n - 1)
    if m < 1:
        return np.repeat(values[-1:], count)
    last = values[-1]
    slopes = [(last - values[n - 1 - i]) / i for i in range(1, m + 1)]
    g = float(np.mean(slopes))
    return np.full(count, values[n - m] + g * m)


class SpectralResidual(Detector):
    """Spectral residual anomaly score of each point over a rolling window.

    Each new value is appended to the last ``window - 1`` values, ``extrapolate``
    estimated points are added after it (so it is not at the edge of the FFT, without
    looking ahead), and the saliency map of that series is computed. The score is
    how far the new point's saliency ``S`` stands above the mean saliency ``S_bar``
    of the ``score_window`` points before it: ``(S - S_bar) / S_bar``; Ren et al.
    flag a point when this exceeds a threshold. The default, 6, was chosen on white
    noise, where 3 (a common choice) flags about 1.7 % of the points and 6 about
    0.03 %; a spike of 8 standard deviations scores about 8.

    ``details``: ``saliency`` (S of the point) and ``mean_saliency`` (S_bar).
    Until ``window - 1`` past values are known the score is NaN. NaN and infinite
    values are neither scored nor learned.

    Examples
    --------
    >>> detector = SpectralResidual(window=32, score_window=10)
    >>> for i in range(40):
    ...     _ = detector.update(i, math.sin(i / 3.0))
    >>> detector.score_one(40, 8.0).is_anomaly, detector.score_one(40, math.sin(40 / 3.0)).is_anomaly
    (True, False)
    """

    name: ClassVar[str] = "spectral_residual"
    parameters: ClassVar[ParamSet] = ParamSet(
        window=Param.integer(64, "Points in each saliency map (the new point and window - 1 past ones).",
                             low=8, high=100_000),
        extrapolate=Param.integer(5, "Estimated points appended after the new one (the paper's kappa).",
                                  low=1, high=1_000),
        gradient_points=Param.integer(5, "Past points whose mean slope extrapolates (the paper's m).",
                                      low=1, high=1_000),
        mag_window=Param.integer(3, "Width of the moving average of the log amplitude spectrum (q).",
                                 low=1, high=1_000),
        score_window=Param.integer(21, "Past saliency values the new one is compared with (z).", low=1,
                                   high=MAX_WINDOW),
        threshold=Param.number(6.0, "Anomaly when (S - mean S) / mean S exceeds this.", low=0, closed="neither"),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 16, "score_window": 16},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({}, {"window": 16, "score_window": 5, "mag_window": 1})

    window: int
    extrapolate: int
    gradient_points: int
    mag_window: int
    score_window: int
    threshold: float

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._values: deque[float] = deque(maxlen=self.window - 1)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["score_window"] >= values["window"]:
            raise InvalidParameterError(
                f"score_window must be < window ({values['window']}), got {values['score_window']}"
            )
        if values["mag_window"] > values["window"] + values["extrapolate"]:
            raise InvalidParameterError("mag_window must be <= window + extrapolate")

    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not math.isfinite(value) or len(self._values) < self.window - 1:
            return Verdict(math.nan, False, {"saliency": math.nan, "mean_saliency": math.nan})
        series = np.fromiter(self._values, float, len(self._values))
        series = np.append(series, value)
        # Extrapolated from the points before the new one: a spike must not be continued
        # past itself, or it would look like a level shift at the edge and lose its saliency.
        extended = np.concatenate([series, extrapolate(series[:-1], self.gradient_points, self.extrapolate)])
        saliency = saliency_map(extended, self.mag_window)
        current = float(saliency[len(series) - 1])
        before = saliency[len(series) - 1 - self.score_window: len(series) - 1]
        mean = float(np.mean(before))
        score = (current - mean) / mean if mean > _EPS else 0.0
        return Verdict(score, score > self.threshold, {"saliency": current, "mean_saliency": mean})

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if math.isfinite(value):
            self._values.append(value)

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SpectralResidual:
        detector = cls(**state["params"])
        values = [float(v) for v in state["values"]]
        if len(values) > detector.window - 1 or not all(math.isfinite(v) for v in values):
            raise ValueError("state values do not fit the window")
        detector._values.extend(values)
        return detector

"""Contextual anomaly detection: quantised values, left/right contexts learned online (after CAD OSE)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["ContextualAnomaly"]

class ContextualAnomaly(Detector):
    """The share of the current value's facts that its left context did not predict.

    After Smirnov's Contextual Anomaly Detector (CAD OSE, NAB 2016), written from its
    description and reduced to one-step contexts. Each value is quantised into
    ``bits`` bits over ``[min, max]`` (given, or the range seen so far); bit ``i``
    with value ``b`` is the *fact* ``2 i + b``. A *context* pairs a left side, the
    previous value's level, with a right side, a level that has followed it. The
    facts of every right side learned for the previous level are the predicted
    facts; the score is the share of the current value's ``bits`` facts among them
    that were not predicted (1 when the previous level has no context yet), so a
    value whose high bits were never seen after this level scores high even if its
    low bits were. The verdict is a score of at least ``threshold``; by default
    ``1/bits``, any fact not predicted, i.e. a transition never seen before (CAD's
    base threshold 0.75 waits until all three facts of ``bits=3`` are new, which
    misses a value that stays in the old high bits). The score is its own
    calibration, so the UDF's default ``.calibration()`` is ``'none'`` and only the
    cooldown applies. After a reported score reaches ``threshold`` the reported score
    is 0 for the next ``rest_period`` values (CAD's rest; 0 by default, since the
    cooldown and Kapacitor's alert node already de-duplicate alarms).

    Notes
    -----
    The memory is ``4**bits`` contexts at most, whatever the length of the series.
    Without ``min``/``max`` the range is learned: it starts at the first values and,
    when a value falls outside it, widens to take it in plus ``headroom`` of the new
    width beyond it. The transitions learned so far are then *re-quantised*: each
    left and right level is moved to the level its centre has in the new range, so
    what was learned keeps predicting (without this, each widening shifted every
    later value's level and the old contexts predicted nothing: 11.9 instead of 57.9
    on the NAB subset, see the README). A given end stays fixed and values beyond it
    take the end level. Contexts with longer left sides (CAD's active "neurons") were
    tried and dropped: the facts they predict are a subset of those the one-step
    context predicts. Until ``min_periods`` values have been learned the score is NaN
    (a day of 5-minute data by default: with calibration ``'none'`` nothing else
    holds the first verdicts back). NaN and infinite values are not learned and score
    NaN. ``details``: ``raw_score`` (before the rest period), ``level`` (the quantised
    value, -1 when not scored).

    Examples
    --------
    >>> detector = ContextualAnomaly(min=0.0, max=8.0, min_periods=10)
    >>> for i in range(30):
    ...     _ = detector.update(i, [1.0, 5.0, 3.0][i % 3])
    >>> detector.update(30, 1.0).score
    0.0
    >>> verdict = detector.update(31, 7.5)   # 1 -> 7: bits 1 and 2 never followed 1
    >>> round(verdict.score, 3), verdict.is_anomaly, verdict.details["level"]
    (0.333, True, 7)
    >>> detector.update(32, 0.0).is_anomaly  # 7 has no context yet
    True
    """

    name: ClassVar[str] = "contextual"
    parameters: ClassVar[ParamSet] = ParamSet(
        bits=Param.integer(3, "Bits each value is quantised into (2**bits levels over the range).", low=1, high=8),
        min=Param.number(None, "Lowest expected value (none: the lowest seen so far).", optional=True),
        max=Param.number(None, "Highest expected value (none: the highest seen so far).", optional=True),
        threshold=Param.number(None, "Anomaly when the score reaches this (none: 1/bits, any fact not "
                               "predicted).", low=0, high=1, closed="right", optional=True),
        headroom=Param.number(None, "Share of the new width a learned range widens by beyond a new extreme "
                              "(none: one level, 1/2**bits).", low=0, high=10, optional=True),
        min_periods=Param.integer(288, "Values learned before scoring starts.", low=1, high=MAX_WINDOW),
        rest_period=Param.integer(0, "Values after an alarm whose score is reported as 0.", low=0,
                                  high=MAX_WINDOW),
    )
    #: The score is already a verdict (a transition never seen before), not a scale to learn.
    calibration_defaults: ClassVar[Mapping[str, Any]] = {"calibration": "none"}
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"min": 5.0, "max": 1.0},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({"bits": 4, "rest_period": 20, "min_periods": 10}, {})
    #: Parameters a benchmark that knows the series' range passes (as NAB does).
    value_range_params: ClassVar[tuple[str, str]] = ("min", "max")

    bits: int
    min: float | None
    max: float | None
    threshold: float | None
    headroom: float | None
    min_periods: int
    rest_period: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._low = math.inf  # the quantisation range (empty until the first value)
        self._high = -math.inf
        self._pairs: dict[int, int] = {}  # left level -> bit mask of the right levels learned after it
        self._predicted: dict[int, int] = {}  # left level -> fact mask of those right levels (a cache)
        self._previous: int | None = None  # level of the last learned value, in the current range
        self._previous_value = math.nan
        self._rest = 0  # values still to report as 0
        self._learned = 0
        self._cut = self.threshold if self.threshold is not None else 1.0 / self.bits
        self._headroom = self.headroom if self.headroom is not None else 1.0 / (1 << self.bits)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        low, high = values["min"], values["max"]
        if low is not None and high is not None and not low < high:
            raise InvalidParameterError(f"min must be < max ({high}), got {low}")

    def _level_in(self, x: float, low: float, high: float) -> int:
        if not high > low:
            return 0
        step = (high - low) / (1 << self.bits)
        return min((1 << self.bits) - 1, max(0, int((x - low) / step)))

    def _level(self, x: float) -> int:
        return self._level_in(x, self._low, self._high)

    def _widened(self, x: float) -> tuple[float, float]:
        """The quantisation range once ``x`` is learned."""
        if self._low > self._high:  # nothing learned yet
            return (self.min if self.min is not None else x), (self.max if self.max is not None else x)
        low, high = self._low, self._high
        if self.min is None and x < low:
            low = x - self._headroom * (high - x)
        if self.max is None and x > high:
            high = x + self._headroom * (x - low)
        return low, high

    def _remapped(self, low: float, high: float) -> dict[int, int]:
        """The learned pairs with every level moved to where its centre falls in ``[low, high]``."""
        old_low, old_high = self._low, self._high
        step = (old_high - old_low) / (1 << self.bits)
        moved = [self._level_in(old_low + (level + 0.5) * step, low, high) for level in range(1 << self.bits)]
        pairs: dict[int, int] = {}
        for left, rights in self._pairs.items():
            mask = 0
            for right in range(1 << self.bits):
                if rights >> right & 1:
                    mask |= 1 << moved[right]
            pairs[moved[left]] = pairs.get(moved[left], 0) | mask
        return pairs

    def _fact_mask(self, rights: int) -> int:
        mask = 0
        for level in range(1 << self.bits):
            if rights >> level & 1:
                mask |= self._facts(level)
        return mask

    def _facts(self, level: int) -> int:
        """Bit mask of the facts of ``level``: fact ``2 i + b`` for bit ``i`` of value ``b``."""
        mask = 0
        for i in range(self.bits):
            mask |= 1 << (2 * i + ((level >> i) & 1))
        return mask

    def _raw(self, level: int, predicted: int) -> float:
        return (self._facts(level) & ~predicted).bit_count() / self.bits

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x) or self._previous is None or self._learned < self.min_periods:
            return Verdict(math.nan, False, {"raw_score": math.nan, "level": -1})
        low, high = self._widened(x)
        if (low, high) == (self._low, self._high):
            level, predicted = self._level(x), self._predicted.get(self._previous, 0)
        else:  # judged in the range learning x would give, without changing anything
            level = self._level_in(x, low, high)
            rights = self._remapped(low, high).get(self._level_in(self._previous_value, low, high), 0)
            predicted = self._fact_mask(rights)
        raw = self._raw(level, predicted)
        score = 0.0 if self._rest > 0 else raw
        return Verdict(score, score >= self._cut, {"raw_score": raw, "level": level})

    def learn_one(self, t: int, x: Any) -> None:
        x = float(x)
        if not math.isfinite(x):
            return
        low, high = self._widened(x)
        if (low, high) != (self._low, self._high):
            if self._low <= self._high:
                self._pairs = self._remapped(low, high)
                self._predicted = {left: self._fact_mask(rights) for left, rights in self._pairs.items()}
            self._low, self._high = low, high
            if self._previous is not None:
                self._previous = self._level(self._previous_value)
        level = self._level(x)
        if self._previous is not None and self._learned >= self.min_periods:
            if self._rest > 0:
                self._rest -= 1
            elif self._raw(level, self._predicted.get(self._previous, 0)) >= self._cut:
                self._rest = self.rest_period
        if self._previous is not None:
            self._pairs[self._previous] = self._pairs.get(self._previous, 0) | 1 << level
            self._predicted[self._previous] = self._predicted.get(self._previous, 0) | self._facts(level)
        self._previous, self._previous_value = level, x
        self._learned += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(),
            "range": [self._low, self._high] if self._low <= self._high else None,
            "pairs": [[left, rights] for left, rights in self._pairs.items()],
            "previous": None if self._previous is None else self._previous_value,
            "rest": self._rest,
            "learned": self._learned,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ContextualAnomaly:
        detector = cls(**state["params"])
        levels = 1 << detector.bits
        if state["range"] is not None:
            detector._low, detector._high = (float(v) for v in state["range"])
            if not detector._low <= detector._high:
                raise ValueError(f"bad contextual range {state['range']!r}")
        if "pairs" in state:
            pairs = {int(left): int(rights) for left, rights in state["pairs"]}
            previous = None if state["previous"] is None else float(state["previous"])
        else:  # a snapshot from before re-quantisation: fact masks, and the previous level
            pairs = {int(left): sum(1 << r for r in range(levels)
                                    if detector._facts(r) & ~int(mask) == 0) for left, mask in state["predicted"]}
            previous = None
            if state["previous"] is not None:
                step = (detector._high - detector._low) / levels
                previous = detector._low + (int(state["previous"]) + 0.5) * step
        if any(not 0 <= k < levels or not 0 <= v < 1 << levels for k, v in pairs.items()):
            raise ValueError("bad contextual pairs")
        detector._pairs = pairs
        detector._predicted = {left: detector._fact_mask(rights) for left, rights in pairs.items()}
        if previous is not None:
            if not math.isfinite(previous) or state["range"] is None:
                raise ValueError(f"bad contextual previous value {previous!r}")
            detector._previous, detector._previous_value = detector._level(previous), previous
        detector._rest = int(state["rest"])
        detector._learned = int(state["learned"])
        return detector

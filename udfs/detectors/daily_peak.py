"""A second-stage filter like Skyline's anomalous_daily_peak: a peak seen at this hour on earlier days is normal."""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_DURATION_NS

__all__ = ["DailyPeak"]

_DAY_NS = 86_400 * 10**9



def split_candidate(x: Any) -> tuple[float, bool] | None:
    """A second stage's input ``(value, first-stage flag 0/1)``, or None when it is not one."""
    if not isinstance(x, Sequence) or isinstance(x, str) or len(x) < 2:
        return None
    value, flag = float(x[0]), float(x[1])
    if not math.isfinite(value) or flag not in (0.0, 1.0):
        return None
    return value, flag == 1.0

class DailyPeak(Detector):
    """Clear a candidate anomaly when earlier days reached the same height at about the same time.

    The input of each point is ``(value, candidate)``: the analysed value and whether
    the first-stage detector flagged it (its ``is_anomaly``, as 1.0 or 0.0; any other
    flag makes the point invalid: neither judged nor learned). The filter keeps
    ``days`` periods of history. For a candidate at time ``t`` it looks, on each of the
    ``days`` earlier periods ``d``, at the values within ``tolerance`` of
    ``t - d * period``: if on at least ``min_days`` of them the series went as far
    from its median as the candidate (to within ``margin`` of the candidate's own
    distance from the median, on the same side), the candidate is cleared, since a
    daily peak at this hour is the series' normal shape. A candidate with too little
    history (fewer than ``min_days`` periods with data at that time) stays an anomaly.

    The score is the share of earlier periods that did *not* reach the candidate
    (1: a new height; 0: every day goes there); NaN for points that are not
    candidates. ``details``: ``candidate`` (bool), ``cleared`` (bool) and
    ``days_matched`` (int).

    Examples
    --------
    >>> hour = 3_600 * 10**9
    >>> f = DailyPeak(days=3, min_days=2)
    >>> daily = [10.0] * 24
    >>> daily[14] = 30.0                    # every day peaks at 14:00
    >>> for day in range(3):
    ...     for h in range(24):
    ...         _ = f.update((day * 24 + h) * hour, [daily[h], 0.0])
    >>> f.update((3 * 24 + 14) * hour, [31.0, 1.0]).is_anomaly   # the usual 14:00 peak: cleared
    False
    >>> f.update((3 * 24 + 15) * hour, [31.0, 1.0]).is_anomaly   # at 15:00 it is new
    True
    """

    name: ClassVar[str] = "daily_peak"
    input_kind: ClassVar[str] = "vector"
    parameters: ClassVar[ParamSet] = ParamSet(
        period=Param.duration(_DAY_NS, "Length of the cycle compared (a day).", low=60 * 10**9,
                              high=MAX_DURATION_NS // 100),
        days=Param.integer(7, "Earlier periods kept and compared.", low=1, high=100),
        min_days=Param.integer(2, "Earlier periods that must reach the candidate to clear it.", low=1, high=100),
        tolerance=Param.duration(30 * 60 * 10**9, "How far from the same time of day an earlier peak may be.",
                                 low=0, high=MAX_DURATION_NS // 100),
        margin=Param.number(0.1, "Share of the candidate's distance from the median an earlier peak may fall short.",
                            low=0, high=1),
        max_points=Param.integer(100_000, "Cap on the history kept per group (oldest dropped first).", low=10,
                                 high=10_000_000),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"days": 2, "min_days": 3},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"max_points": 100}, {"max_points": 100, "period": 3_600 * 10**9, "days": 2, "min_days": 1},
    )

    period: int
    days: int
    min_days: int
    tolerance: int
    margin: float
    max_points: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._times: deque[int] = deque(maxlen=self.max_points)
        self._values: deque[float] = deque(maxlen=self.max_points)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["min_days"] > values["days"]:
            raise InvalidParameterError(f"min_days must be <= days ({values['days']}), got {values['min_days']}")


    def _matched_days(self, t: int, value: float) -> tuple[int, int]:
        """(earlier periods reaching ``value``, earlier periods with data at this time)."""
        times = list(self._times)
        values = list(self._values)
        median = statistics.median(values)
        need = (1.0 - self.margin) * (value - median)
        reached = known = 0
        for d in range(1, self.days + 1):
            centre = t - d * self.period
            lo = bisect_left(times, centre - self.tolerance)
            hi = bisect_right(times, centre + self.tolerance)
            if lo == hi:
                continue
            known += 1
            window = values[lo:hi]
            extreme = max(window) - median if need >= 0 else min(window) - median
            if (need >= 0 and extreme >= need) or (need < 0 and extreme <= need):
                reached += 1
        return reached, known

    def score_one(self, t: int, x: Any) -> Verdict:
        split = split_candidate(x)
        if split is None:
            return Verdict(math.nan, False, {"candidate": False, "cleared": False, "days_matched": 0})
        value, candidate = split
        if not candidate:
            return Verdict(math.nan, False, {"candidate": False, "cleared": False, "days_matched": 0})
        if not self._values:
            return Verdict(1.0, True, {"candidate": True, "cleared": False, "days_matched": 0})
        reached, known = self._matched_days(int(t), value)
        cleared = known >= self.min_days and reached >= self.min_days
        score = 1.0 - reached / known if known else 1.0
        return Verdict(score, not cleared, {"candidate": True, "cleared": cleared, "days_matched": reached})

    def learn_one(self, t: int, x: Any) -> None:
        split = split_candidate(x)
        if split is None or (self._times and int(t) < self._times[-1]):
            return  # late points would break the time order the lookups bisect
        self._times.append(int(t))
        self._values.append(split[0])
        horizon = int(t) - self.days * self.period - self.tolerance
        while self._times and self._times[0] < horizon:
            self._times.popleft()
            self._values.popleft()

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "times": list(self._times), "values": list(self._values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DailyPeak:
        detector = cls(**state["params"])
        times = [int(t) for t in state["times"]]
        values = [float(v) for v in state["values"]]
        if len(times) != len(values) or len(times) > detector.max_points or times != sorted(times):
            raise ValueError("daily_peak state is malformed")
        if not all(math.isfinite(v) for v in values):
            raise ValueError("daily_peak state holds non-finite values")
        detector._times.extend(times)
        detector._values.extend(values)
        return detector

"""A second-stage filter like Skyline's irregular_unstable: re-check a candidate over a much longer history."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.detectors.daily_peak import split_candidate
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_DURATION_NS

__all__ = ["IrregularUnstable"]

_HOUR_NS = 3_600 * 10**9
_DAY_NS = 24 * _HOUR_NS
#: Most buckets a history may hold (history / resolution).
MAX_BUCKETS = 100_000

_NOT_A_CANDIDATE = {"candidate": False, "cleared": False, "reanalysed": False, "buckets_reached": 0}


class IrregularUnstable(Detector):
    """Clear a candidate of an irregular or low-variance series that its long history has seen before.

    The input of each point is ``(value, candidate)``: the analysed value and whether
    the first-stage detector flagged it (its ``is_anomaly`` as 1.0 or 0.0; any other
    flag makes the point invalid: neither judged nor learned).

    A short-window detector raises many false alarms on two kinds of series: low
    variance ones, where tiny wiggles are many deviations wide, and irregular ones,
    whose recent window keeps being flagged. Over the last ``window`` points the filter
    measures the coefficient of variation (standard deviation / |mean|) and the share
    of points the first stage flagged; the series is *irregular/unstable* when the first
    is at most ``max_cv`` or the second at least ``min_flag_rate``. Only then is a
    candidate re-analysed, over ``history`` (30 days by default) kept in bounded
    memory: one bucket of ``resolution`` (1 hour) per period, holding the bucket's
    minimum and maximum, so 30 days is 720 buckets whatever the sampling rate.

    Re-analysis: the candidate is cleared when at least ``min_buckets`` closed buckets
    of the history went at least as far (its maximum for a high value, its minimum for
    a low one; "high" and "low" relative to the median of the buckets' midpoints): the
    value has been seen that often before, so it is the series' normal range, not an
    anomaly. The open bucket (the candidate's own hour) never counts, and fewer than
    ``min_history`` of closed history leaves every candidate standing.

    The score of a candidate is the share of closed buckets that did *not* reach it
    (1: a new extreme); NaN for other points. ``details``: ``candidate``, ``cleared``,
    ``reanalysed`` (bool) and ``buckets_reached`` (int).

    Examples
    --------
    >>> minute = 60 * 10**9
    >>> f = IrregularUnstable(history=2 * 86_400 * 10**9, min_history=3_600 * 10**9, window=30)
    >>> for i in range(24 * 60):            # a day, low variance, a bump to 10.5 every hour
    ...     _ = f.update(i * minute, [10.5 if i % 60 == 30 else 10.0, 0.0])
    >>> f.update(24 * 60 * minute, [10.5, 1.0]).is_anomaly   # seen every hour: cleared
    False
    >>> f.update(24 * 60 * minute + minute, [12.0, 1.0]).is_anomaly   # never seen: stays
    True
    """

    name: ClassVar[str] = "irregular_unstable"
    input_kind: ClassVar[str] = "vector"
    parameters: ClassVar[ParamSet] = ParamSet(
        history=Param.duration(30 * _DAY_NS, "How far back a candidate is re-analysed.", low=60 * 10**9,
                               high=MAX_DURATION_NS // 100),
        resolution=Param.duration(_HOUR_NS, "Width of the buckets the history is kept in (min and max of each).",
                                  low=10**9, high=MAX_DURATION_NS // 100),
        window=Param.integer(288, "Recent points that decide whether the series is irregular/unstable.", low=3,
                             high=100_000),
        max_cv=Param.number(0.1, "Low variance: the recent window's standard deviation / |mean| at most this.",
                            low=0),
        min_flag_rate=Param.number(0.01, "Irregular: the share of recent points the first stage flagged at least "
                                         "this; 0 = every series is re-analysed.", low=0, high=1),
        min_buckets=Param.integer(3, "Closed buckets that must have reached the candidate to clear it.", low=1,
                                  high=MAX_BUCKETS),
        min_history=Param.duration(_DAY_NS, "Closed history needed before any candidate is cleared.", low=0,
                                   high=MAX_DURATION_NS // 100),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"history": 2 * _DAY_NS, "resolution": 1_000_000_000},
        {"history": _HOUR_NS, "resolution": _DAY_NS},
        {"min_history": 31 * _DAY_NS},
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"history": 100 * 10**10, "resolution": 5 * 10**10, "window": 50, "min_history": 20 * 10**10},
        {"history": 200 * 10**10, "resolution": 10**11, "window": 30, "min_flag_rate": 0.0, "max_cv": 0.0,
         "min_history": 0},
    )

    history: int
    resolution: int
    window: int
    max_cv: float
    min_flag_rate: float
    min_buckets: int
    min_history: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # One bucket per resolution, oldest first (the last may be open): start (ns), min, max.
        self._starts: deque[int] = deque()
        self._mins: deque[float] = deque()
        self._maxs: deque[float] = deque()
        self._recent: deque[float] = deque(maxlen=self.window)
        self._flags: deque[bool] = deque(maxlen=self.window)
        self._last_t: int | None = None

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        buckets = values["history"] // values["resolution"]
        if buckets < 2:
            raise InvalidParameterError(
                f"resolution must be at most half the history ({values['history'] // 2 / 1e9:g}s), "
                f"got {values['resolution'] / 1e9:g}s"
            )
        if buckets > MAX_BUCKETS:
            raise InvalidParameterError(
                f"history must be at most {MAX_BUCKETS} resolutions ({MAX_BUCKETS * values['resolution'] / 1e9:g}s), "
                f"got {values['history'] / 1e9:g}s"
            )
        if values["min_history"] > values["history"]:
            raise InvalidParameterError(
                f"min_history must be <= history ({values['history'] / 1e9:g}s), got {values['min_history'] / 1e9:g}s"
            )


    # -- is the series irregular/unstable? ------------------------------------------------
    def _unstable(self, candidate: bool) -> bool:
        values = list(self._recent)
        if len(values) < 2:
            return False
        mean = math.fsum(values) / len(values)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
        low_variance = std <= self.max_cv * abs(mean)
        flags = sum(self._flags) + candidate
        irregular = flags >= self.min_flag_rate * (len(self._flags) + 1)
        return low_variance or irregular

    def _closed(self, t: int) -> list[tuple[int, float, float]]:
        """The closed buckets within ``history`` of ``t`` (the one ``t`` falls in excluded)."""
        start = t - t % self.resolution
        return [b for b in zip(self._starts, self._mins, self._maxs, strict=True)
                if start > b[0] >= t - self.history]

    def _reached(self, t: int, value: float) -> tuple[int, int, float]:
        """(closed buckets reaching ``value``, closed buckets, span of closed history in ns)."""
        closed = self._closed(t)
        if not closed:
            return 0, 0, 0.0
        middles = sorted((b[1] + b[2]) / 2 for b in closed)
        n = len(middles)
        median = middles[n // 2] if n % 2 else (middles[n // 2 - 1] + middles[n // 2]) / 2
        if value >= median:
            reached = sum(b[2] >= value for b in closed)
        else:
            reached = sum(b[1] <= value for b in closed)
        span = (t - t % self.resolution) - closed[0][0]
        return reached, n, float(span)

    # -- the streaming contract ---------------------------------------------------------
    def score_one(self, t: int, x: Any) -> Verdict:
        split = split_candidate(x)
        if split is None or not split[1]:
            return Verdict(math.nan, False, dict(_NOT_A_CANDIDATE))
        value = split[0]
        t = int(t)
        if not self._unstable(True):
            return Verdict(1.0, True, {"candidate": True, "cleared": False, "reanalysed": False,
                                       "buckets_reached": 0})
        reached, n, span = self._reached(t, value)
        cleared = span >= self.min_history and reached >= self.min_buckets
        score = 1.0 - reached / n if n else 1.0
        return Verdict(score, not cleared, {"candidate": True, "cleared": cleared, "reanalysed": True,
                                            "buckets_reached": reached})

    def learn_one(self, t: int, x: Any) -> None:
        split = split_candidate(x)
        t = int(t)
        if split is None or (self._last_t is not None and t < self._last_t):
            return  # late points would break the buckets' time order
        value, flag = split
        self._last_t = t
        self._recent.append(value)
        self._flags.append(flag)
        start = t - t % self.resolution
        if self._starts and self._starts[-1] == start:
            self._mins[-1], self._maxs[-1] = min(self._mins[-1], value), max(self._maxs[-1], value)
        else:
            self._starts.append(start)
            self._mins.append(value)
            self._maxs.append(value)
        while self._starts and self._starts[0] < t - self.history - self.resolution:
            self._starts.popleft()
            self._mins.popleft()
            self._maxs.popleft()

    # -- snapshots -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "starts": list(self._starts), "mins": list(self._mins),
                "maxs": list(self._maxs),
                "recent": list(self._recent), "flags": list(self._flags), "last_t": self._last_t}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> IrregularUnstable:
        detector = cls(**state["params"])
        starts = [int(s) for s in state["starts"]]
        mins, maxs = [float(v) for v in state["mins"]], [float(v) for v in state["maxs"]]
        recent = [float(v) for v in state["recent"]]
        flags = [bool(f) for f in state["flags"]]
        if (len(recent) != len(flags) or len(recent) > detector.window or starts != sorted(set(starts))
                or not len(starts) == len(mins) == len(maxs)
                or len(starts) > detector.history // detector.resolution + 2):
            raise ValueError("irregular_unstable state is malformed")
        if not all(math.isfinite(v) for v in [*recent, *mins, *maxs]):
            raise ValueError("irregular_unstable state holds non-finite values")
        detector._starts.extend(starts)
        detector._mins.extend(mins)
        detector._maxs.extend(maxs)
        detector._recent.extend(recent)
        detector._flags.extend(flags)
        detector._last_t = None if state["last_t"] is None else int(state["last_t"])
        return detector

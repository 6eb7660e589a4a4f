"""Map a member detector's raw score to [0, 1]: its mid-rank among the member's recent scores.

:class:`ScoreCalibrator` is the small interface the consensus detector needs of a
calibration (``calibrate`` without side effects, ``learn``, JSON state), so a
calibrated score such as an anomaly likelihood can replace the rank.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["PercentileRank", "ScoreCalibrator"]


class ScoreCalibrator(Protocol):
    """Raw member score -> comparable score in [0, 1] (NaN while it cannot say)."""

    def calibrate(self, raw: float) -> float: ...

    def learn(self, raw: float) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...


class PercentileRank:
    """Mid-rank of ``raw`` among the last ``window`` finite raw scores: ``(#below + #equal / 2) / n``.

    Ties count half, so a member that scores 0 most of the time ranks its zeros
    near the middle rather than at the top. NaN until ``min_periods`` scores are kept.

    >>> rank = PercentileRank(window=4, min_periods=2)
    >>> for raw in (1.0, 2.0, 3.0, 3.0):
    ...     rank.learn(raw)
    >>> rank.calibrate(3.0), rank.calibrate(10.0), rank.calibrate(0.0)
    (0.75, 1.0, 0.0)
    """

    def __init__(self, window: int, min_periods: int = 1) -> None:
        self.window = window
        self.min_periods = min_periods
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        """Scores learned (at most ``window``)."""
        return len(self._recent)

    def calibrate(self, raw: float) -> float:
        n = len(self._sorted)
        if not math.isfinite(raw) or n < max(self.min_periods, 1):
            return math.nan
        below = bisect.bisect_left(self._sorted, raw)
        equal = bisect.bisect_right(self._sorted, raw) - below
        return (below + equal / 2.0) / n

    def learn(self, raw: float) -> None:
        if not math.isfinite(raw):
            return
        self._recent.append(raw)
        bisect.insort(self._sorted, raw)
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window, "min_periods": self.min_periods, "recent": list(self._recent)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PercentileRank:
        rank = cls(int(state["window"]), int(state["min_periods"]))
        for raw in state["recent"]:
            rank.learn(float(raw))
        return rank

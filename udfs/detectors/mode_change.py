"""The most frequent value of a quantised series changes, and the new one stays."""

from __future__ import annotations

import math
import statistics
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["ModeChange"]


class ModeChange(Detector):
    """A change of the mode (most frequent bucket) of the last ``window`` values that lasts.

    Values are quantised into buckets of width ``bucket`` (``floor(x / bucket)``): an
    ICMP latency of 23.4 ms with 1 ms buckets is bucket 23. With ``bucket`` unset (the
    default) the width is learned once, from the series itself: the interquartile range
    of its first ``window`` values, so half of a settled window's values fall within one
    bucket's width and ``min_jump`` reads "the mode moved by that many spreads of the
    noise" on any scale (1 ms of latency or 10,000 requests). While the learning window
    has no spread (more than half of its values equal) it slides on, and the mode is
    established from the first ``window`` values quantised with the learned width, one
    point later than with a given ``bucket``. Latency on a path sits
    on one mode and jumps to another when the route changes; a spike or a burst of
    jitter does not move the mode. Once ``window`` values are known the mode of the
    window is the *established* mode. When another bucket has been the window's mode
    for ``persist`` consecutive points it becomes the established mode, and that
    point is flagged (once) if the new mode is at least ``min_jump`` buckets from the
    old one: noise straddling a bucket edge moves the mode between neighbours, which
    is no route change.

    Score: the candidate's persistence as a share of ``persist`` (0 when the mode is
    the established one; 1 at the flagged point). ``details``: ``mode`` and
    ``previous_mode`` as bucket centres (``(bucket_index + 0.5) * bucket``), NaN when
    not known yet. Non-finite values are neither scored nor learned. Ties between
    buckets go to the established mode, then to the lower bucket.

    Examples
    --------
    >>> detector = ModeChange(bucket=1.0, window=10, persist=3)
    >>> values = [20.2, 20.5, 20.1, 21.7, 20.4, 20.6, 20.3, 20.9, 20.2, 20.8] + [35.3] * 12
    >>> flagged = [i for i, x in enumerate(values) if detector.update(i, x).is_anomaly]
    >>> flagged, detector.score_one(22, 35.1).details["mode"]
    ([17], 35.5)
    """

    name: ClassVar[str] = "mode_change"
    parameters: ClassVar[ParamSet] = ParamSet(
        bucket=Param.number(None, "Width of the buckets values are quantised into, e.g. 1 ms of latency "
                            "(none: the interquartile range of the first window values).",
                            low=0, closed="neither", optional=True),
        window=Param.integer(60, "Values the mode is taken over.", low=3, high=MAX_WINDOW),
        persist=Param.integer(10, "Points a new mode must last before it counts.", low=1, high=MAX_WINDOW),
        min_jump=Param.integer(2, "Buckets between the old and the new mode for a change to be flagged.", low=1,
                               high=MAX_WINDOW),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"window": 100, "bucket": 5.0}, {"window": 100, "persist": 1}, {"window": 100},
    )

    bucket: float | None
    window: int
    persist: int
    min_jump: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._buckets: deque[int] = deque(maxlen=self.window)
        self._counts: Counter[int] = Counter()
        self._mode: int | None = None
        self._candidate: int | None = None
        self._streak = 0
        self._width: float | None = self.bucket  # the bucket width in use, once known
        self._learning: deque[float] = deque(maxlen=self.window)  # values the width is learned from

    @staticmethod
    def _spread(values: Sequence[float]) -> float:
        """Interquartile range (linear interpolation between order statistics)."""
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return q3 - q1

    def _index(self, x: float) -> int:
        assert self._width is not None
        return math.floor(x / self._width)

    def _after(self, b: int) -> tuple[int | None, int | None, int, bool]:
        """(established mode, candidate, streak, changed) once bucket ``b`` is learned."""
        counts = self._counts.copy()
        if len(self._buckets) == self.window:
            counts[self._buckets[0]] -= 1
        counts[b] += 1
        if len(self._buckets) + (len(self._buckets) < self.window) < self.window:
            return None, None, 0, False
        top = max(counts.values())
        if self._mode is not None and counts[self._mode] == top:
            return self._mode, None, 0, False
        mode = min(k for k, c in counts.items() if c == top)
        if self._mode is None:
            return mode, None, 0, False
        streak = self._streak + 1 if mode == self._candidate else 1
        if streak >= self.persist:
            return mode, None, 0, abs(mode - self._mode) >= self.min_jump
        return self._mode, mode, streak, False

    def _centre(self, b: int | None) -> float:
        return math.nan if b is None or self._width is None else (b + 0.5) * self._width

    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not math.isfinite(value):
            return Verdict(math.nan, False, {"mode": self._centre(self._mode), "previous_mode": math.nan})
        if self._width is None:  # still learning the bucket width
            return Verdict(math.nan, False, {"mode": math.nan, "previous_mode": math.nan})
        mode, candidate, streak, changed = self._after(self._index(value))
        if mode is None:
            return Verdict(math.nan, False, {"mode": math.nan, "previous_mode": math.nan})
        moved = mode != self._mode
        score = (1.0 if changed else 0.0) if moved else streak / self.persist
        previous = self._centre(self._mode) if moved else math.nan
        return Verdict(score, changed, {"mode": self._centre(mode), "previous_mode": previous})

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        if self._width is None:
            self._learn_width(value)
            return
        b = self._index(value)
        self._mode, self._candidate, self._streak, _ = self._after(b)
        if len(self._buckets) == self.window:
            old = self._buckets[0]
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._buckets.append(b)
        self._counts[b] += 1

    def _learn_width(self, value: float) -> None:
        self._learning.append(value)
        if len(self._learning) < self.window:
            return
        width = self._spread(self._learning)
        if width > 0.0 and math.isfinite(width):
            self._width = width
            self._buckets.extend(self._index(v) for v in self._learning)
            self._counts = Counter(self._buckets)
            self._learning.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "buckets": list(self._buckets), "mode": self._mode,
                "candidate": self._candidate, "streak": self._streak, "width": self._width,
                "learning": list(self._learning)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ModeChange:
        detector = cls(**state["params"])
        buckets = [int(b) for b in state["buckets"]]
        mode = None if state["mode"] is None else int(state["mode"])
        candidate = None if state["candidate"] is None else int(state["candidate"])
        streak = int(state["streak"])
        # A snapshot from before the width could be learned has neither key: its bucket was given.
        width = state.get("width", detector.bucket)
        width = None if width is None else float(width)
        learning = [float(v) for v in state.get("learning", ())]
        if len(buckets) > detector.window or not 0 <= streak < detector.persist or (
                candidate is not None and mode is None):
            raise ValueError("malformed mode_change state")
        if detector.bucket is not None and width != detector.bucket or width is not None and (
                not math.isfinite(width) or width <= 0.0 or learning) or width is None and (
                buckets or len(learning) > detector.window or not all(map(math.isfinite, learning))):
            raise ValueError("malformed mode_change state: bucket width")
        detector._width = width
        detector._learning.extend(learning)
        detector._buckets.extend(buckets)
        detector._counts = Counter(buckets)
        detector._mode, detector._candidate, detector._streak = mode, candidate, streak
        return detector

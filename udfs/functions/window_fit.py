"""Windows that fit the data: warn once per group when a duration window holds too few points.

A detector whose history is a duration (sigma's ``full_duration``) but which needs a
number of points before it judges anything (``min_points``, ``min_periods``) says
nothing at all when the data is too sparse for the window: 30-minute data gives 48
points a day, fewer than sigma's 100. This watches the spacing of each group's
first points and, if the window cannot fill, logs the observed interval and the
options to change, once per group.

Which options pair up is derived from the UDF's options, so every detector UDF (and
every future one) is covered: a DURATION option whose name ends in ``duration`` or
``window`` against an INT option named ``min_points``, ``min_periods`` or ``min_history``.

Examples
--------
>>> fit = WindowFit({"full_duration": 86_400 * 10**9}, {"min_points": 100})
>>> half_hour = 1_800 * 10**9
>>> messages = [fit.observe("", i * half_hour) for i in range(12)]
>>> print([m for m in messages if m][0])  # doctest: +NORMALIZE_WHITESPACE
points arrive every 30m, so full_duration 1d holds 48 points, fewer than min_points 100: nothing is scored
until it does. Set .full_duration(50h) or longer, or count points instead: .min_points(48) or lower.
>>> fit.observe("", 12 * half_hour) is None  # once per group
True
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

from udfs.params.durations import format_duration

__all__ = ["POINT_COUNT_OPTIONS", "WindowFit", "window_pairs"]

#: Options that count the points a detector needs.
POINT_COUNT_OPTIONS = ("min_points", "min_periods", "min_history")
#: Intervals observed before judging the spacing (the median of these).
INTERVALS_OBSERVED = 10


def window_pairs(durations: Mapping[str, int], counts: Mapping[str, int]) -> list[tuple[str, str]]:
    """``(duration option, point-count option)`` pairs that must fit together."""
    windows = [name for name in durations if name.endswith(("duration", "window"))]
    return [(w, c) for w in windows for c in counts if c in POINT_COUNT_OPTIONS]


@dataclass
class _Group:
    last: int | None = None
    intervals: list[int] = field(default_factory=list)
    done: bool = False


class WindowFit:
    """Per-group spacing of points, checked once against the duration windows.

    ``durations`` are the configured DURATION options (ns), ``counts`` the INT ones.
    """

    def __init__(self, durations: Mapping[str, int], counts: Mapping[str, int]) -> None:
        self._pairs = [(w, durations[w], c, counts[c]) for w, c in window_pairs(durations, counts)]
        self._groups: dict[str, _Group] = {}

    @property
    def active(self) -> bool:
        return bool(self._pairs)

    def observe(self, group: str, t: int) -> str | None:
        """Note a point of ``group`` at ``t`` (ns); the warning, the one time it is due."""
        if not self._pairs:
            return None
        state = self._groups.setdefault(group, _Group())
        if state.done:
            return None
        if state.last is not None and t > state.last:
            state.intervals.append(t - state.last)
        state.last = t
        if len(state.intervals) < INTERVALS_OBSERVED:
            return None
        interval = int(statistics.median(state.intervals))
        state.done = True
        state.intervals = []
        return self.message(interval)

    def message(self, interval: int) -> str | None:
        """What to tell the user about data spaced ``interval`` ns apart, or None if every window fits."""
        problems = []
        for window, span, count, needed in self._pairs:
            held = span // interval if interval > 0 else needed
            if held >= needed:
                continue
            problems.append(
                f"points arrive every {format_duration(interval)}, so {window} {format_duration(span)} holds "
                f"{held} points, fewer than {count} {needed}: nothing is scored until it "
                f"does. Set .{window}({format_duration(needed * interval)}) or longer, or count points instead: "
                f".{count}({max(held, 1)}) or lower."
            )
        return " ".join(problems) or None

    def forget(self, group: str) -> None:
        self._groups.pop(group, None)

"""Skyline's nine-algorithm ensemble, with its constant 3 generalised to ``sigma``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors._skyline import ALGORITHMS, run_algorithms
from udfs.detectors._skyline_window import SkylineWindow
from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_DURATION_NS, MAX_WINDOW

__all__ = ["SigmaEnsemble"]

_DAY_NS = 86_400_000_000_000


class SigmaEnsemble(Detector):
    """Skyline's three-sigma ensemble: nine algorithms vote on each point.

    Each point is judged on the series of the ``full_duration`` (ns) ending
    at it, the point itself included as the newest value (Skyline analyses
    ``x[-1]`` with its history), by histogram_bins, first_hour_average,
    stddev_from_average, grubbs, ks_test, mean_subtraction_cumulation,
    median_absolute_deviation, stddev_from_moving_average and least_squares,
    exactly as earthgecko Skyline defines them, with the constant 3 replaced by
    ``sigma`` as in Skyline's ``sigma`` algorithm: thresholds of ``sigma``
    standard deviations, a median absolute deviation threshold of ``2 * sigma``,
    and ``tail_avg`` (and least_squares' tail of residuals) over the last
    ``int(sigma)`` points. ``sigma=3`` is the classic ensemble.

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the ``@sigma()``
    options and the docs). ``sigma`` is the number of standard deviations;
    ``consensus`` True votes make an anomaly (at most ``len(algorithms)``).
    ``full_duration`` is the history in the window, in nanoseconds (Skyline's
    ``FULL_DURATION``): points at least this much older than the newest one are
    dropped. With fewer than ``min_points`` points nothing is judged
    (``MIN_TOLERABLE_LENGTH``); the window keeps at most ``max_points`` points (the
    oldest go first), which bounds memory and time per point. When the last
    ``boredom`` values are all equal nothing is judged (``MAX_TOLERABLE_BOREDOM``).
    ``algorithms`` are the ones that vote: names, or one comma-separated string.

    Notes
    -----
    ``score`` is the share of the algorithms that voted which voted True, so 1.0
    is unanimous; ``is_anomaly`` is ``votes >= consensus``. An algorithm that fails
    does not vote (only ks_test can: its Dickey-Fuller test needs 24 reference
    points for 10 lags); Skyline's own test, "at most ``9 - consensus`` False
    votes", would count that failure towards an anomaly. The score is NaN, nothing
    is an anomaly and ``details["skipped"]`` says why when the point is not judged:
    ``"short"`` (fewer than ``min_points``), ``"boring"``, ``"invalid"`` (NaN or
    infinite: not learned either) or ``"late"`` (a time before the newest point's:
    not learned either, so that the window stays in time order). Skyline's
    ``STALE_PERIOD`` has no use on a stream, whose newest point is "now".

    ``details``: ``votes`` (int), ``voted`` (the names that voted True, comma
    separated, in the order above) and ``skipped`` ("" when judged).

    first_hour_average's first hour is, as in Skyline, the hour after
    ``t - full_duration``: when ``max_points`` cuts the window shorter than
    ``full_duration`` it may hold no point of that hour, and then votes False.

    Cost per point, for a window of n points: the median, the MAD and the
    histogram counts come from a sorted list by bisection (O(log n) plus a
    memmove to insert); means, variances and the least-squares residuals from
    exact integer sums (O(1), no drift, identical after a restore); the EWMA is
    one vectorised O(n) pass. ks_test runs scipy's test, and then the
    Dickey-Fuller test (milliseconds), only when its cheap statistic D is above
    0.5. ``bench/bench_sigma.py`` measures it against a naive recomputation.

    Examples
    --------
    >>> detector = SigmaEnsemble(min_points=20)
    >>> minute = 60 * 10**9
    >>> for i in range(60):
    ...     _ = detector.update(i * minute, 10.0 + (i % 5) * 0.1)
    >>> jump = detector.update(60 * minute, 25.0)  # tail_avg, over 3 points, damps one jump
    >>> jump.is_anomaly, jump.details["votes"], round(jump.score, 3)
    (False, 4, 0.444)
    >>> jump.details["voted"]
    'histogram_bins,mean_subtraction_cumulation,median_absolute_deviation,stddev_from_moving_average'
    >>> shift = detector.update(61 * minute, 25.0)
    >>> shift.is_anomaly, shift.details["votes"]
    (True, 7)
    >>> detector.update(62 * minute, float("nan")).details["skipped"]
    'invalid'
    """

    name: ClassVar[str] = "sigma"
    parameters: ClassVar[ParamSet] = ParamSet(
        sigma=Param.number(3.0, "Standard deviations for the sigma-based algorithms (Skyline: 3).", low=0,
                           high=1e6, closed="right"),
        consensus=Param.integer(6, "Algorithms that must vote anomalous (Skyline: 6 of 9).", low=1,
                                high=len(ALGORITHMS)),
        full_duration=Param.duration(_DAY_NS, "History analysed with each point (Skyline's FULL_DURATION).",
                                     low=0, high=MAX_DURATION_NS, closed="right"),
        min_points=Param.integer(100, "Points needed before voting (Skyline's MIN_TOLERABLE_LENGTH).", low=3,
                                 high=MAX_WINDOW),
        max_points=Param.integer(10000, "Cap on points kept per group.", low=3, high=MAX_WINDOW),
        boredom=Param.integer(100, "Not judged when this many last values are all equal (MAX_TOLERABLE_BOREDOM).",
                              low=2, high=MAX_WINDOW),
        algorithms=Param.names(ALGORITHMS, ALGORITHMS, "The algorithms that vote (comma-separated)."),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"min_points": 200, "max_points": 100},
        {"consensus": 3, "algorithms": "grubbs,ks_test"},
    )
    # max_points bounds the state for the common checks; one config with a subset of the votes.
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"max_points": 100},
        {"max_points": 100, "min_points": 30, "full_duration": 600_000_000_000, "consensus": 2,
         "algorithms": ("grubbs", "median_absolute_deviation", "least_squares")},
    )

    sigma: float
    consensus: int
    full_duration: int
    min_points: int
    max_points: int
    boredom: int
    algorithms: tuple[str, ...]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._window = SkylineWindow(span_ns=self.full_duration, max_points=self.max_points)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["max_points"] < values["min_points"]:
            raise InvalidParameterError(
                f"max_points must be >= min_points ({values['min_points']}), got {values['max_points']}"
            )
        if values["consensus"] > len(values["algorithms"]):
            raise InvalidParameterError(
                f"consensus must be <= the number of algorithms ({len(values['algorithms'])}), "
                f"got {values['consensus']}"
            )

    def votes_one(self, t: int, x: Any) -> dict[str, bool | None]:
        """Each algorithm's vote on ``x`` at time ``t`` (None: failed, or the point is not judged).

        Like :meth:`score_one`, changes nothing.
        """
        window, skipped = self._window_with(t, x)
        if skipped:
            return dict.fromkeys(self.algorithms)
        return run_algorithms(window, self.algorithms, self.sigma)

    def score_one(self, t: int, x: Any) -> Verdict:
        window, skipped = self._window_with(t, x)
        return self._judge(window, skipped)

    def learn_one(self, t: int, x: Any) -> None:
        value = self._admissible(t, x)
        if isinstance(value, float):
            self._window.push(int(t), value)

    def update(self, t: int, x: Any) -> Verdict:
        # The window after learning the point is the one that judges it: no copy needed.
        value = self._admissible(t, x)
        if isinstance(value, str):
            return self._judge(self._window, value)
        self._window.push(int(t), value)
        return self._judge(self._window, "")

    def _admissible(self, t: int, x: Any) -> float | str:
        """The value to learn, or why the point is skipped."""
        if isinstance(x, (str, bytes)):
            return "invalid"
        try:
            value = float(x) + 0.0  # + 0.0: -0.0 becomes 0.0, one zero in the sorted values
        except (TypeError, ValueError):
            return "invalid"
        if not math.isfinite(value):
            return "invalid"
        times = self._window.times()
        if len(times) and int(t) < times[-1]:
            return "late"
        return value

    def _window_with(self, t: int, x: Any) -> tuple[SkylineWindow, str]:
        value = self._admissible(t, x)
        if isinstance(value, str):
            return self._window, value
        window = self._window.copy()
        window.push(int(t), value)
        return window, self._not_judged(window)

    def _not_judged(self, window: SkylineWindow) -> str:
        if len(window) < self.min_points:
            return "short"
        if window.run >= min(self.boredom, len(window)):
            return "boring"
        return ""

    def _judge(self, window: SkylineWindow, skipped: str) -> Verdict:
        skipped = skipped or self._not_judged(window)
        if skipped:
            return Verdict(math.nan, False, {"votes": 0, "voted": "", "skipped": skipped})
        votes = run_algorithms(window, self.algorithms, self.sigma)
        voted = [name for name, vote in votes.items() if vote]
        cast = sum(vote is not None for vote in votes.values())
        score = len(voted) / cast if cast else math.nan
        details = {"votes": len(voted), "voted": ",".join(voted), "skipped": ""}
        return Verdict(score, len(voted) >= self.consensus, details)

    def state_dict(self) -> dict[str, Any]:
        params = self.params()
        params["algorithms"] = list(self.algorithms)  # what json.loads gives back
        return {
            "params": params,
            "times": self._window.times().tolist(),
            "values": self._window.values().tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SigmaEnsemble:
        detector = cls(**state["params"])
        times, values = state["times"], state["values"]
        if len(times) != len(values):
            raise ValueError(f"state has {len(times)} times but {len(values)} values")
        for t, x in zip(times, values, strict=True):
            detector.learn_one(int(t), float(x))
        return detector

"""State changes of a series, with hysteresis levels, debounce and flapping."""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Mapping
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_DURATION_NS, MAX_WINDOW

__all__ = ["EdgeDetector"]

_HOUR_NS = 3_600_000_000_000
_LEVEL_ORDER = ("low_enter", "low_exit", "high_exit", "high_enter")
# What state_dict saves besides params and change times; attribute "_" + key.
_SCALAR_STATE = (
    "started", "observed", "state", "entered", "candidate", "candidate_since",
    "previous", "previous_duration", "changes",
)


def _as_state(x: Any) -> Any:
    """A JSON-friendly state for ``x``; None for NaN and infinities, which are no state."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, str):
        return x
    raise TypeError(f"edge takes str, bool, int or float values, got {type(x).__name__}")


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but a boolean field turning into a number is a change.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


class EdgeDetector(Detector):
    """Report the first value of a series and every change of its state.

    Without options this is Kapacitor's ``|changeDetect('field')``, plus what that
    node does not give: the previous state, how long it lasted, a change counter
    and state kept across restarts. Options add levels with hysteresis, debounce
    and flapping detection.

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the ``@edge()``
    options and the docs). ``low_enter``, ``low_exit``, ``high_enter`` and
    ``high_exit`` map a number to the state ``"low"``, ``"normal"`` or ``"high"``:
    a value above ``high_enter`` enters ``"high"``, which is left only for a value
    below ``high_exit``; likewise below ``low_enter`` enters ``"low"``, left above
    ``low_exit``. An unset exit equals its enter (no hysteresis). They must run
    ``low_enter <= low_exit <= high_exit <= high_enter``. Strings and booleans are
    states as they are; without levels every distinct value is a state.
    ``min_duration`` (ns) debounces: a new state counts only once it has held this
    long; the change is reported at the first point that satisfies this, and the
    new state is dated from its first point. More than ``flap_count`` changes at
    times in ``(t - flap_window, t]`` is flapping (an anomaly).

    Notes
    -----
    ``score`` = changes within the flap window / ``flap_count``: above 1 means
    flapping. Only the last ``2 * flap_count`` change times are kept, so the score
    saturates at 2. The first value is reported (``changed``) but is no change.
    NaN and infinite floats are no state: they are ignored (not learned, no change,
    debounce not interrupted) and their verdict has a NaN score.

    ``details`` of every verdict: ``changed`` (report this point: the first value
    or a change), ``current`` (the state after this point), ``previous`` (the state
    left at the latest change), ``previous_duration`` (ns it lasted, from entering
    it to the start of its successor), ``duration`` (ns ``current`` has lasted so
    far), ``changes`` (the count of changes). Not-yet-known values are None.

    Examples
    --------
    >>> detector = EdgeDetector()
    >>> polls = ["SHOWTIME", "SHOWTIME", "TRAINING", "SHOWTIME"]
    >>> reported = [detector.update(i * 90_000_000_000, x) for i, x in enumerate(polls)]
    >>> [v.details["changed"] for v in reported]
    [True, False, True, True]
    >>> reported[2].details["previous"], reported[2].details["previous_duration"]
    ('SHOWTIME', 180000000000)
    >>> temperature = EdgeDetector(high_enter=80.0, high_exit=70.0)
    >>> [temperature.update(i, x).details["current"] for i, x in enumerate([60.0, 85.0, 75.0, 65.0])]
    ['normal', 'high', 'high', 'normal']
    """

    name: ClassVar[str] = "edge"
    input_kind: ClassVar[str] = "state"
    parameters: ClassVar[ParamSet] = ParamSet(
        low_enter=Param.number(None, "Numbers: enter state 'low' below this.", optional=True),
        low_exit=Param.number(None, "Leave 'low' only above this (hysteresis; unset: low_enter).", optional=True),
        high_enter=Param.number(None, "Numbers: enter state 'high' above this.", optional=True),
        high_exit=Param.number(None, "Leave 'high' only below this (hysteresis; unset: high_enter).",
                               optional=True),
        min_duration=Param.duration(0, "A new state must last this long before it counts (debounce).", low=0,
                                    high=MAX_DURATION_NS),
        flap_count=Param.integer(5, "More than this many changes within flap_window is flapping (is_anomaly).",
                                 low=1, high=MAX_WINDOW),
        flap_window=Param.duration(_HOUR_NS, "Window for counting changes.", low=0, high=MAX_DURATION_NS,
                                   closed="right"),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"high_exit": 70.0},
        {"high_enter": 70.0, "high_exit": 80.0},
        {"low_enter": 50.0, "high_enter": 40.0},
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {},
        {"min_duration": 20_000_000_000, "flap_count": 2, "flap_window": 600_000_000_000},
        {"low_enter": 40.0, "low_exit": 45.0, "high_exit": 55.0, "high_enter": 60.0},
    )

    low_enter: float | None
    low_exit: float | None
    high_enter: float | None
    high_exit: float | None
    min_duration: int
    flap_count: int
    flap_window: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        low_enter, high_enter = self.low_enter, self.high_enter
        low_exit, high_exit = self.low_exit, self.high_exit
        self._low_exit = low_enter if low_exit is None else low_exit
        self._high_exit = high_enter if high_exit is None else high_exit
        self._started = False
        self._observed: Any = None  # last level seen, what hysteresis compares against
        self._state: Any = None  # reported state
        self._entered = 0  # ns when the reported state began
        self._candidate: Any = None  # a state waiting out min_duration ...
        self._candidate_since: int | None = None  # ... since its first point; None: none waiting
        self._previous: Any = None
        self._previous_duration: int | None = None
        self._changes = 0
        self._change_times: deque[int] = deque(maxlen=2 * self.flap_count)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        for side in ("low", "high"):
            if values[f"{side}_exit"] is not None and values[f"{side}_enter"] is None:
                raise InvalidParameterError(f"{side}_exit needs {side}_enter, which is unset")
        given = [(key, values[key]) for key in _LEVEL_ORDER if values[key] is not None]
        for (key_a, a), (key_b, b) in pairwise(given):
            if a > b:
                raise InvalidParameterError(
                    f"{key_a} ({a}) must be <= {key_b} ({b}): levels run "
                    "low_enter <= low_exit <= high_exit <= high_enter"
                )

    @classmethod
    def input_kind_of(cls, params: Mapping[str, Any]) -> str:
        """``"float"`` once levels band numbers into states, else ``"state"`` (any discrete value)."""
        if params.get("low_enter") is not None or params.get("high_enter") is not None:
            return "float"
        return cls.input_kind

    def _level(self, x: Any, previous: Any) -> Any:
        if isinstance(x, (bool, str)) or (self.low_enter is None and self.high_enter is None):
            return x
        if previous == "high" and self._high_exit is not None and x >= self._high_exit:
            return "high"
        if previous == "low" and self._low_exit is not None and x <= self._low_exit:
            return "low"
        if self.high_enter is not None and x > self.high_enter:
            return "high"
        if self.low_enter is not None and x < self.low_enter:
            return "low"
        return "normal"

    def _step(self, t: int, x: Any, *, learn: bool) -> Verdict:
        # One code path for scoring and learning, so the two cannot disagree; only
        # with learn=True does anything get written back.
        value = _as_state(x)
        observed = self._observed if value is None else self._level(value, self._observed)
        state, entered, changes = self._state, self._entered, self._changes
        previous, previous_duration = self._previous, self._previous_duration
        candidate, since = self._candidate, self._candidate_since
        changed = False
        if value is None:
            pass
        elif not self._started:
            state, entered, changed = observed, t, True
        elif _same(observed, state):
            candidate, since = None, None
        else:
            if since is None or not _same(observed, candidate):
                candidate, since = observed, t
            if t - since >= self.min_duration:
                previous, previous_duration = state, since - entered
                state, entered, changes, changed = candidate, since, changes + 1, True
                candidate, since = None, None
        is_change = changed and self._started
        recent = sum(1 for c in self._change_times if c > t - self.flap_window) + is_change
        recent = min(recent, self._change_times.maxlen or 0)
        if learn and value is not None:
            self._started, self._observed = True, observed
            self._state, self._entered, self._previous, self._previous_duration = (
                state, entered, previous, previous_duration
            )
            self._candidate, self._candidate_since, self._changes = candidate, since, changes
            if is_change:
                self._change_times.append(t)
        started = self._started or value is not None
        details = {
            "changed": changed,
            "current": state,
            "previous": previous,
            "previous_duration": previous_duration,
            "duration": t - entered if started else None,
            "changes": changes,
        }
        if value is None:
            return Verdict(math.nan, False, details)
        return Verdict(recent / self.flap_count, recent > self.flap_count, details)

    def score_one(self, t: int, x: Any) -> Verdict:
        return self._step(t, x, learn=False)

    def learn_one(self, t: int, x: Any) -> None:
        self._step(t, x, learn=True)

    def state_dict(self) -> dict[str, Any]:
        state = {key: getattr(self, f"_{key}") for key in _SCALAR_STATE}
        return {"params": self.params(), **state, "change_times": list(self._change_times)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EdgeDetector:
        detector = cls(**state["params"])
        for key in _SCALAR_STATE:
            value = state[key]
            if not _valid_scalar(key, value):
                raise ValueError(f"edge state {key!r} is {value!r}, not {_SCALAR_KINDS.get(key, 'a state or null')}")
            setattr(detector, f"_{key}", value)
        times = state["change_times"]
        if not isinstance(times, list) or not all(_is_int(c) for c in times):
            raise ValueError("edge state 'change_times' is not a list of integer times")
        detector._change_times.extend(times)
        return detector


# What from_state accepts, so that a snapshot that would fail at the next point
# ("entered": null) is refused at restore instead.
_SCALAR_KINDS = {
    "started": "a bool", "entered": "an integer time", "changes": "a count",
    "candidate_since": "an integer time or null", "previous_duration": "an integer duration or null",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_scalar(key: str, value: Any) -> bool:
    if key == "started":
        return isinstance(value, bool)
    if key == "entered":
        return _is_int(value)
    if key == "changes":
        return _is_int(value) and value >= 0
    if key in ("candidate_since", "previous_duration"):
        return value is None or _is_int(value)
    # A state: what _as_state makes of a value (no NaN, nothing but str, bool, int, float), or None.
    return value is None or (isinstance(value, (str, bool, int, float)) and _same(_as_state(value), value))

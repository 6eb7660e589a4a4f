"""Parameter constraints shared by detectors (constructor checks) and UDF options.

In the spirit of scikit-learn's ``_parameter_constraints``: a constraint checks a
value and describes what it expects, so one declaration gives both the error
message and the documentation. Imports nothing from the rest of the package.

Examples
--------
>>> Interval(int, 3, None).describe()
'an integer >= 3'
>>> check_param("window", 2, Interval(int, 3, None))
Traceback (most recent call last):
...
udfs.params.constraints.InvalidParameterError: window must be an integer >= 3, got 2
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Constraint", "InvalidParameterError", "Interval", "OneOf", "check_param"]


class InvalidParameterError(ValueError):
    """A parameter or option has a value outside what it accepts."""


class Constraint:
    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Interval(Constraint):
    """A number of ``kind`` (int or float) within ``[low, high]``; None = unbounded.

    ``closed`` is one of "both", "left", "right", "neither". Booleans are never
    numbers here, and NaN is never inside an interval.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or math.isnan(float(value)):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.closed in ('both', 'left') else '>'} {_fmt(self.low)}")
        if self.high is not None:
            parts.append(f"{'<=' if self.closed in ('both', 'right') else '<'} {_fmt(self.high)}")
        return f"{noun} {' and '.join(parts)}" if parts else noun


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of values."""

    choices: tuple[Any, ...]

    def __init__(self, choices: Iterable[Any]) -> None:
        object.__setattr__(self, "choices", tuple(choices))

    def accepts(self, value: Any) -> bool:
        return value in self.choices

    def describe(self) -> str:
        return "one of " + ", ".join(_fmt(c) for c in self.choices)


def check_param(name: str, value: Any, constraint: Constraint) -> None:
    """Raise :class:`InvalidParameterError` naming ``name`` unless ``value`` is accepted."""
    if not constraint.accepts(value):
        raise InvalidParameterError(f"{name} must be {constraint.describe()}, got {_fmt(value)}")

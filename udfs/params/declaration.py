"""One declaration per parameter: kind, default, constraint and help, stated once.

A detector declares its parameters as a :class:`ParamSet` of :class:`Param`; the
same objects validate the constructor's keyword arguments, give ``params()``,
become the UDF's Kapacitor options (value type, Init parsing) and render the docs.
Messages speak the user's units: a duration is shown as ``10s``, never as 1e10
nanoseconds. Inside the code every duration is an ``int`` of nanoseconds.

Kinds and how Kapacitor sees them:

============  ==================  ====================================================
kind          Python value        TICKscript option value
============  ==================  ====================================================
``int``       int                 INT (``.window(100)``)
``float``     float               DOUBLE (``.threshold(3.5)``)
``bool``      bool                BOOL (``.fit(TRUE)``)
``str``       str                 STRING (``.name('x')``)
``duration``  int (nanoseconds)   DURATION (``.full_duration(1d)``)
``choice``    str, one of a set   STRING (``.method('ewma')``)
``list``      tuple of str        STRING, comma separated (``.algorithms('a,b')``)
============  ==================  ====================================================

Imports nothing heavy (Kapacitor waits for a UDF's ``Info`` while this loads).

Examples
--------
>>> window = Param.integer(100, "Past values in the window.", low=3)
>>> spec = ParamSet(window=window, span=Param.duration(60_000_000_000, "Time span.", low=0, closed="neither"))
>>> spec.resolve({"window": 10})
{'window': 10, 'span': 60000000000}
>>> spec.resolve({"span": -5_000_000_000})
Traceback (most recent call last):
...
udfs.params.constraints.InvalidParameterError: span must be a duration > 0s, got -5s
>>> spec["span"].describe()
'a duration > 0s'
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from udfs.params.constraints import Constraint, Interval, InvalidParameterError, OneOf
from udfs.params.durations import format_duration, parse_duration

__all__ = ["KINDS", "Param", "ParamSet"]

#: Every kind a parameter may have.
KINDS = ("int", "float", "bool", "str", "duration", "choice", "list")

# The Python type each kind's default must have (None allowed when ``optional``).
_PY_TYPE: dict[str, type | tuple[type, ...]] = {
    "int": int, "float": float, "bool": bool, "str": str, "duration": int, "choice": str, "list": tuple,
}


@dataclass(frozen=True)
class Param:
    """One parameter of a detector (and so one option of its UDF).

    Build one with the named constructors (:meth:`integer`, :meth:`number`,
    :meth:`flag`, :meth:`text`, :meth:`duration`, :meth:`choice`, :meth:`names`); the
    :class:`ParamSet` it is put in gives it its ``name``.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    default : object
        The value when the parameter is not given (immutable: tuples, not lists).
        ``None`` only when ``optional``.
    help : str
        One sentence for the docs, ``udfs list`` and the web page.
    low, high, closed :
        Bounds of an ``int``, ``float`` or ``duration`` (None: unbounded), as for
        :class:`~udfs.params.constraints.Interval`.
    choices : tuple of str
        The allowed values of a ``choice``, or of each item of a ``list``.
    optional : bool
        ``None`` is accepted and means "not set" (shown as ``none``).
    check : Constraint, optional
        An extra rule beyond kind and bounds (its ``describe()`` joins the docs).
    """

    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    choices: tuple[str, ...] = ()
    optional: bool = False
    check: Constraint | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind in ("choice", "list") and not self.choices:
            raise ValueError(f"a {self.kind} parameter needs choices")
        if isinstance(self.default, list):
            raise ValueError("a parameter default must be immutable: a tuple, not a list")

    # -- constructors --------------------------------------------------------------
    @classmethod
    def integer(cls, default: int | None, help: str, *, low: float | None = None, high: float | None = None,
                closed: str = "both", optional: bool = False, check: Constraint | None = None) -> Param:
        return cls("int", default, help, low=low, high=high, closed=closed, optional=optional, check=check)

    @classmethod
    def number(cls, default: float | None, help: str, *, low: float | None = None, high: float | None = None,
               closed: str = "both", optional: bool = False, check: Constraint | None = None) -> Param:
        value = float(default) if isinstance(default, int) and not isinstance(default, bool) else default
        return cls("float", value, help, low=low, high=high, closed=closed, optional=optional, check=check)

    @classmethod
    def flag(cls, default: bool, help: str) -> Param:
        return cls("bool", default, help)

    @classmethod
    def text(cls, default: str | None, help: str, *, optional: bool = False,
             check: Constraint | None = None) -> Param:
        return cls("str", default, help, optional=optional, check=check)

    @classmethod
    def duration(cls, default_ns: int | None, help: str, *, low: int | None = None, high: int | None = None,
                 closed: str = "both", optional: bool = False, check: Constraint | None = None) -> Param:
        """A time span, in integer nanoseconds inside and a TICKscript duration outside."""
        return cls("duration", default_ns, help, low=low, high=high, closed=closed, optional=optional, check=check)

    @classmethod
    def choice(cls, default: str, choices: Iterable[str], help: str) -> Param:
        return cls("choice", default, help, choices=tuple(choices))

    @classmethod
    def names(cls, default: Iterable[str], choices: Iterable[str], help: str, *, min_items: int = 1) -> Param:
        """A set of names from ``choices`` (a tuple inside; comma separated in TICKscript)."""
        return cls("list", tuple(default), help, choices=tuple(choices), low=min_items)

    # -- checking --------------------------------------------------------------------
    def normalise(self, value: Any) -> Any:
        """``value`` checked and in canonical form; raise InvalidParameterError naming the parameter."""
        if value is None and self.optional:
            return None
        kind = self.kind
        if kind == "list":
            items = _split_names(value)
            if items is None or not all(isinstance(i, str) for i in items):
                self._fail(value)
            assert items is not None
            chosen = tuple(c for c in self.choices if c in items)  # declared order, each once
            if len(chosen) != len(set(items)) or len(chosen) < (self.low or 0):
                self._fail(value)
            return chosen
        if kind == "bool":
            if not isinstance(value, bool):
                self._fail(value)
            return value
        if kind in ("str", "choice"):
            if not isinstance(value, str) or (kind == "choice" and value not in self.choices):
                self._fail(value)
        elif kind in ("int", "duration"):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                self._fail(value)
            value = int(value)
        elif kind == "float":
            # Non-finite floats are never parameters: TICKscript cannot write them, and a
            # threshold of inf or nan would silently switch a detector off.
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
                self._fail(value)
            value = float(value)
        if kind in ("int", "float", "duration") and not self._interval().accepts(value):
            self._fail(value)
        if self.check is not None and not self.check.accepts(value):
            self._fail(value)
        return value

    def _interval(self) -> Interval:
        return Interval(float if self.kind == "float" else int, self.low, self.high, self.closed)

    def _fail(self, value: Any) -> None:
        raise InvalidParameterError(f"{self.name} must be {self.describe()}, got {self.format(value)}")

    def describe(self) -> str:
        """What the parameter accepts, in the user's units (``a duration > 0s``)."""
        if self.kind == "bool":
            text = "TRUE or FALSE"
        elif self.kind == "str":
            text = "a string"
        elif self.kind == "choice":
            text = OneOf(self.choices).describe()
        elif self.kind == "list":
            least = int(self.low or 0)
            text = (f"{'a non-empty' if least == 1 else f'at least {least} of a'} comma-separated list of "
                    + ", ".join(self.choices))
        else:
            noun = {"int": "an integer", "float": "a number", "duration": "a duration"}[self.kind]
            if self.kind == "float" and (self.low is None or self.high is None):
                noun = "a finite number"
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>=' if self.closed in ('both', 'left') else '>'} {self._bound(self.low)}")
            if self.high is not None:
                bounds.append(f"{'<=' if self.closed in ('both', 'right') else '<'} {self._bound(self.high)}")
            text = f"{noun} {' and '.join(bounds)}" if bounds else noun
        if self.check is not None:
            text += f" and {self.check.describe()}"
        if self.optional:
            text += " (or none)"
        return text

    def _bound(self, bound: float) -> str:
        if self.kind == "duration":
            return format_duration(int(bound))
        return str(int(bound)) if self.kind == "int" else str(bound)

    def format(self, value: Any) -> str:
        """``value`` as a TICKscript literal (``10s``, ``'ewma'``, ``TRUE``)."""
        if value is None:
            return "none"
        if self.kind == "duration" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return format_duration(int(value))
        if self.kind == "list" and isinstance(value, (tuple, list)):
            return "'" + ",".join(str(v) for v in value) + "'"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            return f"'{value}'"
        return repr(value)

    def default_text(self) -> str:
        return self.format(self.default)

    def from_text(self, text: str) -> Any:
        """The value a command-line literal stands for (``10d``, ``0.5``, ``true``), normalised.

        For the ``name:key=value`` specs of ``udfs evaluate``: a duration must carry its
        unit (``864000`` is refused rather than read as 864 microseconds).

        >>> ParamSet(span=Param.duration(0, "Time span.", low=0))["span"].from_text("10d")
        864000000000000
        """
        text = text.strip()
        value: Any = text
        if self.optional and text.lower() == "none":
            value = None
        elif self.kind == "duration":
            try:
                value = parse_duration(text)
            except ValueError:
                raise InvalidParameterError(
                    f"{self.name} must be {self.describe()} with its unit (e.g. 90s, 10d), got {text!r}"
                ) from None
        elif self.kind in ("int", "float"):
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                pass  # normalise names the parameter
        elif self.kind == "bool" and text.lower() in ("true", "false"):
            value = text.lower() == "true"
        return self.normalise(value)


def _split_names(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (tuple, list)):
        return list(value)
    return None


class ParamSet(Mapping[str, Param]):
    """The declared parameters of one detector, in declaration order.

    ``ParamSet(window=Param.integer(...), threshold=Param.number(...))``; the keyword
    becomes each parameter's ``name``. ``parent | ParamSet(...)`` extends a set.
    """

    def __init__(self, **params: Param) -> None:
        self._params: dict[str, Param] = {}
        for name, param in params.items():
            if not isinstance(param, Param):
                raise TypeError(f"parameter {name!r} is not a Param")
            if param.default is not None or not param.optional:
                replace(param, name=name).normalise(param.default)  # a default must pass its own check
            self._params[name] = replace(param, name=name)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __or__(self, other: ParamSet) -> ParamSet:
        return ParamSet(**self._params, **other._params)

    def defaults(self) -> dict[str, Any]:
        return {name: param.default for name, param in self._params.items()}

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value: ``given`` checked and normalised, defaults for the rest."""
        unknown = sorted(set(given) - set(self._params))
        if unknown:
            known = ", ".join(self._params) or "none"
            raise TypeError(f"unknown parameter(s) {', '.join(unknown)}; this detector takes: {known}")
        return {name: param.normalise(given[name]) if name in given else param.default
                for name, param in self._params.items()}

    def signature(self) -> inspect.Signature:
        """A keyword-only signature with the declared defaults (for ``help()`` and ``inspect``)."""
        return inspect.Signature([
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=param.default)
            for name, param in self._params.items()
        ])

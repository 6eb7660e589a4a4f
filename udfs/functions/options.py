"""Declare a UDF's options once; get the InfoResponse, InitRequest parsing and docs from it.

Kapacitor checks option *types* at ``kapacitor define`` time from the cached
``InfoResponse``; values (ranges, choices) are the UDF's job in ``Init``. One
:class:`OptionSpec` per option serves all three: it becomes an ``OptionInfo``,
validates the ``Option`` messages of an ``InitRequest`` (a bad value becomes an
``InitResponse`` error naming the option), and renders a row of the docs table.

Examples
--------
>>> from udfs.params.constraints import Interval
>>> spec = OptionSet([
...     OptionSpec("field", (ValueType.STRING,), default="value", help="Field to read."),
...     OptionSpec("size", (ValueType.INT,), default=10, constraint=Interval(int, 1, None)),
... ])
>>> spec.defaults()
{'field': 'value', 'size': 10}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from udfs.params.constraints import Constraint, InvalidParameterError
from udfs.params.declaration import Param
from udfs.params.durations import format_duration
from udfs.protocol import ValueType, udf_pb2

__all__ = ["OptionError", "OptionSet", "OptionSpec", "ValueType"]

_VALUE_FIELD = {
    ValueType.BOOL: "boolValue",
    ValueType.INT: "intValue",
    ValueType.DOUBLE: "doubleValue",
    ValueType.STRING: "stringValue",
    ValueType.DURATION: "durationValue",
}

_FIELD_TYPE = {field: vtype for vtype, field in _VALUE_FIELD.items()}

# How Kapacitor sees each kind of declared parameter (see udfs.params.declaration).
_KIND_TYPE = {
    "int": ValueType.INT,
    "float": ValueType.DOUBLE,
    "bool": ValueType.BOOL,
    "str": ValueType.STRING,
    "duration": ValueType.DURATION,
    "choice": ValueType.STRING,
    "list": ValueType.STRING,
}


class OptionError(ValueError):
    """An InitRequest option Kapacitor accepted but this UDF cannot use."""


_REQUIRED = object()


@dataclass(frozen=True)
class OptionSpec:
    """One TICKscript option of a UDF.

    Parameters
    ----------
    name : str
        The method name in TICKscript (``@udf().name(...)``).
    types : tuple of ValueType
        The value types of one call, in order; ``()`` declares a flag (``.flag()``).
    default : object
        Value when the option is absent. Omit to make the option required.
        A flag's value is True when given, False otherwise.
    help : str
        One sentence for ``udfs list`` and the docs.
    constraint : Constraint, optional
        Checked on each single-valued call; multi-valued options check themselves
        in the UDF's ``configure``.
    repeated : bool
        The option may be called several times; its value is then a list of calls.
    param : Param, optional
        The detector parameter this option is (see :meth:`from_param`): it checks and
        normalises the value and describes it in the docs and in errors.
    """

    name: str
    types: tuple[ValueType, ...]
    default: Any = _REQUIRED
    help: str = ""
    constraint: Constraint | None = None
    repeated: bool = False
    param: Param | None = None

    @classmethod
    def from_param(cls, param: Param) -> OptionSpec:
        """The TICKscript option of a declared detector parameter (same name, default and help)."""
        return cls(param.name, (_KIND_TYPE[param.kind],), default=param.default, help=param.help, param=param)

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED and self.types != ()

    @property
    def is_flag(self) -> bool:
        return self.types == ()

    def signature(self) -> str:
        """Types as shown in docs, e.g. ``STRING, DOUBLE``; ``(none)`` for a flag."""
        return ", ".join(t.name for t in self.types) if self.types else "(none)"

    def default_text(self) -> str:
        if self.param is not None:
            return self.param.default_text()
        if self.is_flag:
            return "off"
        if self.required:
            return "required"
        return _literal(self.default, self.types[0] if len(self.types) == 1 else None)

    def parse_call(self, values: Sequence[udf_pb2.OptionValue]) -> Any:
        """Typed Python value(s) of one call; raise OptionError naming the option."""
        if len(values) != len(self.types):
            raise OptionError(
                f"option {self.name}() takes {len(self.types)} value(s) ({self.signature()}), "
                f"got {len(values)}"
            )
        parsed = []
        for i, (value, expected) in enumerate(zip(values, self.types, strict=True)):
            got = value.WhichOneof("value")
            if got != _VALUE_FIELD[expected]:
                where = f"value {i + 1} of " if len(self.types) > 1 else ""
                # Named from the value actually set: ``type`` may be left at 0 (BOOL).
                got_text = _FIELD_TYPE[got].name if got is not None else "no value"
                raise OptionError(
                    f"{where}option {self.name}() must be {expected.name}, got {got_text}"
                )
            parsed.append(getattr(value, got))
        if self.is_flag:
            return True
        if len(parsed) == 1:
            result = parsed[0]
            if self.param is not None:
                try:
                    return self.param.normalise(result)
                except InvalidParameterError:
                    raise OptionError(
                        f"option {self.name}() must be {self.param.describe()}, got {self.param.format(result)}"
                    ) from None
            if self.constraint is not None and not self.constraint.accepts(result):
                shown = (
                    format_duration(result) if self.types[0] is ValueType.DURATION else _literal(result, None)
                )
                raise OptionError(f"option {self.name}() must be {self.constraint.describe()}, got {shown}")
            return result
        return tuple(parsed)


def _literal(value: Any, vtype: ValueType | None) -> str:
    """How a value is written in TICKscript."""
    if value is None:
        return "none"
    if vtype is ValueType.DURATION and isinstance(value, int):
        return format_duration(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (list, tuple)):
        return ", ".join(_literal(v, None) for v in value) if value else "none"
    return repr(value)


class OptionSet:
    """All options of one UDF."""

    def __init__(self, specs: Iterable[OptionSpec] = ()) -> None:
        self._specs: dict[str, OptionSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"option {spec.name!r} declared twice")
            self._specs[spec.name] = spec

    def __iter__(self) -> Iterator[OptionSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> OptionSpec:
        return self._specs[name]

    def info(self) -> dict[str, udf_pb2.OptionInfo]:
        """The ``options`` map of the InfoResponse."""
        return {
            spec.name: udf_pb2.OptionInfo(valueTypes=[t.value for t in spec.types]) for spec in self._specs.values()
        }

    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self._specs.values():
            if spec.is_flag:
                out[spec.name] = False
            elif spec.repeated:
                out[spec.name] = list(spec.default) if not spec.required else []
            elif not spec.required:
                out[spec.name] = spec.default
        return out

    def parse(self, options: Iterable[udf_pb2.Option]) -> dict[str, Any]:
        """Validate the options of an InitRequest; return name -> value for every option."""
        values = self.defaults()
        seen: dict[str, int] = {}
        for option in options:
            spec = self._specs.get(option.name)
            if spec is None:
                known = ", ".join(sorted(self._specs)) or "none"
                raise OptionError(f"unknown option {option.name}(); this UDF accepts: {known}")
            value = spec.parse_call(option.values)
            seen[option.name] = seen.get(option.name, 0) + 1
            if spec.repeated:
                if seen[option.name] == 1:
                    values[option.name] = []
                values[option.name].append(value)
            elif seen[option.name] > 1 and not spec.is_flag:
                raise OptionError(
                    f"option {option.name}() given {seen[option.name]} times; it takes one call"
                )
            else:
                values[option.name] = value
        missing = [s.name for s in self._specs.values() if s.required and s.name not in seen]
        if missing:
            raise OptionError("missing required option(s): " + ", ".join(f"{m}()" for m in missing))
        return values

    def markdown_table(self) -> str:
        """The docs table: option, value types, default, description."""
        rows = ["| option | values | default | description |", "| --- | --- | --- | --- |"]
        for spec in self._specs.values():
            text = spec.help
            if spec.param is not None:
                text += f" Must be {spec.param.describe()}."
            elif spec.constraint is not None:
                text += f" Must be {spec.constraint.describe()}."
            if spec.repeated:
                text += " May be given several times."
            rows.append(
                f"| `.{spec.name}()` | {spec.signature()} | {spec.default_text()} | {text.strip()} |"
            )
        return "\n".join(rows)

"""Command-line ``--option name=value`` text -> typed ``Option`` messages.

The types come from the UDF's own ``InfoResponse``, the way Kapacitor checks a
TICKscript at ``define`` time, and refusals use Kapacitor's wording
(``fixtures/kapacitor-define-errors.md``) so a replay fails exactly where
``kapacitor define`` would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from udfs.params.durations import parse_duration
from udfs.protocol import ValueType
from udfs.protocol import udf_pb2 as pb

__all__ = ["DefineError", "build_options", "split_option"]


class DefineError(ValueError):
    """An option Kapacitor would refuse at ``kapacitor define`` time."""


_TRUE = {"true", "TRUE", "True", "t", "1"}
_FALSE = {"false", "FALSE", "False", "f", "0"}


def split_option(text: str) -> tuple[str, list[str]]:
    """``"pair=x,1.5"`` -> ``("pair", ["x", "1.5"])``; ``"flag"`` -> ``("flag", [])``."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not name:
        raise DefineError(f"bad --option {text!r}: expected name=value")
    if not sep:
        return name, []
    return name, [part.strip() for part in raw.split(",")] if raw != "" else [""]


def _value(name: str, text: str, vtype: ValueType) -> pb.OptionValue:
    def refuse(got: str) -> DefineError:
        return DefineError(f"unexpected arg to {name}, got {got} expected {vtype.name} ({text!r})")

    if vtype is ValueType.BOOL:
        if text in _TRUE:
            return pb.OptionValue(type=pb.BOOL, boolValue=True)
        if text in _FALSE:
            return pb.OptionValue(type=pb.BOOL, boolValue=False)
        raise refuse("STRING")
    if vtype is ValueType.INT:
        try:
            return pb.OptionValue(type=pb.INT, intValue=int(text))
        except ValueError:
            raise refuse("DOUBLE" if _is_float(text) else "STRING") from None
    if vtype is ValueType.DOUBLE:
        if not _is_float(text):
            raise refuse("STRING")
        return pb.OptionValue(type=pb.DOUBLE, doubleValue=float(text))
    if vtype is ValueType.DURATION:
        try:
            return pb.OptionValue(type=pb.DURATION, durationValue=parse_duration(text))
        except ValueError:
            raise refuse("STRING") from None
    return pb.OptionValue(type=pb.STRING, stringValue=text)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def build_options(
    calls: Iterable[tuple[str, list[str]]], declared: Mapping[str, pb.OptionInfo]
) -> list[pb.Option]:
    """Typed Option messages, in call order; repeated calls stay separate Options."""
    options = []
    for name, texts in calls:
        info = declared.get(name)
        if info is None:
            known = ", ".join(sorted(declared)) or "none"
            raise DefineError(f'no method or property "{name}" on the UDF (it declares: {known})')
        types = [ValueType(t) for t in info.valueTypes]
        if types == [ValueType.STRING] and len(texts) > 1:
            texts = [",".join(texts)]  # one string holding commas ('mad,sigma'), split by split_option
        if len(texts) != len(types):
            raise DefineError(f"unexpected number of args to {name}, got {len(texts)} expected {len(types)}")
        options.append(pb.Option(name=name, values=[_value(name, t, v) for t, v in zip(texts, types, strict=True)]))
    return options

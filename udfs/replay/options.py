"""Command-line ``--option NAME=VALUE`` text -> typed ``Option`` messages.

The types come from the UDF's own ``InfoResponse``, the way Kapacitor checks a
TICKscript at ``define`` time, and refusals use Kapacitor's wording
(``fixtures/kapacitor-define-errors.md``) so a replay fails exactly where
``kapacitor define`` would.

How the text after ``=`` becomes the option's arguments depends on how many the
UDF declares, so that a comma inside a value never makes a new option:

- none (a flag, ``.flag()``): ``-o flag``, without ``=``;
- one (``.algorithms('mad,sigma')``, ``.size(10)``): all of the text is the one
  argument, commas included: ``-o algorithms=mad,sigma``;
- several (``.pair('x', 1.5)``): the text is cut at commas, one argument per
  part, blanks around each part dropped: ``-o pair=x,1.5``.

``\\,`` is a comma that never cuts (``-o pair=a\\,b,1.5`` gives ``'a,b'`` and
``1.5``); any other backslash is kept as written. Repeating ``-o`` with the same
name gives repeated calls (``.field('a').field('b')``), as Kapacitor sends them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from udfs.params.durations import parse_duration
from udfs.protocol import ValueType
from udfs.protocol import udf_pb2 as pb

__all__ = ["DefineError", "OptionCall", "build_options", "split_option"]


class DefineError(ValueError):
    """An option Kapacitor would refuse at ``kapacitor define`` time."""


_TRUE = {"true", "TRUE", "True", "t", "1"}
_FALSE = {"false", "FALSE", "False", "f", "0"}
_CUT = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class OptionCall:
    """One ``-o`` as given: the option's name and the text after ``=`` (None without ``=``)."""

    name: str
    text: str | None = None

    def args(self, count: int) -> list[str]:
        """The call's arguments for an option declaring ``count`` of them (rules in the module doc).

        Examples
        --------
        >>> OptionCall("algorithms", "mad,sigma").args(1)
        ['mad,sigma']
        >>> OptionCall("pair", "a\\\\,b, 1.5").args(2)
        ['a,b', '1.5']
        >>> OptionCall("flag").args(0)
        []
        """
        if self.text is None:
            return []
        if count == 1:
            return [_unescape(self.text.strip())]
        return [_unescape(part.strip()) for part in _CUT.split(self.text)]

    def value(self) -> str | None:
        """The text as one argument (``None`` for a flag): what a one-argument option receives."""
        return None if self.text is None else self.args(1)[0]


def _unescape(text: str) -> str:
    return text.replace("\\,", ",")


def split_option(text: str) -> OptionCall:
    """``"pair=x,1.5"`` -> ``OptionCall("pair", "x,1.5")``; ``"flag"`` -> ``OptionCall("flag")``.

    Only the name is checked here: how the value splits depends on the UDF's declaration.

    >>> split_option("algorithms=mad,sigma")
    OptionCall(name='algorithms', text='mad,sigma')
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not name:
        raise DefineError(f"bad --option {text!r}: expected NAME=VALUE")
    return OptionCall(name, raw if sep else None)


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


def build_options(calls: Iterable[OptionCall], declared: Mapping[str, pb.OptionInfo]) -> list[pb.Option]:
    """Typed Option messages, in call order; repeated calls stay separate Options."""
    options = []
    for call in calls:
        info = declared.get(call.name)
        if info is None:
            known = ", ".join(sorted(declared)) or "none"
            raise DefineError(f'no method or property "{call.name}" on the UDF (it declares: {known})')
        types = [ValueType(t) for t in info.valueTypes]
        texts = call.args(len(types))
        if len(texts) != len(types):
            hint = " (NAME=A,B,...; write \\, for a comma inside an argument)" if len(types) > 1 else ""
            raise DefineError(
                f"unexpected number of args to {call.name}, got {len(texts)} expected {len(types)}{hint}"
            )
        options.append(
            pb.Option(name=call.name, values=[_value(call.name, t, v) for t, v in zip(texts, types, strict=True)])
        )
    return options

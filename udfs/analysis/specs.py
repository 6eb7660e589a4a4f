"""Detector choices as text: ``mad:window=50,threshold=4`` -> UDF name and TICKscript options.

Options are the UDF's TICKscript options (``udfs list``), written as for
``udfs replay -o``; values of list options may contain commas
(``sigma:algorithms=grubbs,ks_test,consensus=2``): a comma starts a new option only
when ``name=`` follows it.

Examples
--------
>>> parse_spec("mad:window=50,threshold=4")
DetectorSpec(udf='mad', options=('window=50', 'threshold=4'), label='mad')
>>> parse_spec("sigma:algorithms=grubbs,ks_test,consensus=2").options
('algorithms=grubbs,ks_test', 'consensus=2')
>>> [s.label for s in label_specs([parse_spec("mad"), parse_spec("mad:window=9")])]
['mad', 'mad_2']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = ["DetectorSpec", "SpecError", "label_specs", "parse_spec"]

_OPTION_START = re.compile(r",\s*(?=[A-Za-z_][A-Za-z0-9_]*\s*=)")


class SpecError(ValueError):
    """A detector choice that cannot be read."""


@dataclass(frozen=True)
class DetectorSpec:
    """One detector UDF to run: its name, its options as ``name=value`` texts, a label."""

    udf: str
    options: tuple[str, ...] = ()
    label: str = ""

    def text(self) -> str:
        """Back to the ``udf:opt=v,...`` form."""
        return self.udf + (":" + ",".join(self.options) if self.options else "")


def parse_spec(text: str) -> DetectorSpec:
    """``"name[:opt=value,...]"`` -> :class:`DetectorSpec` (the label is the name)."""
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SpecError(f"bad detector {text!r}: expected NAME or NAME:option=value,...")
    options = tuple(part.strip() for part in _OPTION_START.split(rest) if part.strip()) if rest.strip() else ()
    for option in options:
        if "=" not in option:
            raise SpecError(f"bad option {option!r} of detector {name}: expected option=value")
    return DetectorSpec(name, options, name)


def label_specs(specs: Sequence[DetectorSpec]) -> list[DetectorSpec]:
    """Unique labels: the UDF name, then ``name_2``, ``name_3`` for repeats."""
    seen: dict[str, int] = {}
    out = []
    for spec in specs:
        seen[spec.udf] = seen.get(spec.udf, 0) + 1
        label = spec.udf if seen[spec.udf] == 1 else f"{spec.udf}_{seen[spec.udf]}"
        out.append(replace(spec, label=label))
    return out

"""Consensus rules: when do several detectors together call a point anomalous?

A rule is one or more groups separated by ``|`` (OR across groups). A group lists
detector labels joined by ``+`` and is met when all of them flag the point (AND
within a group), or, written ``K of a+b+c``, when at least K of them do. A bare
integer ``K`` means K of all detectors; ``all`` and ``any`` mean what they say, and
``majority`` is more than half of them.

Examples
--------
>>> rule = ConsensusRule.parse("sigma+mad|iqr", ["sigma", "mad", "iqr"])
>>> rule.met({"sigma": True, "mad": False, "iqr": True}), rule.met({"sigma": True, "mad": False, "iqr": False})
(True, False)
>>> ConsensusRule.parse("2", ["a", "b", "c"]).met({"a": True, "b": False, "c": True})
True
>>> str(ConsensusRule.parse("2 of a+b+c|d", ["a", "b", "c", "d"]))
'2 of a+b+c | d'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["ConsensusError", "ConsensusRule"]


class ConsensusError(ValueError):
    """A rule that names unknown detectors or cannot be met."""


@dataclass(frozen=True)
class _Group:
    members: tuple[str, ...]
    k: int

    def met(self, flags: Mapping[str, bool]) -> bool:
        return sum(1 for m in self.members if flags.get(m, False)) >= self.k

    def __str__(self) -> str:
        joined = "+".join(self.members)
        return joined if self.k == len(self.members) else f"{self.k} of {joined}"


@dataclass(frozen=True)
class ConsensusRule:
    """Groups of detector labels; met when any group is met."""

    groups: tuple[_Group, ...]

    @classmethod
    def parse(cls, text: str, labels: Sequence[str]) -> ConsensusRule:
        text = text.strip()
        n = len(labels)
        if not labels:
            raise ConsensusError("no detectors to combine")
        if text in ("", "all"):
            return cls((_Group(tuple(labels), n),))
        if text == "majority":
            return cls((_Group(tuple(labels), n // 2 + 1),))
        if text == "any":
            return cls((_Group(tuple(labels), 1),))
        if text.isdigit():
            return cls((_Group(tuple(labels), _bounded(int(text), n, text)),))
        groups = []
        for part in text.split("|"):
            match = re.fullmatch(r"\s*(?:(\d+)\s+of\s+)?([A-Za-z0-9_+\s]+?)\s*", part)
            if not match:
                raise ConsensusError(f"bad consensus group {part.strip()!r}: expected a+b or K of a+b+c")
            members = tuple(m.strip() for m in match.group(2).split("+"))
            unknown = [m for m in members if m not in labels]
            if unknown or not all(members):
                raise ConsensusError(f"consensus names {', '.join(unknown) or 'an empty label'}; "
                                     f"the detectors are {', '.join(labels)}")
            k = _bounded(int(match.group(1)), len(members), part.strip()) if match.group(1) else len(members)
            groups.append(_Group(members, k))
        return cls(tuple(groups))

    def met(self, flags: Mapping[str, bool]) -> bool:
        """Whether the verdicts ``flags`` (label -> is_anomaly) meet the rule."""
        return any(group.met(flags) for group in self.groups)

    def __str__(self) -> str:
        return " | ".join(str(g) for g in self.groups)


def _bounded(k: int, n: int, text: str) -> int:
    if not 1 <= k <= n:
        raise ConsensusError(f"consensus {text!r}: K must be between 1 and {n}")
    return k

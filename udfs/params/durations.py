"""InfluxQL/TICKscript duration literals (``90s``, ``5m``, ``1h30m``) <-> nanoseconds.

Examples
--------
>>> parse_duration("1h30m")
5400000000000
>>> format_duration(300_000_000_000)
'5m'
"""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS_NS = {
    "ns": 1,
    "u": 1_000,
    "µ": 1_000,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_PART = re.compile(r"(\d+)(ns|us|µ|u|ms|s|m|h|d|w)")


def parse_duration(text: str) -> int:
    """Parse a duration literal into nanoseconds; raise ValueError if it is not one."""
    s = text.strip()
    negative = s.startswith("-")
    if negative:
        s = s[1:]
    if not s:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 10s, 5m, 1h30m)")
    pos = 0
    total = 0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(s):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 10s, 5m, 1h30m)")
    return -total if negative else total


def format_duration(ns: int) -> str:
    """Format nanoseconds as the shortest TICKscript duration literal."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    for unit in ("w", "d", "h", "m", "s", "ms", "u", "ns"):
        size = _UNITS_NS[unit]
        if ns % size == 0:
            return f"{sign}{ns // size}{unit}"
    return f"{sign}{ns}ns"  # pragma: no cover - "ns" always divides

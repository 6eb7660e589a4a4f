"""Time cells of CSV files -> nanoseconds since the epoch (UTC).

A time is ``YYYY-MM-DD[ HH:MM[:SS[.fffffffff]]]`` (UTC), the same with ``T`` and an
optional ``Z`` or ``+HH:MM`` offset (ISO 8601, RFC3339), or an integer epoch whose
unit is a given precision or else guessed from the magnitude of the file's first one
(see :func:`epoch_factor`), and then holds for the whole file.
"""

from __future__ import annotations

import datetime as dt
import re

from udfs.io.lineprotocol import precision_factor

__all__ = ["CsvClock", "datetime_ns", "epoch_factor"]

_EPOCH = re.compile(r"-?[0-9]+")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_UNIX_DAY = dt.date(1970, 1, 1).toordinal()


def epoch_factor(value: int) -> int:
    """Nanoseconds per unit of an epoch time, guessed from its size.

    ``|t| < 1e11`` seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, else
    nanoseconds: seconds work up to the year 5138 and milliseconds from 1973 on.

    >>> epoch_factor(1_700_000_000), epoch_factor(1_700_000_000_000_000_000)
    (1000000000, 1)
    """
    size = abs(value)
    return 1_000_000_000 if size < 10**11 else 1_000_000 if size < 10**14 else 1_000 if size < 10**17 else 1


def datetime_ns(text: str) -> int:
    """``2014-07-01 00:30``, ``2023-11-14T22:13:22.5Z``, ... -> nanoseconds since the epoch.

    >>> datetime_ns("1970-01-01T00:00:01.5+01:00")
    -3598500000000
    """
    if (match := _DATETIME.fullmatch(text)) is None:
        raise ValueError(f"time {text!r} is neither YYYY-MM-DD HH:MM:SS, ISO 8601 nor an integer epoch")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError as exc:
        raise ValueError(f"bad time {text!r}: {exc}") from None
    seconds = (
        (moment.toordinal() - _UNIX_DAY) * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    )
    if offset and offset.upper() != "Z":
        hours, minutes = int(offset[1:3]), int(offset[-2:]) if len(offset) > 3 else 0
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad UTC offset {offset!r}")
        seconds -= (1 if offset[0] == "+" else -1) * (hours * 3600 + minutes * 60)
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


class CsvClock:
    """The times of one file: integer epochs share one unit, fixed by ``precision`` or the first.

    >>> clock = CsvClock()
    >>> clock.ns("1700000000"), clock.ns("2"), CsvClock("h").ns("1")
    (1700000000000000000, 2000000000, 3600000000000)
    """

    def __init__(self, precision: str | None = None) -> None:
        #: Nanoseconds per epoch unit; 0 until the first integer time decides it.
        self.factor = 0 if precision is None else precision_factor(precision)

    def ns(self, stamp: str) -> int:
        """The time in ``stamp`` (stripped) in nanoseconds; ValueError names what is wrong."""
        if not _EPOCH.fullmatch(stamp):
            return datetime_ns(stamp)
        epoch = int(stamp) if len(stamp) <= 20 else 2**64  # int() is slow on huge text
        self.factor = self.factor or epoch_factor(epoch)
        if abs(ns := epoch * self.factor) >= 2**63 - 1:
            raise ValueError(f"epoch time {stamp} is out of InfluxDB's range (unit: {self.factor} ns)")
        return ns

"""The neutral record the replay driver reads and writes: one InfluxDB point."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FieldValue", "Record"]

FieldValue = float | int | str | bool


@dataclass(slots=True)
class Record:
    """One point: measurement, tags, typed fields and a time in ns since the epoch.

    Field types follow InfluxDB: ``float``, ``int`` (line protocol ``1i``), ``str``
    and ``bool``. ``bool`` is checked before ``int`` wherever types are dispatched.
    """

    time: int
    measurement: str
    tags: dict[str, str] = field(default_factory=dict)
    fields: dict[str, FieldValue] = field(default_factory=dict)

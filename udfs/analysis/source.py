"""Where an analysis reads its series: a file (CSV, line protocol) or an InfluxDB query.

The default span follows Skyline's Vortex: the last 7 days of the series (``--span
24h`` for the last day, ``--span all`` for everything). For InfluxDB the span becomes
the query's time range (``now() - span`` .. ``now()``) unless ``start``/``stop`` are given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from udfs.io.records import Record
from udfs.params.durations import parse_duration

__all__ = ["DEFAULT_SPAN", "InfluxSeries", "build_query", "last_span", "parse_span", "read_file", "read_windows"]

#: Like Skyline Vortex's default analysis: the last 7 days of the series.
DEFAULT_SPAN = "7d"


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_span(text: str) -> int | None:
    """``"7d"`` -> ns; ``"all"`` -> None (the whole series)."""
    if text.strip().lower() == "all":
        return None
    span = parse_duration(text.strip())
    if span <= 0:
        raise ValueError(f"span must be a duration > 0s or 'all', got {text!r}")
    return span


def last_span(records: Sequence[Record], span_ns: int | None) -> list[Record]:
    """The records of the last ``span_ns`` of the series (all of them when None)."""
    if span_ns is None or not records:
        return list(records)
    end = max(r.time for r in records)
    return [r for r in records if r.time >= end - span_ns]


def read_file(path: str | Path, *, fmt: str = "auto", measurement: str | None = None,
              tag_columns: Sequence[str] = ()) -> list[Record]:
    """Every record of a CSV or line-protocol file (see :func:`udfs.io.csvinput.read_records`)."""
    from udfs.io.csvinput import read_records

    return list(read_records(str(path), fmt=fmt, measurement=measurement, tag_columns=tuple(tag_columns)))


def _time_literal(text: str) -> str:
    """An InfluxQL time bound: ``now() - 7d`` stays, an RFC 3339 / date becomes a quoted string."""
    text = text.strip()
    if text.startswith("now()") or text.isdigit():
        return text
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r}: expected RFC 3339 (2024-05-01T00:00:00Z), a date, "
                         "epoch ns, or now() - 1d") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return "'" + parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def build_query(measurement: str, field: str, *, where: str | None = None, start: str | None = None,
                stop: str | None = None, span_ns: int | None = None, group_by: Sequence[str] = (),
                retention_policy: str | None = None) -> str:
    """The InfluxQL ``SELECT`` of one field (and the group-by tags) over a time range.

    >>> build_query("cpu", "usage_idle", where="\\"host\\" = 'a'", start="now() - 1d")
    'SELECT "usage_idle" FROM "cpu" WHERE ("host" = \\'a\\') AND time >= now() - 1d'
    """
    source = quote_ident(measurement) if not retention_policy else \
        f"{quote_ident(retention_policy)}.{quote_ident(measurement)}"
    columns = ", ".join([quote_ident(field), *(quote_ident(t) for t in group_by)])
    conditions = [f"({where})"] if where else []
    if start:
        conditions.append(f"time >= {_time_literal(start)}")
    elif span_ns is not None:
        conditions.append(f"time >= now() - {span_ns // 1000}u")
    if stop:
        conditions.append(f"time <= {_time_literal(stop)}")
    query = f"SELECT {columns} FROM {source}"
    return query + (" WHERE " + " AND ".join(conditions) if conditions else "")


@dataclass(frozen=True)
class InfluxSeries:
    """A series in InfluxDB: a URL, a database and a query (or the parts to build one)."""

    url: str
    database: str
    query: str

    def read(self) -> list[Record]:
        from udfs.io.influx import InfluxTarget

        records = InfluxTarget.from_url(self.url, database=self.database).query_records(self.query)
        records.sort(key=lambda r: r.time)
        return records


def read_windows(path: str | Path) -> list[tuple[int, int]]:
    """Labelled anomaly windows from JSON: ``{"windows": [[start, end], ...]}`` or a bare list.

    Times as RFC 3339 / ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (UTC when no zone), or epoch ns.
    """
    data = json.loads(Path(path).read_text())
    pairs = data.get("windows", data) if isinstance(data, dict) else data
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise ValueError(f"{path}: expected {{\"windows\": [[start, end], ...]}}")
    return [(_to_ns(a), _to_ns(b)) for a, b in pairs]


def _to_ns(value: object) -> int:
    if isinstance(value, int):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000

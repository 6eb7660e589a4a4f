"""Records from CSV files (the NAB layout, ``timestamp,value``), and the reader for any input.

CSV rules, chosen so that what is read can be written to InfluxDB as it is:

- The first row names the columns. ``time_column`` holds the time; ``tag_columns``
  become tags; ``value_columns`` (by default every other named column) become fields.
- A time is ``YYYY-MM-DD[ HH:MM[:SS[.fffffffff]]]`` (UTC), the same with ``T`` and an
  optional ``Z`` or ``+HH:MM`` offset (ISO 8601), or an integer epoch. The epoch unit is
  ``precision`` if given, else it comes from the magnitude of the file's first time,
  ``|t| < 1e11`` seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, else
  nanoseconds (so seconds work up to the year 5138 and milliseconds from 1973 on), and
  then holds for the whole file (:mod:`udfs.io.csvtime`).
- A field column takes its type from its first non-empty cell: a number makes it a
  float column (``3`` is read as ``3.0``: InfluxDB refuses a field whose type changes,
  and a column of counts may hold ``2.5`` further down), ``true``/``false`` (any case)
  a bool column, anything else a string column. A later cell that does not fit is an
  error; in a string column every cell is kept as text.
- Cells are stripped of surrounding blanks. An empty cell leaves its field or tag out
  (so does ``NaN``, which InfluxDB cannot store); a row with no field left is skipped.
- InfluxDB 1.x's own export (``influx -format csv -execute 'SELECT ...'``) is known
  by its header, ``name,time,...`` or, for a ``GROUP BY``, ``name,tags,time,...``:
  ``name`` is each row's measurement, ``tags`` holds the group's ``k=v,k=v``, ``time``
  is an epoch (ns by default, or the unit of ``-precision``) or RFC3339 with
  ``-precision rfc3339``, and the header repeated before each series starts a new
  layout. Tags selected as columns (``SELECT *``) look like string fields there:
  ``tag_columns`` names them.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from udfs.io.csvtime import CsvClock
from udfs.io.lineprotocol import LineProtocolError, parse_lines, precision_factor
from udfs.io.records import FieldValue, Record

__all__ = ["FORMATS", "CsvInputError", "read_csv", "read_records"]

#: The input formats :func:`read_records` knows, and the file suffixes that select them.
FORMATS: dict[str, tuple[str, ...]] = {"csv": (".csv",), "lp": (".lp", ".txt", ".line")}

_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.I)


class CsvInputError(ValueError):
    """A CSV file that cannot be read as records; ``lineno`` counts from 1."""

    def __init__(self, lineno: int, reason: str, source: str = "") -> None:
        self.lineno, self.reason = lineno, reason
        super().__init__(f"{source + ': ' if source else ''}line {lineno}: {reason}")


def _field(cell: str, kind: str | None) -> tuple[FieldValue | None, str]:
    """The value of a cell and the kind of its column, deciding the kind if still open."""
    if kind is None:
        kind = "float" if _NUMBER.fullmatch(cell) else "bool" if cell.lower() in ("true", "false") else "str"
    if kind == "str":
        return cell, kind
    if kind == "bool":
        if cell.lower() not in ("true", "false"):
            raise ValueError(f"{cell!r} is not true/false, as the column's first value was")
        return cell.lower() == "true", kind
    if not _NUMBER.fullmatch(cell):
        raise ValueError(f"{cell!r} is not a number, as the column's first value was")
    value = float(cell)
    if math.isinf(value):
        raise ValueError(f"{cell!r}: InfluxDB cannot store an infinite value")
    return (None if math.isnan(value) else value), kind


@dataclass(frozen=True)
class _Layout:
    """Where things are in a row, from a header row."""

    width: int
    time_at: int
    tags_at: dict[str, int]
    values_at: dict[str, int]
    #: InfluxDB's export only: the measurement of each row, and a GROUP BY's ``k=v,k=v`` tags.
    name_at: int | None = None
    tagset_at: int | None = None


def _names(header: list[str]) -> list[str]:
    names = [name.strip() for name in header]
    names[:1] = [name.removeprefix("\ufeff").strip() for name in names[:1]]  # a BOM read as text
    return names


def is_influx_export(header: Sequence[str]) -> bool:
    """Whether a header row is one ``influx -format csv`` writes: ``name,time,...`` or ``name,tags,time,...``.

    >>> is_influx_export(["name", "tags", "time", "mean"]), is_influx_export(["timestamp", "value"])
    (True, False)
    """
    names = _names(list(header[:3]))
    return names[:2] == ["name", "time"] or names[:3] == ["name", "tags", "time"]


def _layout(
    header: list[str], time_column: str, tag_columns: Sequence[str], value_columns: Sequence[str] | None
) -> _Layout:
    names = _names(header)
    special: dict[str, int] = {}
    if is_influx_export(names):
        special = {n: i for i, n in enumerate(names[:2]) if n in ("name", "tags")}
        time_column = "time"
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate column names {duplicates}")
    if value_columns is None:  # unnamed columns (a pandas index) are left out
        value_columns = [
            n for n in names[len(special):] if n and n != time_column and n not in tag_columns
        ]
    missing = [n for n in (time_column, *tag_columns, *value_columns) if n not in names]
    if missing:
        raise ValueError(f"no column named {missing} in the header {names}")
    twice = sorted({time_column, *tag_columns} & set(value_columns)) + sorted(
        {time_column} & set(tag_columns)
    )
    if twice:
        raise ValueError(f"columns {twice} are used twice (time, tag or value)")
    if not value_columns:
        raise ValueError(f"no value columns besides the time and the tags in {names}")
    return _Layout(
        width=len(names),
        time_at=names.index(time_column),
        tags_at={name: names.index(name) for name in tag_columns},
        values_at={name: names.index(name) for name in value_columns},
        name_at=special.get("name"),
        tagset_at=special.get("tags"),
    )


def read_csv(
    path_or_file: str | os.PathLike[str] | Iterable[str],
    *,
    measurement: str,
    value_columns: Sequence[str] | None = None,
    tag_columns: Sequence[str] = (),
    time_column: str = "timestamp",
    precision: str | None = None,
) -> Iterator[Record]:
    """Read a CSV file, lazily, as records of ``measurement`` (rules in the module doc).

    ``precision`` is the unit of integer epoch times (``"s"``, ``"ms"``, ... as in
    line protocol); by default it is guessed from the first one's size.
    Raises :class:`CsvInputError` with the line number for a missing header or column,
    a row of the wrong length, a bad time or a cell that does not fit its column.

    Examples
    --------
    >>> import io
    >>> text = "timestamp,value,host\\n2014-07-01 00:00:00,10844,a\\n2014-07-01T00:30:00Z,,a\\n"
    >>> list(read_csv(io.StringIO(text), measurement="taxi", tag_columns=["host"]))
    [Record(time=1404172800000000000, measurement='taxi', tags={'host': 'a'}, fields={'value': 10844.0})]

    What ``influx -format csv -execute 'SELECT usage FROM cpu GROUP BY host'`` writes:

    >>> text = "name,tags,time,usage\\ncpu,host=a,1404172800000000000,0.5\\n"
    >>> list(read_csv(io.StringIO(text), measurement="ignored"))
    [Record(time=1404172800000000000, measurement='cpu', tags={'host': 'a'}, fields={'usage': 0.5})]
    """
    clock = CsvClock(precision)
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, encoding="utf-8-sig", newline="") as file:
            yield from _read_csv(
                file, str(path_or_file), measurement, value_columns, tag_columns, time_column, clock
            )
    else:
        source = str(getattr(path_or_file, "name", ""))
        yield from _read_csv(path_or_file, source, measurement, value_columns, tag_columns, time_column, clock)


def _tagset(cell: str) -> dict[str, str]:
    """``host=a,region=x`` (InfluxDB's export of a GROUP BY) -> tags."""
    tags = {}
    for pair in filter(None, cell.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"bad tags cell {cell!r}: expected key=value,key=value")
        if value:
            tags[key] = value
    return tags


def _read_csv(
    file: Iterable[str],
    source: str,
    measurement: str,
    value_columns: Sequence[str] | None,
    tag_columns: Sequence[str],
    time_column: str,
    clock: CsvClock,
) -> Iterator[Record]:
    reader = csv.reader(file)
    header = next(reader, None)
    try:
        if header is None:
            raise ValueError("the file is empty; a header row naming the columns is required")
        layout = _layout(header, time_column, tag_columns, value_columns)
    except ValueError as exc:
        raise CsvInputError(reader.line_num or 1, str(exc), source) from None
    kinds: dict[str, str | None] = dict.fromkeys(layout.values_at)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        try:
            if layout.name_at is not None and is_influx_export(row):
                # influx writes a header before each series (each group, each measurement)
                layout = _layout(row, time_column, tag_columns, value_columns)
                kinds = {name: kinds.get(name) for name in layout.values_at}
                continue
            if len(row) != layout.width:
                raise ValueError(f"expected {layout.width} cells as in the header, found {len(row)}")
            ns = clock.ns(row[layout.time_at].strip())
            fields: dict[str, FieldValue] = {}
            for name, at in layout.values_at.items():
                if cell := row[at].strip():
                    value, kinds[name] = _field(cell, kinds[name])
                    if value is not None:
                        fields[name] = value
            tags = _tagset(row[layout.tagset_at].strip()) if layout.tagset_at is not None else {}
        except ValueError as exc:
            raise CsvInputError(reader.line_num, str(exc), source) from None
        if fields:
            tags.update((name, cell) for name, at in layout.tags_at.items() if (cell := row[at].strip()))
            name = row[layout.name_at].strip() if layout.name_at is not None else ""
            yield Record(ns, name or measurement, tags, fields)


def _utf8_lines(binary: IO[bytes]) -> Iterator[str]:
    """Lines split at ``\\n`` only (a ``\\r`` inside a string field is data), decoded."""
    for lineno, raw in enumerate(binary, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineProtocolError(lineno, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        yield line.removeprefix("\ufeff") if lineno == 1 else line


def read_records(
    path: str | os.PathLike[str],
    *,
    fmt: str = "auto",
    measurement: str | None = None,
    value_columns: Sequence[str] | None = None,
    tag_columns: Sequence[str] = (),
    time_column: str = "timestamp",
    precision: str | None = None,
    on_error: Callable[[LineProtocolError], None] | None = None,
) -> Iterator[Record]:
    """Records from a file, by format: ``fmt="auto"`` goes by the suffix (see ``FORMATS``).

    ``"-"`` reads standard input, as line protocol unless ``fmt="csv"``. A given
    ``measurement`` replaces every record's. For CSV, the measurement is otherwise
    the file's stem (InfluxDB's export: its ``name`` column; from standard input only
    that export needs none), the column options and ``precision`` (default: guessed)
    go to :func:`read_csv`. For line protocol, ``precision`` (default ``"ns"``) and
    ``on_error`` go to :func:`~udfs.io.lineprotocol.parse_lines`, and column options
    are refused. Unknown formats and missing files are refused at the call, before
    any reading.

    Examples
    --------
    >>> read_records("data.parquet")
    Traceback (most recent call last):
    ...
    ValueError: cannot tell the format of 'data.parquet' from its suffix; pass fmt='csv' or fmt='lp' (.csv: csv; .lp, .txt, .line: lp)
    """  # noqa: E501
    name = os.fspath(path)
    if fmt == "auto":
        suffix = "" if name == "-" else Path(name).suffix.lower()
        fmt = "lp" if name == "-" else next((f for f, sfx in FORMATS.items() if suffix in sfx), "")
        if not fmt:
            known = "; ".join(f"{', '.join(sfx)}: {f}" for f, sfx in FORMATS.items())
            raise ValueError(
                f"cannot tell the format of {name!r} from its suffix; pass fmt='csv' or fmt='lp' ({known})"
            )
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; use one of {sorted(FORMATS)} or 'auto'")
    if name != "-" and not Path(name).is_file():
        raise FileNotFoundError(f"no such input file: {name!r}")
    if fmt == "lp":
        if value_columns is not None or tag_columns or time_column != "timestamp":
            raise ValueError("value_columns, tag_columns and time_column apply to CSV input only")
        return _read_line_protocol(name, measurement, precision or "ns", on_error)
    if precision is not None:
        precision_factor(precision)  # refused at the call, like a bad format
    source: str | Iterable[str] = name
    if name == "-":
        first = sys.stdin.readline()
        if measurement is None and not is_influx_export(next(csv.reader([first]), [])):
            raise ValueError("CSV from standard input needs a measurement name (InfluxDB's export has its own)")
        source = itertools.chain([first], sys.stdin)
    records = read_csv(
        source,
        measurement=measurement or Path(name).stem,
        value_columns=value_columns,
        tag_columns=tag_columns,
        time_column=time_column,
        precision=precision,
    )
    return records if measurement is None else _renamed(records, measurement)


def _renamed(records: Iterable[Record], measurement: str) -> Iterator[Record]:
    for record in records:
        record.measurement = measurement
        yield record


def _read_line_protocol(
    name: str, measurement: str | None, precision: str, on_error: Callable[[LineProtocolError], None] | None
) -> Iterator[Record]:
    with open(name, "rb") if name != "-" else contextlib.nullcontext(sys.stdin.buffer) as binary:
        records = parse_lines(_utf8_lines(binary), precision=precision, on_error=on_error)
        yield from records if measurement is None else _renamed(records, measurement)

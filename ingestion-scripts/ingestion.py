"""What the ingestion scripts share: where records go, and how times and labels are read.

Records go to one InfluxDB 1.x database through :class:`udfs.io.influx.InfluxTarget`
(batched writes, retries with backoff, a tqdm progress bar on stderr), or, with
``--dry-run``, to standard output as line protocol. The scripts run from this
directory (``python ingestion-scripts/printer_data.py``), which puts this module on
their import path; they need the ``udfs`` package installed (``pip install .``).
"""

from __future__ import annotations

import csv
import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from udfs.io.influx import InfluxError, InfluxTarget
from udfs.io.lineprotocol import format_record
from udfs.io.records import Record
from udfs.params.durations import parse_duration

__all__ = [
    "DURATION", "TIME", "Counted", "Sink", "format_time", "labels_option", "sink_options", "span_start",
    "write_labels",
]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])
NS = 1_000_000_000


class _Duration(click.ParamType):
    """``90s``, ``6h``, ``1h30m``, ``2d``: a positive duration in nanoseconds."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        try:
            ns = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if ns <= 0:
            self.fail(f"{value!r} is not a positive duration", param, ctx)
        return ns


class _Time(click.ParamType):
    """``now``, ``now-6h``, an ISO 8601 date or time (UTC unless it says otherwise)."""

    name = "time"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text == "now" or text.startswith(("now-", "now+")):
            offset = 0
            if text != "now":
                try:
                    offset = parse_duration(text[4:]) * (-1 if text[3] == "-" else 1)
                except ValueError as exc:
                    self.fail(str(exc), param, ctx)
            return time.time_ns() + offset
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is not a time: use now, now-6h, 2024-05-01 or 2024-05-01T12:00:00Z", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp()) * NS + moment.microsecond * 1000


DURATION = _Duration()
TIME = _Time()


def format_time(ns: int) -> str:
    """RFC 3339 UTC, as InfluxQL and Grafana take it.

    >>> format_time(1_700_000_000_500_000_000)
    '2023-11-14T22:13:20.500000Z'
    """
    moment = datetime.fromtimestamp(ns // NS, tz=timezone.utc).replace(microsecond=ns % NS // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def span_start(start: int | None, span: int, step: int) -> int:
    """``start``, or by default the start that ends the span now, on a multiple of ``step``."""
    if start is not None:
        return start
    start = time.time_ns() - span
    return start - start % step


class Counted:
    """An iterable that knows its length ahead (for the progress bar), read lazily."""

    def __init__(self, make: Callable[[], Iterable[Record]], count: int) -> None:
        self._make, self._count = make, count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Record]:
        return iter(self._make())


@dataclass
class Sink:
    """Where records go: one InfluxDB database, or stdout as line protocol (``target`` None)."""

    target: InfluxTarget | None
    batch_size: int = 5000
    retries: int = 3
    progress: bool = False
    _created: bool = False

    @property
    def where(self) -> str:
        return "stdout" if self.target is None else f"{self.target.url} database {self.target.database!r}"

    def write(self, records: Iterable[Record], *, progress: bool | None = None) -> int:
        """Write ``records``; return how many. Failures become a clear click error."""
        try:
            if self.target is None:
                count = 0
                for record in records:
                    sys.stdout.write(format_record(record) + "\n")
                    count += 1
                sys.stdout.flush()
                return count
            count = self.target.write_records(
                records, batch_size=self.batch_size, retries=self.retries, create_database=not self._created,
                progress=self.progress if progress is None else progress,
            )
            self._created = True
            return count
        except (InfluxError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None


def sink_options(command: F) -> F:
    """The options choosing the sink; ``command`` receives them as one ``sink`` argument."""

    @functools.wraps(command)
    def with_sink(*args: Any, url: str, database: str, username: str | None, password: str | None,
                  batch_size: int, retries: int, progress: bool | None, dry_run: bool, **kwargs: Any) -> Any:
        try:
            target = InfluxTarget.from_url(url, database=database, username=username, password=password)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--url") from None
        if dry_run:
            return command(*args, sink=Sink(None), **kwargs)
        sink = Sink(target, batch_size, retries, sys.stderr.isatty() if progress is None else progress)
        return command(*args, sink=sink, **kwargs)

    options = [
        click.option("--url", envvar="INFLUX_URL", default="http://localhost:8086", show_default=True,
                     help="InfluxDB 1.x base URL (env INFLUX_URL); a /DATABASE at the end picks the database."),
        click.option("--database", "-d", envvar="INFLUX_DB", default="telegraf", show_default=True,
                     help="Database to write to, created if missing (env INFLUX_DB)."),
        click.option("--username", envvar="INFLUX_USERNAME", default=None, help="(env INFLUX_USERNAME)"),
        click.option("--password", envvar="INFLUX_PASSWORD", default=None, help="(env INFLUX_PASSWORD)"),
        click.option("--batch-size", type=click.IntRange(min=1), default=5000, show_default=True,
                     help="Points per write request."),
        click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
                     help="Retries of a write the server failed (5xx) or could not be reached for."),
        click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: if a tty)."),
        click.option("--dry-run", is_flag=True, help="Print line protocol on stdout instead of writing to InfluxDB."),
    ]
    wrapped: Any = with_sink
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]


def _check_labels_path(_ctx: click.Context, _param: Any, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in (".json", ".csv"):
        raise click.BadParameter(f"{str(value)!r} must end in .json or .csv", param_hint="--labels")
    return value


def labels_option(help_text: str) -> Callable[[F], F]:
    return click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        callback=_check_labels_path, help=help_text + " (.json or .csv)")


def write_labels(path: Path, measurement: str, rows: list[dict[str, Any]]) -> None:
    """Write labelled events (each with ``start_ns``/``end_ns``) as JSON or CSV, by suffix."""
    rows = [{**row, "start": format_time(row["start_ns"]), "end": format_time(row["end_ns"])} for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"measurement": measurement, "anomalies": rows}, indent=1) + "\n")
        return
    columns = list(dict.fromkeys(key for row in rows for key in row)) or ["start", "end", "start_ns", "end_ns"]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

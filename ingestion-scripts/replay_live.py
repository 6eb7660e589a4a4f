#!/usr/bin/env python3
"""Write historical data as if it were arriving now: a live feed for Kapacitor stream tasks.

The points of a CSV or line-protocol file are shifted so that the first one is
stamped ``--start`` (now, by default), and each is written when its time comes:

- ``--speed X`` (default 1): at X times real time. Timestamps keep the file's
  spacing exactly; only the pace of writing changes (at ``--speed 60`` an hour of
  data goes in in a minute, stamped over the next hour).
- ``--step S``: one distinct timestamp of the file every S seconds, each stamped
  with the time it is written (regular spacing, whatever the file's was).

Points due at the same moment go in one write; a write that falls behind is not
made up by skipping points. Kapacitor sees them through its InfluxDB subscription
as it would see a live collector's::

    python ingestion-scripts/replay_live.py data/nab/data/realKnownCause/machine_temperature_system_failure.csv \\
        -m machine_temperature --tag host=machine1 --speed 300
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator

import click
from ingestion import NS, TIME, Sink, format_time, sink_options
from input_files import input_options, read_input
from tqdm import tqdm

from udfs.io.records import Record


def schedule(records: Iterator[Record], *, start: int, speed: float | None, step: float | None,
             clock_start: float) -> Iterator[tuple[float, Record]]:
    """(wall-clock time to write at, re-stamped record), in file order."""
    first = next(records, None)
    if first is None:
        return
    origin = first.time
    if step is not None:
        index, previous = 0, first.time
        for record in itertools.chain([first], records):
            if record.time != previous:
                index, previous = index + 1, record.time
            record.time = start + round(index * step * NS)
            yield clock_start + index * step, record
        return
    assert speed is not None
    for record in itertools.chain([first], records):
        offset = record.time - origin
        record.time = start + offset
        yield clock_start + offset / NS / speed, record


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@input_options
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Write at this multiple of real time (default 1; exclusive with --step).")
@click.option("--step", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds between two distinct timestamps, each stamped when written.")
@click.option("--start", type=TIME, default="now", show_default=True, help="Time stamped on the first point.")
@sink_options
def main(path: str, fmt: str, measurement: str | None, tags: dict[str, str], tag_columns: tuple[str, ...],
         time_column: str, precision: str | None, speed: float | None, step: float | None, start: int,
         sink: Sink) -> None:
    """Replay FILE (CSV or line protocol) into InfluxDB as if it were arriving live."""
    if speed is not None and step is not None:
        raise click.UsageError("give --speed or --step, not both")
    if step is None and speed is None:
        speed = 1.0
    records = read_input(path, fmt=fmt, measurement=measurement, tags=tags, tag_columns=tag_columns,
                         time_column=time_column, precision=precision)
    total = len(records)
    if not total:
        raise click.ClickException(f"{path}: no points in the file")
    clock_start = time.monotonic()
    plan = schedule(iter(records), start=start, speed=speed, step=step, clock_start=clock_start)
    written = 0
    pending: list[Record] = []
    with tqdm(total=total, unit="pt", file=sys.stderr, disable=not sink.progress, desc="replaying") as bar:
        for due, record in plan:
            # Send what is due before waiting for the next point, and never more than a batch at once.
            if pending and (due > time.monotonic() or len(pending) >= sink.batch_size):
                written += sink.write(pending, progress=False)
                bar.update(len(pending))
                pending = []
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            pending.append(record)
        if pending:
            written += sink.write(pending, progress=False)
            bar.update(len(pending))
    click.echo(f"{written} points from {path} stamped from {format_time(start)} in "
               f"{time.monotonic() - clock_start:.1f} s -> {sink.where}", err=True)


if __name__ == "__main__":
    main()

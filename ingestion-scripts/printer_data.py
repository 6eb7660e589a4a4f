#!/usr/bin/env python3
"""Generate 3D-printer telemetry with injected anomalies at known times, into InfluxDB.

One measurement (``printer``), one tag (``printer=printer1..N``), three float fields
sampled every second: ``temperature`` (nozzle-chamber degrees C with a slow cycle),
``humidity`` (%) and ``ink_level`` (% slowly used up). Anomalies are added on top of
the normal signal, which does not change with them (it has its own random stream):

- ``overheat``: temperature 12-20 C higher for 20-120 s;
- ``humidity_spike``: humidity 20-30 points higher for 20-60 s;
- ``ink_sensor_glitch``: ink_level reads 0 for 3-10 s.

They start after the first 10 % of the span (detectors need history) and never
overlap on one printer. ``--labels`` writes them (printer, field, kind, start, end)
as JSON or CSV: the ground truth to score a detector against.

    python ingestion-scripts/printer_data.py --duration 6h --labels printer-labels.json
    python ingestion-scripts/printer_data.py --dry-run --duration 1m | head
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from ingestion import (
    DURATION,
    NS,
    TIME,
    Counted,
    Sink,
    format_time,
    labels_option,
    sink_options,
    span_start,
    write_labels,
)

from udfs.io.records import Record

FIELDS = ("temperature", "humidity", "ink_level")
# kind: (field, (min, max) seconds, (min, max) size; None means "reads 0")
KINDS: dict[str, tuple[str, tuple[int, int], tuple[float, float] | None]] = {
    "overheat": ("temperature", (20, 120), (12.0, 20.0)),
    "humidity_spike": ("humidity", (20, 60), (20.0, 30.0)),
    "ink_sensor_glitch": ("ink_level", (3, 10), None),
}
WARMUP = 0.1  # share of the span kept free of anomalies at the start
GAP_S = 60  # seconds between two anomalies of one printer, at least


@dataclass(frozen=True)
class Anomaly:
    printer: str
    kind: str
    field: str
    start_ns: int
    end_ns: int  # exclusive
    size: float | None

    def label(self) -> dict[str, object]:
        return {"printer": self.printer, "field": self.field, "kind": self.kind,
                "start_ns": self.start_ns, "end_ns": self.end_ns}


def plan_anomalies(printers: list[str], count: int, start: int, span: int, step: int,
                   rng: random.Random) -> list[Anomaly]:
    """``count`` anomalies spread over the printers, non-overlapping per printer."""
    earliest, latest = start + int(span * WARMUP), start + span
    placed: dict[str, list[tuple[int, int]]] = {name: [] for name in printers}
    out = []
    kinds = list(KINDS)
    for i in range(count):
        printer, kind = printers[i % len(printers)], kinds[i % len(kinds)]
        field, (low, high), size_range = KINDS[kind]
        length = max(rng.randint(low, high) * NS, step)
        slots = (latest - length - earliest) // step
        for _attempt in range(1000 if slots >= 0 else 0):
            begin = earliest + rng.randint(0, slots) * step
            if all(begin + length + GAP_S * NS <= s or begin >= e + GAP_S * NS for s, e in placed[printer]):
                placed[printer].append((begin, begin + length))
                size = None if size_range is None else round(rng.uniform(*size_range), 2)
                out.append(Anomaly(printer, kind, field, begin, begin + length, size))
                break
        else:
            raise click.UsageError(f"{count} anomalies do not fit in {span / NS:.0f} s for {len(printers)} "
                                   "printer(s): use a longer --duration, fewer --anomalies or more --printers")
    return sorted(out, key=lambda a: (a.start_ns, a.printer))


def normal_value(field: str, printer_index: int, t_s: float, noise: random.Random) -> float:
    """The signal without anomalies (deterministic for a seed)."""
    if field == "temperature":
        return 38.0 + printer_index + 2.0 * math.sin(2 * math.pi * t_s / 3600.0) + noise.gauss(0.0, 0.3)
    if field == "humidity":
        return 45.0 - printer_index + 3.0 * math.sin(2 * math.pi * t_s / 86400.0) + noise.gauss(0.0, 0.5)
    return max(0.0, 95.0 - 2.0 * printer_index - 0.5 * t_s / 3600.0 + noise.gauss(0.0, 0.05))


def generate(printers: list[str], start: int, span: int, step: int, anomalies: list[Anomaly], seed: int,
             measurement: str) -> Iterator[Record]:
    """Every point, in time order (all printers at one time, then the next time)."""
    noise = random.Random(seed)
    by_printer: dict[str, list[Anomaly]] = {name: [] for name in printers}
    for anomaly in anomalies:
        by_printer[anomaly.printer].append(anomaly)
    for t in range(start, start + span, step):
        t_s = (t - start) / NS
        for index, printer in enumerate(printers):
            fields: dict[str, float | int | str | bool] = {}
            for field in FIELDS:
                value = normal_value(field, index, t_s, noise)
                for anomaly in by_printer[printer]:
                    if anomaly.field == field and anomaly.start_ns <= t < anomaly.end_ns:
                        value = 0.0 if anomaly.size is None else value + anomaly.size
                fields[field] = round(value, 3)
            yield Record(t, measurement, {"printer": printer}, fields)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--start", type=TIME, default=None, help="First point's time (default: --duration before now).")
@click.option("--duration", type=DURATION, default="6h", show_default=True, help="Span of the data (e.g. 30m, 6h, 2d).")
@click.option("--step", type=DURATION, default="1s", show_default=True, help="Time between two points.")
@click.option("--printers", type=click.IntRange(1, 1000), default=2, show_default=True, help="Number of printers.")
@click.option("--anomalies", type=click.IntRange(min=0), default=6, show_default=True,
              help="Anomalies to inject, spread over the printers and the three kinds.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same data and anomalies.")
@click.option("--measurement", default="printer", show_default=True)
@labels_option("Write the injected anomalies to this file")
@sink_options
def main(start: int | None, duration: int, step: int, printers: int, anomalies: int, seed: int,
         measurement: str, labels: Path | None, sink: Sink) -> None:
    """Write printer telemetry (temperature, humidity, ink_level) with known anomalies."""
    if step > duration:
        raise click.BadParameter("must not exceed --duration", param_hint="--step")
    start = span_start(start, duration, step)  # round times are easier to read and to query
    names = [f"printer{i + 1}" for i in range(printers)]
    planned = plan_anomalies(names, anomalies, start, duration, step, random.Random(seed + 1))
    if labels is not None:
        write_labels(labels, measurement, [a.label() for a in planned])
    count = len(range(start, start + duration, step)) * printers
    records = Counted(lambda: generate(names, start, duration, step, planned, seed, measurement), count)
    written = sink.write(records)
    click.echo(f"{written} points of {measurement} ({printers} printer(s), {format_time(start)} + "
               f"{duration / NS:.0f} s) with {len(planned)} anomalies -> {sink.where}", err=True)
    for a in planned:
        click.echo(f"  {a.kind} on {a.printer} ({a.field}) at {format_time(a.start_ns)} for "
                   f"{(a.end_ns - a.start_ns) / NS:.0f} s", err=True)


if __name__ == "__main__":
    main()

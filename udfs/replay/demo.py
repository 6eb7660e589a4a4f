"""``udfs demo``: the main job on built-in sample data, no Kapacitor or Docker needed.

Replays the bundled series through the detector UDFs over the real protocol
(each UDF a real subprocess driven like Kapacitor drives it), prints what was
detected and writes the anomaly points as line protocol. With ``--influx-url`` it
also writes the raw series and the UDFs' output into InfluxDB where the Grafana
dashboard (docker/grafana) looks: database ``telegraf``, the raw series in their
own measurements, the output in ``anomalies``; the data is then shifted in time so
that it ends now, inside the dashboard's time range.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import click

__all__ = ["demo"]

# (UDF, TICKscript options) run over the temperature series.
TEMPERATURE_RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sigma", ("emit=anomalies",)),
    ("mad", ("emit=anomalies", "window=288", "threshold=6.0")),
    ("zscore", ("emit=anomalies", "window=288", "threshold=5.0")),
    ("iqr", ("emit=anomalies", "window=288", "k=3.0")),
)
# The NAB series has no tags; a Telegraf-like host tag gives the dashboard its group.
TEMPERATURE_TAGS = {"host": "nab_machine"}
# Shifted data keeps its alignment to this step (NAB's 5-minute grid).
SHIFT_STEP_NS = 300 * 1_000_000_000
# State changes listed per router (the count says how many there are in all).
LISTED_CHANGES = 3
# Where each data set shows on the dashboard once it ends now.
GRAFANA_VIEWS = {
    "machine_temperature": "measurement machine_temperature, field value, last 90 days",
    "adsl": "measurement adsl_connection, field value, last 2 days",
}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _windows() -> list[tuple[int, int]]:
    text = resources.files("udfs.data").joinpath("machine_temperature.windows.json").read_text()
    out = []
    for start, end in json.loads(text)["windows"]:
        to_ns = [
            int(datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp() * 1e9)
            for s in (start, end)
        ]
        out.append((to_ns[0], to_ns[1]))
    return out


def shift_to(records: list[Any], end_ns: int) -> int:
    """The shift (ns, a whole number of 5-minute steps) that moves the last record to at most ``end_ns``."""
    last = max(r.time for r in records)
    return (end_ns - last) // SHIFT_STEP_NS * SHIFT_STEP_NS


def _shifted(records: list[Any], shift: int) -> list[Any]:
    return [replace(r, time=r.time + shift) for r in records] if shift else records


def _state_changes(found: list[Any], host: str) -> list[Any]:
    # edge's first output per group is the initial state (changed, no previous): not a change.
    return [r for r in found if r.tags.get("host") == host and "previous" in r.fields]


@click.command()
@click.option("--output-dir", "-O", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Where the anomaly points are written, one line-protocol file per UDF.")
@click.option("--influx-url", default=None, metavar="URL",
              help="Also write the raw series and every output point to this InfluxDB (e.g. http://localhost:8086), "
                   "where the Grafana dashboard shows them.")
@click.option("--influx-db", default="telegraf", show_default=True,
              help="Database for --influx-url (the dashboard's provisioned data source reads telegraf).")
@click.option("--shift-to-now/--original-times", "shift", default=None,
              help="Move each data set in time so that it ends now (default with --influx-url, so the dashboard's "
                   "recent time ranges show it); the NAB windows move with it.")
@click.option("--only", "only", multiple=True, metavar="UDF", help="Run only these UDFs (repeatable).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw one PNG per data set into the output directory (series, anomalies, windows, scores).")
def demo(output_dir: Path, influx_url: str | None, influx_db: str, shift: bool | None, only: tuple[str, ...],
         plots: bool = True) -> None:
    """Replay the built-in sample data through the detectors and report what they found.

    \b
    1. NAB's machine_temperature_system_failure series (an industrial machine
       that broke down; 4 labelled anomaly windows) through sigma, mad, zscore, iqr.
    2. Two ADSL routers' line states (SHOWTIME/TRAINING every 90 s, one flapping
       hour) through edge, grouped by host.
    """
    from udfs.io.csvinput import read_records
    from udfs.io.lineprotocol import format_record
    from udfs.replay.session import ReplayConfig, ReplayError, replay_records

    output_dir.mkdir(parents=True, exist_ok=True)
    data = resources.files("udfs.data")
    influx = None
    if influx_url:
        from udfs.io.influx import InfluxTarget

        influx = InfluxTarget.from_url(influx_url, database=influx_db)
    if shift is None:
        shift = influx is not None
    now_ns = time.time_ns()
    outputs: dict[str, tuple[tuple[str, ...], list[Any]]] = {}
    inputs: dict[str, list[Any]] = {}

    def load(path: Any, *, measurement: str | None = None, tags: dict[str, str] | None = None) -> tuple[list[Any], int]:
        with resources.as_file(path) as local:
            records = list(read_records(local, measurement=measurement))
        if tags:
            records = [replace(r, tags={**r.tags, **tags}) for r in records]
        offset = shift_to(records, now_ns) if shift else 0
        records = _shifted(records, offset)
        if influx is not None:
            influx.write_records(records, progress=False)
        return records, offset

    def run(name: str, records: list[Any], options: tuple[str, ...], group_by: tuple[str, ...] = ()) -> list[Any]:
        found: list[Any] = []
        started = time.perf_counter()
        config = ReplayConfig(name=name, options=options, group_by=group_by, task_id=f"demo_{name}",
                              log_level="warning")
        try:
            result, _ = replay_records(config, records, found.append, out_measurement="anomalies")
        except ReplayError as exc:
            raise click.ClickException(f"{name}: {exc}") from None
        out_file = output_dir / f"{name}.lp"
        out_file.write_text("".join(format_record(r) + "\n" for r in found))
        if influx is not None and found:
            influx.write_records(found, progress=False)
        outputs[name] = (options, found)
        click.echo(f"  {name:<7} {result.points_sent} points in {time.perf_counter() - started:.1f}s, "
                   f"{len(found)} output points -> {out_file}")
        return found

    def moved(offset: int) -> str:
        return f" (moved {offset / 86_400e9:+.1f} days to end now)" if offset else ""

    windows = _windows()
    temperature = [(name, options) for name, options in TEMPERATURE_RUNS if not only or name in only]
    if temperature:
        records, offset = load(data.joinpath("machine_temperature.csv"), measurement="machine_temperature",
                               tags=TEMPERATURE_TAGS)
        inputs["machine_temperature"] = records
        windows = [(start + offset, end + offset) for start, end in windows]
        click.echo(f"Machine temperature (NAB realKnownCause, {len(records)} points, 4 labelled anomaly "
                   f"windows){moved(offset)}:")
        click.echo("  windows: " + " | ".join(f"{i} {_iso(s)} - {_iso(e)}" for i, (s, e) in enumerate(windows, 1)))
    for name, options in temperature:
        found = run(name, inputs["machine_temperature"], options, group_by=tuple(TEMPERATURE_TAGS))
        anomalies = [r for r in found if r.fields.get("is_anomaly")]
        hits = []
        for i, (start, end) in enumerate(windows, 1):
            inside = [r.time for r in anomalies if start <= r.time <= end]
            hits.append(f"{i} {_iso(min(inside))}" if inside else f"{i} missed")
        outside = sum(1 for r in anomalies if not any(s <= r.time <= e for s, e in windows))
        click.echo(f"          first anomaly in each window: {' | '.join(hits)}; "
                   f"{outside} of {len(anomalies)} anomalies outside the windows")

    if not only or "edge" in only:
        records, offset = load(data.joinpath("adsl_sample.lp"))
        inputs["adsl"] = records
        click.echo(f"ADSL line state of two routers (2 days at 90 s, router2 flaps for an hour){moved(offset)}:")
        found = run("edge", records, ("emit=changes", "flap_count=5", "flap_window=1h"), group_by=("host",))
        for host in ("router1", "router2"):
            changes = _state_changes(found, host)
            flapping = [r for r in changes if r.fields.get("is_anomaly")]
            listed = changes[:LISTED_CHANGES]
            click.echo(f"          {host}: {len(changes)} state changes"
                       + (f", flapping from {_iso(flapping[0].time)}" if flapping else ", no flapping")
                       + (f"; the first {len(listed)} of {len(changes)}:" if len(listed) < len(changes) else ":"))
            for r in listed:
                click.echo(f"            {_iso(r.time)} {r.fields.get('previous')} -> {r.fields.get('current')}"
                           f" after {int(r.fields.get('previous_duration', 0)) / 60e9:.0f} min")
    if plots and outputs:
        from udfs.analysis.replay_plot import demo_plots

        for path in demo_plots(output_dir, outputs, windows, inputs):
            click.echo(f"Picture: {path}")
    where = f" and InfluxDB {influx_url} db {influx_db} (raw series and measurement anomalies)" if influx else ""
    click.echo(f"Done. Output in {output_dir}/{where}")
    if influx is not None and shift:
        shown = [GRAFANA_VIEWS[name] for name in inputs]
        click.echo(f"Grafana's Anomalies dashboard (docker/grafana/dashboards/anomalies.json): {'; '.join(shown)}")
    sys.stdout.flush()

"""``udfs demo``: the main job on built-in sample data, no Kapacitor or Docker needed.

Replays the bundled series through the detector UDFs over the real protocol
(each UDF a real subprocess driven like Kapacitor drives it), prints what was
detected and writes the anomaly points as line protocol (and, if asked, into
InfluxDB, where the Grafana dashboard shows them).
"""

from __future__ import annotations

import json
import sys
import time
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


@click.command()
@click.option("--output-dir", "-O", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Where the anomaly points are written, one line-protocol file per UDF.")
@click.option("--influx-url", default=None, metavar="URL",
              help="Also write every output point to this InfluxDB (e.g. http://localhost:8086).")
@click.option("--influx-db", default="anomalies", show_default=True, help="Database for --influx-url.")
@click.option("--only", "only", multiple=True, metavar="UDF", help="Run only these UDFs (repeatable).")
@click.option("--plots/--no-plots", default=True, show_default=True,
              help="Draw one PNG per data set into the output directory (series, anomalies, windows, scores).")
def demo(output_dir: Path, influx_url: str | None, influx_db: str, only: tuple[str, ...], plots: bool = True) -> None:
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
    windows = _windows()
    outputs: dict[str, tuple[tuple[str, ...], list[Any]]] = {}

    def run(name: str, path: Any, options: tuple[str, ...], group_by: tuple[str, ...] = (),
            measurement: str | None = None) -> list[Any]:
        found: list[Any] = []
        started = time.perf_counter()
        config = ReplayConfig(name=name, options=options, group_by=group_by, task_id=f"demo_{name}",
                              log_level="warning")
        with resources.as_file(path) as local:
            try:
                result, _ = replay_records(config, read_records(local, measurement=measurement), found.append,
                                           out_measurement="anomalies")
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

    click.echo("Machine temperature (NAB realKnownCause, 22695 points, 4 labelled anomaly windows):")
    for name, options in TEMPERATURE_RUNS:
        if only and name not in only:
            continue
        found = run(name, data.joinpath("machine_temperature.csv"), options, measurement="machine_temperature")
        anomalies = [r for r in found if r.fields.get("is_anomaly")]
        hits = []
        for start, end in windows:
            inside = [r.time for r in anomalies if start <= r.time <= end]
            hits.append(f"{_iso(min(inside))}" if inside else "missed")
        outside = sum(1 for r in anomalies if not any(s <= r.time <= e for s, e in windows))
        click.echo(f"          windows: {' | '.join(hits)}; {outside} anomalies outside the windows")

    if not only or "edge" in only:
        click.echo("ADSL line state of two routers (2 days at 90 s, router2 flaps for an hour):")
        found = run("edge", data.joinpath("adsl_sample.lp"), ("emit=changes", "flap_count=5", "flap_window=1h"),
                    group_by=("host",))
        for host in ("router1", "router2"):
            changes = [r for r in found if r.tags.get("host") == host]
            flapping = [r for r in changes if r.fields.get("is_anomaly")]
            click.echo(f"          {host}: {len(changes) - 1} state changes"
                       + (f", flapping from {_iso(flapping[0].time)}" if flapping else ", no flapping"))
            for r in changes[1:4]:
                click.echo(f"            {_iso(r.time)} {r.fields.get('previous')} -> {r.fields.get('current')}"
                           f" after {int(r.fields.get('previous_duration', 0)) / 60e9:.0f} min")
    if plots and outputs:
        from udfs.analysis.replay_plot import demo_plots

        for path in demo_plots(output_dir, outputs, windows):
            click.echo(f"Picture: {path}")
    click.echo(f"Done. Output in {output_dir}/" + (f" and InfluxDB {influx_url} db {influx_db}" if influx else ""),
               err=False)
    sys.stdout.flush()

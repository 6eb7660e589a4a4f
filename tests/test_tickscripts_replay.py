"""Every shipped TICKscript's UDF call runs end to end under the replay driver.

The options (with the script's own `var` defaults) are read from the script with
the TICKscript parser, turned into `--option` texts, and the UDF is replayed as a
real subprocess over data shaped like what the script reads (its measurement,
field names and group-by tags). This catches a script whose options type-check but
which the UDF refuses in Init, or which produces nothing.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from udfs.functions import load
from udfs.io.csvinput import read_records
from udfs.io.lineprotocol import parse_lines
from udfs.io.records import Record
from udfs.params.durations import format_duration
from udfs.protocol import EdgeType
from udfs.replay.session import ReplayConfig, replay_records
from udfs.tickscript import parser as ts

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "tickscripts").glob("*.tick"))


def literal_text(node: ts.Node, variables: dict[str, ts.Node]) -> str:
    if isinstance(node, ts.Ident):
        node = variables[node.name]
    assert isinstance(node, ts.Literal), f"unsupported option argument {node!r}"
    if node.kind == "BOOL":
        return "true" if node.value else "false"
    if node.kind == "DURATION":
        return format_duration(int(node.value))
    return str(node.value)


def udf_call(path: Path) -> tuple[str, list[str], dict[str, Any]]:
    """(UDF name, option texts, the script's literal vars) of the script's one UDF call."""
    program = ts.parse(path.read_text())
    variables = {s.name: s.value for s in program.statements if isinstance(s, ts.VarDecl) and s.value is not None}
    for statement in program.statements:
        if not isinstance(statement, ts.Chain):
            continue
        links = statement.links
        for i, link in enumerate(links):
            if link.op != "@":
                continue
            options = []
            for option in links[i + 1 :]:
                if option.op != ".":
                    break
                values = [literal_text(a, variables) for a in option.args or []]
                options.append(option.name + ("=" + ",".join(values) if values else ""))
            plain = {k: v.value for k, v in variables.items() if isinstance(v, ts.Literal)}
            plain["groupBy"] = [item.value for item in getattr(variables.get("groupBy"), "items", [])]
            return link.name, options, plain
    raise AssertionError(f"{path.name} calls no UDF")


def temperature_records(measurement: str, field: str, tags: dict[str, str], n: int = 3000) -> list[Record]:
    path = resources.files("udfs.data").joinpath("machine_temperature.csv")
    with resources.as_file(path) as local:
        rows = list(read_records(local, measurement=measurement))[:n]
    return [Record(r.time, measurement, dict(tags), {field: r.fields["value"]}) for r in rows]


def input_for(name: str, variables: dict[str, Any], tmp_path: Path) -> list[Record]:
    measurement = variables.get("measurement", "m")
    if name == "edge":
        sample = resources.files("udfs.data").joinpath("adsl_sample.lp")
        with resources.as_file(sample) as local:
            return [r for r in read_records(local) if r.measurement == measurement]
    if name == "isolation_forest":
        done = subprocess.run(
            [sys.executable, str(ROOT / "ingestion-scripts" / "printer_data.py"), "--dry-run", "--no-progress",
             "--start", "2024-01-01T00:00:00Z", "--duration", "1h", "--measurement", measurement],
            capture_output=True, text=True, timeout=120, check=True,
        )
        return list(parse_lines(done.stdout.splitlines()))
    if measurement == "ping":  # the network scripts: the shipped ICMP sample, in Telegraf's ping shape
        sample = resources.files("udfs.data").joinpath("icmp_latency.lp")
        with resources.as_file(sample) as local:
            records = list(read_records(local))
        if name == "loss":  # what the script's |eval() adds before @loss()
            for r in records:
                r.fields["loss_fraction"] = float(r.fields["percent_packet_loss"]) / 100.0
        return records
    tags = {tag: "h1" for tag in variables.get("groupBy", [])}
    return temperature_records(measurement, variables.get("field", "value"), tags)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_shipped_script_runs_under_the_replay_driver(path: Path, tmp_path: Path) -> None:
    name, options, variables = udf_call(path)
    records = input_for(name, variables, tmp_path)
    assert records, "no input for the script"
    out: list[Record] = []
    wants_batches = load(name).wants == EdgeType.BATCH
    config = ReplayConfig(name=name, options=options, group_by=tuple(variables.get("groupBy", [])),
                          batch_period_ns=3_600_000_000_000 if wants_batches else None,
                          log_level="warning", timeout=30)
    result, _ = replay_records(config, records, out.append)
    assert result.points_sent == len(records)
    assert out, f"@{name}() with the options of {path.name} returned nothing"
    if name not in ("mirror", "moving_average", "continuous_prediction"):  # the last writes predictions
        assert all("is_anomaly" in r.fields for r in out)

"""`udfs demo`, the README's main job, runs end to end and writes what it reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from udfs.io.lineprotocol import parse_lines


def test_demo_runs_and_writes_the_anomalies_it_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "udfs", "demo", "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("sigma", "mad", "zscore", "iqr", "edge"):
        lines = (out / f"{name}.lp").read_text().splitlines()
        assert lines, f"{name} wrote nothing"
        records = list(parse_lines(lines))
        assert all(r.measurement == "anomalies" and r.tags["detector"] == name for r in records)
        count = f"{len(lines)} output points -> {out / (name + '.lp')}"
        assert count in done.stdout, f"the summary does not match {name}.lp"
    # Every temperature detector reports on the four labelled windows; edge on both routers.
    assert done.stdout.count("windows: ") == 4
    assert "router1:" in done.stdout and "router2:" in done.stdout and "flapping from" in done.stdout

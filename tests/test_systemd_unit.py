"""kapacitor/udfs.service, the bare-metal unit: the commands it runs are real `udfs`
command lines, and systemd itself finds nothing wrong with it."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_assets import ROOT, SOCKET_DIR, assert_udfs_command

UNIT = ROOT / "kapacitor" / "udfs.service"


def test_systemd_unit_serves_and_checks_the_configured_socket_dir() -> None:
    lines = dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^\w+=", line))
    serve = shlex.split(lines["ExecStart"])
    assert serve[:4] == ["/opt/udfs/bin/udfs", "serve", "--socket-dir", SOCKET_DIR]
    assert_udfs_command(["udfs", *serve[1:]])
    health = re.search(r"(/opt/udfs/bin/udfs health [^&;]+)", lines["ExecStartPost"])
    assert health, "ExecStartPost waits for `udfs health`"
    assert_udfs_command(["udfs", *shlex.split(health.group(1))[1:]])
    assert f"--socket-dir {SOCKET_DIR}" in health.group(1)
    assert lines["RuntimeDirectory"] == Path(SOCKET_DIR).name and lines["User"] == lines["Group"] == "udfs"
    assert "kapacitor.service" in lines["Before"] and "kapacitor.service" in lines["WantedBy"]


@pytest.mark.parametrize("name", ["udfs.service", "udfs-watchdog.service"])
def test_systemd_unit_passes_systemd_analyze(tmp_path: Path, name: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The unit names the install location /opt/udfs; verify checks that the programs exist.
    unit = tmp_path / name
    unit.write_text((UNIT.parent / name).read_text().replace("/opt/udfs/bin/udfs",
                                                             str(Path(sys.executable).parent / "udfs")))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert name not in result.stderr, result.stderr  # no warning about the unit itself

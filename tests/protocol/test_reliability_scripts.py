"""Short bounded runs of the reliability campaign scripts (bench/fuzz_protocol.py,
bench/load_socket.py); the long runs and their figures are in the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_fuzz_a_few_seconds_finds_no_hang_crash_or_corruption() -> None:
    out = _run("bench/fuzz_protocol.py", "--mode", "both", "--seconds", "4", "--seed", "7")
    for mode in ("process", "socket"):
        line = next(line for line in out.splitlines() if line.startswith(f"{mode}:"))
        assert int(line.split()[1]) > 0, out  # cases actually ran
        assert "0 hangs, 0 crashes, 0 corrupted outputs" in line, out


def test_load_loses_duplicates_and_reorders_nothing() -> None:
    out = _run("bench/load_socket.py", "--connections", "8", "--points", "2000", "--workers", "2")
    assert "16,000 of 16,000 answered" in out, out
    assert "lost 0, duplicated 0, reordered 0, foreign 0, errors 0, server alive: True" in out, out

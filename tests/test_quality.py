"""The house style's mechanical part: ``ruff check .`` and ``mypy udfs`` pass.

Both run as subprocesses of this interpreter (``python -m ...``), so they are the
versions of the dev extra installed next to the package, with the configuration in
pyproject.toml. A missing tool fails the test: CI must never skip these checks.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(module: str, *args: str, timeout: float) -> None:
    command = f"{module} {' '.join(args)}"
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed; install the dev extra: pip install -e '.[dev]'")
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"`{command}` failed (exit code {result.returncode}):\n{output}"


def test_ruff_check_passes() -> None:
    _run("ruff", "check", ".", timeout=120)


@pytest.mark.slow
def test_mypy_passes() -> None:
    _run("mypy", "udfs", timeout=600)

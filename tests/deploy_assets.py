"""What the deploy-asset tests share: the repository's paths, a Dockerfile reader, and a
check that a command line is one the real `udfs` CLI accepts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from udfs.cli import main as udfs_cli

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"


def load_script(path: Path) -> Any:
    name = f"_test_docker_{path.parent.name}_{path.stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    sys.path.insert(0, str(path.parent))  # scripts import their siblings
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


SOCKET_DIR = str(load_script(ROOT / "scripts" / "gen_kapacitor_conf.py").SOCKET_DIR)


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each short-syntax volume entry."""
    return [tuple(entry.split(":")[:2]) for entry in service.get("volumes", [])]  # type: ignore[misc]


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        current += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
            current = ""
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The JSON array at the end of CMD/HEALTHCHECK (after any --options)."""
    value: list[str] = json.loads(arguments[arguments.index("["):])
    return value


def assert_udfs_command(argv: list[str]) -> None:
    """``argv`` is a valid `udfs` command line (parsed by the real CLI, not run)."""
    assert argv[0] == "udfs", argv
    name, args = argv[1], argv[2:]
    with udfs_cli.make_context("udfs", [name, "--help"], resilient_parsing=True) as ctx:
        command = udfs_cli.get_command(ctx, name)
    assert command is not None, f"`udfs {name}` is not a command"
    command.make_context(name, list(args))  # raises click.UsageError on an unknown or bad option

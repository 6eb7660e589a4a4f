"""Real Kapacitor servers for the tests in this directory (see tests/kapacitor_stack.py).

``kapacitor_stack`` gives one kapacitord per mode for the module: process mode (Kapacitor
starts ``python -m udfs run NAME`` for each task) and socket mode (a real ``udfs serve``
started first, Kapacitor dialling its sockets), both with every UDF of the package
configured and pointed at the session's real influxd.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kapacitor_stack import KapacitorServer, SocketServer, udf_section

pytestmark = pytest.mark.kapacitor


@dataclass
class Stack:
    mode: str
    kapacitor: KapacitorServer
    serve: SocketServer | None

    def log(self) -> str:
        return self.kapacitor.log() + ("\n--- udfs serve ---\n" + self.serve.log() if self.serve else "")


def all_udfs() -> list[str]:
    from udfs.functions import FUNCTIONS

    return sorted(FUNCTIONS)


def start_stack(mode: str, bin_dir: Path, root: Path, influx_url: str, names: list[str] | None = None,
                serve_args: tuple[str, ...] = (), snapshot_interval: str = "60s") -> Stack:
    names = names or all_udfs()
    sock_dir = Path(tempfile.mkdtemp(prefix="udfs-k-", dir="/tmp"))
    serve = None
    if mode == "socket":
        serve = SocketServer(sock_dir, tuple(names), root / "serve.log", extra=serve_args)
        serve.start()
    kapacitor = KapacitorServer(bin_dir, root / "kapacitor", udf_section(mode, names, sock_dir), influx_url,
                                snapshot_interval=snapshot_interval)
    try:
        kapacitor.start()
    except Exception:
        if serve:
            serve.stop()
        raise
    return Stack(mode, kapacitor, serve)


def stop_stack(stack: Stack) -> None:
    stack.kapacitor.stop()
    if stack.serve:
        stack.serve.stop()
        shutil.rmtree(stack.serve.socket_dir, ignore_errors=True)


@pytest.fixture(scope="module", params=["process", "socket"])
def kapacitor_stack(request: pytest.FixtureRequest, kapacitor_bin: Path, influxdb_server: object,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(request.param, kapacitor_bin, tmp_path_factory.mktemp(f"stack-{request.param}"),
                        influxdb_server.url)  # type: ignore[attr-defined]
    try:
        yield stack
    finally:
        stop_stack(stack)

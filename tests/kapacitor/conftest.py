"""Real Kapacitor servers for the tests in this directory (see tests/kapacitor_stack.py).

``kapacitor_stack`` gives one kapacitord per mode for the module: process mode (Kapacitor
starts ``python -m udfs run NAME`` for each task) and socket mode (a real ``udfs serve``
started first, Kapacitor dialling its sockets), both with every UDF of the package
configured and pointed at the session's real influxd.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kapacitor_stack import Stack, start_stack, stop_stack

pytestmark = pytest.mark.kapacitor


@pytest.fixture(scope="module", params=["process", "socket"])
def kapacitor_stack(request: pytest.FixtureRequest, kapacitor_bin: Path, influxdb_server: object,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(request.param, kapacitor_bin, tmp_path_factory.mktemp(f"stack-{request.param}"),
                        influxdb_server.url)  # type: ignore[attr-defined]
    try:
        yield stack
    finally:
        stop_stack(stack)

"""Fixtures of the analysis tests: one real ``udfs web`` server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webserver import TOKEN, WebServer, start_server, stop_server


@pytest.fixture(scope="module")
def web_server() -> Iterator[WebServer]:
    server = start_server("--workers", "2", "--max-queued", "4", "--job-timeout", "60s", "--max-upload", "2MB",
                          token=TOKEN)
    yield server
    stop_server(server)

"""Fixtures shared by the whole test suite.

``influxdb_server`` runs one real ``influxd`` (InfluxDB 1.x) for the session, on free
loopback ports with all its state in a temporary directory, so integration tests
talk to the real thing and never to a machine-wide server. Tests that use it carry
``@pytest.mark.influxdb``.

Without ``influxd`` those tests are skipped on a developer's machine but fail in CI
(``CI`` set) or with ``UDFS_REQUIRE_INFLUXDB=1``: a missing server must never turn a
CI run green by skipping the integration tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from influxdb import InfluxDBClient

INSTALL_HINT = "install it with `apt-get install influxdb` (Debian/Ubuntu; it provides /usr/bin/influxd)"
_START_TIMEOUT = 30.0

# Everything influxd writes stays under {root}; services the tests do not need are off.
# (Debian's build spells the reporting switch reporting-enabled; both are given.)
_CONFIG = """\
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false

[hinted-handoff]
  enabled = false
  dir = "{root}/hh"

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  pprof-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[retention]
  enabled = false

[logging]
  suppress-logo = true
"""


def _required() -> bool:
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return ci or os.environ.get("UDFS_REQUIRE_INFLUXDB") == "1"


def _free_port() -> int:
    # The port is free now; influxd binds it a moment later. A clash is retried below.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class InfluxServer:
    """A running influxd: where it listens, and its log for failure messages."""

    host: str
    port: int
    log_path: Path
    startup_seconds: float

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, database: str | None = None) -> InfluxDBClient:
        """An ``influxdb.InfluxDBClient`` on this server; creates ``database`` if given."""
        client = InfluxDBClient(
            host=self.host,
            port=self.port,
            database=database,
            timeout=10,
            proxies={"http": None, "https": None},
        )
        if database:
            client.create_database(database)
        return client

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=1) as answer:
            return answer.status == 204
    except (urllib.error.URLError, OSError):
        return False


def _start(influxd: str, root: Path) -> tuple[subprocess.Popen[bytes], InfluxServer]:
    http_port, rpc_port = _free_port(), _free_port()
    config = root / "influxdb.conf"
    config.write_text(_CONFIG.format(root=root.as_posix(), http_port=http_port, rpc_port=rpc_port))
    log_path = root / "influxd.log"
    # influxd reads INFLUXDB_* variables as config overrides (INFLUXDB_HTTP_BIND_ADDRESS,
    # ...), so a developer's shell could move the test server: they are dropped.
    env = {key: value for key, value in os.environ.items() if not key.startswith("INFLUXDB_")}
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [influxd, "run", "-config", str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    server = InfluxServer("127.0.0.1", http_port, log_path, 0.0)
    while time.monotonic() - started < _START_TIMEOUT and process.poll() is None:
        if _ping(server.url):
            return process, InfluxServer("127.0.0.1", http_port, log_path, time.monotonic() - started)
        time.sleep(0.05)
    status = process.poll()
    _stop(process)
    how = (
        f"exited with status {status}"
        if status is not None
        else f"no 204 from /ping in {_START_TIMEOUT:.0f} s"
    )
    raise RuntimeError(f"influxd did not start ({how}); its log:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A new directory for unix sockets, removed afterwards.

    Short, under /tmp rather than pytest's tmp_path: a socket path is limited to 107 bytes.
    """
    path = Path(tempfile.mkdtemp(prefix="udfs-", dir="/tmp" if os.path.isdir("/tmp") else None))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def influxdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """A real influxd for the session: ``url``, ``host``, ``port``, ``client(database)``."""
    influxd = shutil.which("influxd") or (
        "/usr/bin/influxd" if os.access("/usr/bin/influxd", os.X_OK) else None
    )
    if influxd is None:
        message = f"influxd (InfluxDB 1.x) is not installed; {INSTALL_HINT}"
        if _required():
            pytest.fail(f"{message}. CI / UDFS_REQUIRE_INFLUXDB=1 require the integration tests.")
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as patch:
        # Clients (urllib, requests) must reach the loopback server directly, never
        # through an HTTP proxy a developer's shell sets.
        for name in ("no_proxy", "NO_PROXY"):
            patch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1"])))
        for attempt in range(3):
            try:
                process, server = _start(influxd, tmp_path_factory.mktemp("influxdb"))
                break
            except RuntimeError as exc:
                # Another process may take a port between _free_port() and influxd's bind.
                if "address already in use" not in str(exc) or attempt == 2:
                    pytest.fail(str(exc))
        try:
            yield server
        finally:
            _stop(process)


@pytest.fixture
def influxdb_database(influxdb_server: InfluxServer) -> Iterator[str]:
    """The name of a new, empty database on the session's server, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    client = influxdb_server.client(name)
    try:
        yield name
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="session")
def kapacitor_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory with a real ``kapacitord`` and ``kapacitor`` (see tests/kapacitor_stack.py)."""
    from kapacitor_stack import HOW_TO_RUN, find_binaries, required

    try:
        found = find_binaries(tmp_path_factory.mktemp("kapacitor-bin"))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"unpacking Kapacitor failed: {exc}")
    if found is None:
        if required():
            pytest.fail(f"no Kapacitor: {HOW_TO_RUN}. CI / UDFS_REQUIRE_KAPACITOR=1 require these tests.")
        pytest.skip(f"no Kapacitor: {HOW_TO_RUN}")
    return found

"""A real Kapacitor (1.5.7, from ``../shared/kapacitor``) for integration tests.

:class:`KapacitorServer` writes a ``kapacitor.conf`` with every directory inside a temp
dir, binds a free loopback port, points Kapacitor at the session's real influxd and
gives it the UDF sections of ``udfs conf`` (process mode: Kapacitor starts
``python -m udfs run NAME``; socket mode: a real ``udfs serve`` started first). Tasks
are defined, enabled and fed through Kapacitor's HTTP API (``/kapacitor/v1/write``);
what the tasks write is read back from InfluxDB by the tests.

Where the binaries come from, first match wins: ``$KAPACITORD`` (path of kapacitord,
the CLI beside it), ``kapacitord`` on ``PATH``, or ``../shared/kapacitor/install.sh``
unpacked into a temporary directory. Without one the tests skip on a developer's
machine and fail in CI (``CI`` set) or with ``UDFS_REQUIRE_KAPACITOR=1``.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from udfs.io.records import Record

REPO = Path(__file__).resolve().parents[1]
SHARED_KAPACITOR = REPO.parent / "shared" / "kapacitor"
HOW_TO_RUN = (
    "the real-Kapacitor tests need kapacitord 1.5.x: set KAPACITORD=/path/to/kapacitord, put it on "
    "PATH, or keep InfluxData's build in ../shared/kapacitor (unpacked by its install.sh)"
)

_CONFIG = """\
hostname = "127.0.0.1"
data_dir = "{root}/data"
skip-config-overrides = true
default-retention-policy = ""

[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  auth-enabled = false

[replay]
  dir = "{root}/replay"

[storage]
  boltdb = "{root}/kapacitor.db"

[task]
  dir = "{root}/tasks"
  snapshot-interval = "{snapshot_interval}"

[load]
  enabled = false

[reporting]
  enabled = false

[stats]
  enabled = false

[logging]
  file = "{root}/kapacitor.log"
  level = "INFO"

[[influxdb]]
  enabled = {influx_enabled}
  name = "default"
  default = true
  urls = ["{influx_url}"]
  timeout = 0
  startup-timeout = "30s"
  disable-subscriptions = true
  subscription-protocol = "http"
  kapacitor-hostname = "127.0.0.1"
  http-port = {port}

{udf}
"""


def required() -> bool:
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return ci or os.environ.get("UDFS_REQUIRE_KAPACITOR") == "1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binaries(unpack_into: Path) -> Path | None:
    """The directory holding ``kapacitord`` and ``kapacitor``, or None."""
    given = os.environ.get("KAPACITORD")
    if given:
        return Path(given).resolve().parent
    on_path = shutil.which("kapacitord")
    if on_path and shutil.which("kapacitor"):
        return Path(on_path).resolve().parent
    installer = SHARED_KAPACITOR / "install.sh"
    if installer.is_file():
        unpack_into.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["bash", str(installer), str(unpack_into)], capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{installer} failed ({done.returncode}): {done.stderr.strip()}")
        return Path(done.stdout.strip().splitlines()[-1])
    return None


def udf_section(mode: str, names: Iterable[str], socket_dir: Path, timeout: str = "10s") -> str:
    from udfs.cli import render_conf

    return render_conf(mode, tuple(names), socket_dir, timeout, sys.executable, model_path=REPO / "models")


class KapacitorError(RuntimeError):
    """An HTTP answer of Kapacitor that the test did not expect."""


@dataclass
class SocketServer:
    """A real ``udfs serve`` for socket mode, started before Kapacitor."""

    socket_dir: Path
    names: tuple[str, ...]
    log_path: Path
    extra: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        args = [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(self.socket_dir), "--workers", "1"]
        for name in self.names:
            args += ["--udf", name]
        args += list(self.extra)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"udfs serve exited ({self.process.returncode}):\n{self.log()}")
            if all((self.socket_dir / f"{name}.sock").exists() for name in self.names):
                return
            time.sleep(0.05)
        raise RuntimeError(f"udfs serve made no sockets in {timeout:.0f} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class KapacitorServer:
    """One kapacitord with its own config, data dir and free port."""

    bin_dir: Path
    root: Path
    udf: str
    influx_url: str | None = None
    snapshot_interval: str = "60s"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "kapacitor.log"

    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "kapacitor.conf"
        config.write_text(_CONFIG.format(
            root=self.root.as_posix(), port=self.port, udf=self.udf, snapshot_interval=self.snapshot_interval,
            influx_enabled="true" if self.influx_url else "false",
            influx_url=self.influx_url or "http://127.0.0.1:1",
        ))
        return config

    def start(self, timeout: float = 90.0) -> None:
        config = self.write_config()
        env = {key: value for key, value in os.environ.items() if not key.startswith("KAPACITOR_")}
        started = time.monotonic()
        with open(self.root / "kapacitord.out", "ab") as out:
            self.process = subprocess.Popen([str(self.bin_dir / "kapacitord"), "-config", str(config)],
                                            stdout=out, stderr=subprocess.STDOUT, env=env)
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"kapacitord exited ({self.process.returncode}); its log:\n{self.log()[-4000:]}")
            if self.ping():
                self.startup_seconds = time.monotonic() - started
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kapacitord did not answer /ping in {timeout:.0f} s; its log:\n{self.log()[-4000:]}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/kapacitor/v1/ping", timeout=1) as answer:
                return answer.status == 204
        except (urllib.error.URLError, OSError):
            return False

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        out = self.root / "kapacitord.out"
        return text + (out.read_text(errors="replace") if out.exists() else "")

    # -- HTTP API ---------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
            timeout: float = 30.0, expect: tuple[int, ...] = (200, 204)) -> Any:
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"{self.url}/kapacitor/v1{path}", data=payload, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        if status not in expect:
            raise KapacitorError(f"{method} {path}: HTTP {status}: {text}")
        return json.loads(text) if text.strip() else None

    def define(self, task_id: str, script: str, *, dbrps: list[tuple[str, str]], vars: dict[str, Any] | None = None,
               enabled: bool = True, template_id: str | None = None) -> dict[str, Any]:
        """Create a task from a script (or from a template) through ``POST /tasks``."""
        body: dict[str, Any] = {
            "id": task_id,
            "dbrps": [{"db": db, "rp": rp} for db, rp in dbrps],
            "status": "enabled" if enabled else "disabled",
        }
        if template_id:
            body["template-id"] = template_id
        else:
            body["script"] = script
            body["type"] = "batch" if _is_batch(script) else "stream"
        if vars:
            body["vars"] = vars
        return dict(self.api("POST", "/tasks", body))

    def define_template(self, template_id: str, script: str) -> None:
        self.api("POST", "/templates", {"id": template_id, "script": script,
                                        "type": "batch" if _is_batch(script) else "stream"})

    def set_status(self, task_id: str, status: str, timeout: float = 30.0) -> None:
        self.api("PATCH", f"/tasks/{task_id}", {"status": status}, timeout=timeout)

    def task(self, task_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/tasks/{task_id}"))

    def delete(self, task_id: str) -> None:
        self.api("DELETE", f"/tasks/{task_id}", expect=(200, 204, 404))

    def write(self, db: str, rp: str, lines: str | Iterable[str], precision: str = "ns") -> None:
        text = lines if isinstance(lines, str) else "\n".join(lines)
        self.api("POST", f"/write?db={db}&rp={rp}&precision={precision}", data=text.encode())

    def wait_processed(self, task_id: str, node: str, count: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until ``node`` of the task's ``dot`` has processed ``count`` points."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            task = self.task(task_id)
            seen = node_counter(task.get("dot", ""), node, "processed")
            if seen >= count:
                return task
            time.sleep(0.2)
        raise AssertionError(f"task {task_id}: node {node} processed {seen} < {count} in {timeout:.0f} s; "
                             f"task: {json.dumps(self.task(task_id))[:2000]}\nlog tail:\n{self.log()[-3000:]}")

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KAPACITOR_URL=self.url)
        return subprocess.run([str(self.bin_dir / "kapacitor"), *args], capture_output=True, text=True,
                              env=env, timeout=timeout)


def _is_batch(script: str) -> bool:
    for line in script.splitlines():
        word = line.strip()
        if word.startswith("batch"):
            return True
        if word.startswith("stream"):
            return False
    return False


def node_counter(dot: str, node: str, name: str) -> int:
    """A counter of one node in a task's ``dot`` text, e.g. ``udf2 [... processed="12" ...]``."""
    for line in dot.splitlines():
        line = line.strip()
        if line.startswith(f"{node} [") or line.startswith(f'"{node}" ['):
            key = f'{name}="'
            start = line.find(key)
            if start >= 0:
                end = line.index('"', start + len(key))
                return int(line[start + len(key):end])
    return -1


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- tasks and their output ---------------------------------------------------------------

def line(record: Record) -> str:
    from udfs.io.lineprotocol import format_record

    return format_record(record)


def _udf_node(task: dict[str, Any], udf: str) -> str:
    stats = task.get("stats", {}).get("node-stats", {})
    names = [name for name in stats if name.rstrip("0123456789") == udf]
    assert names, f"no {udf} node in {sorted(stats)}"
    return names[0]


def wait_for_output(kapacitor: KapacitorServer, task_id: str, udf: str, fed: int, timeout: float = 90.0,
                    written: int | None = None, stable: float = 2.5) -> dict:
    """Wait until the UDF node took every point and influxDBOut wrote all it emitted
    (``written`` points, when known: a UDF that fits a model may pause its output)."""
    deadline = time.monotonic() + timeout
    last: tuple[int, ...] = ()
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        task = kapacitor.task(task_id)
        assert task.get("error", "") == "", f"task {task_id} failed: {task['error']}\n{kapacitor.log()[-3000:]}"
        stats = task["stats"]["node-stats"]
        node = _udf_node(task, udf)
        out = next(s for name, s in stats.items() if name.startswith("influxdb_out"))
        now = (stats[node]["collected"], stats[node]["emitted"], out["points_written"])
        if now != last:
            last, stable_since = now, time.monotonic()
        done = now[0] >= fed and out["points_written"] >= out["collected"]
        if written is not None:
            done = done and out["points_written"] >= written
        if done and time.monotonic() - stable_since >= stable:
            return task
        time.sleep(0.25)
    raise AssertionError(f"task {task_id}: collected/emitted/written {last} after {timeout:.0f} s (fed {fed})\n"
                         f"{kapacitor.log()[-3000:]}")


def read_output(influx: Any, db: str, measurement: str = "anomalies") -> list[dict[str, Any]]:
    client = influx.client()
    result = client.query(f'SELECT * FROM "{measurement}"', database=db, epoch="ns")
    return sorted(result.get_points(), key=lambda p: p["time"])


def comparable(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points as InfluxDB returns them, without null columns of other series."""
    return [{k: v for k, v in p.items() if v is not None} for p in points]


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def assert_same_points(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want), f"Kapacitor wrote {len(got)} points, replay gives {len(want)}"
    for mine, theirs in zip(got, want, strict=True):
        assert set(mine) == set(theirs), f"at {mine['time']}: columns {sorted(mine)} vs {sorted(theirs)}"
        for key in mine:
            assert _close(mine[key], theirs[key]), f"at {mine['time']}: {key} = {mine[key]!r} vs {theirs[key]!r}"



# -- a whole stack ------------------------------------------------------------------------

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



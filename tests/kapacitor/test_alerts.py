"""The shipped alert scripts and topic handlers in a real Kapacitor, with their defaults.

The alert scripts send their events to a Kapacitor topic, so they run out of the box
(no log directory or HTTP endpoint needed); the shipped handler files route the topic
to a log file and an HTTP POST when defined with ``kapacitor define-topic-handler``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kapacitor_stack import KapacitorServer

from udfs.tickscript.client import retarget_dbrp

pytestmark = [pytest.mark.kapacitor]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "tickscripts" / "alerts"
HANDLERS = ROOT / "kapacitor" / "handlers"
T0 = 1_700_000_000_000_000_000
STEP = 60 * 10**9


class _Sink(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_sink() -> Any:
    _Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Sink.received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def kapacitor(kapacitor_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = KapacitorServer(kapacitor_bin, tmp_path_factory.mktemp("alerts"), "")
    server.start()
    yield server
    server.stop()


def _handler_file(name: str, tmp_path: Path, **options: str) -> Path:
    text = (HANDLERS / name).read_text()
    for key, value in options.items():
        lines = [f"  {key}: {value}" if line.strip().startswith(f"{key}:") else line for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    path = tmp_path / name
    path.write_text(text)
    return path


def _events(kapacitor: KapacitorServer, topic: str) -> list[dict[str, Any]]:
    return list(kapacitor.api("GET", f"/alerts/topics/{topic}/events").get("events", []))


def _wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_anomaly_alert_with_defaults_and_shipped_handlers(kapacitor: KapacitorServer, tmp_path: Path,
                                                          http_sink: Any) -> None:
    server, received = http_sink
    log_file = tmp_path / "anomalies.log"
    for name, options in (("anomalies-log.yaml", {"path": str(log_file)}),
                          ("anomalies-post.yaml", {"url": f"http://127.0.0.1:{server.server_port}/hook"})):
        done = kapacitor.cli("define-topic-handler", str(_handler_file(name, tmp_path, **options)))
        assert done.returncode == 0, done.stderr + done.stdout
    script = retarget_dbrp((ALERTS / "anomaly_alert.tick").read_text(), "alerts_db", "autogen")
    task = kapacitor.define("anomaly_alert", script, dbrps=[],
                            vars={"db": {"type": "string", "value": "alerts_db"}})
    assert task["executing"], task
    flags = [False] * 5 + [True] * 3 + [False] * 4  # one incident: CRITICAL once, then OK once
    lines = [f"anomalies,detector=mad,source=cpu,field=usage_idle,host=h1 usage_idle={50 + 40 * f},"
             f"anomaly_score={9.5 if f else 0.4},is_anomaly={'true' if f else 'false'} {T0 + i * STEP}"
             for i, f in enumerate(flags)]
    kapacitor.write("alerts_db", "autogen", lines)
    events = _wait(lambda: [e for e in _events(kapacitor, "anomalies") if e["state"]["level"] == "OK"])
    assert events, f"no OK event in topic anomalies: {_events(kapacitor, 'anomalies')}\n{kapacitor.log()[-2000:]}"
    assert _wait(lambda: len(received) >= 2), received
    levels = [r["level"] for r in received]
    assert levels == ["CRITICAL", "OK"], levels  # stateChangesOnly: one event per change
    assert received[0]["id"] == "anomaly:mad:cpu.usage_idle:detector=mad,field=usage_idle,host=h1,source=cpu"
    assert "value 90" in received[0]["message"] and "score 9.5" in received[0]["message"]
    logged = _wait(lambda: log_file.exists() and log_file.read_text().count("\n") >= 2)
    assert logged, f"log handler wrote nothing to {log_file}"
    assert [json.loads(x)["level"] for x in log_file.read_text().splitlines()] == ["CRITICAL", "OK"]
    assert "error" not in kapacitor.task("anomaly_alert")["error"]


def test_state_change_alert_with_defaults(kapacitor: KapacitorServer) -> None:
    script = retarget_dbrp((ALERTS / "state_change_alert.tick").read_text(), "states_db", "autogen")
    kapacitor.define("state_change_alert", script, dbrps=[], vars={"db": {"type": "string", "value": "states_db"}})
    lines = [
        f'anomalies,detector=edge,source=adsl,field=value,host=h1 current="Showtime",changes=0i,'
        f"is_anomaly=false {T0}",
        f'anomalies,detector=edge,source=adsl,field=value,host=h1 current="Training",previous="Showtime",'
        f"previous_duration=120000000000i,changes=1i,is_anomaly=false {T0 + 2 * STEP}",
        f'anomalies,detector=edge,source=adsl,field=value,host=h1 current="Showtime",previous="Training",'
        f"previous_duration=60000000000i,changes=2i,is_anomaly=true {T0 + 3 * STEP}",
    ]
    kapacitor.write("states_db", "autogen", lines)
    events = _wait(lambda: [e for e in _events(kapacitor, "state_changes") if e["state"]["level"] == "CRITICAL"])
    assert events, f"{_events(kapacitor, 'state_changes')}\n{kapacitor.log()[-2000:]}"
    [event] = events  # one series: the topic keeps its latest state
    assert event["state"]["level"] == "CRITICAL"
    assert "Training -> Showtime after 60 s in Training (change 2), flapping" in event["state"]["message"]
    assert kapacitor.task("state_change_alert")["error"] == ""

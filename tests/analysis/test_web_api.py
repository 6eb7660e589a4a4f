"""The HTTP API of ``udfs web`` with a real client against a running server (uvicorn subprocess)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from png_check import png_structure
from webserver import WebServer, start_server, stop_server

SAMPLE = Path(__file__).resolve().parents[2] / "udfs" / "data" / "machine_temperature.csv"
SMALL = "".join(SAMPLE.read_text().splitlines(keepends=True)[:1501]).encode()


def wait_done(client: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(f"/api/analyses/{job_id}").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not finished in {timeout}s")


def submit(client: httpx.Client, detectors: list[dict[str, Any]], data: bytes = SMALL, **form: str) -> httpx.Response:
    fields = {"detectors": json.dumps(detectors), "span": "all", **form}
    return client.post("/api/analyses", data=fields, files={"file": ("temperature.csv", data, "text/csv")})


def test_openapi_documents_the_endpoints(web_server: WebServer) -> None:
    with web_server.client() as client:
        schema = client.get("/openapi.json").json()
    assert {"/api/analyses", "/api/analyses/{job_id}", "/api/analyses/{job_id}/plot.png", "/api/detectors"} \
        <= set(schema["paths"])


def test_token_is_required(web_server: WebServer) -> None:
    with web_server.client(token="wrong") as client:
        assert client.get("/api/detectors").status_code == 401
    with web_server.client(token="") as client:
        assert submit(client, [{"name": "mad"}]).status_code == 401
        assert client.get("/").status_code == 200  # the page itself asks for the token


def test_detectors_come_from_the_declarations(web_server: WebServer) -> None:
    from udfs.detectors import REGISTRY

    with web_server.client() as client:
        listed = {d["name"]: d for d in client.get("/api/detectors").json()}
    declared = REGISTRY["mad"].parameters
    options = {o["name"]: o for o in listed["mad"]["options"]}
    for name, param in declared.items():
        assert options[name]["kind"] == param.kind and options[name]["default"] == param.default
        assert options[name]["help"] == param.help and options[name]["low"] == param.low
    assert "emit" not in options and "mirror" not in listed


def test_analysis_result_equals_the_cli(web_server: WebServer, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from udfs.analysis.cli import analyze

    detectors = [{"name": "mad", "options": {"window": 100, "threshold": 3.0}}, {"name": "zscore"}]
    with web_server.client() as client:
        answer = submit(client, detectors, consensus="any")
        assert answer.status_code == 202, answer.text
        state = wait_done(client, answer.json()["id"])
        assert state["status"] == "done", state["error"]
        png = client.get(state["plot_png"])
        page = client.get(state["plot_html"])
    assert png.headers["content-type"] == "image/png"
    shape = png_structure(png.content)
    assert shape.width >= 800 and shape.colours > 10 and shape.axes >= 2
    assert "<script>const ANALYSIS" in page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)  # self-contained: nothing fetched
    data = tmp_path / "temperature.csv"
    data.write_bytes(SMALL)
    out = tmp_path / "cli.json"
    run = CliRunner().invoke(analyze, [str(data), "-m", "temperature", "--span", "all", "-d",
                                       "mad:window=100,threshold=3.0", "-d", "zscore", "--consensus", "any",
                                       "--json", str(out)])
    assert run.exit_code == 0, run.output
    cli = json.loads(out.read_text())
    assert state["result"]["detectors"] == cli["detectors"] and state["result"]["consensus"] == cli["consensus"]
    assert state["result"]["consensus"]["count"] > 0


def test_bad_requests_are_refused_clearly(web_server: WebServer) -> None:
    with web_server.client() as client:
        assert submit(client, []).status_code == 400
        assert client.post("/api/analyses", data={"detectors": "not json"}).status_code == 400
        assert client.post("/api/analyses", data={"detectors": '[{"name": "mad"}]'}).status_code == 400
        refused = submit(client, [{"name": "mad"}], influx_url="http://10.1.2.3:8086", measurement="cpu")
        assert refused.status_code == 400 and "influx_url" in refused.text
        too_big = submit(client, [{"name": "mad"}], data=b"x" * (3 * 1024 * 1024))
        assert too_big.status_code == 413
        bad_option = submit(client, [{"name": "mad", "options": {"window": 1}}])
        state = wait_done(client, bad_option.json()["id"])
        assert state["status"] == "failed" and "window" in state["error"]
        assert client.get("/api/analyses/nope").status_code == 404


@pytest.mark.slow
def test_a_job_over_its_time_limit_is_stopped_and_the_server_keeps_answering() -> None:
    server = start_server("--workers", "1", "--max-queued", "1", "--job-timeout", "1s")
    try:
        big = SAMPLE.read_bytes()
        with server.client() as client:
            slow = submit(client, [{"name": "sigma"}], data=big)  # ~20 s of sigma: far over 1 s
            assert slow.status_code == 202
            started = time.monotonic()
            queued = submit(client, [{"name": "mad"}])
            assert queued.status_code == 202
            assert submit(client, [{"name": "mad"}]).status_code == 429  # one running, one waiting: full
            assert client.get("/api/config").status_code == 200  # answers while a job runs
            state = wait_done(client, slow.json()["id"], timeout=60)
            assert state["status"] == "failed" and "time limit" in state["error"]
            assert time.monotonic() - started < 30
    finally:
        stop_server(server)

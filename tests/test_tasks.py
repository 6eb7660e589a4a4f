"""``udfs tasks install`` against a fake Kapacitor HTTP API that answers like Kapacitor 1.5+.

The fake keeps tasks and templates, records every request, and refuses what Kapacitor's
task store refuses (``services/task_store/service.go``): an existing id on POST, dbrps
given both in the script and in the request, no dbrp at all, an unknown template; errors
come back as ``{"error": "..."}`` with HTTP 400, a missing task as 404.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from udfs.cli import main
from udfs.tickscript.client import KapacitorAPI, KapacitorError, parse_dbrp

ROOT = Path(__file__).resolve().parent.parent
SIGMA = ROOT / "tickscripts" / "sigma.tick"
MAD_VARS = ROOT / "tickscripts" / "vars" / "mad.json"
API = "/kapacitor/v1"


class FakeKapacitor(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, Any]] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.refuse: str | None = None  # next create/update answers 400 with this error

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: FakeKapacitor

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def reply(self, status: int, document: Any = None) -> None:
        body = json.dumps(document).encode() if document is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body: Any = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, self.path, body))
        match = re.fullmatch(rf"{API}/(tasks|templates)(?:/([^/?]+))?", self.path)
        if not match:
            return self.reply(404, {"error": "not found"})
        store = getattr(self.server, match.group(1))
        ident: str = match.group(2) or ""
        if self.command == "GET":
            return self.reply(200, store[ident]) if ident in store else self.reply(404, {"error": "no task exists"})
        if self.server.refuse:
            error, self.server.refuse = self.server.refuse, None
            return self.reply(400, {"error": error})
        if self.command == "POST":
            ident = body["id"]
            if ident in store:
                return self.reply(400, {"error": f"task {ident} already exists"})
            candidate = {"status": "disabled", **body}
        elif ident not in store:
            return self.reply(404, {"error": "task does not exist, cannot update"})
        else:
            candidate = {**store[ident], **body}
        if match.group(1) == "tasks" and (problem := self.task_error(candidate)):
            return self.reply(400, {"error": problem})
        store[ident] = candidate
        self.reply(200, candidate)

    def task_error(self, task: dict[str, Any]) -> str | None:
        template = task.get("template-id")
        if template and template not in self.server.templates:
            return f"unknown template {template}: err: no template exists"
        script = self.server.templates[template]["script"] if template else task.get("script", "")
        implicit = re.search(r"^dbrp ", script, re.M)
        if implicit and task.get("dbrps"):
            return "cannot specify dbrp in both implicitly and explicitly"
        if not implicit and not task.get("dbrps"):
            return "must specify dbrp"
        return None

    do_GET = do_POST = do_PATCH = handle_any


@pytest.fixture
def kapacitor() -> Iterator[FakeKapacitor]:
    server = FakeKapacitor()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def install(kapacitor: FakeKapacitor, *args: str) -> Any:
    return CliRunner().invoke(main, ["tasks", "install", "--kapacitor-url", kapacitor.url, *args])


def test_new_task_is_created_enabled_with_the_scripts_own_dbrp(kapacitor: FakeKapacitor) -> None:
    result = install(kapacitor, str(SIGMA))
    assert result.exit_code == 0, result.output
    assert result.output == 'task sigma (stream, "telegraf"."autogen"): created and enabled\n'
    assert kapacitor.calls() == [("GET", f"{API}/tasks/sigma"), ("POST", f"{API}/tasks")]
    body = kapacitor.requests[1][2]
    assert body == {"id": "sigma", "type": "stream", "script": SIGMA.read_text(), "status": "enabled"}


def test_existing_task_is_patched_and_reloaded(kapacitor: FakeKapacitor) -> None:
    assert install(kapacitor, str(SIGMA)).exit_code == 0
    kapacitor.requests.clear()
    result = install(kapacitor, str(SIGMA))
    assert result.exit_code == 0, result.output
    assert "updated, reloaded and enabled" in result.output
    assert kapacitor.calls() == [("GET", f"{API}/tasks/sigma"), ("PATCH", f"{API}/tasks/sigma"),
                                 ("PATCH", f"{API}/tasks/sigma")]
    assert kapacitor.requests[1][2]["status"] == "disabled"
    assert kapacitor.requests[2][2] == {"status": "enabled"}
    kapacitor.requests.clear()
    result = install(kapacitor, "--no-enable", str(SIGMA))
    assert "status unchanged" in result.output
    assert [body for _, _, body in kapacitor.requests[1:]] == [{"type": "stream", "script": SIGMA.read_text()}]


def test_dbrps_are_sent_only_for_scripts_without_a_dbrp_statement(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    script = tmp_path / "plain.tick"
    script.write_text("stream\n    |from()\n        .measurement('cpu')\n    @mad()\n        .field('usage_idle')\n")
    assert install(kapacitor, "--no-enable", str(script)).exit_code == 0
    assert kapacitor.tasks["plain"]["dbrps"] == [{"db": "telegraf", "rp": "autogen"}]
    assert kapacitor.tasks["plain"]["status"] == "disabled"
    result = install(kapacitor, "--dbrp", '"my.db".rp1', "--id", "plain2", str(script))
    assert result.exit_code == 0, result.output
    assert kapacitor.tasks["plain2"]["dbrps"] == [{"db": "my.db", "rp": "rp1"}]
    assert install(kapacitor, "--dbrp", "telegraf.autogen", str(SIGMA)).exit_code == 0  # the same: fine
    assert "dbrps" not in kapacitor.tasks["sigma"]


def test_conflicting_dbrp_is_refused_before_any_request(kapacitor: FakeKapacitor) -> None:
    result = install(kapacitor, "--dbrp", "other.autogen", str(SIGMA))
    assert result.exit_code == 1
    assert 'dbrp statement says "telegraf"."autogen", --dbrp says "other"."autogen"' in result.output
    assert kapacitor.requests == []


def test_template_and_a_task_from_it_with_vars(kapacitor: FakeKapacitor) -> None:
    mad = ROOT / "tickscripts" / "mad.tick"
    result = install(kapacitor, "--template", "--vars", str(MAD_VARS), "--id", "mad_disk", str(mad))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "template mad (stream): created",
        'task mad_disk (stream, "telegraf"."autogen"): created and enabled',
    ]
    assert kapacitor.templates["mad"] == {
        "status": "disabled", "id": "mad", "type": "stream", "script": mad.read_text()}
    task = kapacitor.requests[-1][2]
    assert task == {"id": "mad_disk", "template-id": "mad", "vars": json.loads(MAD_VARS.read_text()),
                    "status": "enabled"}
    kapacitor.requests.clear()
    result = install(kapacitor, "--template", str(mad))  # the template alone, updated
    assert result.output == "template mad (stream): updated (its tasks are reloaded by Kapacitor)\n"
    assert kapacitor.calls() == [("GET", f"{API}/templates/mad"), ("PATCH", f"{API}/templates/mad")]


def test_a_task_with_vars_but_no_template(kapacitor: FakeKapacitor) -> None:
    result = install(kapacitor, "--vars", str(MAD_VARS), str(ROOT / "tickscripts" / "mad.tick"))
    assert result.exit_code == 0, result.output
    assert kapacitor.tasks["mad"]["vars"]["window"] == {"type": "int", "value": 144}


def test_a_failing_script_installs_nothing(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tick"
    bad.write_text("stream\n    |from()\n    @mad()\n        .window(10.0)\n")
    result = install(kapacitor, str(SIGMA), str(bad))
    assert result.exit_code == 1
    assert "nothing installed" in result.output
    assert f"{bad}:4:10: unexpected arg to window, got DOUBLE expected INT" in result.output
    assert kapacitor.requests == []


def test_vars_that_do_not_fit_the_script_install_nothing(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"threshold": {"type": "int", "value": 3}, "nosuch": {"type": "int", "value": 1}}))
    result = install(kapacitor, "--vars", str(vars_file), str(ROOT / "tickscripts" / "mad.tick"))
    assert result.exit_code == 1
    assert "invalid type supplied for threshold, got int exp float" in result.output
    assert "var 'nosuch' is not declared in the script" in result.output
    assert kapacitor.requests == []


def test_kapacitors_error_body_is_shown(kapacitor: FakeKapacitor) -> None:
    kapacitor.refuse = 'invalid TICKscript: line 20 char 6: no method or property "sigma" on *pipeline.FromNode'
    result = install(kapacitor, str(SIGMA))
    assert result.exit_code == 1
    assert (f"Error: {SIGMA}: Kapacitor refused POST /kapacitor/v1/tasks (HTTP 400): invalid TICKscript: "
            'line 20 char 6: no method or property "sigma" on *pipeline.FromNode') in result.output


def test_connection_refused_is_explained() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(main, ["tasks", "install", "--kapacitor-url", f"http://127.0.0.1:{port}", str(SIGMA)])
    assert result.exit_code == 1
    assert f"cannot reach Kapacitor at http://127.0.0.1:{port} (connection refused); is kapacitord running?" in (
        result.output)


def test_non_json_error_and_404_on_update(kapacitor: FakeKapacitor) -> None:
    api = KapacitorAPI(kapacitor.url)
    assert api.exists("tasks", "nope") is False
    with pytest.raises(KapacitorError, match="answered PATCH /kapacitor/v1/tasks/nope with 404"):
        api._ok("PATCH", "/tasks/nope", {"status": "enabled"})
    with pytest.raises(KapacitorError, match=r"HTTP 400\): task x already exists"):
        api._ok("POST", "/tasks", {"id": "x", "type": "stream", "script": "dbrp \"a\".\"b\"\nstream"})
        api._ok("POST", "/tasks", {"id": "x", "type": "stream", "script": "dbrp \"a\".\"b\"\nstream"})


def test_batch_scripts_are_batch_tasks(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    script = tmp_path / "b.tick"
    script.write_text("dbrp \"telegraf\".\"autogen\"\nbatch\n    |query('SELECT mean(usage) FROM cpu')\n"
                      "        .period(1m)\n        .every(1m)\n    @mirror_batch()\n")
    assert install(kapacitor, str(script)).exit_code == 0
    assert kapacitor.tasks["b"]["type"] == "batch"


def test_options_are_checked() -> None:
    result = CliRunner().invoke(main, ["tasks", "install", "--id", "x", str(SIGMA), str(SIGMA)])
    assert result.exit_code == 2 and "--id names one task" in result.output
    result = CliRunner().invoke(main, ["tasks", "install", "--dbrp", "nodot", str(SIGMA)])
    assert result.exit_code == 2 and "expected DATABASE.RETENTION_POLICY" in result.output
    assert parse_dbrp("telegraf.autogen") == ("telegraf", "autogen")


def test_vars_that_move_the_database_move_the_tasks_dbrp(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    # A vars file with db set used to leave the script's dbrp "telegraf"."autogen": the task
    # then silently got no data.
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"db": {"type": "string", "value": "site1"}}))
    result = install(kapacitor, "--vars", str(vars_file), str(SIGMA))
    assert result.exit_code == 0, result.output
    assert result.output == 'task sigma (stream, "site1"."autogen"): created and enabled\n'
    script = kapacitor.tasks["sigma"]["script"]
    assert 'dbrp "site1"."autogen"' in script and '"telegraf"' not in script
    assert script.count("\n") == SIGMA.read_text().count("\n")  # line numbers of errors stay right


def test_a_template_whose_vars_move_the_database_is_refused(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"db": {"type": "string", "value": "site1"}}))
    result = install(kapacitor, "--template", "--vars", str(vars_file), str(SIGMA))
    assert result.exit_code != 0
    said = 'the vars read "site1"."autogen" but the template\'s dbrp statement says "telegraf"."autogen"'
    assert said in result.output
    assert kapacitor.requests == []

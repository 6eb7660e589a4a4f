"""``udfs watchdog``, ``udfs health --kapacitor-url`` and Kapacitor's basic auth, against a
fake Kapacitor HTTP API that keeps task state the way Kapacitor 1.5.7 does.

What the fake reproduces (seen on a real kapacitord 1.5.7, see the README's "Task
recovery"): a task whose UDF died stays ``status: enabled``, ``executing: false`` with
the error saved (``mirror2: write error: write |1: broken pipe``); ``GET /tasks`` returns
the asked ``fields`` plus ``id`` and ``link``, ``limit`` tasks (100 unless told) from
``offset``; a PATCH to the status it already has does nothing; enabling stores the
status first and then starts the task, answering 500 with the start error when that
fails (the task stays enabled, not executing); with ``[http] auth-enabled`` every
request without valid basic auth gets 401.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_tasks import _Handler as TasksHandler

from udfs.cli import main
from udfs.io import kapacitor as kapacitor_module
from udfs.io.kapacitor import KapacitorAPI, KapacitorError
from udfs.service.watchdog import TaskWatchdog

API = "/kapacitor/v1"
BROKEN_PIPE = "mirror2: write error: write |1: broken pipe"
DIAL_ERROR = "mirror2: dial unix /var/run/udfs/mirror.sock: connect: no such file or directory"
MIRROR_SCRIPT = "dbrp \"telegraf\".\"autogen\"\nstream\n    |from()\n        .measurement('cpu')\n    @mirror()\n"
PLAIN_SCRIPT = "dbrp \"telegraf\".\"autogen\"\nstream\n    |from()\n        .measurement('cpu')\n    |log()\n"


class FakeKapacitor(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.credentials: tuple[str, str] | None = None  # set: [http] auth-enabled
        self.udf_up: Callable[[str], bool] = lambda task_id: True  # can a task's UDF start now?
        self.drop_enable = 0  # close the connection without answering the next N enables
        self.lock = threading.Lock()
        self.log_lines: queue.Queue[dict[str, Any]] | None = None  # set: GET /kapacitor/v1preview/logs streams these
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, task_id: str, *, status: str = "enabled", executing: bool = True, error: str = "",
            script: str = MIRROR_SCRIPT) -> None:
        self.tasks[task_id] = {"id": task_id, "type": "stream", "status": status, "executing": executing,
                               "error": error, "script": script, "dbrps": [{"db": "telegraf", "rp": "autogen"}]}

    def die(self, task_id: str, error: str = BROKEN_PIPE) -> None:
        """What Kapacitor does when a task's UDF goes away: the task stops, its error is saved."""
        self.tasks[task_id].update(executing=False, error=error)

    def patches(self, task_id: str | None = None) -> list[tuple[str, str]]:
        return [(path.rsplit("/", 1)[1], body["status"]) for method, path, body in self.requests
                if method == "PATCH" and (task_id is None or path == f"{API}/tasks/{task_id}")]


class _Handler(TasksHandler):  # its quiet log and JSON replies; the requests are handled here
    server: FakeKapacitor  # type: ignore[assignment]

    def authorised(self) -> bool:
        if self.server.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(":".join(self.server.credentials).encode()).decode()
        return self.headers.get("Authorization") == expected

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body: Any = json.loads(self.rfile.read(length)) if length else None
        if not self.authorised():
            return self.reply(401, {"error": "unable to authenticate: no credentials or wrong ones"})
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/kapacitor/v1preview/logs" and self.command == "GET":
            return self.stream_log()
        with self.server.lock:
            self.server.requests.append((self.command, url.path, body))
            if url.path == f"{API}/tasks" and self.command == "GET":
                return self.list_tasks(query)
            if url.path == f"{API}/tasks" and self.command == "POST":
                self.server.add(body["id"], status=body.get("status", "disabled"), executing=False,
                                script=body.get("script", ""))
                return self.patch_task(body["id"], body.get("status", "disabled"), created=True)
            ident = url.path.removeprefix(f"{API}/tasks/")
            if ident not in self.server.tasks:
                return self.reply(404, {"error": "no task exists"})
            if self.command == "GET":
                return self.reply(200, self.server.tasks[ident])
            if self.command == "PATCH":
                return self.patch_task(ident, body.get("status"))
        self.reply(405, {"error": "method not allowed"})

    def stream_log(self) -> None:
        """Kapacitor's log API: one JSON object per line, as long as the client listens."""
        lines = self.server.log_lines
        if lines is None:
            return self.reply(404, {"error": "not found"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        while not self.server.stopping.is_set():
            try:
                entry = lines.get(timeout=0.05)
            except queue.Empty:
                continue
            self.wfile.write(json.dumps(entry).encode() + b"\n")
            self.wfile.flush()

    def list_tasks(self, query: dict[str, list[str]]) -> None:
        fields = query.get("fields", []) + ["id"]
        pattern = query.get("pattern", [""])[0]
        offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
        chosen = [task for ident, task in sorted(self.server.tasks.items())
                  if not pattern or fnmatch.fnmatchcase(ident, pattern)][offset:offset + limit]
        page = [{**{name: task[name] for name in fields},
                 "link": {"rel": "self", "href": f"{API}/tasks/{task['id']}"}} for task in chosen]
        self.reply(200, {"tasks": page})

    def patch_task(self, ident: str, status: str | None, *, created: bool = False) -> None:
        task = self.server.tasks[ident]
        changed = created or (status is not None and status != task["status"])
        if status is not None:
            task["status"] = status
        if changed and status == "disabled":
            task["executing"] = False
        if changed and status == "enabled":
            if self.server.drop_enable:
                self.server.drop_enable -= 1
                task["status"] = "disabled"  # the request never arrived
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if self.server.udf_up(ident):
                task.update(executing=True, error="")
            else:
                task.update(executing=False, error=DIAL_ERROR)
                return self.reply(500, {"error": DIAL_ERROR})
        self.reply(200, task)

    do_GET = do_POST = do_PATCH = handle_any


@pytest.fixture
def kapacitor() -> Iterator[FakeKapacitor]:
    server = FakeKapacitor()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The client -------------------------------------------------------------------------


def test_task_list_is_read_over_every_page(kapacitor: FakeKapacitor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kapacitor_module, "_PAGE", 2)
    for index in range(5):
        kapacitor.add(f"t{index}", executing=index != 3, error=BROKEN_PIPE if index == 3 else "")
    tasks = KapacitorAPI(kapacitor.url).tasks()
    assert [task.id for task in tasks] == ["t0", "t1", "t2", "t3", "t4"]
    assert [task.failed for task in tasks] == [False, False, False, True, False]
    assert tasks[3].error == BROKEN_PIPE and tasks[3].script == ""  # script only when asked for
    assert len([r for r in kapacitor.requests if r[0] == "GET"]) == 3
    assert KapacitorAPI(kapacitor.url).tasks(with_script=True)[0].script == MIRROR_SCRIPT


def test_credentials_in_the_url_are_basic_auth_and_never_shown(kapacitor: FakeKapacitor) -> None:
    kapacitor.credentials = ("admin", "s@cr:t")
    kapacitor.add("a")
    api = KapacitorAPI(kapacitor.url.replace("http://", "http://admin:s%40cr%3At@"))
    assert api.url == kapacitor.url
    assert [task.id for task in api.tasks()] == ["a"]
    given = KapacitorAPI(kapacitor.url, username="admin", password="s@cr:t")
    assert [task.id for task in given.tasks()] == ["a"]
    # Given apart, they win over the URL's.
    overridden = KapacitorAPI(kapacitor.url.replace("http://", "http://x:y@"), username="admin", password="s@cr:t")
    assert [task.id for task in overridden.tasks()] == ["a"]


def test_401_says_how_to_give_credentials(kapacitor: FakeKapacitor) -> None:
    kapacitor.credentials = ("admin", "secret")
    with pytest.raises(KapacitorError) as refused:
        KapacitorAPI(kapacitor.url).tasks()
    assert refused.value.status == 401
    assert "HTTP 401" in str(refused.value) and "--username and --password" in str(refused.value)
    assert "KAPACITOR_USERNAME" in str(refused.value)
    with pytest.raises(KapacitorError) as wrong:
        KapacitorAPI(kapacitor.url, username="admin", password="guess").tasks()
    assert "credentials of user 'admin' were refused" in str(wrong.value)
    assert "guess" not in str(wrong.value)


def test_a_url_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Kapacitor URL"):
        KapacitorAPI("localhost:9092")
    result = CliRunner().invoke(main, ["watchdog", "--once", "--kapacitor-url", "kapacitor:9092"])
    assert result.exit_code == 2 and "--kapacitor-url" in result.output


def test_tasks_install_sends_basic_auth(kapacitor: FakeKapacitor, tmp_path: Path) -> None:
    kapacitor.credentials = ("admin", "secret")
    script = tmp_path / "plain.tick"
    script.write_text(PLAIN_SCRIPT)
    refused = CliRunner().invoke(main, ["tasks", "install", "--kapacitor-url", kapacitor.url, str(script)])
    assert refused.exit_code == 1 and "HTTP 401" in refused.output and "--username" in refused.output
    assert kapacitor.tasks == {}
    ok = CliRunner().invoke(main, ["tasks", "install", "--kapacitor-url", kapacitor.url, str(script)],
                            env={"KAPACITOR_USERNAME": "admin", "KAPACITOR_PASSWORD": "secret"})
    assert ok.exit_code == 0, ok.output
    assert kapacitor.tasks["plain"]["status"] == "enabled"
    by_url = CliRunner().invoke(main, ["tasks", "install", "--kapacitor-url",
                                       kapacitor.url.replace("http://", "http://admin:secret@"), "--id", "again",
                                       str(script)])
    assert by_url.exit_code == 0, by_url.output


# The watchdog -----------------------------------------------------------------------


def test_a_failed_task_is_disabled_then_enabled_and_the_others_are_left_alone(
        kapacitor: FakeKapacitor, caplog: pytest.LogCaptureFixture) -> None:
    kapacitor.add("running")
    kapacitor.add("off", status="disabled", executing=False, error=BROKEN_PIPE)
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="udfs.watchdog"):
        attempts = dog.check()
    assert kapacitor.patches() == [("dead", "disabled"), ("dead", "enabled")]
    assert kapacitor.tasks["dead"]["executing"] is True and kapacitor.tasks["off"]["status"] == "disabled"
    assert [(a.task, a.attempt, a.executing, a.error) for a in attempts] == [("dead", 1, True, BROKEN_PIPE)]
    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith("task dead: re-enabled in ") and "executing (attempt 1; it had stopped: " \
        f"{BROKEN_PIPE})" in line
    assert dog.check() == [] and len(kapacitor.patches()) == 2  # executing now: nothing more to do


def test_retries_back_off_per_task_and_start_afresh_once_stable(
        kapacitor: FakeKapacitor, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    up = {"value": False}
    kapacitor.udf_up = lambda task_id: up["value"]
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    kapacitor.add("other")
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), first_delay=1.0, max_delay=8.0, stable=60.0, clock=clock)
    attempted_at = []
    start = clock.now
    with caplog.at_level(logging.INFO, logger="udfs.watchdog"):
        for _ in range(60):  # polls every 0.5 s for 30 s
            for attempt in dog.check():
                attempted_at.append((clock.now - start, attempt.attempt, attempt.next_delay))
            clock.now += 0.5
    assert attempted_at == [(0.0, 1, 1.0), (1.0, 2, 2.0), (3.0, 3, 4.0), (7.0, 4, 8.0), (15.0, 5, 8.0),
                            (23.0, 6, 8.0)]
    # Each failure is one warning naming the task, Kapacitor's answer, the attempt and the wait.
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 6
    assert warnings[1] == (f"task dead: re-enabling failed: {DIAL_ERROR} (attempt 2; it had stopped: "
                           f"{DIAL_ERROR}); next attempt in 2 s")
    assert kapacitor.patches("other") == []
    # The UDF is back: the next attempt (on schedule) succeeds.
    up["value"] = True
    clock.now = start + 31.0
    assert [(a.attempt, a.executing) for a in dog.check()] == [(7, True)]
    # It dies again soon after: the backoff goes on (attempt 8 at once, since 8 s have passed).
    clock.now += 9.0
    kapacitor.die("dead")
    assert [a.attempt for a in dog.check()] == [8]
    # After a minute executing, a new failure starts from attempt 1 again.
    clock.now += 61.0
    assert dog.check() == []
    kapacitor.die("dead")
    assert [(a.attempt, a.next_delay) for a in dog.check()] == [(1, 1.0)]


def test_a_failed_task_without_an_error_waits_for_a_second_poll(kapacitor: FakeKapacitor) -> None:
    # Enabled, not executing, no error: what a task being enabled by someone else looks like.
    kapacitor.add("starting", executing=False, error="")
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), clock=FakeClock())
    assert dog.check() == [] and kapacitor.patches() == []
    kapacitor.tasks["starting"]["executing"] = True  # it was: leave it
    assert dog.check() == [] and kapacitor.patches() == []
    kapacitor.tasks["starting"]["executing"] = False
    assert dog.check() == []
    assert [a.task for a in dog.check()] == ["starting"]  # still so on the next poll: it is stuck
    once = TaskWatchdog(KapacitorAPI(kapacitor.url), confirm_silent=False, clock=FakeClock())
    kapacitor.tasks["starting"]["executing"] = False
    assert [a.task for a in once.check()] == ["starting"]


def test_reattach_first_restarts_the_executing_tasks_once(kapacitor: FakeKapacitor,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    kapacitor.add("attached_elsewhere")
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    kapacitor.add("off", status="disabled", executing=False)
    kapacitor.add("not_ours", script=PLAIN_SCRIPT)
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), udfs=["mirror"], reattach_first=True, clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="udfs.watchdog"):
        assert sorted(a.task for a in dog.check()) == ["attached_elsewhere", "dead"]
    assert sorted(kapacitor.patches()) == [("attached_elsewhere", "disabled"), ("attached_elsewhere", "enabled"),
                                           ("dead", "disabled"), ("dead", "enabled")]
    assert any("task attached_elsewhere: re-enabled in" in r.getMessage() and "attached to no server" in r.getMessage()
               for r in caplog.records)
    assert dog.check() == []  # only on the first poll
    # A first poll that cannot read the list does not keep the restart for later.
    late = TaskWatchdog(KapacitorAPI(f"http://127.0.0.1:{free_port()}"), reattach_first=True, clock=FakeClock())
    assert late.poll() == []
    late.api = KapacitorAPI(kapacitor.url)
    assert late.check() == []


def test_a_lost_enable_is_sent_again_on_the_next_poll(kapacitor: FakeKapacitor) -> None:
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    kapacitor.drop_enable = 1
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), clock=FakeClock())
    [lost] = dog.check()
    assert not lost.executing and "re-enabling failed" in lost.outcome
    assert kapacitor.tasks["dead"]["status"] == "disabled"  # left disabled by us: must not stay so
    [again] = dog.check()
    assert again.executing and kapacitor.tasks["dead"]["status"] == "enabled"
    assert kapacitor.patches() == [("dead", "disabled"), ("dead", "enabled"), ("dead", "enabled")]
    # A task someone else disabled is not ours to enable.
    kapacitor.tasks["dead"].update(status="disabled", executing=False)
    assert dog.check() == []


def test_only_the_chosen_tasks_are_watched(kapacitor: FakeKapacitor) -> None:
    kapacitor.add("cpu_mirror", executing=False, error=BROKEN_PIPE)
    kapacitor.add("cpu_log", executing=False, error="log2: some error", script=PLAIN_SCRIPT)
    kapacitor.add("mem_mirror", executing=False, error=BROKEN_PIPE)
    by_udf = TaskWatchdog(KapacitorAPI(kapacitor.url), udfs=["mirror"], clock=FakeClock())
    assert sorted(a.task for a in by_udf.check()) == ["cpu_mirror", "mem_mirror"]
    kapacitor.die("cpu_mirror")
    kapacitor.die("mem_mirror")
    by_id = TaskWatchdog(KapacitorAPI(kapacitor.url), patterns=["cpu_*"], clock=FakeClock())
    assert sorted(a.task for a in by_id.check()) == ["cpu_log", "cpu_mirror"]


def test_an_unreachable_kapacitor_is_logged_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    dog = TaskWatchdog(KapacitorAPI(f"http://127.0.0.1:{free_port()}", timeout=2), clock=FakeClock())
    with caplog.at_level(logging.INFO, logger="udfs.watchdog"):
        assert dog.poll() == [] and dog.poll() == []
    assert len(caplog.records) == 1 and "connection refused" in caplog.records[0].getMessage()


def test_the_loop_recovers_a_task_within_a_few_polls(kapacitor: FakeKapacitor) -> None:
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url))
    stop = threading.Event()
    thread = dog.start(stop, interval=0.05)
    try:
        deadline = time.monotonic() + 5
        while not kapacitor.tasks["dead"]["executing"]:
            assert time.monotonic() < deadline, kapacitor.requests
            time.sleep(0.02)
        kapacitor.die("dead")
        while not kapacitor.tasks["dead"]["executing"]:
            assert time.monotonic() < deadline, kapacitor.requests
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_task_whose_udf_stopped_answering_keepalives_is_restarted(kapacitor: FakeKapacitor,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    # Kapacitor keeps such a task executing, with no error: only its log tells.
    kapacitor.log_lines = queue.Queue()
    kapacitor.add("zombie")
    kapacitor.add("fine")
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), follow_log=True)
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="udfs.watchdog"):
        thread = dog.start(stop, interval=0.05)
        try:
            time.sleep(0.3)
            kapacitor.log_lines.put({"ts": "2026-12-02T06:30:32.039Z", "lvl": "info", "msg": "UDF log",
                                     "task": "fine", "text": "INFO mirror: keepalive timedout"})
            kapacitor.log_lines.put({"ts": "2026-12-02T06:30:42.040Z", "lvl": "error", "msg": "encountered error",
                                     "service": "kapacitor", "task_master": "main", "task": "zombie", "node": "mirror2",
                                     "err": "keepalive timedout, last keepalive received was: 2026-12-02 06:30:32"})
            deadline = time.monotonic() + 5
            while len(kapacitor.patches()) < 2:
                assert time.monotonic() < deadline, kapacitor.requests
                time.sleep(0.02)
            time.sleep(0.3)
        finally:
            stop.set()
            thread.join(5)
    assert kapacitor.patches() == [("zombie", "disabled"), ("zombie", "enabled")]
    assert any("task zombie: re-enabled in" in r.getMessage() and "its UDF is gone: keepalive timedout" in
               r.getMessage() for r in caplog.records)


def test_without_a_log_api_the_watchdog_says_so_and_polls_on(kapacitor: FakeKapacitor,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    dog = TaskWatchdog(KapacitorAPI(kapacitor.url), follow_log=True)
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="udfs.watchdog"):
        thread = dog.start(stop, interval=0.05)
        deadline = time.monotonic() + 5
        while not kapacitor.tasks["dead"]["executing"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        stop.set()
        thread.join(5)
    assert any("has no log API" in r.getMessage() for r in caplog.records)


# The commands -----------------------------------------------------------------------


def test_watchdog_once_exit_status(kapacitor: FakeKapacitor) -> None:
    kapacitor.add("fine")
    runner = CliRunner()
    result = runner.invoke(main, ["watchdog", "--once", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 0, result.output
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    kapacitor.udf_up = lambda task_id: False
    result = runner.invoke(main, ["watchdog", "--once", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 1 and "1 task(s) still not executing: dead" in result.output
    kapacitor.udf_up = lambda task_id: True
    result = runner.invoke(main, ["watchdog", "--once", "--kapacitor-url", kapacitor.url, "--task", "nomatch*"])
    assert result.exit_code == 0 and not kapacitor.tasks["dead"]["executing"]
    result = runner.invoke(main, ["watchdog", "--once", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 0 and kapacitor.tasks["dead"]["executing"]
    kapacitor.credentials = ("admin", "secret")
    result = runner.invoke(main, ["watchdog", "--once", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 1 and "HTTP 401" in result.output
    result = runner.invoke(main, ["watchdog", "--once", "--kapacitor-url", kapacitor.url, "--username", "admin",
                                  "--password", "secret"])
    assert result.exit_code == 0, result.output


def test_watchdog_options_are_checked() -> None:
    result = CliRunner().invoke(main, ["watchdog", "--interval", "soon"])
    assert result.exit_code == 2 and "--interval" in result.output and "not a duration" in result.output
    result = CliRunner().invoke(main, ["watchdog", "--max-backoff", "0s"])
    assert result.exit_code == 2 and "must be more than 0" in result.output


def test_health_names_the_tasks_in_error(kapacitor: FakeKapacitor) -> None:
    runner = CliRunner()
    kapacitor.add("fine")
    kapacitor.add("off", status="disabled", executing=False, error=BROKEN_PIPE)
    result = runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 0, result.output
    assert result.output == (f"ok: Kapacitor at {kapacitor.url}: 1 of 1 enabled task(s) executing without error "
                             "(1 disabled, not checked)\n")
    assert runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url, "--quiet"]).output == ""
    kapacitor.add("dead", executing=False, error=BROKEN_PIPE)
    kapacitor.add("odd", error="task odd is already running")
    result = runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"unhealthy: task dead: enabled but not executing: {BROKEN_PIPE}",
                                          "unhealthy: task odd: executing, with an error: task odd is already running"]
    assert runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url, "--task", "fine"]).exit_code == 0


def test_health_auth_and_usage(kapacitor: FakeKapacitor) -> None:
    runner = CliRunner()
    kapacitor.credentials = ("admin", "secret")
    kapacitor.add("fine")
    result = runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url])
    assert result.exit_code == 1 and result.output.startswith("unhealthy: Kapacitor refused GET /kapacitor/v1/tasks "
                                                              "(HTTP 401)")
    result = runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url.replace("http://", "http://admin:secret@")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["health", "--kapacitor-url", kapacitor.url, "--username", "admin"],
                           env={"KAPACITOR_PASSWORD": "secret"})
    assert result.exit_code == 0, result.output
    unreachable = runner.invoke(main, ["health", "--kapacitor-url", f"http://127.0.0.1:{free_port()}"])
    assert unreachable.exit_code == 1 and "connection refused" in unreachable.output
    usage = runner.invoke(main, ["health"])
    assert usage.exit_code == 2 and "--socket-dir" in usage.output and "--kapacitor-url" in usage.output


# Inside `udfs serve` ----------------------------------------------------------------


def test_serve_re_enables_its_tasks_once_its_sockets_answer(kapacitor: FakeKapacitor, sock_dir: Path) -> None:
    """`udfs serve --kapacitor-url` with two workers: one watchdog (the parent's) re-enables
    the task calling one of its UDFs, and only once the UDF's socket accepts connections."""

    def socket_answers(task_id: str) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(2)
                conn.connect(str(sock_dir / "mirror.sock"))
            return True
        except OSError:
            return False

    kapacitor.udf_up = socket_answers
    kapacitor.add("mirror_task", executing=False, error=BROKEN_PIPE)
    kapacitor.add("mirror_zombie")  # attached to the previous server's closed connection
    kapacitor.add("not_ours", executing=False, error="log2: some error", script=PLAIN_SCRIPT)
    env = {**os.environ, "KAPACITOR_PASSWORD": "secret"}
    kapacitor.credentials = ("admin", "secret")
    process = subprocess.Popen(
        [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir), "--udf", "mirror", "--udf", "edge",
         "--workers", "2", "--kapacitor-url", kapacitor.url, "--kapacitor-username", "admin",
         "--watchdog-interval", "200ms"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while len(kapacitor.patches()) < 4 or not kapacitor.tasks["mirror_task"]["executing"]:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, kapacitor.requests
            time.sleep(0.05)
        time.sleep(0.5)  # a few more polls
        assert kapacitor.patches() == [("mirror_task", "disabled"), ("mirror_task", "enabled"),
                                       ("mirror_zombie", "disabled"), ("mirror_zombie", "enabled")]
        assert kapacitor.tasks["mirror_zombie"]["executing"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "watching the tasks of Kapacitor at" in stderr and "calling @mirror() or @edge()" in stderr
    assert "task mirror_task: re-enabled in" in stderr


# Deploy assets ----------------------------------------------------------------------

WATCHDOG_UNIT = Path(__file__).resolve().parent.parent / "kapacitor" / "udfs-watchdog.service"


def test_watchdog_unit_runs_a_real_watchdog_command_line() -> None:
    from deploy_assets import assert_udfs_command

    lines = dict(line.split("=", 1) for line in WATCHDOG_UNIT.read_text().splitlines() if "=" in line
                 and not line.startswith("#"))
    command = shlex.split(lines["ExecStart"])
    assert command[:2] == ["/opt/udfs/bin/udfs", "watchdog"]
    assert_udfs_command(["udfs", *command[1:]])
    assert lines["Environment"] == "KAPACITOR_URL=http://localhost:9092"
    assert "AF_INET" in lines["RestrictAddressFamilies"].split()  # it talks HTTP to Kapacitor
    assert "kapacitor.service" in lines["After"] and lines["Restart"] == "always"
    # systemd-analyze verifies it in test_systemd_unit.py.

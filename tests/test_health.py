"""``udfs health`` (the UDF container's HEALTHCHECK) against a real ``udfs serve`` subprocess,
and against the ways a socket can be unhealthy."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from udfs.functions import FUNCTIONS
from udfs.service.health import HealthError, check_socket


def udfs(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "udfs", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def server(sock_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """`udfs serve` on every UDF, as the container runs it; stopped with SIGTERM."""
    process = subprocess.Popen([sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir)],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not all((sock_dir / f"{name}.sock").exists() for name in FUNCTIONS):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "udfs serve did not create its sockets"
        time.sleep(0.05)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_healthy_server_every_socket_answers(server: subprocess.Popen[str], sock_dir: Path) -> None:
    result = udfs("health", "--socket-dir", str(sock_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == sorted(FUNCTIONS)
    assert all(line.startswith("ok: ") and "answered Info in" in line for line in lines)
    assert "mirror_batch (batch -> batch, 0 options)" in result.stdout
    assert udfs("health", "--socket-dir", str(sock_dir), "--quiet").stdout == ""


def test_check_socket_reports_the_udfs_info(server: subprocess.Popen[str], sock_dir: Path) -> None:
    health = check_socket(sock_dir / "edge.sock")
    assert (health.wants, health.provides) == ("stream", "stream")
    assert {"field", "flap_count", "flap_window"} <= set(health.options)
    assert health.seconds < 5


def test_no_server_is_unhealthy(sock_dir: Path) -> None:
    result = udfs("health", "--socket-dir", str(sock_dir), "--udf", "edge", "--udf", "mad")
    assert result.returncode == 1
    assert f"unhealthy: edge: {sock_dir}/edge.sock: no such socket" in result.stderr
    assert "unhealthy: mad:" in result.stderr


def test_server_gone_after_the_check_passed(server: subprocess.Popen[str], sock_dir: Path) -> None:
    assert udfs("health", "--socket-dir", str(sock_dir), "--udf", "mad").returncode == 0
    server.kill()  # no clean-up: the socket files stay, nobody listens
    server.wait()
    assert (sock_dir / "mad.sock").exists()
    result = udfs("health", "--socket-dir", str(sock_dir), "--udf", "mad")
    assert result.returncode == 1
    assert "unhealthy: mad:" in result.stderr and "Connection refused" in result.stderr


def test_a_server_serving_fewer_udfs_than_registered_is_unhealthy(sock_dir: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir), "--udf",
                                "edge"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (sock_dir / "edge.sock").exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert udfs("health", "--socket-dir", str(sock_dir), "--udf", "edge").returncode == 0
        result = udfs("health", "--socket-dir", str(sock_dir))
        assert result.returncode == 1
        assert "ok: edge" in result.stdout and "unhealthy: mad:" in result.stderr
    finally:
        process.terminate()
        process.wait(10)


def _listener(path: Path, reply: bytes | None) -> tuple[socket.socket, threading.Thread]:
    """A socket that accepts one connection and sends ``reply`` back (None: nothing; b"": hangs up)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)
            if reply == b"":
                return  # hang up without a word
            if reply is not None:
                conn.sendall(reply)
            time.sleep(1.5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (None, "no Info answer within 0.5 s"),
        (b"", "the server closed the connection without answering Info"),
        (b"\x02\x32\x00", "the UDF answered with an error"),  # Response(error=ErrorResponse())
        (b"\x05\xff\xff\xff\xff\xff", "the answer is not the UDF protocol"),
    ],
    ids=["silent", "hang-up", "error-response", "garbage"],
)
def test_sockets_that_do_not_answer_info(sock_dir: Path, reply: bytes | None, message: str) -> None:
    listener, thread = _listener(sock_dir / "x.sock", reply)
    try:
        with pytest.raises(HealthError, match=message):
            check_socket(sock_dir / "x.sock", timeout=0.5)
    finally:
        listener.close()
        thread.join(5)


def test_unknown_udf_name_is_a_usage_error(sock_dir: Path) -> None:
    result = udfs("health", "--socket-dir", str(sock_dir), "--udf", "nope")
    assert result.returncode == 2 and "unknown UDF 'nope'" in result.stderr

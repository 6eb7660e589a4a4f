"""Kapacitor goes away (issue 9): the UDF is gone within a second, whatever it had queued.

Kapacitor stops a task by closing the UDF's input and then reads little or nothing of
its output; 1.5.7 waits >120 s for a process UDF blocked writing to stdout. Each test
gives the UDF a large backlog of slow work (20 ms per point, 2,000 points: 40 s),
closes the input and measures how long the UDF takes to be gone.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from udfs.protocol import udf_pb2 as pb
from udfs.protocol.transport import SocketServer

from .peer import frame
from .sample_udfs import SlowMirror
from .transcripts import take_frames

SAMPLE_UDFS = Path(__file__).resolve().parent / "sample_udfs.py"
LIMIT = 1.0  # seconds from closing the input until the UDF is gone


def backlog(n: int = 2000, **tags: str) -> bytes:
    return b"".join(
        frame(pb.Request(point=pb.Point(time=t, name="m", tags=tags, fieldsDouble={"x": t}))) for t in range(n)
    )


def init_frame() -> bytes:
    return frame(pb.Request(init=pb.InitRequest(taskID="t", nodeID="n")))


def _read_init(read: Callable[[int], bytes]) -> None:
    buf = b""
    while True:
        data = read(65536)
        assert data, "UDF closed before answering Init"
        payloads, buf = take_frames(buf + data)
        if payloads:
            assert pb.Response.FromString(payloads[0]).init.success
            return


@pytest.mark.parametrize("stuck", [False, True], ids=["slow-backlog", "stuck-in-one-call"])
def test_process_udf_exits_within_a_second_of_stdin_closing(stuck: bool) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SAMPLE_UDFS), "slow_mirror"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
    )
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(init_frame())
        _read_init(proc.stdout.read)
        data = (backlog(1, stuck="yes") if stuck else b"") + backlog()
        writer = threading.Thread(target=lambda: _write_quietly(proc.stdin, data), daemon=True)
        writer.start()
        time.sleep(0.5)  # the UDF is busy; its output is not read (Kapacitor stopped reading)
        closed = time.monotonic()
        proc.stdin.close()
        proc.wait(timeout=30)
        gone = time.monotonic() - closed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert gone < LIMIT, f"the UDF took {gone:.2f} s to exit after stdin closed\n{stderr}"
    assert "Traceback" not in stderr, stderr


def _write_quietly(stream: Any, data: bytes) -> None:
    try:
        stream.write(data)
    except (BrokenPipeError, ValueError, OSError):
        pass  # closed by the test meanwhile


@pytest.mark.parametrize("stuck", [False, True], ids=["slow-backlog", "stuck-in-one-call"])
def test_socket_connection_closed_within_a_second_of_the_peer_closing(sock_dir: Path, stuck: bool) -> None:
    path = sock_dir / "slow.sock"
    server = SocketServer({path: ("slow_mirror", SlowMirror)})
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        sock.sendall(init_frame())
        _read_init(sock.recv)
        data = (backlog(1, stuck="yes") if stuck else b"") + backlog()
        writer = threading.Thread(target=lambda: _send_quietly(sock, data), daemon=True)
        writer.start()
        time.sleep(0.5)
        closed = time.monotonic()
        sock.shutdown(socket.SHUT_WR)  # Kapacitor's close, seen from the UDF: end of input
        sock.settimeout(30)
        while sock.recv(1 << 20):  # what the UDF still sends, until it closes the connection
            pass
        gone = time.monotonic() - closed
        sock.close()
    finally:
        server.shutdown()
        thread.join(10)
    assert gone < LIMIT, f"the server took {gone:.2f} s to close the connection after its peer closed"
    if not stuck:
        assert server.open_connections() == 0


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_process_udf_reads_on_while_its_output_is_not_read_so_the_peer_can_close() -> None:
    # Kapacitor 1.5.7 stops a task by pushing what is left in its edges into the UDF and only
    # then closing stdin, while it no longer reads stdout. A UDF that stopped reading once its
    # own output blocked left Kapacitor blocked writing: `kapacitor disable` hung (>120 s).
    proc = subprocess.Popen(
        [sys.executable, str(SAMPLE_UDFS), "recsock"],  # a fast mirror: output at input speed
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
    )
    assert proc.stdin and proc.stdout
    try:
        proc.stdin.write(init_frame())
        _read_init(proc.stdout.read)
        data = backlog(40_000)  # ~2 MB: far past the pipes and the normal read-ahead
        writer = threading.Thread(target=lambda: _write_quietly(proc.stdin, data), daemon=True)
        writer.start()
        writer.join(timeout=20)  # blocks for good if the UDF stops reading
        assert not writer.is_alive(), "the UDF stopped reading its input while its output was not read"
        closed = time.monotonic()
        proc.stdin.close()
        proc.wait(timeout=30)
        gone = time.monotonic() - closed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert gone < LIMIT, f"the UDF took {gone:.2f} s to exit after stdin closed\n{stderr}"
    assert "reading ahead" in stderr and "Traceback" not in stderr, stderr

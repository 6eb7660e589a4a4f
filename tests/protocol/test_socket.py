"""Socket UDFs: ``SocketServer`` in a thread, ``udfs serve`` as a subprocess, the recorded
socket session replayed byte for byte."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from udfs.functions import FUNCTIONS
from udfs.functions.mirror import Mirror, MirrorBatch
from udfs.protocol import udf_pb2 as pb
from udfs.protocol.transport import SocketInUseError, SocketServer

from .peer import KapacitorPeer
from .sample_udfs import ExplodingMirror, RecordedOptionsMirror
from .transcripts import TRANSCRIPTS, frames, map_key_orders, messages, sort_map_entries, varint


@contextmanager
def serving(sockets: Mapping[Path, tuple[str, Callable[[], Any]]]) -> Iterator[SocketServer]:
    server = SocketServer(sockets)
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)
        assert not thread.is_alive(), "serve_forever() did not return after shutdown()"


def connect(path: Path, timeout: float = 10.0) -> KapacitorPeer:
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return KapacitorPeer(sock)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def init() -> pb.Request:
    return pb.Request(init=pb.InitRequest(taskID="task", nodeID="node"))


def point(t: int, client: int) -> pb.Request:
    return pb.Request(
        point=pb.Point(
            time=t, name="m", group=f"client={client}", tags={"client": str(client)}, fieldsInt={"seq": t}
        )
    )


def keepalive(t: int) -> pb.Request:
    return pb.Request(keepalive=pb.KeepaliveRequest(time=t))


def split(responses: list[pb.Response]) -> tuple[list[Any], list[pb.Point], list[int], list[str]]:
    inits = [r.init for r in responses if r.HasField("init")]
    points = [r.point for r in responses if r.HasField("point")]
    keepalives = [r.keepalive.time for r in responses if r.HasField("keepalive")]
    errors = [r.error.error for r in responses if r.HasField("error")]
    return inits, points, keepalives, errors


def test_eight_concurrent_connections_each_get_their_own_points(sock_dir: Path) -> None:
    path = sock_dir / "mirror.sock"
    n_clients, n_points = 8, 1000
    all_connected = threading.Barrier(n_clients, timeout=20)

    def client(i: int) -> tuple[list[pb.Request], list[pb.Response]]:
        peer = connect(path)
        try:
            peer.send(init())
            assert peer.expect("init").init.success
            all_connected.wait()  # every connection is open before any data flows
            requests = []
            for t in range(n_points):
                requests.append(point(t, i))
                if t % 100 == 0:
                    requests.append(keepalive(i * 10**9 + t))
            for start in range(0, len(requests), 64):  # many writes, interleaved with the others
                peer.send(*requests[start : start + 64])
            peer.close_input()
            return requests, peer.until_eof(timeout=30)
        finally:
            peer.close()

    with serving({path: ("mirror", Mirror)}):
        with ThreadPoolExecutor(n_clients) as pool:
            results = list(pool.map(client, range(n_clients)))

    for i, (requests, responses) in enumerate(results):
        inits, points, keepalives, errors = split(responses)
        assert inits == [] and errors == []
        assert points == [r.point for r in requests if r.HasField("point")], f"client {i} got foreign points"
        assert {p.tags["client"] for p in points} == {str(i)}
        assert keepalives == [r.keepalive.time for r in requests if r.HasField("keepalive")]


def test_socket_file_mode_is_0660(sock_dir: Path) -> None:
    path = sock_dir / "mirror.sock"
    with serving({path: ("mirror", Mirror)}):
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o660


def test_a_failing_connection_does_not_disturb_the_others(sock_dir: Path) -> None:
    path = sock_dir / "exploding.sock"
    with serving({path: ("exploding_mirror", ExplodingMirror)}):
        good = [connect(path) for _ in range(7)]
        try:
            for i, peer in enumerate(good):
                peer.send(init(), *[point(t, i) for t in range(100)])
            for i, peer in enumerate(good):
                assert peer.expect("init").init.success
                assert [r.point for r in peer.take(100)] == [point(t, i).point for t in range(100)]

            garbage = connect(path)
            garbage.send_bytes(b"\xff" * 11)
            (response,) = garbage.until_eof()  # an ErrorResponse, then the server closes
            assert "varint" in response.error.error
            garbage.close()

            exploding = connect(path)
            boom = pb.Request(point=pb.Point(time=1, tags={"boom": "purpose"}))
            exploding.send(init(), point(0, 99), boom, point(2, 99))
            responses = exploding.until_eof()
            kinds = [r.WhichOneof("message") for r in responses]
            assert kinds == ["init", "point", "error"]
            assert "RuntimeError: exploded on purpose" in responses[-1].error.error
            exploding.close()

            for i, peer in enumerate(good):
                peer.send(*[point(t, i) for t in range(100, 200)], keepalive(i))
            for i, peer in enumerate(good):
                responses = peer.take(101)
                inits, points, keepalives, errors = split(responses)
                assert points == [point(t, i).point for t in range(100, 200)]
                assert keepalives == [i] and errors == []
                peer.close_input()
                assert peer.until_eof() == []
            late = connect(path)  # the server still accepts new connections
            late.send(init())
            assert late.expect("init").init.success
            late.close()
        finally:
            for peer in good:
                peer.close()


def test_stale_socket_file_is_replaced(sock_dir: Path) -> None:
    path = sock_dir / "mirror.sock"
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    crashed.bind(str(path))
    crashed.listen(1)
    crashed.close()  # like a server killed with SIGKILL: the file stays
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    with pytest.raises(ConnectionRefusedError):
        connect(path, timeout=0)
    with serving({path: ("mirror", Mirror)}):
        peer = connect(path)
        peer.send(pb.Request(info=pb.InfoRequest()))
        assert peer.expect("info").info == pb.InfoResponse()
        peer.close()


def test_live_socket_is_not_taken_over(sock_dir: Path) -> None:
    path = sock_dir / "mirror.sock"
    with serving({path: ("mirror", Mirror)}):
        inode = os.lstat(path).st_ino
        intruder = SocketServer({path: ("mirror", Mirror)})
        with pytest.raises(SocketInUseError, match="in use"):
            intruder.bind()
        assert os.lstat(path).st_ino == inode
        peer = connect(path)
        peer.send(keepalive(7))
        assert peer.expect("keepalive").keepalive.time == 7
        peer.close()


def test_regular_file_at_the_path_is_refused(sock_dir: Path) -> None:
    path = sock_dir / "mirror.sock"
    path.write_text("not a socket; somebody's data\n")
    server = SocketServer({path: ("mirror", Mirror)})
    with pytest.raises(FileExistsError, match="not a socket"):
        server.bind()
    assert path.read_text() == "not a socket; somebody's data\n"


def test_shutdown_removes_socket_files_and_closes_connections(sock_dir: Path) -> None:
    paths = {
        sock_dir / "mirror.sock": ("mirror", Mirror),
        sock_dir / "mirror_batch.sock": ("mirror_batch", MirrorBatch),
    }
    with serving(paths):
        assert all(p.exists() for p in paths)
        peer = connect(sock_dir / "mirror.sock")
        peer.send(init())
        assert peer.expect("init").init.success
    assert not any(p.exists() for p in paths)
    assert peer.until_eof(timeout=5) == []  # the open connection was closed, not left hanging
    peer.close()


def test_udfs_serve_subprocess(sock_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        peer = connect(sock_dir / "mirror.sock", timeout=15)
        expected = {sock_dir / f"{name}.sock" for name in FUNCTIONS}
        assert set(sock_dir.glob("*.sock")) == expected
        for path in expected:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        peer.send(pb.Request(info=pb.InfoRequest()), init(), point(1, 1))
        assert peer.expect("info").info == pb.InfoResponse(wants=pb.STREAM, provides=pb.STREAM)
        assert peer.expect("init").init.success
        assert peer.expect("point").point == point(1, 1).point

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0  # generous: a loaded 2-core CI machine
        assert list(sock_dir.glob("*.sock")) == []
        assert peer.until_eof(timeout=5) == []
        peer.close()
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=10)
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")


# -- the recorded socket session -------------------------------------------------------

def _assert_same_response(got: bytes, recorded: bytes, where: str) -> None:
    assert pb.Response.FromString(got) == pb.Response.FromString(recorded), where
    if map_key_orders(recorded, pb.Response.DESCRIPTOR) or map_key_orders(got, pb.Response.DESCRIPTOR):
        # A map with several entries: both sides chose an order at random (transcripts.py).
        canonical = sort_map_entries(recorded, pb.Response.DESCRIPTOR)
        assert sort_map_entries(got, pb.Response.DESCRIPTOR) == canonical, where
    else:
        assert got == recorded, where


@pytest.mark.parametrize("conn", ["socket.conn1", "socket.conn2", "socket.conn3"])
def test_recorded_socket_session_replayed_in_lockstep(sock_dir: Path, conn: str) -> None:
    """Each recorded request, sent as the recorded bytes, gets the recorded response.

    In the recording every request got exactly one response before the next request
    arrived (keepalives came a second apart), so the replay waits for each answer.
    """
    requests = frames(f"{conn}.requests.bin")
    recorded = frames(f"{conn}.responses.bin")
    assert len(requests) == len(recorded)
    path = sock_dir / "recsock.sock"
    with serving({path: ("recsock", RecordedOptionsMirror)}):
        peer = connect(path)
        for i, (request, expected) in enumerate(zip(requests, recorded, strict=True)):
            peer.send_bytes(_raw_frame(request))  # the recorded bytes, unchanged
            got = peer.next_payload(timeout=5)
            assert got is not None, f"{conn}: connection closed at request {i}"
            _assert_same_response(got, expected, f"{conn} response {i}")
        peer.close_input()
        assert peer.until_eof() == []
        peer.close()


def _raw_frame(payload: bytes) -> bytes:
    return varint(len(payload)) + payload


def test_recorded_socket_session_replayed_at_once(sock_dir: Path) -> None:
    """The whole recorded request stream in one write, as fast as the socket allows.

    Same responses as recorded, except for one documented difference: the agent
    answers keepalives on its reader thread, ahead of work queued for the handler, so
    they may overtake the InitResponse and points (the recording's pass-through UDF
    answered strictly in order). Kapacitor matches keepalive answers by ``time``.
    """
    data = (TRANSCRIPTS / "socket.conn2.requests.bin").read_bytes()
    path = sock_dir / "recsock.sock"
    with serving({path: ("recsock", RecordedOptionsMirror)}):
        peer = connect(path)
        peer.send_bytes(data)
        peer.close_input()
        got = peer.until_eof()
        peer.close()
    recorded = messages("socket.conn2.responses.bin")
    for kind in ("init", "point", "keepalive"):
        assert [r for r in got if r.WhichOneof("message") == kind] == [
            r for r in recorded if r.WhichOneof("message") == kind
        ], kind
    assert len(got) == len(recorded)


def test_recorded_options_reach_the_udf(sock_dir: Path) -> None:
    """The recorded Init (socket.tick's options) parses into the declared types."""
    path = sock_dir / "recsock.sock"
    handlers: list[RecordedOptionsMirror] = []

    def factory() -> RecordedOptionsMirror:
        handlers.append(RecordedOptionsMirror())
        return handlers[-1]

    with serving({path: ("recsock", factory)}):
        peer = connect(path)
        peer.send_bytes(_raw_frame(frames("socket.conn2.requests.bin")[0]))
        assert peer.expect("init").init.success
        peer.close_input()
        peer.until_eof()
        peer.close()
    (handler,) = handlers
    # socket.tick: .field('state').size(10).threshold(2.5).enabled(TRUE).window(5m).pair('x', 1.5).flag()
    assert handler.seen_config == {
        "field": "state", "size": 10, "threshold": 2.5, "enabled": True,
        "window": 5 * 60 * 10**9, "pair": ("x", 1.5), "flag": True,
    }
    assert (handler.task_id, handler.node_id) == ("recsock_task", "recsock2")

"""The socket server under pressure and misuse (issue 10): out of descriptors, a second
server on the same directory, half-created sockets, bad ``--mode`` values."""

from __future__ import annotations

import os
import resource
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from udfs.functions.mirror import Mirror
from udfs.protocol import sockets as socket_files
from udfs.protocol import udf_pb2 as pb
from udfs.protocol.transport import SocketInUseError, SocketServer

from .peer import KapacitorPeer
from .test_socket import connect, init, keepalive, serving

REPO = Path(__file__).resolve().parents[2]


def _serve(sock_dir: Path, *args: str, nofile: int | None = None) -> subprocess.Popen[bytes]:
    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return subprocess.Popen(
        [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir), "--udf", "mirror", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit,
    )


def _stop(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    _, stderr = process.communicate(timeout=10)
    return stderr.decode(errors="replace")


def test_out_of_descriptors_the_server_backs_off_and_keeps_serving(sock_dir: Path) -> None:
    process = _serve(sock_dir, "--workers", "1", nofile=40)
    peers: list[KapacitorPeer] = []
    try:
        first = connect(sock_dir / "mirror.sock", timeout=20)
        first.send(init())
        assert first.expect("init").init.success
        # Far more connections than descriptors: the worker's accept() hits EMFILE.
        for _ in range(60):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(sock_dir / "mirror.sock"))
            peer = KapacitorPeer(sock)
            peer.send(init())
            peers.append(peer)
        time.sleep(1.0)
        assert process.poll() is None, "udfs serve died when it ran out of descriptors"
        first.send(keepalive(11), pb.Request(point=pb.Point(time=1)))
        assert first.expect("keepalive").keepalive.time == 11
        assert first.expect("point").point.time == 1
        # Free descriptors: every waiting connection is then served.
        first.close()
        answered = 0
        for index, peer in enumerate(peers):
            if peer.expect("init", timeout=20).init.success:
                answered += 1
            peer.close()
            peers[index] = None  # type: ignore[call-overload]
        assert answered == 60
    finally:
        for peer in peers:
            if peer is not None:
                peer.close()
        stderr = _stop(process)
    assert "cannot accept a connection" in stderr and "Too many open files" in stderr, stderr
    assert "Traceback" not in stderr, stderr


def test_second_server_on_the_directory_is_refused_and_touches_nothing(sock_dir: Path) -> None:
    first = _serve(sock_dir, "--workers", "1")
    try:
        peer = connect(sock_dir / "mirror.sock", timeout=20)
        inode = os.lstat(sock_dir / "mirror.sock").st_ino
        second = _serve(sock_dir, "--workers", "1")
        assert second.wait(20) != 0
        stderr = _stop(second)
        assert "is in use: another udfs serve" in stderr and f"pid {first.pid}" in stderr, stderr
        assert os.lstat(sock_dir / "mirror.sock").st_ino == inode
        peer.send(keepalive(3))
        assert peer.expect("keepalive").keepalive.time == 3
        peer.close()
    finally:
        _stop(first)
    assert list(sock_dir.glob("*.sock")) == []


def test_a_socket_never_appears_before_it_listens(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = sock_dir / "mirror.sock"
    seen: list[bool] = []
    real_listen = socket.socket.listen

    def listen(self: socket.socket, *args: int) -> None:
        seen.append(path.exists())  # the final name must not exist yet: bound, not listening
        real_listen(self, *args)

    monkeypatch.setattr(socket.socket, "listen", listen)
    with serving({path: ("mirror", Mirror)}):
        assert seen == [False]
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert not path.exists()
    assert not list(sock_dir.glob(".*.tmp"))


def test_a_refused_server_removes_the_sockets_it_already_bound(sock_dir: Path) -> None:
    (sock_dir / "b.sock").write_text("somebody's file\n")
    server = SocketServer({sock_dir / "a.sock": ("mirror", Mirror), sock_dir / "b.sock": ("mirror", Mirror)})
    with pytest.raises(FileExistsError, match="not a socket"):
        server.bind()
    assert not (sock_dir / "a.sock").exists()
    assert (sock_dir / "b.sock").read_text() == "somebody's file\n"
    # ...and released the directory lock: the next server may start.
    with serving({sock_dir / "a.sock": ("mirror", Mirror)}):
        assert (sock_dir / "a.sock").exists()


def test_in_process_second_server_is_refused_by_the_lock(sock_dir: Path) -> None:
    with serving({sock_dir / "mirror.sock": ("mirror", Mirror)}):
        with pytest.raises(SocketInUseError, match="another udfs serve"):
            SocketServer({sock_dir / "other.sock": ("mirror", Mirror)}).bind()
        assert not (sock_dir / "other.sock").exists()


@pytest.mark.parametrize("mode", ["-1", "4777", "1660", "777", "7777"])
def test_socket_mode_beyond_rw_bits_is_refused(sock_dir: Path, mode: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir), "--udf", "mirror", "--mode", mode],
        capture_output=True, timeout=30,
    )
    assert done.returncode == 2
    assert "read/write permission bits within 0666" in done.stderr.decode(), done.stderr
    assert list(sock_dir.iterdir()) == []
    with pytest.raises(ValueError, match="within 0666"):
        socket_files.check_mode(int(mode, 8))


def test_systemd_unit_raises_the_descriptor_limit() -> None:
    unit = (REPO / "kapacitor" / "udfs.service").read_text()
    assert "\nLimitNOFILE=65536\n" in unit

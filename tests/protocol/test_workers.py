"""``udfs serve --workers N --metrics-port P --log-format json`` as a real process tree."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from udfs.protocol import udf_pb2 as pb

from .test_socket import connect, init, keepalive, point


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def _wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def _total(samples: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(prefix))


def test_workers_supervised_metrics_and_json_logs(sock_dir: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir), "--udf", "mirror", "--udf", "mad",
         "--workers", "2", "--metrics-port", str(port), "--log-format", "json", "--log-level", "debug"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        peers = [connect(sock_dir / "mirror.sock", timeout=20) for _ in range(4)]
        _wait_for(lambda: len(_children(process.pid)) == 2)
        for i, peer in enumerate(peers):
            peer.send(init(), *[point(t, i) for t in range(100)])
        for i, peer in enumerate(peers):
            assert peer.expect("init").init.success
            assert [r.point for r in peer.take(100)] == [point(t, i).point for t in range(100)]
        mad = connect(sock_dir / "mad.sock")
        mad.send(init())
        assert mad.expect("init").init.success
        mad.send(pb.Request(point=pb.Point(time=1, group="g", fieldsString={"value": "high"})), keepalive(1))
        assert mad.expect("keepalive").keepalive.time == 1

        def counted() -> bool:
            samples = _metrics(port)
            return (_total(samples, 'udfs_points_in_total{udf="mirror"') == 400
                    and _total(samples, 'udfs_points_skipped_total{reason="bad value",udf="mad"') == 1)

        _wait_for(counted)
        samples = _metrics(port)
        assert _total(samples, 'udfs_points_out_total{udf="mirror"') == 400
        assert _total(samples, 'udfs_connections_open{udf="mirror"') == 4
        per_worker = [v for k, v in samples.items() if k.startswith('udfs_connections_open{udf="mirror"')]
        assert len(per_worker) == 2 and min(per_worker) >= 1, f"connections not spread: {per_worker}"
        assert _total(samples, 'udfs_groups{udf="mad"') == 0  # the bad point created no group
        assert all('worker="' in k for k in samples)

        # A dead worker is replaced; the other worker's connections carry on.
        before = _children(process.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: len(_children(process.pid)) == 2 and victim not in _children(process.pid))
        # Each connection was on one worker: on the survivor it still answers; on the
        # killed one it is closed (never left hanging). The kernel picks the worker.
        outcomes = []
        for i, peer in enumerate(peers):
            try:
                peer.send(keepalive(100 + i))
                response = peer.next(timeout=5)
            except OSError:
                response = None
            outcomes.append("closed" if response is None else response.keepalive.time == 100 + i)
            peer.close()
        assert all(outcome in ("closed", True) for outcome in outcomes), outcomes
        late = connect(sock_dir / "mirror.sock")
        late.send(init())
        assert late.expect("init").init.success

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert late.until_eof(timeout=5) == []
        late.close()
        mad.close()
        assert list(sock_dir.glob("*.sock")) == []
        for pid in before | {victim}:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        if process.poll() is None:
            process.kill()  # the workers die with it (PR_SET_PDEATHSIG)
        _, stderr = process.communicate(timeout=10)
    lines = stderr.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [r["message"] for r in records]
    assert any("worker 0 started" in m for m in messages)
    assert any("ended with signal SIGKILL; restarting it" in m for m in messages)
    assert {r["level"] for r in records} <= {"debug", "info", "warning", "error"}
    assert not any("Traceback" in r.get("exception", "") for r in records if r["level"] == "error"
                   and "worker" not in r["message"])


def test_udfs_run_json_logs_one_object_per_line() -> None:
    data = b"".join(
        r.SerializeToString() and (bytes([len(r.SerializeToString())]) + r.SerializeToString())
        for r in [pb.Request(init=pb.InitRequest(taskID="t", nodeID="n",
                                                 options=[pb.Option(name="nope")]))]
    )
    done = subprocess.run([sys.executable, "-m", "udfs", "run", "mad", "--log-format", "json"],
                          input=data, capture_output=True, timeout=30)
    assert done.returncode == 0
    records = [json.loads(line) for line in done.stderr.decode().splitlines()]
    assert any(r["level"] == "error" and "nope" in r["message"] and r["udf"] == "mad" for r in records), records


def test_workers_die_with_a_killed_parent(sock_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "udfs", "serve", "--socket-dir", str(sock_dir), "--udf", "mirror", "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        connect(sock_dir / "mirror.sock", timeout=20).close()
        _wait_for(lambda: len(_children(process.pid)) == 2)
        workers = _children(process.pid)
    finally:
        process.kill()
        process.wait(10)

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in workers)

    _wait_for(gone, timeout=10)

"""Throughput of the agent: the mirror UDF in process and socket mode.

Sends N stream points (shaped like the recorded ADSL points: 2 tags, 1 field)
to ``udfs run mirror`` (process mode) or to ``udfs serve`` (socket mode), reads
every point back, and reports points/s and the UDF process's own CPU time per
point (compared with the protobuf floor: decoding each Request, copying its point into
a Response and framing it, in plain protobuf calls in this process), read from
/proc/PID/stat (user + system, all threads) just before the first point is sent
and after the last point came back, so start-up and Init are not counted.

    python bench/bench_mirror.py --points 500000 --mode both
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from udfs.protocol import FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def make_points(n: int) -> bytes:
    frames = []
    for i in range(n):
        request = pb.Request()
        p = request.point
        p.time = 1_795_356_266_000_000_000 + i * 1_000_000_000
        p.name = "adsl"
        p.database = "telegraf"
        p.retentionPolicy = "autogen"
        p.group = f"host=router{i % 4}"
        p.dimensions.append("host")
        p.tags["host"] = f"router{i % 4}"
        p.tags["line"] = "a 1"
        p.fieldsDouble["snr"] = 30.5 + (i % 100) / 10
        frames.append(encode_frame(request))
    return b"".join(frames)


def init_request(udf: str, options: Sequence[pb.Option] = ()) -> pb.InitRequest:
    return pb.InitRequest(taskID="bench", nodeID=f"{udf}2", options=options)


def run_exchange(write, read, pid: int, payload: bytes, n: int, init: pb.InitRequest) -> tuple[float, float]:
    """Send Init, then the points; count the points that come back.

    Returns (wall seconds, UDF CPU seconds) for the points, Init not included.
    """
    decoder: FrameDecoder[pb.Response] = FrameDecoder(pb.Response)
    write(encode_frame(pb.Request(init=init)))
    while not (got := decoder.feed(read(65536))):
        pass
    if not got[0].init.success:
        raise SystemExit(f"{init.nodeID}: init failed: {got[0].init.error or got[0]}")
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()

    def writer() -> None:
        view = memoryview(payload)
        step = 1 << 20
        for start in range(0, len(view), step):
            write(view[start : start + step])

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    received = 0
    while received < n:
        data = read(1 << 20)
        if not data:
            raise SystemExit(f"{init.nodeID}: UDF closed after {received} of {n} points")
        received += sum(1 for r in decoder.feed(data) if r.WhichOneof("message") == "point")
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    thread.join()
    return wall, cpu


def bench_process(
    payload: bytes, n: int, *, udf: str = "mirror", options: Sequence[pb.Option] = ()
) -> tuple[float, float]:
    """``udfs run UDF`` as Kapacitor starts it: Init with ``options``, then the points on stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "udfs", "run", udf, "--log-level", "warning"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
    )
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin and stdout

    def write(data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[stdin.write(view) :]

    def read(size: int) -> bytes:
        return os.read(stdout.fileno(), size)

    try:
        return run_exchange(write, read, proc.pid, payload, n, init_request(udf, options))
    finally:
        stdin.close()
        proc.wait(30)


def bench_socket(payload: bytes, n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "udfs", "serve", "--socket-dir", tmp, "--udf", "mirror",
             "--log-level", "warning", "--workers", "1"],
        )
        path = Path(tmp) / "mirror.sock"
        deadline = time.monotonic() + 10
        while not path.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("udfs serve did not create its socket")
            time.sleep(0.02)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        try:
            # The connection is served by the one worker process, a child of `udfs serve`.
            (worker,) = map(int, Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split())
            return run_exchange(sock.sendall, sock.recv, worker, payload, n, init_request("mirror"))
        finally:
            sock.close()
            proc.terminate()
            proc.wait(10)


def protobuf_floor(payload: bytes, n: int, repeat: int = 3) -> float:
    """CPU seconds per point of the plain-protobuf round trip (best of ``repeat``)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        decoder: FrameDecoder[pb.Request] = FrameDecoder(pb.Request)
        out = []
        for start in range(0, len(payload), 65536):
            for request in decoder.feed(payload[start : start + 65536]):
                response = pb.Response()
                response.point.CopyFrom(request.point)
                out.append(encode_frame(response))
        best = min(best, time.process_time() - started)
        assert len(out) == n
    return best / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=500_000, help="points per run (default 500000)")
    parser.add_argument("--mode", choices=["process", "socket", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the best is reported (default 3)")
    args = parser.parse_args()
    payload = make_points(args.points)
    print(f"{args.points} points, {len(payload) / args.points:.0f} bytes each on the wire", file=sys.stderr)
    modes = ["process", "socket"] if args.mode == "both" else [args.mode]
    best_cpu: dict[str, float] = {}
    for mode in modes:
        runs = [(bench_process if mode == "process" else bench_socket)(payload, args.points)
                for _ in range(args.repeat)]
        for wall, cpu in runs:
            print(f"  {mode}: {args.points / wall:,.0f} points/s, UDF CPU {cpu / args.points * 1e6:.2f} us/point",
                  file=sys.stderr)
        wall, cpu = min(runs, key=lambda r: r[1])
        print(f"{mode:<8} best: {args.points / wall:>10,.0f} points/s   UDF CPU {cpu / args.points * 1e6:.2f} us/point")
        best_cpu[mode] = cpu / args.points
    floor = protobuf_floor(payload, args.points)
    print(f"protobuf floor: {floor * 1e6:.2f} us/point (decode Request, copy point into Response, frame)")
    for mode, cpu in best_cpu.items():
        print(f"{mode:<8} agent / floor: {cpu / floor:.2f}")


if __name__ == "__main__":
    main()

"""Total throughput of `udfs serve --workers N`: C connections of one UDF at once.

Each connection is one Kapacitor task node (its own series, its own state); all send
their points at the same time and read every answer back (`.emit('all')`). The
figure is total points / wall seconds from the first point sent to the last answer.
The client (this process) shares the machine's cores with the server.

    python bench/bench_workers.py --udf sigma --connections 4 --points 5000 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from udfs.protocol import FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb


def series(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    frames = []
    for i in range(n):
        value = 50 + 10 * math.sin(i / 60) + rng.gauss(0, 1) + (40 if i % 997 == 500 else 0)
        point = pb.Point(time=1_700_000_000_000_000_000 + i * 10**9, name="cpu", group=f"host=h{seed}",
                         tags={"host": f"h{seed}"}, fieldsDouble={"value": value})
        frames.append(encode_frame(pb.Request(point=point)))
    return b"".join(frames)


def one_connection(path: Path, payload: bytes, n: int, started: threading.Barrier, out: list[float]) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    decoder: FrameDecoder[pb.Response] = FrameDecoder(pb.Response)
    sock.sendall(encode_frame(pb.Request(init=pb.InitRequest(taskID="bench", nodeID=f"n{len(out)}"))))
    while not (got := decoder.feed(sock.recv(65536))):
        pass
    assert got[0].init.success, got[0]
    started.wait()
    writer = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
    writer.start()
    received = 0
    while received < n:
        data = sock.recv(1 << 20)
        if not data:
            raise SystemExit(f"server closed after {received} of {n} points")
        received += sum(1 for r in decoder.feed(data) if r.HasField("point"))
    out.append(time.perf_counter())
    sock.close()


def run(udf: str, workers: int, connections: int, n: int) -> float:
    payloads = [series(n, seed) for seed in range(connections)]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "udfs", "serve", "--socket-dir", tmp, "--udf", udf,
                                 "--workers", str(workers), "--log-level", "warning"])
        try:
            path = Path(tmp) / f"{udf}.sock"
            deadline = time.monotonic() + 20
            while not path.exists():
                if time.monotonic() > deadline:
                    raise SystemExit("udfs serve did not start")
                time.sleep(0.02)
            started = threading.Barrier(connections + 1)
            finished: list[float] = []
            threads = [threading.Thread(target=one_connection, args=(path, p, n, started, finished))
                       for p in payloads]
            for t in threads:
                t.start()
            started.wait()
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            return connections * n / (max(finished) - t0)
        finally:
            proc.terminate()
            proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--udf", default="sigma")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--points", type=int, default=5000, help="points per connection")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, os.cpu_count() or 1])
    parser.add_argument("--repeat", type=int, default=2, help="runs per worker count; the best is shown")
    args = parser.parse_args()
    print(f"{args.udf}: {args.connections} connections x {args.points} points, {os.cpu_count()} cores")
    for workers in dict.fromkeys(args.workers):
        best = max(run(args.udf, workers, args.connections, args.points) for _ in range(args.repeat))
        print(f"  workers={workers}: {best:,.0f} points/s total")


if __name__ == "__main__":
    main()

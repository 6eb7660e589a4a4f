"""Load `udfs serve`: N concurrent connections x M points each through `@mirror()`.

Every point carries its connection and sequence number; every answer is checked:
lost (sent, never answered), duplicated (answered twice), reordered (answered out of
sequence on its connection) and foreign (another connection's point). Prints the
counts and total points/s; exit status 1 when any count is not zero.

    python bench/load_socket.py --connections 64 --points 20000 --workers 2     # the long run
    python bench/load_socket.py --connections 8 --points 2000 --workers 2       # what the tests run
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
from collections import Counter
from pathlib import Path

from udfs.protocol import FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb


def client(path: Path, index: int, n: int, results: dict[int, Counter[str]]) -> None:
    counts: Counter[str] = Counter()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    payload = [encode_frame(pb.Request(init=pb.InitRequest(taskID="load", nodeID=f"n{index}")))]
    for seq in range(n):
        payload.append(encode_frame(pb.Request(point=pb.Point(
            time=seq, name="load", group=f"c={index}", fieldsInt={"c": index, "seq": seq}))))
    writer = threading.Thread(target=sock.sendall, args=(b"".join(payload),), daemon=True)
    writer.start()
    decoder: FrameDecoder[pb.Response] = FrameDecoder(pb.Response)
    seen: set[int] = set()
    last = -1
    while len(seen) < n:
        data = sock.recv(1 << 20)
        if not data:
            break
        for response in decoder.feed(data):
            if not response.HasField("point"):
                counts["errors"] += response.HasField("error")
                continue
            fields = response.point.fieldsInt
            if fields["c"] != index:
                counts["foreign"] += 1
                continue
            seq = fields["seq"]
            if seq in seen:
                counts["duplicated"] += 1
            seen.add(seq)
            if seq < last:
                counts["reordered"] += 1
            last = max(last, seq)
    counts["lost"] = n - len(seen)
    counts["answered"] = len(seen)
    sock.close()
    results[index] = counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--points", type=int, default=10_000, help="points per connection")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "udfs", "serve", "--socket-dir", tmp, "--udf", "mirror",
                                   "--workers", str(args.workers), "--log-level", "warning"])
        try:
            path = Path(tmp) / "mirror.sock"
            while not path.exists():
                if server.poll() is not None:
                    raise SystemExit("udfs serve did not start")
                time.sleep(0.02)
            results: dict[int, Counter[str]] = {}
            threads = [threading.Thread(target=client, args=(path, i, args.points, results))
                       for i in range(args.connections)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
            alive = server.poll() is None
        finally:
            server.terminate()
            server.wait(20)
    total: Counter[str] = Counter()
    for counts in results.values():
        total.update(counts)
    sent = args.connections * args.points
    print(f"{args.connections} connections x {args.points} points, {args.workers} workers: "
          f"{total['answered']:,} of {sent:,} answered in {wall:.1f} s ({total['answered'] / wall:,.0f} points/s)")
    print(f"lost {total['lost']}, duplicated {total['duplicated']}, reordered {total['reordered']}, "
          f"foreign {total['foreign']}, errors {total['errors']}, server alive: {alive}")
    bad = total["lost"] + total["duplicated"] + total["reordered"] + total["foreign"] + total["errors"]
    return 1 if bad or not alive or len(results) != args.connections else 0


if __name__ == "__main__":
    sys.exit(main())

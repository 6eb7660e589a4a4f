"""Fuzz the agent over the real transports with mutated Kapacitor streams.

Inputs: the recorded real-Kapacitor request streams (tests/protocol/kapacitor-
transcripts/*.requests.bin) and generated streams of every request kind. Each case
mutates one input (bit flips, inserted/deleted/duplicated bytes, truncation, spliced
frames, corrupted length prefixes), sends it to a UDF, closes the input and reads the
answer. A case is counted as

* a hang: the UDF did not close within --timeout seconds of the input closing;
* a crash: the process (process mode) or the server (socket mode) died, ended with
  a failure status without sending an ErrorResponse, or logged a traceback other
  than a handler's own error (a UDF refusing a batch message on a stream edge is a
  handler error: logged, answered with an ErrorResponse, as documented);
* corrupted output: the answer is not a clean sequence of framed Responses.

    python bench/fuzz_protocol.py --mode both --seconds 600        # the long run
    python bench/fuzz_protocol.py --mode socket --seconds 3        # what the tests run

Exit status 1 when any hang, crash or corruption was seen.
"""

from __future__ import annotations

import argparse
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from udfs.protocol import encode_frame, split_frames
from udfs.protocol import udf_pb2 as pb

REPO = Path(__file__).resolve().parents[1]
TRANSCRIPTS = REPO / "tests" / "protocol" / "kapacitor-transcripts"


def generated_stream(rng: random.Random) -> bytes:
    requests = [pb.Request(info=pb.InfoRequest()), pb.Request(init=pb.InitRequest(taskID="f", nodeID="n"))]
    for i in range(rng.randint(1, 200)):
        kind = rng.random()
        if kind < 0.7:
            requests.append(pb.Request(point=pb.Point(
                time=i, name="m", group="g", tags={"h": str(i % 3)}, fieldsDouble={"value": rng.gauss(0, 1)},
                fieldsString={"s": "x" * rng.randint(0, 300)})))
        elif kind < 0.8:
            requests.append(pb.Request(keepalive=pb.KeepaliveRequest(time=i)))
        elif kind < 0.85:
            requests.append(pb.Request(snapshot=pb.SnapshotRequest()))
        elif kind < 0.9:
            requests.append(pb.Request(restore=pb.RestoreRequest(snapshot=rng.randbytes(rng.randint(0, 50)))))
        elif kind < 0.95:
            requests.append(pb.Request(begin=pb.BeginBatch(name="m", group="g", size=1)))
        else:
            requests.append(pb.Request(end=pb.EndBatch(name="m", group="g", tmax=i)))
    return b"".join(encode_frame(r) for r in requests)


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1) if buf else 0
        if op == 0 and buf:  # flip a bit
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 2 and buf:  # delete a run
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3:  # truncate
            del buf[pos:]
        elif op == 4 and buf:  # duplicate a run
            end = min(len(buf), pos + rng.randint(1, 400))
            buf[pos:pos] = buf[pos:end]
        elif op == 5:  # a huge or overlong length prefix
            buf[pos:pos] = rng.choice([b"\xff" * 11, b"\x80\x80\x80\x80\x08", b"\xff\xff\xff\x1f"])
        else:  # splice another copy at a random place
            buf[pos:pos] = data[rng.randrange(len(data) + 1):]
    return bytes(buf)


def unexpected_tracebacks(stderr: bytes) -> int:
    """Tracebacks in a log that are not a handler's own error (those are logged on purpose)."""
    return stderr.count(b"Traceback") - stderr.count(b"handler failed:\nTraceback")


def classify_output(out: bytes) -> str | None:
    """None if ``out`` is clean framed Responses, else what is wrong."""
    try:
        for payload in split_frames(out):
            pb.Response.FromString(payload)
    except Exception as exc:
        return f"corrupted output: {exc}"
    return None


@dataclass
class Tally:
    cases: int = 0
    hangs: int = 0
    crashes: int = 0
    corrupted: int = 0
    examples: list[str] = field(default_factory=list)

    def bad(self, what: str, kind: str, case: bytes) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < 5:
            self.examples.append(f"{what} (input {case[:40]!r}...)")


def run_process_case(data: bytes, udf: str, timeout: float, tally: Tally) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "udfs", "run", udf, "--log-level", "error"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(data, timeout=timeout + 5)  # start-up is not the UDF's fault
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        tally.bad("process mode: no exit", "hangs", data)
        return
    except BrokenPipeError:
        out, err = proc.stdout.read() if proc.stdout else b"", b""
        proc.wait()
    problem = classify_output(out)
    told = problem is None and any(pb.Response.FromString(p).HasField("error") for p in split_frames(out))
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not told) or unexpected_tracebacks(err):
        tally.bad(f"process mode: exit {proc.returncode}: {err[-200:]!r}", "crashes", data)
    if problem:
        tally.bad(f"process mode: {problem}", "corrupted", data)


def run_socket_case(path: Path, server: subprocess.Popen[bytes], data: bytes, timeout: float, tally: Tally) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    out = b""
    try:
        sock.connect(str(path))
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed first (garbage detected): fine
        while chunk := sock.recv(1 << 20):
            out += chunk
    except TimeoutError:
        tally.bad("socket mode: connection not closed", "hangs", data)
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    if server.poll() is not None:
        tally.bad(f"socket mode: server died with {server.returncode}", "crashes", data)
    problem = classify_output(out)
    if problem:
        tally.bad(f"socket mode: {problem}", "corrupted", data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["process", "socket", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long (default 60)")
    parser.add_argument("--cases", type=int, default=0, help="stop after this many cases (0: no limit)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a UDF has to close (default 5)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    recorded = {p.name: p.read_bytes() for p in sorted(TRANSCRIPTS.glob("*.requests.bin"))}
    modes = ["process", "socket"] if args.mode == "both" else [args.mode]
    tallies = {mode: Tally() for mode in modes}
    stop_at = time.monotonic() + args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        # The server's log goes to a file: a pipe nobody reads until the end would fill up
        # and block the server on its own stderr (that looked like hangs).
        log_path = Path(tmp) / "serve.log"
        log_file = log_path.open("wb")
        if "socket" in modes:
            server = subprocess.Popen([sys.executable, "-m", "udfs", "serve", "--socket-dir", tmp, "--udf", "mirror",
                                       "--udf", "mirror_batch", "--workers", "2", "--log-level", "error"],
                                      stderr=log_file)
            while not (Path(tmp) / "mirror_batch.sock").exists():
                if server.poll() is not None:
                    raise SystemExit("udfs serve did not start")
                time.sleep(0.02)
        try:
            case = 0
            while time.monotonic() < stop_at and (not args.cases or case < args.cases * len(modes)):
                mode = modes[case % len(modes)]
                case += 1
                if rng.random() < 0.5:
                    name, source = rng.choice(sorted(recorded.items()))
                else:
                    name, source = "generated", generated_stream(rng)
                udf = "mirror_batch" if name.startswith("batch") else "mirror"
                data = mutate(source, rng)
                tally = tallies[mode]
                tally.cases += 1
                if mode == "process":
                    run_process_case(data, udf, args.timeout, tally)
                else:
                    assert server is not None
                    run_socket_case(Path(tmp) / f"{udf}.sock", server, data, args.timeout, tally)
                    if server.poll() is not None:
                        break
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=20)
                log_file.close()
                err = log_path.read_bytes()
                if unexpected_tracebacks(err):
                    tallies["socket"].bad(f"server traceback: {err[-300:]!r}", "crashes", b"")
    failed = False
    for mode, t in tallies.items():
        print(f"{mode}: {t.cases} cases, {t.hangs} hangs, {t.crashes} crashes, {t.corrupted} corrupted outputs")
        for example in t.examples:
            print(f"    {example}")
        failed |= bool(t.hangs or t.crashes or t.corrupted)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

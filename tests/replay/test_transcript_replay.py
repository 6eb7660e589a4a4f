"""The replay driver sends what a real Kapacitor 1.5.7 sent, message by message.

The recorded points are written to a line-protocol file, replayed with the
recorded TICKscript's options through a UDF declaring the recorded options, and
the request stream the driver wrote (``--record-requests``) is compared with the
recording. Keepalives are timing, not content: they are compared separately.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from google.protobuf import json_format

from udfs.io.lineprotocol import format_record
from udfs.io.records import Record
from udfs.protocol import split_frames
from udfs.protocol import udf_pb2 as pb
from udfs.replay.output import point_to_record

HERE = Path(__file__).resolve().parent
TRANSCRIPTS = HERE.parent / "protocol" / "kapacitor-transcripts"
SAMPLE_UDFS = HERE.parent / "protocol" / "sample_udfs.py"


def recorded(name: str) -> list[pb.Request]:
    return [pb.Request.FromString(f) for f in split_frames((TRANSCRIPTS / name).read_bytes())]


def point_record(point: pb.Point, name: str) -> Record:
    """The record a point was made from; batch points carry no name, ``name`` stands in."""
    return point_to_record(point, measurement=point.name or name)


def replay(tmp_path: Path, lines: list[str], args: list[str], prog: str) -> list[pb.Request]:
    data = tmp_path / "input.lp"
    data.write_text("\n".join(lines) + "\n")
    sent = tmp_path / "sent.bin"
    cmd = [sys.executable, "-m", "udfs", "replay", "recorded", "--prog", prog, "-i", str(data),
           "--record-requests", str(sent), "--output", str(tmp_path / "out.lp"), "--no-progress", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [pb.Request.FromString(f) for f in split_frames(sent.read_bytes())]


def without_keepalives(requests: list[pb.Request]) -> list[pb.Request]:
    return [r for r in requests if r.WhichOneof("message") != "keepalive"]


def without_end_barrier(requests: list[pb.Request]) -> list[pb.Request]:
    """Our requests without the snapshot request the replay sends after the last point.

    Kapacitor's input never ends, so it needs none; the replay's does, and the UDF
    discards queued work when its input closes, so the replay waits for the answer to
    that one snapshot request (which comes after every point before it) first.
    """
    assert requests and requests[-1].WhichOneof("message") == "snapshot", "the end-of-input barrier is missing"
    return requests[:-1]


def test_stream_replay_sends_what_kapacitor_sent(tmp_path: Path) -> None:
    expected = recorded("stream.requests.bin")
    lines = [format_record(point_record(r.point, "adsl")) for r in expected if r.WhichOneof("message") == "point"]
    options = ["field=state", "size=10", "threshold=2.5", "enabled=TRUE", "window=5m", "pair=x,1.5", "flag"]
    sent = replay(
        tmp_path, lines,
        [*sum((["-o", o] for o in options), []), "--group-by", "host", "--task-id", "rec_stream",
         "--node-id", "recstream2", "--database", "telegraf", "--retention-policy", "autogen"],
        f"{sys.executable} {SAMPLE_UDFS} recsock",
    )
    ours, theirs = without_end_barrier(without_keepalives(sent)), without_keepalives(expected)
    assert len(ours) == len(theirs)
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, (
            f"message {index} differs:\nours   {json_format.MessageToJson(a)}\ntheirs {json_format.MessageToJson(b)}"
        )
    # Kapacitor's first message is the start-up Info (separate process); the task
    # process starts with Init, never Info.
    assert [r.WhichOneof("message") for r in ours[:2]] == ["info", "init"]


def test_batch_replay_sends_what_kapacitor_sent(tmp_path: Path) -> None:
    # The recording holds several runs of one query (.every(2s)) over the same data; a
    # replay of that data yields one run, which must equal each recorded run.
    expected = without_keepalives(recorded("batch.requests.bin"))
    info, init, data = expected[0], expected[1], expected[2:]
    size = next(n for n in range(1, len(data) + 1) if len(data) % n == 0 and data == data[:n] * (len(data) // n))
    assert len(data) // size >= 2, "expected repeated query runs in the recording"
    one_run = data[:size]
    name = ""
    records = []
    for request in one_run:
        kind = request.WhichOneof("message")
        if kind == "begin":
            name = request.begin.name
        elif kind == "point":
            records.append(point_record(request.point, name))
    records.sort(key=lambda r: r.time)
    sent = replay(
        tmp_path, [format_record(r) for r in records],
        ["-o", "field=usage", "-o", "size=3", "--group-by", "host", "--batch-period", "1h",
         "--task-id", "rec_batch", "--node-id", "recbatch2"],
        f"{sys.executable} {SAMPLE_UDFS} recbatch",
    )
    ours = without_end_barrier(without_keepalives(sent))
    assert ours == [info, init, *one_run]


def test_keepalives_and_snapshots_go_out_on_schedule_while_data_flows(tmp_path: Path) -> None:
    # A live input (stdin, a line every 0.25 s for 3 s) with timeout 1s: Kapacitor
    # sends a keepalive every 0.5 s, each answered with its own time.
    sent_path = tmp_path / "sent.bin"
    cmd = [sys.executable, "-m", "udfs", "replay", "recorded", "--prog", f"{sys.executable} {SAMPLE_UDFS} recsock",
           "-i", "-", "--timeout", "1s", "--snapshot-interval", "1s", "--record-requests", str(sent_path),
           "--output", str(tmp_path / "o.lp"), "--no-progress"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    for i in range(12):
        proc.stdin.write(f"m value={i}.0 {1_700_000_000_000_000_000 + i}\n")
        proc.stdin.flush()
        time.sleep(0.25)
    proc.stdin.close()
    assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    sent = [pb.Request.FromString(f) for f in split_frames(sent_path.read_bytes())]
    times = [r.keepalive.time for r in sent if r.WhichOneof("message") == "keepalive"]
    assert len(times) >= 4, times
    gaps = [(b - a) / 1e9 for a, b in zip(times, times[1:], strict=False)]
    assert all(0.35 < g < 0.9 for g in gaps), gaps  # 0.5 s, with slack for a loaded machine
    out = (tmp_path / "o.lp").read_text().splitlines()
    assert len(out) == 12
    # Snapshot requests every snapshot interval (Kapacitor's [task] snapshot-interval), here 1 s.
    snapshots = [r for r in sent if r.WhichOneof("message") == "snapshot"]
    assert 2 <= len(snapshots) <= 4, len(snapshots)

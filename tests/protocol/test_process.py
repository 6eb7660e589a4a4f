"""Process UDFs as Kapacitor runs them: ``python -m udfs run NAME`` over stdin/stdout.

The input is what a real Kapacitor 1.5.7 sent (``kapacitor-transcripts/``); the
output is split with the spec-based reader in :mod:`transcripts`, so a single stray
byte on stdout fails these tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from udfs.functions import FUNCTIONS
from udfs.protocol import udf_pb2 as pb

from .peer import frame
from .transcripts import frames, messages, sort_map_entries, take_frames

SAMPLE_UDFS = Path(__file__).resolve().parent / "sample_udfs.py"


def run_process(args: Sequence[str], data: bytes, timeout: float = 30.0) -> tuple[list[bytes], str, int]:
    """Run a UDF process on ``data``; return its response payloads, stderr, exit status."""
    done = subprocess.run(list(args), input=data, capture_output=True, timeout=timeout)
    payloads, rest = take_frames(done.stdout)
    assert rest == b"", f"stdout is not a clean response stream; it ends with {rest[:80]!r}"
    return payloads, done.stderr.decode(errors="replace"), done.returncode


def udfs_run(name: str) -> list[str]:
    return [sys.executable, "-m", "udfs", "run", name]


def by_kind(payloads: list[bytes]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for payload in payloads:
        response = pb.Response.FromString(payload)
        kind = response.WhichOneof("message")
        out.setdefault(kind, []).append((response, payload))
    return out


def without_init_options(name: str) -> bytes:
    """The recorded request stream with the Init's options removed."""
    out = []
    for request in messages(name):
        if request.WhichOneof("message") == "init":
            del request.init.options[:]
            assert request.init.taskID  # the rest of the Init is kept
        out.append(frame(request))
    return b"".join(out)


def test_recorded_init_is_refused_by_mirror_naming_the_option() -> None:
    """stream.requests.bin carries @recstream()'s options; mirror declares none."""
    data = b"".join(frame(r) for r in messages("stream.requests.bin"))
    payloads, stderr, status = run_process(udfs_run("mirror"), data)
    responses = by_kind(payloads)

    (info,) = [r for r, _ in responses["info"]]
    # Mirror: stream in, stream out, no options. STREAM is 0, so a default InfoResponse.
    assert info.info == pb.InfoResponse(wants=pb.STREAM, provides=pb.STREAM)

    (init,) = [r for r, _ in responses["init"]]
    assert init.init.success is False
    error = init.init.error
    first_option = messages("stream.requests.bin")[1].init.options[0].name
    assert first_option == "field"
    assert "unknown option" in error and f"{first_option}()" in error, error
    assert "error" not in responses, "a refused Init is not a fatal ErrorResponse"
    assert "field()" in stderr, "the refusal is logged on stderr"

    sent_keepalives = [r.keepalive.time for r in messages("stream.requests.bin") if r.HasField("keepalive")]
    assert [r.keepalive.time for r, _ in responses["keepalive"]] == sent_keepalives
    assert status == 0


def test_mirror_returns_every_recorded_point_unchanged() -> None:
    requests = messages("stream.requests.bin")
    payloads, stderr, status = run_process(udfs_run("mirror"), without_init_options("stream.requests.bin"))
    assert status == 0, stderr
    responses = by_kind(payloads)
    assert [r.init for r, _ in responses["init"]] == [pb.InitResponse(success=True)]
    assert "error" not in responses

    sent = [(r, p) for r, p in zip(requests, frames("stream.requests.bin"), strict=True) if r.HasField("point")]
    got = responses["point"]
    assert len(got) == len(sent) == 13
    recorded_out = [p for p in frames("stream.responses.bin") if pb.Response.FromString(p).HasField("point")]
    for (request, request_payload), (response, response_payload), recorded in zip(
        sent, got, recorded_out, strict=True
    ):
        assert response.point == request.point
        # Request.point and Response.point are both field 17, so a point returned
        # unchanged has the request's bytes (up to map-entry order, see transcripts.py),
        # and the bytes the recorded pass-through UDF returned.
        mine = sort_map_entries(response_payload, pb.Response.DESCRIPTOR)
        assert mine == sort_map_entries(request_payload, pb.Request.DESCRIPTOR)
        assert mine == sort_map_entries(recorded, pb.Response.DESCRIPTOR)

    sent_keepalives = [r.keepalive.time for r in requests if r.HasField("keepalive")]
    assert len(sent_keepalives) == 6
    assert [r.keepalive.time for r, _ in responses["keepalive"]] == sent_keepalives


def test_mirror_batch_returns_every_recorded_batch_unchanged() -> None:
    requests = messages("batch.requests.bin")
    payloads, stderr, status = run_process(udfs_run("mirror_batch"), without_init_options("batch.requests.bin"))
    assert status == 0, stderr
    data_kinds = ("begin", "point", "end")
    sent = [(r.WhichOneof("message"), getattr(r, r.WhichOneof("message"))) for r in requests]
    got = [pb.Response.FromString(p) for p in payloads]
    assert [(r.WhichOneof("message"), getattr(r, r.WhichOneof("message"))) for r in got
            if r.WhichOneof("message") in data_kinds] == [s for s in sent if s[0] in data_kinds]
    # What the recording's pass-through UDF returned, in the same order.
    recorded = [pb.Response.FromString(p) for p in frames("batch.responses.bin")]
    assert [r for r in got if r.WhichOneof("message") in data_kinds] == [
        r for r in recorded if r.WhichOneof("message") in data_kinds
    ]


def test_stdout_carries_only_protocol_bytes_even_if_the_handler_prints() -> None:
    n = 50
    requests = [pb.Request(info=pb.InfoRequest()), pb.Request(init=pb.InitRequest(taskID="t"))]
    for t in range(n):
        requests.append(pb.Request(point=pb.Point(time=t, name="m", fieldsDouble={"v": t / 2})))
        if t % 10 == 0:
            requests.append(pb.Request(keepalive=pb.KeepaliveRequest(time=t)))
    payloads, stderr, status = run_process(
        [sys.executable, str(SAMPLE_UDFS), "printing_mirror"], b"".join(frame(r) for r in requests)
    )
    assert status == 0, stderr
    responses = by_kind(payloads)  # every byte of stdout parsed as a Response
    assert set(responses) == {"info", "init", "keepalive", "point"}
    assert [r.point for r, _ in responses["point"]] == [r.point for r in requests if r.HasField("point")]
    # The text went to stderr (Kapacitor's log) instead of being lost.
    for text in ("print() from info", "print() from point 49", "sys.stdout.write from point",
                 "sys.__stdout__.write from point", "os.write(1) from point"):
        assert text in stderr, f"{text!r} missing from stderr"


def _time_to_info(name: str) -> float:
    started = time.monotonic()
    process = subprocess.Popen(
        udfs_run(name), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(frame(pb.Request(info=pb.InfoRequest())))
        process.stdin.flush()
        buf = b""
        while True:
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"udfs run {name} closed stdout before answering Info"
            payloads, buf = take_frames(buf + chunk)
            if payloads:
                break
        elapsed = time.monotonic() - started
        assert pb.Response.FromString(payloads[0]).HasField("info")
        process.stdin.close()
        assert process.wait(timeout=10) == 0
        return elapsed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


HEAVY_MODULES = ("numpy", "scipy", "influxdb", "tqdm", "pandas", "sklearn")


def test_udfs_run_mirror_imports_nothing_heavy() -> None:
    """Deterministic companion of the timing test: mirror needs none of the numeric stack.

    (A top-level import of the evaluation commands in udfs/cli.py once pulled in numpy
    and scipy, about 0.7 s, before ``udfs run`` could answer Info.)
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *udfs_run("mirror")[1:]],
        input=frame(pb.Request(info=pb.InfoRequest())), capture_output=True, timeout=30,
    )
    assert done.returncode == 0
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.decode().splitlines() if line.startswith("import time:")
    }
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY_MODULES and "." not in m)
    assert heavy == [], f"udfs run mirror imports {heavy}"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_info_answered_in_well_under_a_second(name: str) -> None:
    """Kapacitor asks every UDF for Info at start-up and refuses to start if one is slow."""
    elapsed = _time_to_info(name)
    print(f"udfs run {name}: process start to Info answer {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0, f"udfs run {name} took {elapsed:.2f} s to answer Info"

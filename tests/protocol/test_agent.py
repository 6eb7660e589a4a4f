"""The agent loop over an in-memory connection (a socketpair), no subprocess.

Kapacitor's side is :class:`KapacitorPeer`; the handlers are minimal ``Handler``
subclasses written here, so these tests exercise the agent and nothing else.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from udfs.protocol import Handler
from udfs.protocol import udf_pb2 as pb

from .peer import frame, start_agent
from .transcripts import varint


def keepalive(t: int) -> pb.Request:
    return pb.Request(keepalive=pb.KeepaliveRequest(time=t))


def point_request(t: int, **tags: str) -> pb.Request:
    return pb.Request(point=pb.Point(time=t, name="m", group="g", tags=tags, fieldsInt={"seq": t}))


class Echo(Handler):
    """Answers Info/Init/Snapshot/Restore and returns every point."""

    def __init__(self) -> None:
        self.closed = False
        self.restored: list[bytes] = []

    def info(self) -> pb.InfoResponse:
        return pb.InfoResponse(wants=pb.STREAM, provides=pb.STREAM)

    def init(self, request: pb.InitRequest) -> pb.InitResponse:
        return pb.InitResponse(success=True)

    def snapshot(self) -> pb.SnapshotResponse:
        return pb.SnapshotResponse(snapshot=b"state")

    def restore(self, request: pb.RestoreRequest) -> pb.RestoreResponse:
        self.restored.append(request.snapshot)
        return pb.RestoreResponse(success=True)

    def point(self, point: pb.Point) -> None:
        self.outbox.point(point)

    def close(self) -> None:
        self.closed = True


class Blocking(Echo):
    """Blocks inside point() (like a model fit) until released, at most ``limit`` seconds."""

    def __init__(self, limit: float = 3.0) -> None:
        super().__init__()
        self.limit = limit
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def point(self, point: pb.Point) -> None:
        self.entered.set()
        self.release.wait(self.limit)
        self.finished.set()
        super().point(point)


class Exploding(Echo):
    def point(self, point: pb.Point) -> None:
        if point.time == 3:
            raise ValueError("cannot digest point 3")
        super().point(point)


def test_keepalives_answered_while_the_handler_is_busy() -> None:
    handler = Blocking(limit=3.0)
    peer, agent = start_agent(handler)
    try:
        peer.send(point_request(1))
        assert handler.entered.wait(2.0)
        started = time.monotonic()
        for i in range(5):
            t = 1_795_356_866_033_232_372 + i
            sent = time.monotonic()
            peer.send(keepalive(t))
            response = peer.expect("keepalive", timeout=2.0)
            latency = time.monotonic() - sent
            assert response.keepalive.time == t
            assert latency < 0.5, f"keepalive answered after {latency:.3f} s"
            assert not handler.finished.is_set(), "keepalive waited for the handler"
            time.sleep(0.05)
        assert time.monotonic() - started < handler.limit
        handler.release.set()
        assert peer.expect("point").point == point_request(1).point
        peer.close_input()
        assert peer.until_eof() == []
        assert agent.wait() == 0
    finally:
        handler.release.set()
        peer.close()


def test_keepalive_answered_before_init() -> None:
    # Kapacitor's keepalives start right away; nothing requires Info or Init first.
    peer, agent = start_agent(Echo())
    peer.send(keepalive(42))
    assert peer.expect("keepalive").keepalive.time == 42
    peer.close_input()
    assert agent.wait() == 0


def test_order_of_responses_is_preserved() -> None:
    peer, agent = start_agent(Echo())
    requests = [pb.Request(init=pb.InitRequest(taskID="t", nodeID="n"))]
    for t in range(5000):
        requests.append(point_request(t, host=f"h{t % 7}"))
        if t % 97 == 0:
            requests.append(keepalive(10**18 + t))
        if t == 2500:
            requests.append(pb.Request(snapshot=pb.SnapshotRequest()))
    # One big write: many requests per read, split at arbitrary places.
    peer.send(*requests)
    peer.close_input()
    responses = peer.until_eof()
    assert agent.wait() == 0

    handled = [r for r in responses if r.WhichOneof("message") != "keepalive"]
    kinds = [r.WhichOneof("message") for r in handled]
    assert kinds[0] == "init"
    assert kinds.count("point") == 5000
    assert kinds.index("snapshot") == 1 + 2501, "snapshot must follow point 2500 and precede point 2501"
    points = [r.point for r in handled if r.WhichOneof("message") == "point"]
    assert points == [r.point for r in requests if r.WhichOneof("message") == "point"]
    keepalives = [r.keepalive.time for r in responses if r.WhichOneof("message") == "keepalive"]
    assert keepalives == [r.keepalive.time for r in requests if r.WhichOneof("message") == "keepalive"]


def _point_of_size(size: int) -> pb.Point:
    """A Point serializing to exactly ``size`` bytes (0 or >= 3)."""
    if size == 0:
        return pb.Point()
    for n in range(size, -1, -1):
        p = pb.Point(name="n" * n)
        if p.ByteSize() == size:
            return p
    raise AssertionError(size)


def test_points_of_every_size_reach_the_handler() -> None:
    # Empty points and points whose length prefix is 1, 2, 3 or 4 bytes long, plus a
    # point followed by a field this schema does not know (a newer Kapacitor).
    sizes = [0, 3, 126, 127, 128, 129, 16382, 16383, 16384, 16385, 2**21 + 5]
    points = [_point_of_size(s) for s in sizes]
    peer, agent = start_agent(Echo())
    peer.send(*[pb.Request(point=p) for p in points])
    body = pb.Request(point=pb.Point(time=99)).SerializeToString() + varint_tag(30, 0) + b"\x01"
    peer.send_bytes(bytes([len(body)]) + body)
    peer.close_input()
    responses = peer.until_eof()
    assert agent.wait() == 0
    assert [r.WhichOneof("message") for r in responses] == ["point"] * (len(points) + 1)
    assert [r.point for r in responses] == [*points, pb.Point(time=99)]


def test_restore_and_info_dispatched() -> None:
    handler = Echo()
    peer, agent = start_agent(handler)
    peer.send(
        pb.Request(info=pb.InfoRequest()),
        pb.Request(init=pb.InitRequest()),
        pb.Request(restore=pb.RestoreRequest(snapshot=b"\x00old")),
    )
    peer.close_input()
    kinds = [r.WhichOneof("message") for r in peer.until_eof()]
    assert kinds == ["info", "init", "restore"]
    assert handler.restored == [b"\x00old"]
    assert agent.wait() == 0
    assert handler.closed


def test_handler_exception_sends_error_and_returns_1(caplog: pytest.LogCaptureFixture) -> None:
    handler = Exploding()
    peer, agent = start_agent(handler, label="boom-udf")
    with caplog.at_level(logging.ERROR, logger="udfs.agent"):
        peer.send(*[point_request(t) for t in range(10)])
        # The input stays open: the agent must stop by itself after a fatal error.
        responses = peer.until_eof()
        assert agent.wait() == 1
    kinds = [r.WhichOneof("message") for r in responses]
    assert kinds == ["point", "point", "point", "error"]
    assert [r.point.time for r in responses[:3]] == [0, 1, 2]
    error = responses[-1].error.error
    assert "ValueError" in error and "cannot digest point 3" in error
    assert handler.closed
    # The traceback goes to the log (stderr for Kapacitor), labelled with the connection.
    assert any("boom-udf" in r.getMessage() and "Traceback" in r.getMessage() for r in caplog.records)
    peer.close()


def test_truncated_input_is_reported() -> None:
    handler = Echo()
    peer, agent = start_agent(handler)
    point = frame(point_request(7))
    peer.send_bytes(frame(keepalive(5)) + point[: len(point) // 2])
    peer.close_input()
    responses = peer.until_eof()
    assert agent.wait() == 1
    assert [r.WhichOneof("message") for r in responses] == ["keepalive", "error"]
    error = responses[-1].error.error
    assert "closed inside a frame" in error
    assert f"announced {len(point) - 1} bytes" in error
    assert handler.closed


def test_input_ending_inside_a_length_prefix() -> None:
    peer, agent = start_agent(Echo())
    peer.send_bytes(b"\x80")
    peer.close_input()
    (response,) = peer.until_eof()
    assert "inside a length prefix" in response.error.error
    assert agent.wait() == 1


@pytest.mark.parametrize(
    "garbage, words",
    [
        (b"\xff" * 11, ["varint"]),
        (b"\x80\x80\x80\x80\x08" + b"GET / HTTP/1.1\r\n", [str(2**31), "exceeds"]),
        (b"\x03\x0a\x05a", ["undecodable Request of 3 bytes"]),
    ],
    ids=["long-varint", "2GB-frame", "undecodable"],
)
def test_garbage_sends_error_without_waiting_for_more(garbage: bytes, words: list[str]) -> None:
    peer, agent = start_agent(Echo())
    peer.send(keepalive(1))
    assert peer.expect("keepalive").keepalive.time == 1
    peer.send_bytes(garbage)
    (response,) = peer.until_eof()  # input still open: the agent gives up on its own
    assert agent.wait() == 1
    error = response.error.error
    assert error.startswith("malformed input from Kapacitor")
    for word in words:
        assert word in error
    peer.close()


def test_unknown_request_types_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    peer, agent = start_agent(Echo(), label="future")
    unknown_field = varint_tag(30, 2) + b"\x02hi"  # a oneof member this schema lacks
    with caplog.at_level(logging.WARNING, logger="udfs.agent"):
        peer.send_bytes(b"\x00" + bytes([len(unknown_field)]) + unknown_field)
        peer.send(point_request(1), keepalive(2))
        peer.close_input()
        responses = peer.until_eof()
        assert agent.wait() == 0
    assert sorted(r.WhichOneof("message") for r in responses) == ["keepalive", "point"]
    warnings = [r for r in caplog.records if "unknown type" in r.getMessage()]
    assert len(warnings) == 2
    assert all("future" in r.getMessage() for r in warnings)


def varint_tag(number: int, wire_type: int) -> bytes:
    """A field's key on the wire: its number and wire type in one varint."""
    return varint((number << 3) | wire_type)


def test_clean_end_of_input_returns_0() -> None:
    handler = Echo()
    peer, agent = start_agent(handler)
    peer.close_input()
    assert peer.until_eof() == []
    assert agent.wait() == 0
    assert handler.closed

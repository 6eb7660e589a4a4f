"""The sans-IO core: requests in, handler calls and response bytes out; no thread, no socket.

Also the wire peeking helpers of ``framing`` and the agent's limits (backlog,
large frames, what an OSError of the handler is reported as).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from udfs.protocol import Dispatcher, Handler, Outbox
from udfs.protocol import udf_pb2 as pb
from udfs.protocol.agent import BACKLOG_BYTES
from udfs.protocol.framing import FrameDecoder, FrameError, decode_message, is_keepalive_request, point_request_body

from .peer import frame, start_agent
from .transcripts import TRANSCRIPTS, frames, take_frames, varint


class Recorder(Handler):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def info(self) -> pb.InfoResponse:
        self.calls.append("info")
        return pb.InfoResponse(wants=pb.STREAM, provides=pb.STREAM)

    def init(self, request: pb.InitRequest) -> pb.InitResponse:
        self.calls.append("init")
        return pb.InitResponse(success=True)

    def point(self, point: pb.Point) -> None:
        self.calls.append(f"point {point.time}")
        self.outbox.point(point)

    def snapshot(self) -> pb.SnapshotResponse:
        self.calls.append("snapshot")
        return pb.SnapshotResponse(snapshot=b"abc")


def core() -> tuple[Dispatcher, Recorder, list[bytes]]:
    written: list[bytes] = []
    handler = Recorder()
    return Dispatcher(handler, Outbox(written.append), label="rec"), handler, written


def responses(written: list[bytes]) -> list[pb.Response]:
    payloads, rest = take_frames(b"".join(written))
    assert rest == b""
    return [pb.Response.FromString(p) for p in payloads]


def test_keepalives_become_answers_and_the_rest_work_in_order() -> None:
    dispatcher, handler, written = core()
    stream = b"".join(frame(r) for r in [
        pb.Request(info=pb.InfoRequest()),
        pb.Request(keepalive=pb.KeepaliveRequest(time=5)),
        pb.Request(point=pb.Point(time=1)),
        pb.Request(keepalive=pb.KeepaliveRequest(time=6)),
        pb.Request(snapshot=pb.SnapshotRequest()),
    ])
    intake = dispatcher.receive(stream[:7])
    rest = dispatcher.receive(stream[7:])
    answers = [pb.Response.FromString(p).keepalive.time for p in take_frames(intake.answers + rest.answers)[0]]
    assert answers == [5, 6]
    assert handler.calls == []  # receiving never calls the handler
    assert dispatcher.handle(intake.work + rest.work) is None
    dispatcher.outbox.flush()
    assert handler.calls == ["info", "point 1", "snapshot"]
    assert [r.WhichOneof("message") for r in responses(written)] == ["info", "point", "snapshot"]
    assert dispatcher.points_in == 1 and dispatcher.outbox.points_out == 1


def test_end_of_input_and_truncation() -> None:
    dispatcher, _, _ = core()
    assert dispatcher.receive(b"").ended
    dispatcher, _, _ = core()
    dispatcher.receive(frame(pb.Request(point=pb.Point(time=3)))[:-1])
    intake = dispatcher.receive(b"")
    assert intake.failure is not None and "closed inside a frame" in intake.failure.message
    assert intake.failure.notify_peer


def test_handler_errors_are_values_not_exceptions() -> None:
    class Failing(Recorder):
        def point(self, point: pb.Point) -> None:
            raise OSError(28, "No space left on device")

    written: list[bytes] = []
    dispatcher = Dispatcher(Failing(), Outbox(written.append), label="f")
    failure = dispatcher.handle([pb.Request(point=pb.Point()).SerializeToString()])
    assert failure is not None
    # An OSError of the handler's own is what it is, not "connection error while writing".
    assert failure.kind == "handler" and failure.notify_peer
    assert failure.message == "OSError: [Errno 28] No space left on device"


def test_a_failing_write_is_a_closed_peer_not_a_handler_bug() -> None:
    def broken(data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    dispatcher = Dispatcher(Recorder(), Outbox(broken), label="w")
    failure = dispatcher.handle([pb.Request(info=pb.InfoRequest()).SerializeToString()])
    assert failure is None  # buffered: nothing written yet
    with pytest.raises(ConnectionError, match="connection error while writing"):
        dispatcher.outbox.flush()
    assert dispatcher.outbox.closed


def test_undecodable_request_is_one_failure_with_one_wording() -> None:
    dispatcher, _, _ = core()
    failure = dispatcher.handle([b"\x0a\x05a"])
    assert failure is not None
    assert failure.message.startswith("malformed input from Kapacitor: undecodable Request of 3 bytes")
    # The same wording as the decoder's (one decode-error path).
    with pytest.raises(FrameError, match="undecodable Request of 3 bytes"):
        FrameDecoder(pb.Request).feed(b"\x03\x0a\x05a")
    with pytest.raises(FrameError, match="undecodable Point of 3 bytes"):
        decode_message(pb.Point, b"\x0a\x05a")


def test_cancelled_dispatcher_stops_before_the_next_request() -> None:
    dispatcher, handler, _ = core()
    payloads = [pb.Request(point=pb.Point(time=t)).SerializeToString() for t in range(3)]
    dispatcher.cancelled = True
    assert dispatcher.handle(payloads) is None
    assert handler.calls == []


# -- peeking at the wire ------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 126, 127, 128, 300, 16383, 16384, 2**21])
def test_point_request_body_for_every_length_prefix(size: int) -> None:
    point = pb.Point(name="n" * size)
    payload = pb.Request(point=point).SerializeToString()
    assert point_request_body(payload) == point.SerializeToString()


def test_point_request_body_refuses_anything_else() -> None:
    point = pb.Point(time=1).SerializeToString()
    with_more = b"\x8a\x01" + varint(len(point)) + point + b"\xf0\x01\x01"  # unknown field 30 after it
    assert point_request_body(with_more) is None
    assert point_request_body(b"\x8a\x01\x05ab") is None  # announces more than there is
    assert point_request_body(b"\x8a\x01" + b"\xff" * 11) is None  # not a varint
    assert point_request_body(pb.Request(keepalive=pb.KeepaliveRequest(time=1)).SerializeToString()) is None
    assert point_request_body(b"") is None


def test_recorded_requests_peek_as_their_decoded_kind() -> None:
    for name in sorted(p.name for p in TRANSCRIPTS.glob("*requests.bin")):
        for payload in frames(name):
            kind = pb.Request.FromString(payload).WhichOneof("message")
            assert is_keepalive_request(payload) == (kind == "keepalive"), name
            body = point_request_body(payload)
            assert (body is not None) == (kind == "point"), name
            if body is not None:
                assert pb.Point.FromString(body) == pb.Request.FromString(payload).point


# -- limits of the threaded agent ----------------------------------------------------

def test_large_frames_are_read_in_linear_time() -> None:
    # 16/32/60 MB frames took 3.8/14/54 s (every feed joined the whole buffer again):
    # the cost must grow with the size, not with its square.
    def cost(size: int) -> float:
        data = frame(pb.Request(point=pb.Point(name="n" * size)))
        best = float("inf")
        for _ in range(3):
            decoder = FrameDecoder(pb.Request)
            started = time.process_time()
            for start in range(0, len(data), 65536):
                decoder.feed_raw(data[start:start + 65536])
            best = min(best, time.process_time() - started)
            assert decoder.messages_decoded == 1
        return max(best, 2e-3)  # below 2 ms the process clock measures scheduling noise

    small, large = cost(2 * 2**20), cost(16 * 2**20)
    assert large / small < 24, f"8x the size cost {large / small:.0f}x the time ({small:.3f} s, {large:.3f} s)"


def test_input_backlog_is_bounded_while_the_handler_is_busy() -> None:
    release = threading.Event()

    class Busy(Recorder):
        def point(self, point: pb.Point) -> None:
            release.wait(10)

    peer, agent = start_agent(Busy())
    sent = 0
    data = b"".join(frame(pb.Request(point=pb.Point(time=t, name="x" * 90))) for t in range(20000))
    try:
        peer.sock.setblocking(False)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and sent < len(data):
            try:
                sent += peer.sock.send(data[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.01)
        # The agent reads ahead by at most its backlog (plus one read and the socket buffers).
        buffers = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) * 2 + 65536
        assert sent < BACKLOG_BYTES + buffers + 2 * 2**20 // 4, f"{sent} bytes taken while the handler was stuck"
        assert sent < len(data)
    finally:
        release.set()
        peer.close()
        agent.thread.join(5)

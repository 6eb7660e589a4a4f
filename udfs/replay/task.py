"""One running task process: what Kapacitor's UDF node keeps while a task runs.

:class:`TaskProcess` owns the UDF subprocess of one task, a reader thread (responses
in, point responses to the consumer) and a ticker thread (keepalives every
``timeout / 2`` and snapshot requests every snapshot interval, as Kapacitor sends
them). The order of things - Init, data, the end of input - is decided by
:class:`~udfs.replay.kapacitor.KapacitorEmulator`; this class is the plumbing.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from udfs.protocol import FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb

__all__ = ["TaskProcess", "TaskResult", "write_all"]

log = logging.getLogger("udfs.replay")

READ_CHUNK = 64 * 1024


@dataclass
class TaskResult:
    """What came back from one task run."""

    points_sent: int = 0
    points_returned: int = 0
    responses: int = 0
    keepalives_sent: int = 0
    keepalives_answered: int = 0
    snapshots: list[bytes] = field(default_factory=list)
    exit_code: int | None = None


@dataclass(frozen=True)
class Answer:
    """A control response (init, restore, snapshot) and how many points had come before it."""

    response: pb.Response
    points_before: int

    @property
    def kind(self) -> str | None:
        """The response's type; None marks the end of the response stream."""
        return self.response.WhichOneof("message")


_END = pb.Response()


class TaskProcess:
    """The UDF process of one task and the two threads that talk to it.

    ``on_response`` receives every point/begin/end response, in order, on the reader
    thread. If it raises, the task is stopped at once (the process killed) and the
    exception is kept in :attr:`consumer_error` for the caller to re-raise: a consumer
    that cannot take output (a closed pipe) must not be reported as a UDF fault.
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        on_response: Callable[[pb.Response], None],
        *,
        timeout: float,
        snapshot_interval: float | None,
        record: IO[bytes] | None = None,
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.result = TaskResult()
        self.failure: str | None = None
        self.consumer_error: BaseException | None = None
        #: Whether the process was killed (its exit status then says nothing).
        self.killed = False
        #: Set when the task is over: a failure, or the UDF's output ended.
        self.done = threading.Event()
        self._on_response = on_response
        self._timeout = timeout
        self._snapshot_interval = snapshot_interval
        self._record = record
        self._control: queue.Queue[Answer] = queue.Queue()
        self._last_answer = time.monotonic()
        self._write_lock = threading.Lock()
        self._input_ended = False  # no more periodic snapshots once the end-of-input barrier is out
        self._input_closed = False
        self.snapshots_requested = 0
        self.snapshots_answered = 0
        self._threads = [
            threading.Thread(target=self._read, name="replay-reader", daemon=True),
            threading.Thread(target=self._tick, name="replay-ticker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- writing -------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write request bytes (raises ``OSError`` once the UDF's input is gone)."""
        with self._write_lock:
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        if self._input_closed:
            raise BrokenPipeError("the UDF's input is closed")
        if self._record is not None:
            self._record.write(data)
        assert self.proc.stdin is not None
        write_all(self.proc.stdin, data)

    def request_snapshot(self, *, end_of_input: bool = False) -> int | None:
        """Send a SnapshotRequest; its number (1, 2, ...), or None if none may go out now.

        ``end_of_input`` marks the last one (the barrier): periodic snapshots stop there.
        """
        with self._write_lock:
            if self._input_ended:
                return None
            self._write_locked(encode_frame(pb.Request(snapshot=pb.SnapshotRequest())))
            self.snapshots_requested += 1
            self._input_ended = end_of_input
            return self.snapshots_requested

    def close_input(self) -> None:
        """Close the UDF's stdin, as Kapacitor does when it stops a task."""
        with self._write_lock:
            self._input_closed = True
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass

    # -- failing -------------------------------------------------------------
    def fail(self, message: str) -> None:
        """Stop the task for ``message`` (the first failure is the one reported)."""
        if self.failure is None:
            self.failure = message
        self.done.set()

    def kill(self) -> None:
        """End the UDF process now."""
        self.killed = True
        try:
            self.proc.kill()
        except OSError:
            pass

    # -- answers -------------------------------------------------------------
    def next_answer(self, timeout: float) -> Answer | None:
        """The next control response, or None after ``timeout`` seconds without one.

        Snapshot answers are counted (:attr:`snapshots_answered`) as they are taken.
        """
        try:
            answer = self._control.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if answer.kind == "snapshot":
            self.snapshots_answered += 1
        return answer

    def wait_output_end(self, timeout: float | None) -> bool:
        """Wait until the UDF's stdout has ended; False on timeout."""
        self._threads[0].join(timeout)
        return not self._threads[0].is_alive()

    # -- threads -------------------------------------------------------------
    def _read(self) -> None:
        decoder: FrameDecoder[pb.Response] = FrameDecoder(pb.Response)
        result = self.result
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            while self.consumer_error is None:
                data = stdout.read(READ_CHUNK)
                if not data:
                    decoder.close()
                    break
                for response in decoder.feed(data):
                    result.responses += 1
                    self._last_answer = time.monotonic()  # Kapacitor: any response is a sign of life
                    kind = response.WhichOneof("message")
                    if kind in ("point", "begin", "end"):
                        result.points_returned += kind == "point"
                        if not self._consume(response):
                            return
                    elif kind == "keepalive":
                        result.keepalives_answered += 1
                    elif kind == "error":
                        self.fail(f"UDF error: {response.error.error}")
                    else:
                        self._control.put(Answer(response, result.points_returned))
        except Exception as exc:  # a UDF writing garbage is a task failure, not a crash
            self.fail(f"bad response stream from UDF: {exc}")
        finally:
            self._control.put(Answer(_END, result.points_returned))  # wake a waiter: the stream is over
            self.done.set()

    def _consume(self, response: pb.Response) -> bool:
        try:
            self._on_response(response)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, re-raised there
            self.consumer_error = exc
            self.fail(f"the output could not be written: {exc}")
            self.kill()
            return False
        return True

    def _tick(self) -> None:
        interval = self._timeout / 2
        period = self._snapshot_interval
        next_snapshot = time.monotonic() + period if period else float("inf")
        while not self.done.wait(interval):
            now = time.monotonic()
            if now - self._last_answer > self._timeout:
                self.fail("keepalive timedout")
                return
            try:
                self.write(encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=time.time_ns()))))
                self.result.keepalives_sent += 1
                if period and now >= next_snapshot:
                    self.request_snapshot()
                    next_snapshot = now + period
            except (OSError, ValueError):  # input closed: the task is stopping
                return


def write_all(stream: IO[bytes], data: bytes) -> None:
    """Write all of ``data``: an unbuffered pipe may take only part of a large write."""
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written or 0 :]

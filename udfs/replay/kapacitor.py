"""A stand-in for Kapacitor's side of the UDF protocol, for replays and tests.

It drives a UDF the way a real Kapacitor (1.5 - 1.8) does, as recorded in
``fixtures/kapacitor-transcripts``:

* ``Info`` is asked once, from a separate short-lived process (Kapacitor's start-up);
* the task gets a process of its own, which receives ``Init`` with no ``Info`` first,
  then ``Restore`` if a snapshot was saved;
* keepalives every ``timeout / 2``; no answer within ``timeout`` aborts the task
  ("keepalive timedout");
* a ``Snapshot`` request every snapshot interval (60 s by default);
* an ``ErrorResponse`` or the process exiting stops the task for good.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from udfs.protocol import FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb

__all__ = ["KapacitorEmulator", "TaskFailed", "TaskResult"]

log = logging.getLogger("udfs.replay")

_WRITE_CHUNK = 64 * 1024


class TaskFailed(RuntimeError):
    """The task stopped the way it would stop in Kapacitor (error, timeout, exit)."""


@dataclass
class TaskResult:
    """What came back from one task run."""

    points_sent: int = 0
    responses: int = 0
    keepalives_sent: int = 0
    keepalives_answered: int = 0
    snapshots: list[bytes] = field(default_factory=list)
    exit_code: int | None = None


class KapacitorEmulator:
    """Drive one UDF command like Kapacitor drives a process UDF.

    Parameters
    ----------
    argv : sequence of str
        The UDF command (``prog`` + ``args`` of ``kapacitor.conf``).
    timeout : float
        Seconds; keepalives go out every ``timeout / 2`` (``kapacitor.conf`` ``timeout``).
    snapshot_interval : float or None
        Seconds between Snapshot requests (Kapacitor's ``[task] snapshot-interval``).
    record : binary file, optional
        Every request byte written to any UDF process is also written here, so the
        stream can be compared with a real Kapacitor's recording.
    env : mapping, optional
        Environment of the UDF processes.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        snapshot_interval: float | None = 60.0,
        record: IO[bytes] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.snapshot_interval = snapshot_interval
        self._record = record
        self._env = env

    # -- process plumbing ----------------------------------------------------
    def _spawn(self) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self._env, bufsize=0
            )
        except OSError as exc:
            raise TaskFailed(f"cannot start UDF {' '.join(self.argv)!r}: {exc}") from exc

    def info(self) -> pb.InfoResponse:
        """Ask Info from a process of its own, as Kapacitor does at start-up."""
        proc = self._spawn()
        assert proc.stdin is not None and proc.stdout is not None
        frame = encode_frame(pb.Request(info=pb.InfoRequest()))
        self._recorded(frame)
        try:
            _write_all(proc.stdin, frame)
            response = _read_one(proc.stdout, self.timeout)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
            _reap(proc, self.timeout)
        if response is not None and response.HasField("error"):
            raise TaskFailed(f"UDF answered Info with an error: {response.error.error}")
        if response is None or not response.HasField("info"):
            raise TaskFailed(
                f"UDF did not answer Info within {self.timeout:g}s "
                f"(Kapacitor would refuse to start); exit code {proc.returncode}"
            )
        return response.info

    def _recorded(self, data: bytes) -> None:
        if self._record is not None:
            self._record.write(data)

    # -- the task ------------------------------------------------------------
    def run_task(
        self,
        init: pb.InitRequest,
        requests: Iterable[pb.Request],
        on_response: Callable[[pb.Response], None],
        *,
        restore: bytes | None = None,
        final_snapshot: bool = False,
    ) -> TaskResult:
        """Run one task: Init, optional Restore, the data, then close and wait.

        ``on_response`` receives every point/begin/end response, in order, on a
        reader thread. Raises :class:`TaskFailed` as Kapacitor would stop the task.
        """
        proc = self._spawn()
        assert proc.stdin is not None and proc.stdout is not None
        result = TaskResult()
        control: queue.Queue[pb.Response] = queue.Queue()
        failure: list[str] = []
        last_answer = [time.monotonic()]
        write_lock = threading.Lock()
        done = threading.Event()
        stdin = proc.stdin

        def write(data: bytes) -> None:
            with write_lock:
                self._recorded(data)
                _write_all(stdin, data)

        def fail(message: str) -> None:
            if not failure:
                failure.append(message)
            done.set()

        def reader() -> None:
            decoder: FrameDecoder[pb.Response] = FrameDecoder(pb.Response)
            assert proc.stdout is not None
            try:
                while True:
                    data = proc.stdout.read(_WRITE_CHUNK)
                    if not data:
                        decoder.close()
                        break
                    for response in decoder.feed(data):
                        result.responses += 1
                        kind = response.WhichOneof("message")
                        if kind in ("point", "begin", "end"):
                            on_response(response)
                        elif kind == "keepalive":
                            result.keepalives_answered += 1
                            last_answer[0] = time.monotonic()
                        elif kind == "error":
                            fail(f"UDF error: {response.error.error}")
                        else:
                            control.put(response)
            except Exception as exc:  # a UDF writing garbage is a task failure, not a crash
                fail(f"bad response stream from UDF: {exc}")
            finally:
                control.put(pb.Response())  # wake a waiter: the stream is over
                done.set()

        def ticker() -> None:
            interval = self.timeout / 2
            next_snapshot = (
                time.monotonic() + self.snapshot_interval if self.snapshot_interval else float("inf")
            )
            while not done.wait(interval):
                now = time.monotonic()
                if now - last_answer[0] > self.timeout:
                    fail("keepalive timedout")
                    return
                try:
                    write(encode_frame(pb.Request(keepalive=pb.KeepaliveRequest(time=time.time_ns()))))
                    result.keepalives_sent += 1
                    if now >= next_snapshot:
                        write(encode_frame(pb.Request(snapshot=pb.SnapshotRequest())))
                        next_snapshot = now + (self.snapshot_interval or 0)
                except (OSError, ValueError):  # input closed: the task is stopping
                    return

        threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=ticker, daemon=True)]
        for t in threads:
            t.start()

        def expect(kind: str) -> pb.Response:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    response = control.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    fail(f"no {kind} response within {self.timeout:g}s")
                    raise TaskFailed(failure[0]) from None
                got = response.WhichOneof("message")
                if got == kind:
                    return response
                if got == "snapshot":
                    result.snapshots.append(response.snapshot.snapshot)
                    continue
                if got is None:
                    raise TaskFailed(failure[0] if failure else f"UDF exited before answering {kind}")
                log.warning("unexpected %s response while waiting for %s", got, kind)

        try:
            write(encode_frame(pb.Request(init=init)))
            answer = expect("init").init
            if not answer.success:
                raise TaskFailed(f"UDF init failed: {answer.error}")
            if restore is not None:
                write(encode_frame(pb.Request(restore=pb.RestoreRequest(snapshot=restore))))
                restored = expect("restore").restore
                if not restored.success:
                    raise TaskFailed(f"UDF restore failed: {restored.error}")
            pending: list[bytes] = []
            size = 0
            for request in requests:
                if done.is_set():
                    break
                frame = encode_frame(request)
                pending.append(frame)
                size += len(frame)
                if request.WhichOneof("message") == "point":
                    result.points_sent += 1
                if size >= _WRITE_CHUNK:
                    write(b"".join(pending))
                    pending, size = [], 0
            if pending and not done.is_set():
                write(b"".join(pending))
            if not done.is_set():
                # A barrier before closing the input: the UDF answers a snapshot request only
                # after every point before it, and on EOF it discards what is still queued
                # (as it must when Kapacitor stops a task), so closing first would lose output.
                write(encode_frame(pb.Request(snapshot=pb.SnapshotRequest())))
                # No deadline: a slow UDF may take long, but while it answers keepalives
                # (the ticker fails the task otherwise) it is working through its backlog.
                while not done.is_set():
                    try:
                        response = control.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    got = response.WhichOneof("message")
                    if got is None:
                        break  # the stream is over
                    if got == "snapshot":
                        if final_snapshot:
                            result.snapshots.append(response.snapshot.snapshot)
                        break
        except (BrokenPipeError, ConnectionResetError):
            fail("UDF closed its input (process exited?)")
        finally:
            try:
                with write_lock:
                    stdin.close()
            except OSError:
                pass
            # Drain what the UDF still has to say, then reap it.
            threads[0].join(self.timeout)
            done.set()
            result.exit_code = _reap(proc, self.timeout)
            while not control.empty():
                late = control.get()
                if late.WhichOneof("message") == "snapshot":
                    result.snapshots.append(late.snapshot.snapshot)
        if failure:
            raise TaskFailed(failure[0])
        if result.exit_code not in (0, None):
            raise TaskFailed(f"UDF process exited with status {result.exit_code}")
        return result


def _write_all(stream: IO[bytes], data: bytes) -> None:
    # An unbuffered pipe may take only part of a large write.
    view = memoryview(data)
    while view:
        written = stream.write(view)
        view = view[written or 0 :]


def _read_one(stream: IO[bytes], timeout: float) -> pb.Response | None:
    """First response on ``stream``, or None on timeout / end of stream."""
    box: list[pb.Response] = []

    def read() -> None:
        decoder: FrameDecoder[pb.Response] = FrameDecoder(pb.Response)
        while True:
            data = os.read(stream.fileno(), 4096)
            if not data:
                return
            messages = decoder.feed(data)
            if messages:
                box.append(messages[0])
                return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        log.warning("UDF process did not exit within %gs after its input closed; killed", timeout)
        return None

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
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import IO

from udfs.params.durations import format_duration
from udfs.protocol import FrameDecoder, encode_frame
from udfs.protocol import udf_pb2 as pb
from udfs.replay.task import TaskProcess, TaskResult, write_all

__all__ = ["KapacitorEmulator", "TaskFailed", "TaskResult"]

log = logging.getLogger("udfs.replay")

_WRITE_CHUNK = 64 * 1024


class TaskFailed(RuntimeError):
    """The task stopped the way it would stop in Kapacitor (error, timeout, exit)."""


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
            write_all(proc.stdin, frame)
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
        finish_timeout: float | None = None,
    ) -> TaskResult:
        """Run one task: Init, optional Restore, the data, then wait for every answer and close.

        After the last request a SnapshotRequest goes out as a barrier: the UDF answers
        it only after everything before it, so once it is answered the output is
        complete. The wait for it has no limit unless ``finish_timeout`` (seconds
        after the end of input) is given; keepalives go on meanwhile, and a UDF that
        stops answering them fails the task as in Kapacitor ("keepalive timedout").
        Raises :class:`TaskFailed` as Kapacitor would stop the task; the message of a
        failure after the data started says how many points were sent and returned.
        An exception raised by ``on_response`` (on the reader thread) stops the task
        at once and is re-raised here as it is.
        """
        task = TaskProcess(self._spawn(), on_response, timeout=self.timeout,
                           snapshot_interval=self.snapshot_interval, record=self._record)
        result = task.result
        started = False
        try:
            task.write(encode_frame(pb.Request(init=init)))
            answer = self._expect(task, "init").init
            if not answer.success:
                raise TaskFailed(f"UDF init failed: {answer.error}")
            if restore is not None:
                task.write(encode_frame(pb.Request(restore=pb.RestoreRequest(snapshot=restore))))
                restored = self._expect(task, "restore").restore
                if not restored.success:
                    raise TaskFailed(f"UDF restore failed: {restored.error}")
            started = True
            self._send(task, requests)
            if not task.done.is_set():
                self._finish(task, final_snapshot=final_snapshot, finish_timeout=finish_timeout)
            elif task.failure is None:
                task.fail(_ended_early(task))
        except (BrokenPipeError, ConnectionResetError):
            task.fail(_ended_early(task))
        except BaseException:
            task.kill()  # an interrupt or a bug of ours: nothing more is wanted from the UDF
            raise
        finally:
            if task.failure is not None:
                task.kill()  # a stopped task's process is of no further use
            task.close_input()
            task.wait_output_end(self.timeout)
            result.exit_code = _reap(task.proc, self.timeout)
        if task.consumer_error is not None:
            raise task.consumer_error
        if task.failure is not None:
            raise TaskFailed(_with_counts(task.failure, result) if started else task.failure)
        if result.exit_code not in (0, None) and not task.killed:
            raise TaskFailed(f"UDF process exited with status {result.exit_code}")
        return result

    def _expect(self, task: TaskProcess, kind: str) -> pb.Response:
        deadline = time.monotonic() + self.timeout
        while True:
            answer = task.next_answer(deadline - time.monotonic())
            if answer is None:
                task.fail(f"no {kind} response within {self.timeout:g}s")
                raise TaskFailed(task.failure or "") from None
            if answer.kind == kind:
                return answer.response
            if answer.kind == "snapshot":
                task.result.snapshots.append(answer.response.snapshot.snapshot)
                continue
            if answer.kind is None:
                raise TaskFailed(task.failure or f"UDF exited before answering {kind}")
            log.warning("unexpected %s response while waiting for %s", answer.kind, kind)

    @staticmethod
    def _send(task: TaskProcess, requests: Iterable[pb.Request]) -> None:
        """Write the data requests in chunks; points are counted once written."""
        pending: list[bytes] = []
        points = size = 0
        for request in requests:
            if task.done.is_set():
                return
            frame = encode_frame(request)
            pending.append(frame)
            size += len(frame)
            points += request.WhichOneof("message") == "point"
            if size >= _WRITE_CHUNK:
                task.write(b"".join(pending))
                task.result.points_sent += points
                pending, points, size = [], 0, 0
        if pending and not task.done.is_set():
            task.write(b"".join(pending))
            task.result.points_sent += points

    def _finish(self, task: TaskProcess, *, final_snapshot: bool, finish_timeout: float | None) -> None:
        """The end of input: wait for the barrier's answer, then close the input and let the UDF exit."""
        # The UDF answers a snapshot request only after every point before it, and on EOF
        # it discards what is still queued (as it must when Kapacitor stops a task), so
        # closing its input before this answer would lose output.
        barrier = task.request_snapshot(end_of_input=True)
        deadline = time.monotonic() + finish_timeout if finish_timeout is not None else float("inf")
        points_at_barrier: int | None = None
        # Until a failure or the end of the response stream (its marker comes after every answer).
        while barrier is not None and task.failure is None:
            left = deadline - time.monotonic()
            if left <= 0:
                waited = format_duration(round((finish_timeout or 0) * 1e9))
                task.fail(f"the UDF had not answered all its input {waited} after the end of input "
                          "(finish timeout); killed")
                return
            answer = task.next_answer(min(0.5, left))
            if answer is None or answer.kind not in ("snapshot", None):
                continue
            if answer.kind is None:
                break
            if task.snapshots_answered < barrier:  # a periodic one, sent before the barrier
                task.result.snapshots.append(answer.response.snapshot.snapshot)
                continue
            if final_snapshot:
                task.result.snapshots.append(answer.response.snapshot.snapshot)
            points_at_barrier = answer.points_before
            break
        if points_at_barrier is None:
            if task.failure is None:
                task.fail(_ended_early(task))
            return
        task.close_input()
        if not task.wait_output_end(self.timeout):
            task.kill()
            task.wait_output_end(None)
            if task.result.points_returned > points_at_barrier:
                # Output after the barrier's answer: this UDF answers out of order, so the
                # barrier proves nothing and the kill may have cut its output short.
                task.fail(f"UDF still sending output {self.timeout:g}s after its input closed; killed")
            else:
                log.warning("UDF process did not exit within %gs after its input closed (all its output "
                            "was received); killed", self.timeout)


def _ended_early(task: TaskProcess, *, wait: float = 1.0) -> str:
    """Why a task whose UDF stopped reading or writing early failed (with its exit status, if it has one)."""
    try:
        code: int | None = task.proc.wait(wait)
    except subprocess.TimeoutExpired:
        return "the UDF closed its input or output before it had answered all its input"
    return f"the UDF process ended before it had answered all its input (exit status {code})"


def _with_counts(message: str, result: TaskResult) -> str:
    """``message`` and what the replay got: the output of a stopped task is incomplete."""
    lost = result.points_sent - result.points_returned
    return (
        f"{message}: {result.points_sent} points sent, {result.points_returned} points returned"
        + (f", up to {lost} points lost" if lost > 0 else "")
        + "; the output is incomplete"
    )


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

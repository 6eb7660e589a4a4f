"""The end of a replay: every answer waited for, or a non-zero exit naming what was lost.

The UDFs are real subprocesses (``tests/protocol/sample_udfs.py``) started through a
shell that records their pid, so that the tests can check none is left running.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

SAMPLE_UDFS = Path(__file__).resolve().parent.parent / "protocol" / "sample_udfs.py"
T0 = 1_700_000_000_000_000_000


def prog(name: str, pids: Path) -> str:
    """A --prog running sample UDF ``name`` that appends its pid to ``pids`` (Info process first)."""
    return pid_recording(f"{shlex.quote(sys.executable)} {SAMPLE_UDFS} {name}", pids)


def pid_recording(command: str, pids: Path) -> str:
    return f"sh -c {shlex.quote(f'echo $$ >> {shlex.quote(str(pids))}; exec {command}')}"


def write_input(path: Path, count: int, tags: dict[int, str]) -> Path:
    path.write_text("".join(f"m{',' + tags[i] if i in tags else ''} value={i}.0 {T0 + i * 10**9}\n"
                            for i in range(count)))
    return path


def replay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "udfs", "replay", "sample", "--no-progress", *args],
                          capture_output=True, text=True, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def assert_no_udf_left(pids: Path) -> None:
    task_pid = int(pids.read_text().split()[-1])
    deadline = time.monotonic() + 5
    while alive(task_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(task_pid), f"the UDF process {task_pid} is still running"


def test_a_udf_busy_longer_than_the_timeout_after_the_input_ends_is_waited_for(tmp_path: Path) -> None:
    # The last point takes 3 s, three times the keepalive timeout: the agent answers the
    # keepalives meanwhile, so Kapacitor would keep the task; so does the replay.
    data = write_input(tmp_path / "in.lp", 20, {19: "sleep=3"})
    started = time.monotonic()
    done = replay("--prog", prog("slow_mirror", tmp_path / "pids"), "-i", str(data), "--timeout", "1s")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started > 3
    assert [line.split()[1] for line in done.stdout.splitlines()] == [f"value={i}.0" for i in range(20)]
    assert "20 points sent, 20 points returned" in done.stderr
    assert "killed" not in done.stderr
    # Keepalives went on every 0.5 s while the UDF worked, and it answered them.
    keepalives = re.search(r"(\d+) keepalives", done.stderr)
    assert keepalives is not None and int(keepalives.group(1)) >= 4, done.stderr


def test_finish_timeout_stops_the_replay_naming_the_points_lost(tmp_path: Path) -> None:
    data = write_input(tmp_path / "in.lp", 20, {10: "sleep=60"})
    pids = tmp_path / "pids"
    started = time.monotonic()
    done = replay("--prog", prog("slow_mirror", pids), "-i", str(data), "--finish-timeout", "1s")
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    assert "finish timeout" in done.stderr and "20 points sent" in done.stderr, done.stderr
    returned = len(done.stdout.splitlines())
    assert returned < 20
    assert f"{returned} points returned, up to {20 - returned} points lost" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert_no_udf_left(pids)


def test_a_bad_finish_timeout_is_refused() -> None:
    done = replay("--prog", "true", "-i", "-", "--finish-timeout", "0s")
    assert done.returncode == 2 and "--finish-timeout" in done.stderr and "positive" in done.stderr


def test_a_udf_exiting_with_status_0_before_answering_everything_fails_the_replay(tmp_path: Path) -> None:
    data = write_input(tmp_path / "in.lp", 40, {25: "quit=yes"})
    done = replay("--prog", prog("quitting_mirror", tmp_path / "pids"), "-i", str(data))
    assert done.returncode != 0, done.stderr
    assert len(done.stdout.splitlines()) == 25
    assert "process ended before it had answered all its input (exit status 0)" in done.stderr, done.stderr
    assert "40 points sent, 25 points returned, up to 15 points lost" in done.stderr


def test_a_closed_output_pipe_ends_the_replay_quietly_and_stops_the_udf(tmp_path: Path) -> None:
    # `udfs replay ... | head -1`: far more output than a pipe holds, and the reader leaves.
    data = write_input(tmp_path / "in.lp", 50_000, {})
    pids = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-m", "udfs", "replay", "sample", "--no-progress", "--prog",
         pid_recording(f"{shlex.quote(sys.executable)} -m udfs run mirror --log-level warning", pids),
         "-i", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    try:
        status = proc.wait(60)
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    assert first.startswith("m value=0.0 ")
    assert status == 141, stderr  # 128 + SIGPIPE, as a unix filter ends
    assert "Traceback" not in stderr and "Error" not in stderr and "Broken pipe" not in stderr, stderr
    assert len(stderr.splitlines()) <= 1, stderr
    assert_no_udf_left(pids)


def test_periodic_snapshots_pending_at_the_end_of_input_are_not_taken_for_the_barrier(tmp_path: Path) -> None:
    # Snapshot requests went out every 0.5 s while the UDF was behind; their answers come
    # after the end of input, but only the answer to the last request proves all is answered.
    lines = [f"m,sleep=0.003 value={i}.0 {T0 + i * 10**9}\n" for i in range(1000)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "udfs", "replay", "sample", "--no-progress", "--prog",
         prog("slow_mirror", tmp_path / "pids"), "-i", "-", "--timeout", "1s", "--snapshot-interval", "500ms",
         "--output", str(tmp_path / "out.lp")],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write("".join(lines[:500]))
    proc.stdin.flush()
    time.sleep(1.2)
    proc.stdin.write("".join(lines[500:]))
    proc.stdin.close()
    assert proc.wait(60) == 0, proc.stderr.read()
    stderr = proc.stderr.read()
    assert len((tmp_path / "out.lp").read_text().splitlines()) == 1000, stderr
    assert "1000 points sent, 1000 points returned" in stderr


def test_a_udf_killed_while_still_sending_after_the_barrier_fails_the_replay(tmp_path: Path) -> None:
    # It answers the end-of-input snapshot request at once and goes on emitting: the
    # answer proves nothing, so killing it cuts its output and the replay must say so.
    data = write_input(tmp_path / "in.lp", 5, {})
    pids = tmp_path / "pids"
    started = time.monotonic()
    done = replay("--prog", prog("lingering_mirror", pids), "-i", str(data), "--timeout", "1s")
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    assert "still sending output 1s after its input closed; killed" in done.stderr, done.stderr
    assert "5 points sent" in done.stderr
    assert_no_udf_left(pids)


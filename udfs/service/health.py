"""``udfs health``: is a socket server answering, the way Kapacitor will ask it? And do
Kapacitor's tasks run?

Kapacitor asks every configured socket UDF for ``Info`` at start-up and does not start
until each answered (it retries a missing socket's dial for up to 5 minutes in 1.5.7),
so a health check that only looks for the socket file would pass while Kapacitor hangs.
This one connects to each socket, sends an ``InfoRequest`` frame and waits for the
``InfoResponse``. It is the HEALTHCHECK of the UDF server's container, which docker
compose waits for before starting Kapacitor.

With ``--kapacitor-url`` it also reads Kapacitor's task list: an enabled task that is
not executing (its UDF went away; see ``udfs watchdog``) or that carries an error is
unhealthy. Disabled tasks are not checked.

Only click (and the light Kapacitor options) is imported at the top: a container health
check runs every few seconds.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from udfs.io.kapacitor import api_from_options, connection_options

if TYPE_CHECKING:
    from udfs.io.kapacitor import KapacitorAPI

__all__ = ["HealthError", "SocketHealth", "check_socket", "check_tasks", "health"]


class HealthError(RuntimeError):
    """A socket did not answer ``Info`` properly; the message says why."""


@dataclass(frozen=True)
class SocketHealth:
    """What one socket answered: its edges, its option names, how long it took."""

    path: Path
    wants: str
    provides: str
    options: tuple[str, ...]
    seconds: float


def check_socket(path: Path, *, timeout: float = 5.0) -> SocketHealth:
    """Ask the UDF listening on ``path`` for ``Info``; raise :class:`HealthError` if it fails.

    ``timeout`` bounds the whole exchange (connect, send, answer), in seconds.
    A new connection is a new task node to the server, exactly as for Kapacitor.
    """
    from udfs.protocol import EdgeType, FrameDecoder, FrameError, encode_frame
    from udfs.protocol import udf_pb2 as pb

    started = time.monotonic()
    deadline = started + timeout
    if not path.exists():
        raise HealthError(f"{path}: no such socket (is `udfs serve` running with this --socket-dir?)")
    decoder = FrameDecoder(pb.Response)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(encode_frame(pb.Request(info=pb.InfoRequest())))
            while True:
                conn.settimeout(max(deadline - time.monotonic(), 0.001))
                data = conn.recv(65536)
                if not data:
                    raise HealthError(f"{path}: the server closed the connection without answering Info")
                for response in decoder.feed(data):
                    kind = response.WhichOneof("message")
                    if kind == "info":
                        info = response.info
                        return SocketHealth(
                            path=path,
                            wants=EdgeType(info.wants).name.lower(),
                            provides=EdgeType(info.provides).name.lower(),
                            options=tuple(sorted(info.options)),
                            seconds=time.monotonic() - started,
                        )
                    if kind == "error":
                        raise HealthError(f"{path}: the UDF answered with an error: {response.error.error}")
                    # Anything else (a keepalive echo, say) is not the answer: keep reading.
        except TimeoutError:
            raise HealthError(f"{path}: no Info answer within {timeout:g} s") from None
        except FrameError as exc:
            raise HealthError(f"{path}: the answer is not the UDF protocol: {exc}") from None
        except OSError as exc:
            raise HealthError(f"{path}: {exc.strerror or exc}") from None


def check_tasks(api: KapacitorAPI, patterns: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """``(problems, summary)`` of Kapacitor's tasks: one line per unhealthy task, and what was fine.

    Unhealthy: enabled but not executing, or executing with an error saved. Only tasks whose
    id matches one of ``patterns`` (globs) when given. Raises KapacitorError when the task
    list cannot be read.
    """
    import fnmatch

    tasks = [task for task in api.tasks()
             if not patterns or any(fnmatch.fnmatchcase(task.id, pattern) for pattern in patterns)]
    problems = []
    for task in tasks:
        if task.failed:
            problems.append(f"task {task.id}: enabled but not executing: {task.error or 'no error saved'}")
        elif task.status == "enabled" and task.error:
            problems.append(f"task {task.id}: executing, with an error: {task.error}")
    enabled = sum(task.status == "enabled" for task in tasks)
    summary = [f"Kapacitor at {api.url}: {enabled - len(problems)} of {enabled} enabled task(s) executing "
               f"without error ({len(tasks) - enabled} disabled, not checked)"]
    return problems, summary


@click.command()
@click.option(
    "--socket-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The directory `udfs serve --socket-dir` listens in.",
)
@click.option("--udf", "names", multiple=True, metavar="NAME",
              help="Check only these UDFs (repeatable; default: every registered UDF, as in `udfs conf`).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds each socket (and each Kapacitor request) has to answer.")
@connection_options(url_default=None, url_envvar=None,
                    url_help="Also check this Kapacitor's tasks (HTTP API; user:password@ in it is used as basic "
                             "auth): an enabled task not executing or with an error is unhealthy.")
@click.option("--task", "patterns", multiple=True, metavar="GLOB",
              help="With --kapacitor-url: check only tasks whose id matches GLOB (repeatable; default: all).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when healthy.")
def health(socket_dir: Path | None, names: tuple[str, ...], timeout: float, kapacitor_url: str | None,
           kapacitor_username: str | None, kapacitor_password: str | None, patterns: tuple[str, ...],
           quiet: bool) -> None:
    """Check that a `udfs serve` server answers Info on each UDF's socket, and/or
    that Kapacitor's tasks run.

    With --socket-dir: connects to DIR/NAME.sock for each UDF, sends an InfoRequest
    and waits for the InfoResponse, like Kapacitor at its start-up. With
    --kapacitor-url: reads the task list; each enabled task that is not executing
    (Kapacitor stopped it, e.g. its UDF died) or has an error is named. Exit status
    0 when all is well, 1 otherwise (a container HEALTHCHECK).
    """
    if socket_dir is None and not kapacitor_url:
        raise click.UsageError("give --socket-dir (check the UDF sockets), --kapacitor-url (check the tasks), or both")
    if patterns and not kapacitor_url:
        raise click.BadParameter("--task filters Kapacitor's tasks; give --kapacitor-url too", param_hint="--task")
    failures = _check_sockets(socket_dir, names, timeout, quiet) if socket_dir is not None else []
    if kapacitor_url:
        from udfs.io.kapacitor import KapacitorError

        api = api_from_options(kapacitor_url, kapacitor_username, kapacitor_password, timeout=timeout)
        try:
            problems, summary = check_tasks(api, patterns)
        except KapacitorError as exc:
            problems, summary = [str(exc)], []
        failures += [f"unhealthy: {problem}" for problem in problems]
        if not quiet and not problems:
            click.echo("\n".join(f"ok: {line}" for line in summary))
    for failure in failures:
        click.echo(failure, err=True)
    if failures:
        raise SystemExit(1)


def _check_sockets(socket_dir: Path, names: tuple[str, ...], timeout: float, quiet: bool) -> list[str]:
    from udfs.functions import FUNCTIONS, UnknownUDFError, load

    for name in names:
        try:
            load(name)
        except UnknownUDFError as exc:
            raise click.BadParameter(str(exc), param_hint="--udf") from None
    failures = []
    for name in names or sorted(FUNCTIONS):
        try:
            result = check_socket(socket_dir / f"{name}.sock", timeout=timeout)
        except HealthError as exc:
            failures.append(f"unhealthy: {name}: {exc}")
            continue
        if not quiet:
            click.echo(f"ok: {name} ({result.wants} -> {result.provides}, {len(result.options)} options) "
                       f"answered Info in {result.seconds * 1000:.0f} ms")
    return failures

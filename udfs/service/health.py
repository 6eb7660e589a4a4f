"""``udfs health``: is a socket server answering, the way Kapacitor will ask it?

Kapacitor asks every configured socket UDF for ``Info`` at start-up and refuses to
start when one does not answer, so a health check that only looks for the socket
file would pass while Kapacitor fails. This one connects to each socket, sends an
``InfoRequest`` frame and waits for the ``InfoResponse``. It is the HEALTHCHECK of
the UDF server's container, which docker compose waits for before starting Kapacitor.

Only click is imported at the top: a container health check runs every few seconds.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import click

__all__ = ["HealthError", "SocketHealth", "check_socket", "health"]


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


@click.command()
@click.option(
    "--socket-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="The directory `udfs serve --socket-dir` listens in.",
)
@click.option("--udf", "names", multiple=True, metavar="NAME",
              help="Check only these UDFs (repeatable; default: every registered UDF, as in `udfs conf`).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds each socket has to answer Info.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when healthy.")
def health(socket_dir: Path, names: tuple[str, ...], timeout: float, quiet: bool) -> None:
    """Check that a `udfs serve` server answers Info on each UDF's socket.

    Connects to DIR/NAME.sock for each UDF, sends an InfoRequest and waits for the
    InfoResponse, like Kapacitor at its start-up. Exit status 0 when every socket
    answered, 1 otherwise (a container HEALTHCHECK).
    """
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
    for failure in failures:
        click.echo(failure, err=True)
    if failures:
        raise SystemExit(1)

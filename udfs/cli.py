"""The ``udfs`` command: run, serve, list, configure and replay the UDFs.

Kapacitor starts ``udfs run NAME`` at its own start-up just to ask ``Info``, so this
module imports only click at the top; each command imports what it needs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from udfs.io.kapacitor import api_from_options, connection_options

__all__ = ["main"]

_LOG_LEVELS = ["debug", "info", "warning", "error"]


_LOG_FORMATS = ["text", "json"]


def _setup_logging(level: str, label: str = "udfs", log_format: str = "text") -> None:
    # Kapacitor copies a process UDF's stderr into its own log: one line per event.
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from udfs.service.jsonlog import JsonFormatter

        handler.setFormatter(JsonFormatter(label=label))
    else:
        handler.setFormatter(logging.Formatter(f"%(levelname)s {label}: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


def _log_format_option(function: Any) -> Any:
    return click.option(
        "--log-format", type=click.Choice(_LOG_FORMATS), default="text", show_default=True,
        help="text: 'LEVEL name: message' lines; json: one JSON object per line (time, level, logger, udf, "
             "pid, message).",
    )(function)


def _load(name: str) -> Any:
    from udfs.functions import UnknownUDFError, load

    try:
        return load(name)
    except UnknownUDFError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None


class _LazyGroup(click.Group):
    """A group whose commands are imported only when used (or listed by --help).

    ``udfs run NAME`` is started by Kapacitor just to answer Info; it must not pay for
    importing the replay driver, numpy or the evaluation code.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, str] = {}

    def add_lazy_command(self, name: str, target: str) -> None:
        """Register ``module:attribute`` as command ``name``."""
        self._lazy[name] = target

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        from udfs.registry import import_target

        command: click.Command = import_target(target)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kapacitor-anomaly-udfs", prog_name="udfs")
def main() -> None:
    """Kapacitor UDFs for anomaly detection on InfluxDB time series.

    \b
    Typical use:
      udfs list                      what UDFs exist, their edges and options
      udfs conf --mode socket        the kapacitor.conf [udf] section to paste
      udfs serve --socket-dir DIR    run every UDF as a socket UDF
      udfs health --socket-dir DIR   check that each socket answers Info
      udfs run NAME                  one process UDF (what kapacitor.conf points at)
      udfs replay NAME --input F     run a UDF over a file exactly as Kapacitor would
      udfs check-tick tickscripts/   what `kapacitor define` would reject, in its words
      udfs tasks install SCRIPT      define and enable tasks through Kapacitor's HTTP API
      udfs watchdog                  re-enable tasks that stopped because a UDF went away
    """


@main.command("list")
@click.option("--markdown", is_flag=True, help="Print the full docs (option tables) as Markdown.")
def list_cmd(markdown: bool) -> None:
    """List every UDF with its edges and options."""
    from udfs.functions import FUNCTIONS, load

    for name in sorted(FUNCTIONS):
        cls = load(name)
        edges = f"{cls.wants.name.lower()} -> {cls.provides.name.lower()}"
        if markdown:
            click.echo(f"### `@{name}()`\n\n{cls.summary} Edges: {edges}.\n")
            table = cls.options.markdown_table() if len(cls.options) else "No options."
            click.echo(table + "\n")
            continue
        click.echo(f"{name:<18} {edges:<17} {cls.summary}")
        for spec in cls.options:
            click.echo(f"    .{spec.name}({spec.signature()})  default {spec.default_text()}  {spec.help}")


@main.command()
@click.argument("name")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True)
@_log_format_option
def run(name: str, log_level: str, log_format: str) -> None:
    """Serve one task over stdin/stdout (a process UDF).

    This is what kapacitor.conf's prog/args start; see `udfs conf`. When Kapacitor
    closes stdin (the task stops), the UDF exits within a second: queued work it
    cannot finish by then is discarded.
    """
    _setup_logging(log_level, name, log_format)
    cls = _load(name)
    if sys.stdin.isatty():
        # Someone typed `udfs run NAME` in a terminal: the protocol is binary, say so.
        click.echo(
            f"udfs run {name}: waiting for Kapacitor's UDF protocol on stdin (binary). Kapacitor starts "
            f"this itself (see `udfs conf`); to try the UDF on a file, use `udfs replay {name} -i FILE`.",
            err=True,
        )
    from udfs.protocol.transport import run_stdio

    sys.exit(run_stdio(cls(), label=name, exit_when_stuck=True))


def _socket_mode(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from udfs.protocol.sockets import check_mode

    try:
        return check_mode(int(value, 8))
    except ValueError as exc:
        message = str(exc) if value.lstrip("-").isdigit() else f"{value!r} is not an octal mode (e.g. 660)"
        raise click.BadParameter(message) from None


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """A Kapacitor duration (``500ms``, ``2s``, ``1m``) or a number of seconds, > 0."""
    from udfs.params.durations import parse_duration

    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parse_duration(value) / 1e9
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    if not seconds > 0:
        raise click.BadParameter(f"{value!r}: must be more than 0")
    return seconds


@main.command()
@click.option(
    "--socket-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Directory for the sockets; each UDF listens on DIR/NAME.sock.",
)
@click.option("--udf", "names", multiple=True, metavar="NAME", help="Serve only these UDFs (repeatable).")
@click.option(
    "--mode", default="660", show_default=True, callback=_socket_mode,
    help="Permissions of the socket files (octal, read/write bits only, within 666); Kapacitor's user needs "
         "read+write.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Worker processes accepting on the same sockets; a connection stays on one worker. "
         "[default: the number of CPU cores]",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on http://HOST:PORT/metrics (off by default).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address of the metrics endpoint.")
@connection_options(url_default=None, url_envvar=None, prefix="kapacitor-",
                    url_help="Also run the task watchdog (see `udfs watchdog`) against this Kapacitor, once the "
                             "sockets listen: tasks calling these UDFs that stopped are re-enabled. Off by default.")
@click.option("--watchdog-interval", default="2s", show_default=True, callback=_seconds, metavar="DURATION",
              help="How often the watchdog reads Kapacitor's task list (with --kapacitor-url).")
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True)
@_log_format_option
def serve(socket_dir: Path, names: tuple[str, ...], mode: int, workers: int | None, metrics_port: int | None,
          metrics_host: str, kapacitor_url: str | None, kapacitor_username: str | None,
          kapacitor_password: str | None, watchdog_interval: float, log_level: str, log_format: str) -> None:
    """Run UDFs as socket UDFs: one server, one unix socket per UDF.

    Each connection (each Kapacitor task node) gets its own handler and state, on one
    worker process for its whole life. A second server on the same directory is
    refused; a stale socket file from a crashed server is replaced; a live one is not.
    Stop with SIGTERM or Ctrl-C: the workers stop and the socket files are removed.

    With --kapacitor-url, the parent process also re-enables the Kapacitor tasks that
    call these UDFs and stopped (after this server restarted, say), as `udfs watchdog`.
    """
    _setup_logging(log_level, "serve", log_format)
    from udfs.protocol.transport import SocketInUseError, SocketServer
    from udfs.service.serving import serve_workers

    selected = names or tuple(sorted(_function_names()))
    watchdog = None
    if kapacitor_url:
        from udfs.service.watchdog import TaskWatchdog

        watchdog = TaskWatchdog(api_from_options(kapacitor_url, kapacitor_username, kapacitor_password),
                                udfs=selected, reattach_first=True, follow_log=True)
    sockets = {socket_dir.resolve() / f"{name}.sock": (name, _load(name)) for name in selected}
    server = SocketServer(sockets, mode=mode)
    try:
        server.bind()
    except (SocketInUseError, FileExistsError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from None
    count = workers or os.cpu_count() or 1
    logging.getLogger("udfs.serve").info("serving %d UDF(s) in %s with %d worker(s)", len(sockets),
                                         socket_dir.resolve(), count)
    sys.exit(serve_workers(server, count, metrics_host=metrics_host, metrics_port=metrics_port,
                           watchdog=watchdog, watchdog_interval=watchdog_interval))


def _function_names() -> list[str]:
    from udfs.functions import FUNCTIONS

    return list(FUNCTIONS)


@main.command()
@click.option("--mode", type=click.Choice(["process", "socket"]), default="process", show_default=True)
@click.option("--udf", "names", multiple=True, metavar="NAME", help="Only these UDFs (repeatable).")
@click.option(
    "--socket-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("/var/run/udfs"),
    show_default=True, help="Where `udfs serve` puts its sockets (socket mode).",
)
@click.option("--timeout", default="10s", show_default=True, help="Keepalive timeout Kapacitor enforces.")
@click.option("--python", "python", default=None, metavar="PATH",
              help="Interpreter Kapacitor starts in process mode (default: this one, absolute path).")
@click.option("--model-path", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Model directory of the model-based UDFs (process mode: set as MODEL_PATH in their env "
                   "section; default: $MODEL_PATH, else ./models, made absolute).")
def conf(mode: str, names: tuple[str, ...], socket_dir: Path, timeout: str, python: str | None,
         model_path: Path | None) -> None:
    """Print the [udf.functions.*] sections of kapacitor.conf for this installation.

    Process mode points Kapacitor at this Python interpreter (absolute path), so the
    UDFs run from the environment they are installed in, and gives the model-based
    UDFs MODEL_PATH (Kapacitor starts them in its own working directory, where a
    relative ./models would not be found). In socket mode MODEL_PATH is `udfs serve`'s.
    """
    from udfs.functions import FUNCTIONS
    from udfs.models.store import model_dir

    click.echo(render_conf(mode, names or tuple(sorted(FUNCTIONS)), socket_dir.absolute(), timeout,
                           python or sys.executable, model_path=(model_path or model_dir()).absolute()))


def render_conf(mode: str, names: tuple[str, ...], socket_dir: Path, timeout: str, python: str,
                *, model_path: Path | None = None) -> str:
    """The [udf] section of kapacitor.conf for ``names``."""
    classes = {name: _load(name) for name in names}
    lines = ["[udf]", "[udf.functions]"]
    for name in names:
        lines.append(f"  [udf.functions.{name}]")
        if mode == "process":
            lines.append(f'    prog = "{python}"')
            lines.append(f'    args = ["-m", "udfs", "run", "{name}"]')
        else:
            lines.append(f'    socket = "{socket_dir / (name + ".sock")}"')
        lines.append(f'    timeout = "{timeout}"')
        if mode == "process" and model_path is not None and any(spec.name == "model" for spec in classes[name].options):
            lines.append(f"    [udf.functions.{name}.env]")
            lines.append(f'      MODEL_PATH = "{model_path}"')
    return "\n".join(lines)


# Commands that live next to their code, imported only when used.
assert isinstance(main, _LazyGroup)
main.add_lazy_command("replay", "udfs.replay.cli:replay")
main.add_lazy_command("demo", "udfs.replay.demo:demo")
main.add_lazy_command("evaluate", "udfs.evaluation.cli:evaluate")
main.add_lazy_command("check-tick", "udfs.tickscript.cli:check_tick")
main.add_lazy_command("tasks", "udfs.tickscript.cli:tasks")
main.add_lazy_command("train", "udfs.models.train:train")
main.add_lazy_command("health", "udfs.service.health:health")
main.add_lazy_command("watchdog", "udfs.service.watchdog:watchdog")
main.add_lazy_command("analyze", "udfs.analysis.cli:analyze")
main.add_lazy_command("web", "udfs.web.cli:web")
main.add_lazy_command("backtest", "udfs.analysis.backtest:backtest")

"""``udfs replay``: run a UDF over a file exactly as Kapacitor would, print what it returns.

Only click is imported at module level (this module is loaded by every ``udfs``
command, including the latency-sensitive ``udfs run``).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import IO, Any, NoReturn

import click

__all__ = ["TIME_PRECISIONS", "replay"]

#: The keys of :data:`udfs.io.lineprotocol.PRECISIONS` (not imported here: see the module doc).
TIME_PRECISIONS = ("n", "ns", "u", "us", "ms", "s", "m", "h")


@click.command()
@click.argument("name")
@click.option("--input", "-i", "input_path", required=True, metavar="FILE",
              help="CSV (timestamp,value[,...], or InfluxDB's own `influx -format csv` export) or InfluxDB "
                   "line protocol (.lp/.txt/.line); - for stdin.")
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "lp"]), default="auto", show_default=True,
              help="Input format; auto decides by file extension (stdin: lp). InfluxDB's CSV export "
                   "(header name,[tags,]time,...) is recognised by its header.")
@click.option("--precision", type=click.Choice(TIME_PRECISIONS), default=None,
              help="Unit of integer timestamps, as InfluxDB's /write?precision= and influx -precision "
                   "[default: ns for line protocol; guessed from the size for CSV].")
@click.option("--measurement", "-m", default=None,
              help="Measurement of every input point (default: line protocol's own; for CSV the file's stem, "
                   "or the name column of InfluxDB's export).")
@click.option("--tag-column", "tag_columns", multiple=True, metavar="COLUMN",
              help="CSV column to read as a tag instead of a field (repeatable); InfluxDB's export of "
                   "SELECT * shows tags as columns: name them here.")
@click.option("--option", "-o", "options", multiple=True, metavar="NAME=VALUE",
              help="A UDF option as in TICKscript: size=10, window=5m, enabled=true, flag. The text after = "
                   "is one argument, commas and all (algorithms=mad,sigma is .algorithms('mad,sigma')), unless "
                   "the option takes several: pair=x,1.5 is .pair('x', 1.5), and \\, is a comma that does not "
                   "cut ('pair=a\\,b,1.5', quoted for the shell). Repeat for several options or repeated calls.")
@click.option("--group-by", "group_by", multiple=True, metavar="TAG",
              help="Group by this tag, as |from().groupBy('TAG') (repeatable).")
@click.option("--batch-period", default=None, metavar="DURATION",
              help="Send batches instead of a stream: one batch per group per period (e.g. 1h), "
                   "as batch|query().period(). Needs a UDF that wants batches.")
@click.option("--batch-align", is_flag=True,
              help="Start batch periods at multiples of the period since the epoch, as query().align(); "
                   "by default they start at the first point.")
@click.option("--database", default="telegraf", show_default=True, help="Database stamped on stream points.")
@click.option("--retention-policy", default="autogen", show_default=True,
              help="Retention policy stamped on stream points.")
@click.option("--prog", default=None, metavar="COMMAND",
              help="Run this UDF command instead of `udfs run NAME` (any process UDF, "
                   "as kapacitor.conf prog + args).")
@click.option("--timeout", default="10s", show_default=True,
              help="Keepalive timeout, as kapacitor.conf's timeout; keepalives every timeout/2.")
@click.option("--finish-timeout", default=None, metavar="DURATION",
              help="After the end of input, wait at most this long for the UDF to answer everything it was "
                   "sent (default: no limit while it answers keepalives); then stop with an error naming "
                   "the points lost.")
@click.option("--snapshot-interval", default="60s", show_default=True,
              help="Ask for a snapshot this often, as Kapacitor's [task] snapshot-interval; 0 disables.")
@click.option("--restore", "restore_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Send this snapshot (from --snapshot-out) as Restore after Init.")
@click.option("--snapshot-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="After the input, ask one more snapshot and save it here.")
@click.option("--task-id", default="replay", show_default=True, help="taskID sent in Init.")
@click.option("--node-id", default=None, help="nodeID sent in Init (default NAME2, as Kapacitor numbers it).")
@click.option("--output", "-O", "output", default="-", show_default=True, metavar="FILE",
              help="Write the UDF's points here as line protocol (- = stdout).")
@click.option("--out-measurement", default=None,
              help="Measurement of output points (as influxDBOut().measurement()); default: the point's.")
@click.option("--influx-url", default=None, metavar="URL",
              help="Also write the output to this InfluxDB (http://host:8086).")
@click.option("--influx-db", default="anomalies", show_default=True, help="Database for --influx-url.")
@click.option("--record-requests", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save every request byte sent to the UDF (for comparing with a Kapacitor recording).")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: if a tty).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the input series and the UDF's anomalies and scores into this PNG.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the same as a self-contained interactive HTML page.")
def replay(name: str, input_path: str, fmt: str, precision: str | None, measurement: str | None,
           tag_columns: tuple[str, ...],
           options: tuple[str, ...], group_by: tuple[str, ...], batch_period: str | None, batch_align: bool,
           database: str, retention_policy: str, prog: str | None, timeout: str, finish_timeout: str | None,
           snapshot_interval: str,
           restore_path: Path | None, snapshot_out: Path | None, task_id: str, node_id: str | None,
           output: str, out_measurement: str | None, influx_url: str | None, influx_db: str,
           record_requests: Path | None, progress: bool | None, plot_path: Path | None = None,
           html_path: Path | None = None) -> None:
    """Replay FILE through UDF NAME over the real protocol, the way Kapacitor drives it.

    Info is asked from a separate process first (Kapacitor's start-up), options are
    type-checked against it like `kapacitor define` does, then the task process gets
    Init (and Restore), the points or batches, keepalives and snapshots.

    \b
    Examples:
      udfs replay moving_average -i data.csv -o field=value -o size=5
      udfs replay mirror -i adsl.lp --group-by host --output out.lp
    """
    from udfs.params.durations import parse_duration

    def duration(text: str, flag: str) -> int:
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=flag) from None

    timeout_s = duration(timeout, "--timeout") / 1e9
    if timeout_s <= 0:
        raise click.BadParameter("must be positive", param_hint="--timeout")
    interval_s = duration(snapshot_interval, "--snapshot-interval") / 1e9
    finish_s = duration(finish_timeout, "--finish-timeout") / 1e9 if finish_timeout else None
    if finish_s is not None and finish_s <= 0:
        raise click.BadParameter("must be positive", param_hint="--finish-timeout")
    period_ns = duration(batch_period, "--batch-period") if batch_period else None

    from udfs.functions import FUNCTIONS
    from udfs.replay.session import ReplayConfig, ReplayError, replay_records

    if not prog and name not in FUNCTIONS:
        raise click.BadParameter(f"unknown UDF {name!r}; known: {', '.join(sorted(FUNCTIONS))}", param_hint="NAME")
    records = _read_input(input_path, fmt, measurement, tag_columns, precision)
    plotting = plot_path is not None or html_path is not None
    if plotting:
        from udfs.analysis.replay_plot import Recorder

        records = recorder = Recorder(records)
    if progress is None:
        progress = sys.stderr.isatty()
    if progress:
        from tqdm import tqdm

        records = tqdm(records, desc="replay", unit=" points", file=sys.stderr)
    record_file = record_requests.open("wb") if record_requests else None
    sink = _Sink(output, influx_url, influx_db, keep=plotting)
    config = ReplayConfig(
        name=name, options=options, group_by=group_by, batch_period_ns=period_ns, batch_align=batch_align,
        database=database, retention_policy=retention_policy, argv=shlex.split(prog) if prog else None,
        timeout=timeout_s, snapshot_interval=interval_s or None, task_id=task_id, node_id=node_id,
        restore=restore_path.read_bytes() if restore_path else None, final_snapshot=snapshot_out is not None,
        record=record_file, finish_timeout=finish_s,
    )
    try:
        try:
            result, collector = replay_records(config, records, sink.add, out_measurement=out_measurement)
        except ReplayError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            if record_file is not None:
                record_file.close()
            sink.close()
    except BrokenPipeError:
        _output_closed()
    if snapshot_out is not None and result.snapshots:
        snapshot_out.write_bytes(result.snapshots[-1])
    click.echo(
        f"replay: {result.points_sent} points sent, {collector.count} points returned"
        + (f" in {collector.batches} batches" if collector.batches else "")
        + f", {result.keepalives_sent} keepalives, {len(result.snapshots)} snapshots",
        err=True,
    )
    if plotting:
        from udfs.analysis.replay_plot import replay_analysis, write_plots

        analysis = replay_analysis(name, options, recorder.kept, sink.kept, group_by=group_by)
        for path in write_plots(analysis, plot_path, html_path):
            click.echo(f"replay: plot written to {path}", err=True)


def _output_closed() -> NoReturn:
    """The reader of the output went away (``udfs replay ... | head``): end quietly.

    The UDF process is already killed and reaped by then. Like a unix filter killed by
    SIGPIPE, no message and status 141 (128 + SIGPIPE); the output left unflushed
    goes to /dev/null so that the interpreter's exit does not complain about it.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(128 + 13)


class _InputError(click.ClickException):
    pass


def _read_input(path: str, fmt: str, measurement: str | None, tag_columns: tuple[str, ...],
                precision: str | None) -> Any:
    from udfs.io.csvinput import read_records

    def checked() -> Any:
        # Readers are lazy: a bad line surfaces mid-replay, and must read as an input error.
        try:
            yield from read_records(path, fmt=fmt, measurement=measurement, tag_columns=tag_columns,
                                    precision=precision)
        except (OSError, ValueError) as exc:
            raise _InputError(f"cannot read {path}: {exc}") from None

    return checked()


class _Sink:
    """Line protocol to a file/stdout, and optionally InfluxDB."""

    def __init__(self, output: str, influx_url: str | None, influx_db: str, *, keep: bool = False) -> None:
        from udfs.io.lineprotocol import format_record

        self._format = format_record
        self._file: IO[str] = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
        self._influx = None
        self._pending: list[Any] = []
        self._keep = keep
        self.kept: list[Any] = []
        if influx_url:
            from udfs.io.influx import InfluxTarget

            self._influx = InfluxTarget.from_url(influx_url, database=influx_db)

    def add(self, record: Any) -> None:
        self._file.write(self._format(record) + "\n")
        if self._keep:
            self.kept.append(record)
        if self._influx is not None:
            self._pending.append(record)

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()
        else:
            self._file.flush()
        if self._influx is not None and self._pending:
            self._influx.write_records(self._pending, progress=False)
            self._pending = []

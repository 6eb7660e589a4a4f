"""``udfs analyze``: what would the detectors find in this series? Table, plots, JSON.

Imports only click at module level; the analysis (numpy, the UDFs) and matplotlib
load when the command runs, matplotlib only when a PNG is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

__all__ = ["analyze", "output_options", "write_outputs"]

DEFAULT_DETECTORS = ("mad", "zscore", "iqr")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def output_options(command: Any) -> Any:
    """--plot/--html/--json/--title, shared by analyze and backtest."""
    for option in reversed([
        click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Write a PNG: series, each detector's anomalies, labelled windows, scores below."),
        click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Write a self-contained interactive HTML page of the same (no network needed)."),
        click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Write the result as JSON (per detector: options, count, first, anomaly times)."),
        click.option("--title", default=None, help="Title of the plots (default: field and detectors)."),
    ]):
        command = option(command)
    return command


def write_outputs(analysis: Any, plot_path: Path | None, html_path: Path | None, json_path: Path | None) -> None:
    """Write the asked-for files and say where, on stderr."""
    if plot_path is not None:
        from udfs.analysis.plot_png import write_png

        click.echo(f"plot: {write_png(analysis, plot_path)}", err=True)
    if html_path is not None:
        from udfs.analysis.plot_html import write_html

        click.echo(f"html: {write_html(analysis, html_path)}", err=True)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(analysis.to_json(), indent=1) + "\n")
        click.echo(f"json: {json_path}", err=True)


@click.command()
@click.argument("input_path", required=False, metavar="[FILE]")
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "lp"]), default="auto", show_default=True,
              help="Format of FILE; auto decides by extension (.csv, .lp/.txt/.line).")
@click.option("--detector", "-d", "detectors", multiple=True, metavar="NAME[:OPT=V,...]",
              help="A detector UDF and its TICKscript options, e.g. -d sigma -d mad:window=50,threshold=4 "
                   f"(repeatable; default: {' '.join('-d ' + d for d in DEFAULT_DETECTORS)}). A repeated "
                   "UDF is labelled NAME_2, NAME_3.")
@click.option("--consensus", "rule", default="majority", show_default=True, metavar="RULE",
              help="When the detectors together call a point anomalous: K (K of all), all, any, majority, "
                   "or groups a+b|c (AND within a group, OR across groups; 'K of a+b+c' for K of a group).")
@click.option("--field", "-f", "field_name", default=None,
              help="Field to analyse (default: value, or the data's only field).")
@click.option("--group-by", "group_by", multiple=True, metavar="TAG",
              help="Analyse each value of this tag as its own series, as groupBy('TAG') (repeatable).")
@click.option("--batch-period", default=None, metavar="DURATION",
              help="For batch UDFs (iqr_batch): one batch per group per period, as query().period().")
@click.option("--span", default="7d", show_default=True, metavar="DURATION|all",
              help="Analyse the last DURATION of the series (like Skyline Vortex: 24h or 7d); all = everything.")
@click.option("--windows", "windows_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Labelled anomaly windows (JSON {\"windows\": [[start, end], ...]}) to "
                                 "shade in the plots and score hits against.")
@click.option("--measurement", "-m", default=None,
              help="InfluxDB measurement to query; for a CSV file, the measurement name (default: file stem).")
@click.option("--tag-column", "tag_columns", multiple=True, metavar="COLUMN",
              help="CSV column to read as a tag (repeatable).")
@click.option("--influx-url", default=None, metavar="URL",
              help="Read the series from this InfluxDB 1.x (http://host:8086) instead of FILE.")
@click.option("--db", "database", default="telegraf", show_default=True, help="Database for --influx-url.")
@click.option("--rp", "retention_policy", default=None, help="Retention policy (default: the database's default).")
@click.option("--query", default=None, help="A full InfluxQL SELECT to run instead of building one.")
@click.option("--where", default=None, help="Extra InfluxQL condition, e.g. \"host\" = 'a'.")
@click.option("--start", default=None, help="Query start: RFC 3339, a date, or now() - 2d (default: now() - span).")
@click.option("--stop", default=None, help="Query end (default: now).")
@output_options
def analyze(input_path: str | None, fmt: str, detectors: tuple[str, ...], rule: str, field_name: str | None,
            group_by: tuple[str, ...], batch_period: str | None, span: str, windows_path: Path | None,
            measurement: str | None, tag_columns: tuple[str, ...], influx_url: str | None, database: str,
            retention_policy: str | None, query: str | None, where: str | None, start: str | None,
            stop: str | None, plot_path: Path | None, html_path: Path | None, json_path: Path | None,
            title: str | None) -> None:
    """Run detectors over FILE or an InfluxDB series and show what each would find.

    The detectors run through the same UDF code Kapacitor runs (options checked as
    `kapacitor define` and Init check them). Prints, per detector, how many anomalies
    and the first; then the consensus of all of them.

    \b
    Examples:
      udfs analyze data.csv -d sigma -d mad:window=50 --consensus 2 --plot out.png
      udfs analyze --influx-url http://localhost:8086 --db telegraf -m cpu -f usage_idle \\
          --where "\\"host\\" = 'web1'" --span 24h --html cpu.html
    """
    from udfs.analysis.engine import AnalysisError
    from udfs.analysis.result import analyze as run_analysis
    from udfs.analysis.source import build_query, last_span, parse_span, read_file, read_windows
    from udfs.analysis.specs import SpecError, parse_spec
    from udfs.params.durations import parse_duration

    try:
        span_ns = parse_span(span)
        specs = [parse_spec(text) for text in (detectors or DEFAULT_DETECTORS)]
        period = parse_duration(batch_period) if batch_period else None
        windows = read_windows(windows_path) if windows_path else []
    except (ValueError, SpecError) as exc:
        raise _fail(exc) from None
    if (input_path is None) == (influx_url is None):
        raise click.UsageError("give either FILE or --influx-url")
    if influx_url is not None:
        from udfs.analysis.source import InfluxSeries
        from udfs.io.influx import InfluxError

        if query is None:
            if not measurement or not field_name:
                raise click.UsageError("--influx-url needs --query, or --measurement and --field")
            try:
                query = build_query(measurement, field_name, where=where, start=start, stop=stop, span_ns=span_ns,
                                    group_by=group_by, retention_policy=retention_policy)
            except ValueError as exc:
                raise _fail(exc) from None
        click.echo(f"query: {query}", err=True)
        try:
            records = InfluxSeries(influx_url, database, query).read()
        except InfluxError as exc:
            raise _fail(exc) from None
    else:
        assert input_path is not None
        try:
            records = last_span(read_file(input_path, fmt=fmt, measurement=measurement, tag_columns=tag_columns),
                                span_ns)
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read {input_path}: {exc}") from None
    try:
        result = run_analysis(records, specs, rule=rule, field_name=field_name, group_by=group_by,
                              batch_period_ns=period, windows=windows, title=title or "")
    except (AnalysisError, ValueError) as exc:
        raise _fail(exc) from None
    click.echo(result.summary())
    write_outputs(result, plot_path, html_path, json_path)

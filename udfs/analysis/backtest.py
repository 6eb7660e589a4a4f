"""``udfs backtest``: what a TICKscript task would have emitted over a past time range.

The script's UDF call and its options are read from the script (vars from the script
and a vars file, as ``kapacitor define -vars`` sets them); the series is read from
InfluxDB the way the script's ``|from()`` (measurement, database, retention policy,
groupBy) or ``|query()`` (its SELECT, ``period``) would see it over START..STOP; then it
is replayed through the UDF as a real subprocess over the real protocol, exactly as
Kapacitor drives it (:mod:`udfs.replay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from udfs.analysis.cli import output_options, write_outputs

__all__ = ["BacktestError", "TaskPlan", "backtest", "plan_task"]


class BacktestError(ValueError):
    """The script cannot be backtested (no UDF, an unsupported source), and why."""


@dataclass
class TaskPlan:
    """What the task reads and which UDF it calls with which options."""

    udf: str
    options: list[str]
    edge: str  # "stream" or "batch"
    database: str | None = None
    retention_policy: str | None = None
    measurement: str | None = None
    group_by: list[str] = field(default_factory=list)
    query: str | None = None
    period_ns: int | None = None


def _value(node: Any, scope: Mapping[str, Any]) -> Any:
    from udfs.tickscript.parser import Ident, ListExpr, Literal, Operation

    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Ident):
        if node.name not in scope:
            raise BacktestError(f"line {node.line}: {node.name} is not defined (set it in the vars file)")
        return scope[node.name]
    if isinstance(node, ListExpr):
        return [_value(item, scope) for item in node.items]
    if isinstance(node, Operation) and node.op == "+" and node.left is not None and node.right is not None:
        # String concatenation, as in |query('SELECT "' + field + '" FROM ...'); numbers add.
        left, right = _value(node.left, scope), _value(node.right, scope)
        if isinstance(left, str) != isinstance(right, str):
            raise BacktestError(f"line {node.line}: cannot add {type(left).__name__} and {type(right).__name__}")
        return left + right
    raise BacktestError(f"line {node.line}: cannot evaluate {type(node).__name__} here")


def _option_text(value: Any, kind: str | None) -> str:
    from udfs.params.durations import format_duration

    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "DURATION" and isinstance(value, int):
        return format_duration(value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _scope(program: Any, vars_doc: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    from udfs.params.durations import parse_duration
    from udfs.tickscript.parser import Literal, VarDecl

    scope: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for statement in program.statements:
        if isinstance(statement, VarDecl) and statement.value is not None:
            try:
                scope[statement.name] = _value(statement.value, scope)
            except BacktestError:
                continue  # a pipeline node (var s = stream|from()...) is not a value
            if isinstance(statement.value, Literal):
                kinds[statement.name] = statement.value.kind
    for name, var in vars_doc.items():
        value = var.get("value")
        if var["type"] == "duration" and isinstance(value, str):
            value = parse_duration(value)
            kinds[name] = "DURATION"
        if var["type"] == "list" and isinstance(value, list):
            value = [item.get("value") if isinstance(item, dict) else item for item in value]
        scope[name] = value
    return scope, kinds


def plan_task(script: str, vars_doc: Mapping[str, Mapping[str, Any]] | None = None) -> TaskPlan:
    """Read the UDF call and the source of the first chain of ``script`` that calls a UDF."""
    from udfs.functions import FUNCTIONS
    from udfs.tickscript.parser import DBRP, Chain, Ident, Literal, parse

    program = parse(script)
    scope, kinds = _scope(program, vars_doc or {})
    dbrp = next((s for s in program.statements if isinstance(s, DBRP)), None)
    for chain in [s for s in program.statements if isinstance(s, Chain)]:
        links = chain.links
        at = next((i for i, link in enumerate(links) if link.op == "@"), None)
        if at is None:
            continue
        plan = TaskPlan(udf=links[at].name, options=[],
                        edge=chain.root.name if isinstance(chain.root, Ident) else "stream",
                        database=dbrp.db if dbrp else None, retention_policy=dbrp.rp if dbrp else None)
        if plan.udf not in FUNCTIONS:
            raise BacktestError(f"@{plan.udf}() is not one of this package's UDFs")
        for link in links[at + 1:]:
            if link.op != ".":
                break
            values = [_value(arg, scope) for arg in link.args or []]
            arg_kinds = [arg.kind if isinstance(arg, Literal) else kinds.get(getattr(arg, "name", ""), "")
                         for arg in link.args or []]
            texts = [_option_text(v, k) for v, k in zip(values, arg_kinds, strict=True)]
            plan.options.append(link.name + ("=" + ",".join(texts) if texts else ""))
        source = None
        for link in links[:at]:
            if link.op == "|":
                source = link.name
                if link.name == "query" and link.args:
                    plan.query = str(_value(link.args[0], scope))
                continue
            if link.op != "." or source not in ("from", "query"):
                continue
            values = [_value(arg, scope) for arg in link.args or []]
            if link.name == "database":
                plan.database = str(values[0])
            elif link.name == "retentionPolicy":
                plan.retention_policy = str(values[0])
            elif link.name == "measurement":
                plan.measurement = str(values[0])
            elif link.name == "groupBy":
                flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
                plan.group_by = [str(v) for v in flat]
            elif link.name == "period":
                plan.period_ns = int(values[0])
            elif link.name in ("where", "every", "align", "offset", "fill", "cluster", "truncate", "round"):
                if link.name == "where":
                    raise BacktestError(f"line {link.line}: from().where() is not supported by backtest yet; "
                                        "use `udfs analyze --where` for the same series")
        if source not in ("from", "query"):
            raise BacktestError("the UDF's chain reads neither |from() nor |query()")
        if source == "from" and not plan.measurement:
            raise BacktestError("|from() has no .measurement(): backtest needs one series")
        return plan
    raise BacktestError("the script calls no UDF (@name())")


def series_query(plan: TaskPlan, start: str, stop: str | None) -> str:
    """The InfluxQL that returns what the task would have read between ``start`` and ``stop``."""
    from udfs.analysis.source import _time_literal, quote_ident

    bounds = f"time >= {_time_literal(start)}" + (f" AND time <= {_time_literal(stop)}" if stop else "")
    if plan.query is not None:
        upper = plan.query.upper()
        return plan.query + (" AND " if " WHERE " in upper else " WHERE ") + bounds
    source = quote_ident(plan.measurement or "")
    if plan.retention_policy:
        source = f"{quote_ident(plan.retention_policy)}.{source}"
    return f"SELECT * FROM {source} WHERE {bounds}"


@click.command()
@click.argument("tickscript", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vars", "vars_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A vars file (kapacitor define -vars) for a template task.")
@click.option("--influx-url", required=True, metavar="URL", help="The InfluxDB the task reads (http://host:8086).")
@click.option("--db", "database", default=None, help="Override the script's database.")
@click.option("--start", required=True, help="Start of the backtest: RFC 3339, a date, or now() - 7d.")
@click.option("--stop", default=None, help="End of the backtest (default: now).")
@click.option("--output", "-O", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write what the task would have emitted as line protocol.")
@output_options
def backtest(tickscript: Path, vars_path: Path | None, influx_url: str, database: str | None, start: str,
             stop: str | None, output: Path | None, plot_path: Path | None, html_path: Path | None,
             json_path: Path | None, title: str | None) -> None:
    """Replay TICKSCRIPT's UDF over past data from InfluxDB, exactly as Kapacitor would run it.

    \b
    Example:
      udfs backtest tickscripts/mad.tick --vars vars.json --influx-url http://localhost:8086 \\
          --start 2024-05-01T00:00:00Z --stop 2024-05-08T00:00:00Z --plot mad.png
    """
    from udfs.analysis.replay_plot import replay_analysis
    from udfs.io.influx import InfluxError, InfluxTarget
    from udfs.io.lineprotocol import format_record
    from udfs.replay.session import ReplayConfig, ReplayError, replay_records
    from udfs.tickscript.lexer import TickSyntaxError
    from udfs.tickscript.vars import VarsError, load_vars

    try:
        plan = plan_task(tickscript.read_text(), load_vars(vars_path) if vars_path else None)
        query = series_query(plan, start, stop)
    except (BacktestError, TickSyntaxError, VarsError, ValueError) as exc:
        raise click.ClickException(f"{tickscript}: {exc}") from None
    db = database or plan.database or "telegraf"
    click.echo(f"backtest: @{plan.udf}() {' '.join('.' + o for o in plan.options)}", err=True)
    click.echo(f"backtest: {db}: {query}", err=True)
    try:
        records = InfluxTarget.from_url(influx_url, database=db).query_records(query)
    except InfluxError as exc:
        raise click.ClickException(str(exc)) from None
    records.sort(key=lambda r: r.time)
    if not records:
        raise click.ClickException("the query returned no points in that time range")
    found: list[Any] = []
    config = ReplayConfig(name=plan.udf, options=plan.options, group_by=plan.group_by,
                          batch_period_ns=plan.period_ns if plan.edge == "batch" else None,
                          database=db, retention_policy=plan.retention_policy or "autogen",
                          task_id=tickscript.stem, log_level="warning")
    try:
        replay_records(config, records, found.append)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    if output is not None:
        output.write_text("".join(format_record(r) + "\n" for r in found))
    analysis = replay_analysis(plan.udf, plan.options, records, found, group_by=plan.group_by,
                               title=title or f"backtest of {tickscript.name}")
    click.echo(f"{len(records)} points read, {len(found)} points emitted")
    click.echo(analysis.summary())
    write_outputs(analysis, plot_path, html_path, json_path)

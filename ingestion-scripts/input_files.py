"""How import_file.py and replay_live.py read their FILE: CSV or line protocol, checked whole first.

See :func:`udfs.io.csvinput.read_records` for the formats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from ingestion import Counted

from udfs.io.records import Record

__all__ = ["input_options", "read_input"]

F = TypeVar("F", bound=Callable[..., Any])


def _parse_tags(_ctx: click.Context, _param: Any, values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--tag")
        tags[key] = value
    return tags


def input_options(command: F) -> F:
    """FILE plus the options saying how to read it; see :func:`read_input`."""
    options = [
        click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True)),
        click.option("--format", "fmt", type=click.Choice(["auto", "csv", "lp"]), default="auto", show_default=True,
                     help="auto: by suffix (.csv; .lp .txt .line). '-' reads line protocol from stdin."),
        click.option("--measurement", "-m", default=None,
                     help="Measurement to write (CSV default: the file's stem; replaces line protocol's)."),
        click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", callback=_parse_tags,
                     help="Add this tag to every point (repeatable)."),
        click.option("--tag-column", "tag_columns", multiple=True, metavar="COLUMN",
                     help="CSV: a column holding a tag, not a field (repeatable)."),
        click.option("--time-column", default="timestamp", show_default=True, help="CSV: the time column."),
        click.option("--precision", type=click.Choice(["ns", "us", "ms", "s"]), default=None,
                     help="Unit of epoch timestamps (default: ns for line protocol; for CSV, guessed from "
                          "the first time's magnitude)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def read_input(path: str, *, fmt: str, measurement: str | None, tags: dict[str, str],
               tag_columns: tuple[str, ...], time_column: str, precision: str | None) -> Counted:
    """The records of a CSV or line-protocol file, with ``tags`` added to each.

    The whole file is read once up front to check it and count its points, so a bad
    line stops the script (naming its line) before anything is written.
    """
    from udfs.io.csvinput import read_records
    from udfs.io.lineprotocol import LineProtocolError

    csv_only = {"tag_columns": tag_columns, "time_column": time_column} if fmt == "csv" or (
        fmt == "auto" and path.lower().endswith(".csv")) else {}
    if not csv_only and (tag_columns or time_column != "timestamp"):
        raise click.UsageError("--tag-column and --time-column apply to CSV input only")

    def records() -> Iterator[Record]:
        try:
            for record in read_records(path, fmt=fmt, measurement=measurement, precision=precision, **csv_only):
                record.tags.update(tags)
                yield record
        except (LineProtocolError, ValueError, OSError) as exc:
            raise click.ClickException(f"{path}: {exc}" if path not in str(exc) else str(exc)) from None

    if path == "-":
        cached = list(records())
        return Counted(lambda: cached, len(cached))
    return Counted(records, sum(1 for _ in records()))

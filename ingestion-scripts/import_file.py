#!/usr/bin/env python3
"""Import a CSV or line-protocol file into an InfluxDB 1.x database.

CSV: a header row, a time column (``timestamp`` by default: ``YYYY-MM-DD HH:MM:SS``,
ISO 8601 or an integer epoch in s/ms/us/ns) and value columns, each becoming a field
(numbers as floats, ``true``/``false`` as booleans, anything else as strings);
``--tag-column`` makes a column a tag. The measurement is the file's stem unless
``--measurement`` says otherwise. Line protocol is taken as it is (``--measurement``
replaces every line's). The NAB series, for example::

    python ingestion-scripts/import_file.py data/nab/data/realKnownCause/nyc_taxi.csv \\
        --measurement nab --tag series=nyc_taxi -d nab

The file is checked completely before the first write: a bad line stops the import
with its line number and nothing is written.
"""

from __future__ import annotations

import click
from ingestion import Sink, sink_options
from input_files import input_options, read_input


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@input_options
@sink_options
def main(path: str, fmt: str, measurement: str | None, tags: dict[str, str], tag_columns: tuple[str, ...],
         time_column: str, precision: str | None, sink: Sink) -> None:
    """Write every point of FILE (CSV or line protocol) to InfluxDB."""
    records = read_input(path, fmt=fmt, measurement=measurement, tags=tags, tag_columns=tag_columns,
                         time_column=time_column, precision=precision)
    if not len(records):
        raise click.ClickException(f"{path}: no points in the file")
    written = sink.write(records)
    click.echo(f"{written} points from {path} -> {sink.where}", err=True)


if __name__ == "__main__":
    main()

"""``udfs train``: fit a model on past data, for a UDF to load with ``.model('NAME')``.

Only click is imported at module level; numpy, scikit-learn, joblib and the InfluxDB
client are loaded when a command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click

__all__ = ["feature_rows", "train"]


@click.group(short_help="Train a model on past data for a UDF's .model('NAME').")
def train() -> None:
    """Train a model on past data for a UDF's .model('NAME').

    The model is written to MODEL_DIR/NAME.joblib with NAME.json beside it (fields,
    lags, time range, rows, versions, parameters and the sha256 of the joblib file).
    A UDF loads it only if the checksum and the fields match. A joblib file is a
    pickle: loading it runs code, so keep the model directory writable only by
    people trusted to run code as Kapacitor's user.
    """


def feature_rows(records: Iterable[Any], fields: Sequence[str], lags: int) -> tuple[list[list[float]], list[int], int]:
    """Vectors as the UDF builds them: ``(rows, times, skipped)``.

    With ``lags=0`` a row is the record's ``fields`` in order; with ``lags=k`` (one
    field) it is the value and the k previous values of the same series (measurement
    and tag set), in input order. A record missing a field, or with a non-numeric or
    non-finite one, is skipped (and breaks no lag window).

    Examples
    --------
    >>> from udfs.io.records import Record
    >>> feature_rows([Record(i, "m", {}, {"v": float(i)}) for i in range(4)], ["v"], 2)
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [2, 3], 0)
    """
    import math
    from collections import deque

    rows: list[list[float]] = []
    times: list[int] = []
    skipped = 0
    lagged: dict[tuple[Any, ...], deque[float]] = {}
    for record in records:
        values = [record.fields.get(name) for name in fields]
        # type(v) is, not isinstance: a bool is not a number here
        vector = [float(v) for v in values if (type(v) is int or type(v) is float) and math.isfinite(v)]
        if len(vector) < len(values):
            skipped += 1
            continue
        if lags:
            series = lagged.setdefault((record.measurement, *sorted(record.tags.items())), deque(maxlen=lags))
            previous, full = list(series), len(series) == lags
            series.append(vector[0])
            if not full:
                continue
            vector = previous + vector
        rows.append(vector)
        times.append(record.time)
    return rows, times, skipped


def _read(input_path: str | None, fmt: str, measurement: str | None, tag_columns: tuple[str, ...],
          influx_url: str | None, influx_db: str | None, influx_query: str | None) -> tuple[Iterable[Any], Any]:
    """Records to train on, and a description of where they came from (for the metadata)."""
    if bool(input_path) == bool(influx_url):
        raise click.UsageError("give either --input FILE or --influx-url URL with --influx-query")
    if input_path:
        from udfs.io.csvinput import read_records

        try:
            return read_records(input_path, fmt=fmt, measurement=measurement, tag_columns=tag_columns), {
                "input": input_path
            }
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--input") from None
    if not influx_query:
        raise click.UsageError("--influx-url needs --influx-query 'SELECT ...'")
    from udfs.io.influx import InfluxError, InfluxTarget

    try:
        target = InfluxTarget.from_url(str(influx_url), database=influx_db)
        records = target.query_records(influx_query)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--influx-url") from None
    except InfluxError as exc:
        raise click.ClickException(str(exc)) from None
    return records, {"influx_url": target.url, "database": target.database, "query": influx_query}


@train.command("isolation_forest", short_help="Fit an isolation forest (several fields, or lags of one).")
@click.option("--input", "-i", "input_path", metavar="FILE",
              help="Training data: CSV (timestamp,FIELD,...) or line protocol (.lp/.txt/.line).")
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "lp"]), default="auto", show_default=True,
              help="Format of --input; auto decides by file extension.")
@click.option("--measurement", "-m", default=None, help="Measurement name for CSV input (default: the file's stem).")
@click.option("--tag-column", "tag_columns", multiple=True, metavar="COLUMN",
              help="CSV column to read as a tag (series for --lags are told apart by tags). Repeatable.")
@click.option("--influx-url", default=None, metavar="URL",
              help="Read from InfluxDB 1.x instead: http://[user:password@]host:8086[/DATABASE].")
@click.option("--influx-db", default=None, help="Database, when --influx-url names none.")
@click.option("--influx-query", default=None, metavar="INFLUXQL", help="The query, e.g. 'SELECT * FROM printer'.")
@click.option("--fields", required=True, metavar="A,B,C",
              help="Fields of the vector, in the order the task's .field() calls give them.")
@click.option("--lags", type=click.IntRange(min=0), default=0, show_default=True,
              help="With one field: the vector is the value and its k previous values (as the UDF's .lags(k)).")
@click.option("--name", required=True, help="Model name: the UDF option .model('NAME').")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the model [default: $MODEL_PATH, else ./models].")
@click.option("--n-estimators", type=click.IntRange(min=1), default=100, show_default=True, help="Trees.")
@click.option("--contamination", default="auto", show_default=True,
              help="'auto' or the expected outlier fraction in (0, 0.5]; sets the score offset.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Random seed.")
@click.option("--force", is_flag=True, help="Replace an existing model of that name.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: if a tty).")
def isolation_forest(input_path: str | None, fmt: str, measurement: str | None, tag_columns: tuple[str, ...],
                     influx_url: str | None, influx_db: str | None, influx_query: str | None, fields: str,
                     lags: int, name: str, model_dir: Path | None, n_estimators: int, contamination: str,
                     seed: int, force: bool, progress: bool | None) -> None:
    """Fit an isolation forest for @isolation_forest().model('NAME').

    \b
    Examples:
      udfs train isolation_forest -i printer.csv --tag-column printer \\
          --fields temperature,humidity,ink_level --name printer
      udfs train isolation_forest --influx-url http://localhost:8086/telegraf \\
          --influx-query "SELECT temperature, humidity, ink_level FROM printer WHERE time > now() - 7d" \\
          --fields temperature,humidity,ink_level --name printer --n-estimators 200
    """
    field_list = [f.strip() for f in fields.split(",") if f.strip()]
    if not field_list or len(set(field_list)) != len(field_list):
        raise click.BadParameter(f"expected distinct comma-separated names, got {fields!r}", param_hint="--fields")
    if lags and len(field_list) != 1:
        raise click.BadParameter("--lags takes exactly one field", param_hint="--lags")
    from udfs.detectors.isolation_forest import IsolationForestDetector
    from udfs.models.store import ModelError, model_paths, save_model
    from udfs.models.store import model_dir as default_model_dir
    from udfs.params.constraints import InvalidParameterError

    try:
        amount = 0.0 if contamination == "auto" else float(contamination)  # the detector's 0 is 'auto'
        detector = IsolationForestDetector(n_estimators=n_estimators, contamination=amount, seed=seed, lags=lags)
    except (ValueError, InvalidParameterError) as exc:
        raise click.BadParameter(str(exc), param_hint="--contamination") from None
    directory = default_model_dir(model_dir)
    try:
        target, _ = model_paths(directory, name)
    except ModelError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to replace it")
    records, source = _read(input_path, fmt, measurement, tag_columns, influx_url, influx_db, influx_query)
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(records, desc="reading", unit=" rows", file=sys.stderr, disable=not show) as bar:
        try:
            rows, times, skipped = feature_rows(bar, field_list, lags)
        except ValueError as exc:  # a malformed input file, with its line number
            raise click.ClickException(str(exc)) from None
    if len(rows) < 2:
        raise click.ClickException(
            f"{len(rows)} usable rows ({skipped} skipped): need at least 2 with every field of {','.join(field_list)}"
        )
    click.echo(f"fitting {n_estimators} trees on {len(rows)} rows of {len(rows[0])} values...", err=True)
    model = detector.fit_estimator(_as_array(rows))
    path = save_model(model, directory, name, _metadata(name, field_list, lags, detector, model, times,
                                                        skipped, source))
    click.echo(f"wrote {path} and {path.with_suffix('.json').name}: {len(rows)} rows, {skipped} skipped")


def _as_array(rows: list[list[float]]) -> Any:
    import numpy as np

    return np.asarray(rows, dtype=float)


def _metadata(name: str, fields: list[str], lags: int, detector: Any, model: Any, times: list[int],
              skipped: int, source: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt
    import platform

    import joblib
    import sklearn

    def iso(ns: int) -> str:
        moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"

    return {
        "name": name,
        "detector": "isolation_forest",
        "fields": fields,
        "lags": lags,
        "rows": len(times),
        "skipped_rows": skipped,
        "time_range": {"start": iso(min(times)), "end": iso(max(times)), "start_ns": min(times),
                       "end_ns": max(times)},
        "params": {**{k: detector.params()[k] for k in ("n_estimators", "seed")},
                   "contamination": detector.contamination or "auto",
                   "max_samples": int(model.max_samples_), "offset": float(model.offset_)},
        "source": source,
        "trained_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python_version": platform.python_version(),
        "sklearn_version": sklearn.__version__,
        "joblib_version": joblib.__version__,
    }

"""One analysis: the series, each detector's verdicts, the consensus, as plain data.

:func:`analyze` runs every chosen detector over the same records
(:func:`udfs.analysis.engine.run_udf`), lines their verdicts up by group and time,
applies the consensus rule and returns an :class:`Analysis`, which the plots, the
JSON file, the summary table and the web service all read.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from udfs.analysis.consensus import ConsensusRule
from udfs.analysis.engine import AnalysisError, run_udf
from udfs.analysis.specs import DetectorSpec, label_specs
from udfs.io.records import Record
from udfs.replay.events import group_id

__all__ = ["Analysis", "DetectorResult", "Series", "analyze", "combine", "input_series", "iso", "pick_field"]


def iso(ns: int) -> str:
    """Nanoseconds since the epoch as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Series:
    """The analysed values of one group, in time order (strings for state fields)."""

    times: list[int] = dataclasses.field(default_factory=list)
    values: list[Any] = dataclasses.field(default_factory=list)


@dataclass
class DetectorResult:
    """One detector's verdicts per group: score per time (NaN in warm-up) and anomaly times."""

    label: str
    udf: str
    options: tuple[str, ...]
    scores: dict[str, list[tuple[int, float]]] = dataclasses.field(default_factory=dict)
    anomalies: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(times) for times in self.anomalies.values())

    def first(self) -> int | None:
        firsts = [times[0] for times in self.anomalies.values() if times]
        return min(firsts) if firsts else None


@dataclass
class Analysis:
    """Everything one analysis found; :meth:`to_json` is the documented JSON result."""

    field: str
    series: dict[str, Series]
    detectors: list[DetectorResult]
    rule: ConsensusRule
    consensus: dict[str, list[int]]
    windows: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    title: str = ""

    @property
    def consensus_count(self) -> int:
        return sum(len(v) for v in self.consensus.values())

    def span(self) -> tuple[int, int] | None:
        times = [t for s in self.series.values() for t in (s.times[:1] + s.times[-1:])]
        return (min(times), max(times)) if times else None

    def window_hits(self, times: Sequence[int]) -> list[int | None]:
        """For each labelled window, the first of ``times`` inside it (None: missed)."""
        return [min((t for t in times if a <= t <= b), default=None) for a, b in self.windows]

    def to_json(self) -> dict[str, Any]:
        span = self.span()

        def times(ts: Sequence[int]) -> list[str]:
            return [iso(t) for t in ts]

        def block(anomalies: dict[str, list[int]], count: int) -> dict[str, Any]:
            flat = sorted(t for ts in anomalies.values() for t in ts)
            out: dict[str, Any] = {"count": count, "first": iso(flat[0]) if flat else None,
                                   "anomalies": {g: times(ts) for g, ts in anomalies.items()}}
            if self.windows:
                out["window_hits"] = [iso(t) if t is not None else None for t in self.window_hits(flat)]
                out["outside_windows"] = sum(1 for t in flat if not any(a <= t <= b for a, b in self.windows))
            return out

        return {
            "title": self.title,
            "field": self.field,
            "span": {"start": iso(span[0]), "stop": iso(span[1])} if span else None,
            "points": {g: len(s.times) for g, s in self.series.items()},
            "windows": [[iso(a), iso(b)] for a, b in self.windows],
            "detectors": [
                {"label": d.label, "udf": d.udf, "options": list(d.options), **block(d.anomalies, d.count)}
                for d in self.detectors
            ],
            "consensus": {"rule": str(self.rule), **block(self.consensus, self.consensus_count)},
        }

    def summary(self) -> str:
        """The table ``udfs analyze`` prints."""
        span = self.span()
        points = sum(len(s.times) for s in self.series.values())
        lines = [f"{points} points of {self.field!r} in {len(self.series)} group(s)"
                 + (f", {iso(span[0])} .. {iso(span[1])}" if span else "")]
        header = f"{'detector':<22} {'anomalies':>9}  first"
        if self.windows:
            header += f"{'':<17}windows hit"
        lines.append(header)
        rows = [(d.label, d.count, sorted(t for ts in d.anomalies.values() for t in ts)) for d in self.detectors]
        rows.append(("consensus", self.consensus_count,
                     sorted(t for ts in self.consensus.values() for t in ts)))
        for label, count, flat in rows:
            first = iso(flat[0]) if flat else "-"
            line = f"{label[:22]:<22} {count:>9}  {first:<20}  "
            if self.windows:
                hits = self.window_hits(flat)
                line += f"{sum(h is not None for h in hits)}/{len(hits)}"
            lines.append(line.rstrip())
        lines.append(f"consensus rule: {self.rule}")
        return "\n".join(lines)


def pick_field(records: Sequence[Record], wanted: str | None) -> str:
    """``wanted``, or the records' only field, or ``value``."""
    if wanted:
        return wanted
    names = {key for record in records[:1000] for key in record.fields}
    if "value" in names or len(names) != 1:
        return "value"
    return names.pop()


def analyze(records: Sequence[Record], specs: Sequence[DetectorSpec], *, rule: str = "all",
            field_name: str | None = None, group_by: Sequence[str] = (), batch_period_ns: int | None = None,
            windows: Sequence[tuple[int, int]] = (), title: str = "") -> Analysis:
    """Run every detector in ``specs`` over ``records`` and combine their verdicts by ``rule``."""
    if not specs:
        raise AnalysisError("choose at least one detector")
    if not records:
        raise AnalysisError("no points to analyse")
    records = sorted(records, key=lambda r: r.time)
    name = pick_field(records, field_name)
    series = input_series(records, name, group_by)
    if not series:
        raise AnalysisError(f"no point has field {name!r}")
    labelled = label_specs(specs)
    parsed = ConsensusRule.parse(rule, [s.label for s in labelled])
    runs = [run_udf(spec, records, field_name=name, group_by=group_by, batch_period_ns=batch_period_ns)
            for spec in labelled]
    return combine(series, [(r.spec.label, r.spec.udf, r.options, r.records) for r in runs], parsed,
                   field_name=name, group_by=group_by, windows=windows, title=title)


def input_series(records: Sequence[Record], field_name: str, group_by: Sequence[str] = ()) -> dict[str, Series]:
    """The analysed field of ``records`` per group (Kapacitor's group key), in time order."""
    dims = sorted(group_by)
    series: dict[str, Series] = {}
    for record in sorted(records, key=lambda r: r.time):
        if field_name in record.fields:
            s = series.setdefault(group_id(record.tags, dims), Series())
            s.times.append(record.time)
            s.values.append(record.fields[field_name])
    return series


def combine(series: dict[str, Series], outputs: Sequence[tuple[str, str, Sequence[str], Sequence[Record]]],
            rule: ConsensusRule, *, field_name: str, group_by: Sequence[str] = (),
            windows: Sequence[tuple[int, int]] = (), title: str = "") -> Analysis:
    """An :class:`Analysis` from the input series and each UDF's output points.

    ``outputs`` holds (label, udf, options, output records); an output record is read
    through the UDF output schema (``anomaly_score``, ``is_anomaly``). Also used for
    what ``udfs replay`` and ``udfs backtest`` received from a UDF subprocess.
    """
    dims = sorted(group_by)
    results = []
    for label, udf, options, out_records in outputs:
        result = DetectorResult(label, udf, tuple(options))
        for out in out_records:
            group = group_id(out.tags, dims)
            score = out.fields.get("anomaly_score")
            value = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else math.nan
            result.scores.setdefault(group, []).append((out.time, value))
            if out.fields.get("is_anomaly") is True:
                result.anomalies.setdefault(group, []).append(out.time)
        results.append(result)
    consensus: dict[str, list[int]] = {}
    for group in series:
        flagged = {d.label: set(d.anomalies.get(group, ())) for d in results}
        candidates = sorted(set().union(*flagged.values()))
        hits = [t for t in candidates if rule.met({label: t in ts for label, ts in flagged.items()})]
        if hits:
            consensus[group] = hits
    return Analysis(field_name, series, results, rule, consensus, list(windows), title)

"""Pictures of one replay: the input series and what the UDF subprocess sent back.

Used by ``udfs replay --plot/--html``, ``udfs demo`` and ``udfs backtest``: the
output points are read through the UDF output schema (``anomaly_score``,
``is_anomaly``), so with ``emit('anomalies')`` only the anomalous points' scores appear.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from udfs.analysis.consensus import ConsensusRule
from udfs.analysis.result import Analysis, combine, input_series, pick_field
from udfs.io.records import Record
from udfs.replay.options import split_option

__all__ = ["Recorder", "replay_analysis", "write_plots"]


class Recorder:
    """Pass records through while keeping them (the replay driver reads its input lazily)."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._records = records
        self.kept: list[Record] = []

    def __iter__(self) -> Iterator[Record]:
        for record in self._records:
            self.kept.append(record)
            yield record


def replay_analysis(name: str, options: Sequence[str], inputs: Sequence[Record], outputs: Sequence[Record], *,
                    group_by: Sequence[str] = (), windows: Sequence[tuple[int, int]] = (),
                    title: str = "") -> Analysis:
    """An :class:`Analysis` of one UDF's replay (the ``field`` option says which field was analysed)."""
    given = {call.name: call.value() for call in map(split_option, options)}
    field = given.get("field") or pick_field(inputs, None)
    series = input_series(inputs, field, group_by)
    rule = ConsensusRule.parse("all", [name])
    return combine(series, [(name, name, tuple(options), outputs)], rule, field_name=field, group_by=group_by,
                   windows=windows, title=title or f"@{name}() over {field}")


def write_plots(analysis: Analysis, plot: Path | str | None, html: Path | str | None) -> list[Path]:
    """Write the PNG and/or HTML page; returns the paths written."""
    written = []
    if plot is not None:
        from udfs.analysis.plot_png import write_png

        written.append(write_png(analysis, plot))
    if html is not None:
        from udfs.analysis.plot_html import write_html

        written.append(write_html(analysis, html))
    return written


def demo_plots(output_dir: Path, outputs: dict[str, tuple[tuple[str, ...], list[Record]]],
               windows: Sequence[tuple[int, int]], inputs: dict[str, list[Record]]) -> list[Path]:
    """``udfs demo``'s pictures: one per bundled data set (``inputs``: machine_temperature, adsl), with what each
    UDF found."""
    from udfs.replay.demo import TEMPERATURE_RUNS

    written = []
    temperature = [name for name, _ in TEMPERATURE_RUNS if name in outputs]
    if temperature:
        runs = [(name, name, outputs[name][0], outputs[name][1]) for name in temperature]
        rule = ConsensusRule.parse("2" if len(runs) >= 2 else "all", temperature)
        analysis = combine(input_series(inputs["machine_temperature"], "value"), runs, rule, field_name="value",
                           windows=windows,
                           title="NAB machine_temperature_system_failure: anomalies per detector, labelled windows")
        written += write_plots(analysis, output_dir / "machine_temperature.png", None)
    if "edge" in outputs:
        options, found = outputs["edge"]
        analysis = combine(input_series(inputs["adsl"], "value", ("host",)), [("edge", "edge", options, found)],
                           ConsensusRule.parse("all", ["edge"]), field_name="value", group_by=("host",),
                           title="ADSL line state per router: @edge() flapping alerts")
        written += write_plots(analysis, output_dir / "adsl.png", None)
    return written

"""The analysis as a PNG (matplotlib, imported only here): series, anomalies, windows, scores.

Top panel: the series of each group, labelled anomaly windows shaded, each
detector's anomalies as markers in its own colour, consensus anomalies as black
crosses. Bottom panel: each detector's anomaly score on a shared time axis.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from udfs.analysis.result import Analysis

__all__ = ["COLOURS", "numeric_values", "write_png"]

#: One colour per detector, in order (matplotlib's tab10, without the series' blue).
COLOURS = ("#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def numeric_values(values: list[Any]) -> tuple[list[float], list[str]]:
    """Values as floats; state values (strings, bools) as their index among the states seen."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], []
    states: list[str] = []
    out = []
    for value in values:
        text = str(value)
        if text not in states:
            states.append(text)
        out.append(float(states.index(text)))
    return out, states


def write_png(analysis: Analysis, path: str | Path, *, width: float = 12.0, height: float = 6.5,
              dpi: int = 100) -> Path:
    """Draw ``analysis`` into a PNG file at ``path``; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    def dates(ns: list[int]) -> Any:
        return np.array(ns, dtype="datetime64[ns]")

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(width, height), dpi=dpi,
                                      gridspec_kw={"height_ratios": [3, 1.3]}, constrained_layout=True)
    state_names: list[str] = []
    lookup: dict[str, dict[int, float]] = {}
    for group, series in analysis.series.items():
        values, states = numeric_values(series.values)
        state_names = state_names or states
        top.plot(dates(series.times), values, color="#1f77b4", linewidth=0.7,
                 label=f"{analysis.field}" + (f" ({group})" if group else ""),
                 drawstyle="steps-post" if states else "default")
        lookup[group] = dict(zip(series.times, values, strict=True))
    for i, (a, b) in enumerate(analysis.windows):
        top.axvspan(dates([a])[0], dates([b])[0], color="#ffd54f", alpha=0.35,
                    label="labelled window" if i == 0 else None)
    for i, det in enumerate(analysis.detectors):
        colour = COLOURS[i % len(COLOURS)]
        xs = [t for ts in det.anomalies.values() for t in ts]
        ys = [lookup.get(g, {}).get(t, math.nan) for g, ts in det.anomalies.items() for t in ts]
        top.scatter(dates(xs), ys, s=14, color=colour, zorder=3, label=f"{det.label} ({det.count})")
        for group, scored in det.scores.items():
            finite = [(t, s) for t, s in scored if math.isfinite(s)]
            if finite:
                bottom.plot(dates([t for t, _ in finite]), [s for _, s in finite], color=colour, linewidth=0.7,
                            label=det.label if group == next(iter(det.scores)) else None)
    cx = [t for ts in analysis.consensus.values() for t in ts]
    cy = [lookup.get(g, {}).get(t, math.nan) for g, ts in analysis.consensus.items() for t in ts]
    top.scatter(dates(cx), cy, s=40, marker="x", color="black", zorder=4,
                label=f"consensus {analysis.rule} ({analysis.consensus_count})")
    if state_names:
        top.set_yticks(range(len(state_names)), state_names)
    top.set_ylabel(analysis.field)
    top.set_title(analysis.title or f"{analysis.field}: {len(analysis.detectors)} detector(s)")
    top.legend(loc="upper left", fontsize=8, ncol=2)
    top.grid(alpha=0.3)
    bottom.set_ylabel("anomaly score")
    bottom.grid(alpha=0.3)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(loc="upper left", fontsize=8, ncol=4)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(bottom.xaxis.get_major_locator()))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out

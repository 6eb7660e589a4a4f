"""The analysis as one self-contained interactive HTML page (inline SVG + JS, no network).

The data is embedded as JSON; a few lines of JavaScript draw it as SVG: the series,
shaded labelled windows, each detector's anomalies (tick a detector in the legend to
hide or show it), consensus anomalies, and the scores below. Drag across the chart to
zoom, double-click to reset, hover for time and value. Nothing is fetched: the page
opens from a file on a machine without network.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from udfs.analysis.plot_png import COLOURS, numeric_values
from udfs.analysis.result import Analysis

__all__ = ["plot_data", "render_html", "write_html"]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def plot_data(analysis: Analysis) -> dict[str, Any]:
    """What the page's script draws: times in ms since the epoch, values as numbers."""
    series = []
    states: list[str] = []
    lookups: dict[str, dict[int, float]] = {}
    for group, s in analysis.series.items():
        values, names = numeric_values(s.values)
        states = states or names
        series.append({"group": group, "t": [t // 1_000_000 for t in s.times], "v": values})
        lookups[group] = dict(zip(s.times, values, strict=True))

    def marks(anomalies: dict[str, list[int]]) -> list[list[float]]:
        return [[t // 1_000_000, lookups.get(g, {}).get(t, math.nan)] for g, ts in anomalies.items() for t in ts]

    detectors = []
    for i, det in enumerate(analysis.detectors):
        scores = [[[t // 1_000_000, _finite(v)] for t, v in scored] for scored in det.scores.values()]
        detectors.append({"label": det.label, "options": list(det.options), "colour": COLOURS[i % len(COLOURS)],
                          "count": det.count, "anomalies": marks(det.anomalies), "scores": scores})
    return {
        "title": analysis.title or f"{analysis.field}: {len(analysis.detectors)} detector(s)",
        "field": analysis.field, "states": states, "series": series, "detectors": detectors,
        "consensus": {"rule": str(analysis.rule), "count": analysis.consensus_count,
                      "anomalies": marks(analysis.consensus)},
        "windows": [[a // 1_000_000, b // 1_000_000] for a, b in analysis.windows],
    }


def render_html(analysis: Analysis) -> str:
    """The whole page as a string."""
    data = json.dumps(plot_data(analysis), separators=(",", ":")).replace("</", "<\\/")
    script = resources.files("udfs.analysis").joinpath("chart.js").read_text(encoding="utf-8")
    title = html.escape(analysis.title or f"Anomalies in {analysis.field}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1em; color: #222; }}
#chart svg {{ width: 100%; height: auto; user-select: none; }}
#legend label {{ margin-right: 1.2em; white-space: nowrap; }}
#tip {{ position: absolute; background: #fff; border: 1px solid #999; padding: 2px 6px; font-size: 12px;
        pointer-events: none; display: none; }}
.hint {{ color: #666; font-size: 12px; }}
</style></head>
<body>
<h2>{title}</h2>
<div id="legend"></div>
<div id="chart"></div>
<div id="tip"></div>
<p class="hint">Drag across the chart to zoom, double-click to reset; untick a detector to hide it.</p>
<script>const ANALYSIS = {data};</script>
<script>{script}</script>
<script>drawAnalysis(ANALYSIS, document.getElementById("chart"), document.getElementById("legend"),
                      document.getElementById("tip"));</script>
</body></html>
"""


def write_html(analysis: Analysis, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path``; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(analysis), encoding="utf-8")
    return out

"""What a worker process does with one job: read the series, analyse, draw. Plain data in and out."""

from __future__ import annotations

import traceback
from typing import Any

__all__ = ["JobInput", "run_job"]

#: The keys of a job's input (see udfs.web.app's form fields).
JobInput = dict[str, Any]


def run_job(job: JobInput) -> dict[str, Any]:
    """Analyse ``job``; returns {"result", "summary", "png", "html"} or {"error"}."""
    import tempfile
    from pathlib import Path

    from udfs.analysis.engine import AnalysisError
    from udfs.analysis.result import analyze
    from udfs.analysis.source import InfluxSeries, build_query, last_span, parse_span, read_file
    from udfs.analysis.specs import DetectorSpec, SpecError
    from udfs.io.influx import InfluxError

    try:
        span_ns = parse_span(job.get("span") or "7d")
        specs = [DetectorSpec(d["name"], tuple(f"{k}={v}" for k, v in d.get("options", {}).items()
                                               if v is not None and v != ""), d["name"])
                 for d in job["detectors"]]
        group_by = tuple(job.get("group_by") or ())
        field = job.get("field") or None
        if job.get("influx_url"):
            query = job.get("query") or build_query(
                job.get("measurement") or "", field or "value", where=job.get("where") or None,
                start=job.get("start") or None, stop=job.get("stop") or None, span_ns=span_ns, group_by=group_by)
            records = InfluxSeries(job["influx_url"], job.get("database") or "telegraf", query).read()
        else:
            suffix = ".lp" if job.get("format") == "lp" else ".csv" if job.get("format") == "csv" else \
                Path(job.get("filename") or "data.csv").suffix or ".csv"
            with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
                tmp.write(job["data"])
                tmp.flush()
                records = last_span(read_file(tmp.name, measurement=job.get("measurement") or "series"), span_ns)
        analysis = analyze(records, specs, rule=job.get("consensus") or "majority", field_name=field,
                           group_by=group_by, title=job.get("title") or "")
        from udfs.analysis.plot_html import render_html
        from udfs.analysis.plot_png import write_png

        with tempfile.TemporaryDirectory() as tmpdir:
            png = write_png(analysis, Path(tmpdir) / "plot.png").read_bytes()
        return {"result": analysis.to_json(), "summary": analysis.summary(), "png": png,
                "html": render_html(analysis)}
    except (AnalysisError, SpecError, InfluxError, ValueError, OSError, KeyError, TypeError) as exc:
        return {"error": str(exc) or type(exc).__name__}
    except Exception:  # a bug: say so, with the traceback in the server's log
        return {"error": "internal error: " + traceback.format_exc(limit=3).splitlines()[-1],
                "traceback": traceback.format_exc()}

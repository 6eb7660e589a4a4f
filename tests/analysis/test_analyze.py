"""``udfs analyze`` and its engine: same output as the UDF over the real protocol, rules, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from png_check import png_structure

from udfs.analysis.cli import analyze
from udfs.analysis.consensus import ConsensusError, ConsensusRule
from udfs.analysis.engine import AnalysisError, run_udf
from udfs.analysis.result import analyze as run_analysis
from udfs.analysis.source import build_query, last_span, read_file
from udfs.analysis.specs import parse_spec
from udfs.replay.session import ReplayConfig, replay_records

DATA = Path(__file__).resolve().parents[2] / "udfs" / "data"
RECORDS = read_file(DATA / "machine_temperature.csv", measurement="machine_temperature")[:2000]
ADSL = read_file(DATA / "adsl_sample.lp")


@pytest.mark.parametrize(("spec", "records", "group_by"), [
    ("mad:window=50,threshold=4.0", RECORDS, ()),
    ("zscore:mode=ewma", RECORDS, ()),
    ("iqr", RECORDS, ()),
    ("edge", ADSL, ("host",)),
])
def test_in_process_run_equals_the_udf_subprocess_over_the_protocol(spec: str, records: list, group_by: tuple) -> None:
    parsed = parse_spec(spec)
    ours = run_udf(parsed, records, group_by=group_by)
    theirs: list = []
    replay_records(ReplayConfig(name=parsed.udf, options=ours.options, group_by=group_by, log_level="warning"),
                   records, theirs.append)
    assert len(ours.records) == len(theirs) > 0
    assert ours.records == theirs


def test_refused_options_name_the_option() -> None:
    with pytest.raises(AnalysisError, match="window"):
        run_udf(parse_spec("mad:window=1"), RECORDS)
    with pytest.raises(AnalysisError, match="nope"):
        run_udf(parse_spec("mad:nope=3"), RECORDS)
    with pytest.raises(AnalysisError, match="unknown detector"):
        run_udf(parse_spec("madd"), RECORDS)


def test_consensus_follows_its_rule() -> None:
    result = run_analysis(RECORDS, [parse_spec("mad:window=50"), parse_spec("zscore"), parse_spec("iqr")],
                          rule="mad+zscore|iqr")
    sets = {d.label: {t for ts in d.anomalies.values() for t in ts} for d in result.detectors}
    expected = (sets["mad"] & sets["zscore"]) | sets["iqr"]
    assert {t for ts in result.consensus.values() for t in ts} == expected
    assert result.consensus_count == len(expected) > 0
    two = run_analysis(RECORDS, [parse_spec("mad:window=50"), parse_spec("zscore"), parse_spec("iqr")], rule="2")
    flat = {t for ts in two.consensus.values() for t in ts}
    assert flat == {t for t in set().union(*sets.values()) if sum(t in s for s in sets.values()) >= 2}


@pytest.mark.parametrize("bad", ["4", "mad+sigma", "0 of mad", "mad+"])
def test_bad_rules_are_refused(bad: str) -> None:
    with pytest.raises(ConsensusError):
        ConsensusRule.parse(bad, ["mad", "zscore", "iqr"])


def test_span_keeps_the_last_part_of_the_series() -> None:
    kept = last_span(RECORDS, 24 * 3600 * 10**9)
    assert kept[-1] == RECORDS[-1] and kept[0].time >= RECORDS[-1].time - 24 * 3600 * 10**9
    assert len(kept) == 289  # 5-minute points: one day and its first point
    query = build_query("cpu", "usage", span_ns=3600 * 10**9)
    assert query == 'SELECT "usage" FROM "cpu" WHERE time >= now() - 3600000000u'


def test_cli_prints_the_table_and_writes_png_html_json(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("".join((DATA / "machine_temperature.csv").read_text().splitlines(keepends=True)[:3001]))
    windows = tmp_path / "w.json"
    windows.write_text(json.dumps({"windows": [["2013-12-04 00:00:00", "2013-12-05 00:00:00"]]}))
    run = CliRunner().invoke(analyze, [str(data), "-d", "mad:window=288", "-d", "zscore", "--consensus", "any",
                                       "--windows", str(windows), "--plot", str(tmp_path / "p.png"),
                                       "--html", str(tmp_path / "p.html"), "--json", str(tmp_path / "p.json")])
    assert run.exit_code == 0, run.output
    assert "mad" in run.stdout and "consensus" in run.stdout and "windows hit" in run.stdout
    result = json.loads((tmp_path / "p.json").read_text())
    assert [d["label"] for d in result["detectors"]] == ["mad", "zscore"]
    last = data.read_text().splitlines()[-1].split(",")[0].replace(" ", "T") + "Z"
    assert result["span"]["stop"] == last  # default span: the last 7 days
    assert result["span"]["start"] == last.replace("-13T", "-06T")
    shape = png_structure((tmp_path / "p.png").read_bytes())
    assert (shape.width, shape.height) == (1200, 650) and shape.colours > 10 and shape.axes == 2
    page = (tmp_path / "p.html").read_text()
    assert "drawAnalysis(ANALYSIS" in page and '"windows":[[' in page


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    run = CliRunner().invoke(analyze, [str(DATA / "machine_temperature.csv"), "-d", "mad:window=oops"])
    assert run.exit_code != 0 and "window" in run.output
    run = CliRunner().invoke(analyze, [])
    assert run.exit_code == 2 and "FILE or --influx-url" in run.output


@pytest.mark.influxdb
def test_influxdb_series_is_queried_and_analysed(influxdb_server, tmp_path: Path) -> None:
    from udfs.io.influx import InfluxTarget

    db = "analyze_test"
    InfluxTarget.from_url(influxdb_server.url, database=db).write_records(RECORDS, progress=False)
    out = tmp_path / "r.json"
    run = CliRunner().invoke(analyze, ["--influx-url", influxdb_server.url, "--db", db, "-m", "machine_temperature",
                                       "-f", "value", "--start", "2013-12-01T00:00:00Z", "-d", "mad:window=50",
                                       "--json", str(out)])
    assert run.exit_code == 0, run.output
    from_db = json.loads(out.read_text())
    expected = run_analysis(RECORDS, [parse_spec("mad:window=50")]).to_json()
    assert from_db["detectors"] == expected["detectors"] and from_db["points"] == {"": len(RECORDS)}

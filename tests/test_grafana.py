"""The Grafana provisioning and the "Anomalies" dashboard, against a real influxd holding the
compose stack's demo data.

The demo data is made the way the stack makes it: the ingestion scripts write the raw
series, and each task of docker/kapacitor-tasks/install-tasks.sh (its TICKscript, its
vars file) is replayed through its UDF over the real protocol, the output written to
measurement ``anomalies``. ``udfs demo --influx-url`` then writes its own raw series and
output into the same database, shifted to end now, as the compose stack's demo service does.
Every template-variable query, every panel query and the annotation query is then
rendered as Grafana renders it and run: each must return rows.

The dashboard must import into any Grafana: no data-source uid of ours in it, a
data-source variable that every query uses, and an ``__inputs`` entry for it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from deploy_assets import ROOT, mounts

from udfs.io.influx import InfluxTarget
from udfs.io.lineprotocol import parse_lines
from udfs.replay.session import ReplayConfig, replay_records

GRAFANA = ROOT / "docker" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "anomalies.json").read_text())
DATASOURCES = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yml").read_text())
PROVIDERS = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
NS = 1_000_000_000
START = "2024-03-01T00:00:00Z"
START_MS = 1_709_251_200_000
# The demo, smaller: (script, arguments) as docker-compose.yml's demo service runs them.
DEMO = [
    ("printer_data.py", ["--duration", "1h", "--printers", "2", "--anomalies", "6"]),
    ("adsl_data.py", ["--duration", "1d", "--routers", "2", "--flapping", "1"]),
]
# Grafana's own variables, as it renders them for the data's time range.
BUILTINS = {"timeFilter": f"time >= {START_MS}ms and time <= {START_MS + 86_400_000}ms", "__interval": "10s"}
# What Grafana renders for a recent range (the `udfs demo` data ends now).
LAST_90_DAYS = {"timeFilter": "time >= now() - 90d and time <= now()", "__interval": "1h"}
# Values a user would pick, per kind of data (the compose demo's, then `udfs demo`'s).
SCENARIOS = {
    "printer": {"measurement": "printer", "field": "temperature", "group_by": "printer", "host": "printer1",
                "detector": "mad"},
    "adsl": {"measurement": "adsl_connection", "field": "value", "group_by": "host", "host": "router1",
             "detector": "edge"},
    **{f"nab_{name}": {**LAST_90_DAYS, "measurement": "machine_temperature", "field": "value", "group_by": "host",
                       "host": "nab_machine", "detector": name} for name in ("sigma", "mad", "zscore", "iqr")},
    "demo_adsl": {"timeFilter": "time >= now() - 2d and time <= now()", "__interval": "2m",
                  "measurement": "adsl_connection", "field": "value", "group_by": "host", "host": "router2",
                  "detector": "edge"},
}
# Panel title -> the scenarios in which its queries must return rows (for the table, the
# query for the scenario's detector). Every query must run without an error in every
# scenario (an error is a red corner in Grafana).
PANELS = {
    "$field of $measurement, anomalies marked": list(SCENARIOS),
    "Anomaly score by detector": [name for name in SCENARIOS if "adsl" not in name],
    "State over time (@edge)": ["adsl", "demo_adsl"],
    "Recent anomalies: $detector": list(SCENARIOS),
}
# (panel title, refId) -> scenarios in which that query is empty although the panel's others answer.
EMPTY = {
    # @edge() does not pass its string field on (the state is in "current"): nothing to draw
    # at the field's value; the state timeline shows it.
    ("$field of $measurement, anomalies marked", "B"): ["adsl", "demo_adsl"],
}
DS_REF = {"type": "influxdb", "uid": "${datasource}"}
BUILTIN_ANNOTATIONS = {"type": "grafana", "uid": "-- Grafana --"}


def tick_call(tick: str, vars_file: Path) -> tuple[str, list[str], str, list[str]]:
    """(UDF, options as name=value, measurement, group by) of a TICKscript with a vars file."""
    values = {name: value.strip("'") for name, value in re.findall(r"^var (\w+) = '?([^'\n]*)'?$", tick, re.M)}
    lists: dict[str, list[str]] = {}
    for name, spec in json.loads(vars_file.read_text()).items():
        if spec["type"] == "list":
            lists[name] = [item["value"] for item in spec["value"]]
        else:
            values[name] = str(spec["value"])
    udf = re.search(r"^\s*@(\w+)\(\)\n((?:\s*\.\w+\(.*\)\n)*)", tick, re.M)
    assert udf, "no UDF call in the TICKscript"
    options = []
    for name, arg in re.findall(r"\.(\w+)\((.*)\)", udf.group(2)):
        options.append(f"{name}={values.get(arg, arg.strip(chr(39)))}")
    group_by = lists.get("groupBy") or re.findall(r"'(\w+)'", values.get("groupBy", ""))
    return udf.group(1), options, values["measurement"], group_by


def demo_tasks() -> Iterator[tuple[str, str, Path]]:
    script = (ROOT / "docker" / "kapacitor-tasks" / "install-tasks.sh").read_text()
    for name, tick_name, vars_name in re.findall(r"^define (\w+) (\S+) (\S+)$", script, re.M):
        yield name, (ROOT / "tickscripts" / tick_name).read_text(), ROOT / "docker" / "kapacitor-tasks" / vars_name


@pytest.fixture(scope="module")
def demo_db(influxdb_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxTarget]:
    database = f"grafana_{uuid.uuid4().hex[:10]}"
    target = InfluxTarget.from_url(influxdb_server.url, database=database)
    raw: list[Any] = []
    for script, args in DEMO:
        done = subprocess.run([sys.executable, str(ROOT / "ingestion-scripts" / script), "--dry-run", "--start",
                               START, *args], capture_output=True, text=True, timeout=300, check=True)
        raw.extend(parse_lines(done.stdout.splitlines()))
    target.write_records(raw, progress=False)
    for task, tick, vars_file in demo_tasks():
        udf, options, measurement, group_by = tick_call(tick, vars_file)
        series = sorted((r for r in raw if r.measurement == measurement), key=lambda r: r.time)
        out: list[Any] = []
        replay_records(ReplayConfig(name=udf, options=options, group_by=group_by, task_id=task), series,
                       out.append, out_measurement="anomalies")
        assert out, f"{task}: no output"
        target.write_records(out, progress=False)
    # The compose demo's second step, but with the ADSL data set too (other hosts' times).
    done = subprocess.run([sys.executable, "-m", "udfs", "demo", "--influx-url", influxdb_server.url, "--influx-db",
                           database, "--no-plots", "-O", str(tmp_path_factory.mktemp("demo"))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    try:
        yield target
    finally:
        client = influxdb_server.client()
        client.drop_database(database)
        client.close()


def render(query: str, values: dict[str, str]) -> str:
    """A query as Grafana sends it: $var, ${var} and [[var]] replaced."""
    variables = {**BUILTINS, **values}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        assert name in variables, f"unknown variable ${name} in {query}"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]", value, query)


def run(target: InfluxTarget, query: str) -> list[dict[str, Any]]:
    client = target.client()
    try:
        result = client.query(query, database=target.database)
    finally:
        client.close()
    assert not result.error, f"{query}: {result.error}"
    return [dict(zip(series["columns"], row, strict=True))
            for series in result.raw.get("series", []) for row in series.get("values", [])]


# -- provisioning (no server needed) ----------------------------------------------------------


def datasource_refs(node: Any) -> Iterator[Any]:
    """Every ``datasource`` value in the dashboard, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


def annotation_queries() -> list[dict[str, Any]]:
    return [a for a in DASHBOARD["annotations"]["list"] if a["datasource"] != BUILTIN_ANNOTATIONS]


def test_the_dashboard_imports_into_any_grafana() -> None:
    text = json.dumps(DASHBOARD)
    (source,) = DATASOURCES["datasources"]
    assert source["uid"] not in text and source["name"] not in re.findall(r'"uid": "([^"]*)"', text)
    # Every query (variables, panels, their targets, annotations) goes through the variable.
    refs = list(datasource_refs(DASHBOARD))
    assert len(refs) > 10 and all(ref in (DS_REF, BUILTIN_ANNOTATIONS) for ref in refs), refs
    assert sum(ref == BUILTIN_ANNOTATIONS for ref in refs) == 1
    variable = DASHBOARD["templating"]["list"][0]
    assert (variable["name"], variable["type"], variable["query"]) == ("datasource", "datasource", "influxdb")
    # Importing asks for the data source (the one input) and makes it the variable's default.
    (input_,) = DASHBOARD["__inputs"]
    assert (input_["type"], input_["pluginId"]) == ("datasource", "influxdb")
    assert variable["current"]["value"] == f"${{{input_['name']}}}"
    assert set(re.findall(r"\$\{(DS_\w+)\}", text)) == {input_["name"]}, "an input used but not declared"
    # An imported dashboard gets a new id; the uid stays so that links keep working.
    assert DASHBOARD.get("id") is None and DASHBOARD["uid"] == "udfs-anomalies"
    required = {(r["type"], r["id"]) for r in DASHBOARD["__requires"]}
    assert {("panel", p["type"]) for p in DASHBOARD["panels"]} | {("datasource", "influxdb")} <= required


def test_the_provisioned_datasource_is_the_one_the_variable_picks() -> None:
    # Provisioning fills no __inputs: the variable falls back to the first data source of
    # its type, which must be the provisioned one, reading the database the demo writes to.
    (source,) = DATASOURCES["datasources"]
    variable = DASHBOARD["templating"]["list"][0]
    assert source["type"] == variable["query"] and source["jsonData"]["version"] == "InfluxQL"
    assert source["isDefault"] and not variable["regex"]
    assert source["jsonData"]["dbName"] == COMPOSE["services"]["demo"]["environment"]["INFLUX_DB"]
    from udfs.replay.demo import demo

    (db_option,) = [o for o in demo.params if o.name == "influx_db"]
    assert db_option.default == source["jsonData"]["dbName"], "udfs demo --influx-url writes elsewhere"
    # The database the TICKscripts write their output to.
    for _task, tick, _vars in demo_tasks():
        assert f"var outDB = '{source['jsonData']['dbName']}'" in tick


def test_the_annotation_query_marks_anomalies_on_every_panel() -> None:
    (annotation,) = annotation_queries()
    assert annotation["enable"] and not annotation["hide"]
    assert "filter" not in annotation, "an annotation with a panel filter is not on every panel"
    query = annotation["target"]["query"]
    assert query == annotation["query"], "the legacy and the current InfluxQL annotation fields disagree"
    assert 'FROM "anomalies"' in query and '"is_anomaly" = true' in query and "$timeFilter" in query
    for name in ("textColumn", "tagsColumn"):
        assert annotation[name] == annotation["target"][name]
        assert "$" not in annotation[name], "Grafana does not replace variables in column names"
    assert all(p["type"] in {"timeseries", "state-timeline", "table"} for p in DASHBOARD["panels"])


def test_the_table_selects_each_detectors_own_columns() -> None:
    (table,) = [p for p in DASHBOARD["panels"] if p["type"] == "table"]
    assert table["repeat"] == "detector", "one table per selected detector"
    named = []
    for target in table["targets"]:
        query = target["query"]
        assert "SELECT *" not in query
        own = re.search(r"\"detector\" = '(\w+)'", query)
        if own:
            assert target["refId"] == own.group(1)
            named.append(own.group(1))
        else:
            assert target["refId"] == "other"
            assert f'"detector" !~ /^({"|".join(named)})$/' in query, "'other' must leave out the named detectors"
    assert {"sigma", "mad", "zscore", "iqr", "edge"} <= set(named)


def test_grafana_mounts_match_the_provisioning() -> None:
    grafana = COMPOSE["services"]["grafana"]
    mounted = dict(mounts(grafana))
    assert mounted["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = PROVIDERS["providers"]
    assert mounted["./grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/anomalies.json"


def test_the_dashboard_has_the_promised_variables_and_panels() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert list(variables) == ["datasource", "measurement", "field", "group_by", "host", "detector"]
    for name, key in [("measurement", "source"), ("field", "field"), ("host", "$group_by"), ("detector", "detector")]:
        assert variables[name]["query"].startswith(f'SHOW TAG VALUES FROM "anomalies" WITH KEY = "{key}"')
    assert DASHBOARD["title"] == "Anomalies"
    assert {p["title"]: p["type"] for p in DASHBOARD["panels"]} == {
        "$field of $measurement, anomalies marked": "timeseries", "Anomaly score by detector": "timeseries",
        "State over time (@edge)": "state-timeline", "Recent anomalies: $detector": "table"}
    overlay = DASHBOARD["panels"][0]
    assert ['FROM "$measurement"' in t["query"] for t in overlay["targets"]] == [True, False]
    assert '"is_anomaly" = true' in overlay["targets"][1]["query"]
    points = overlay["fieldConfig"]["overrides"][0]
    assert points["matcher"]["options"] == "B"
    assert {"id": "custom.drawStyle", "value": "points"} in points["properties"]


# -- every query against the demo data --------------------------------------------------------


@pytest.mark.influxdb
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_variable_query_offers_the_demo_values(demo_db: InfluxTarget, scenario: str) -> None:
    values = SCENARIOS[scenario]
    for variable in DASHBOARD["templating"]["list"][1:]:  # the first picks the data source
        rows = run(demo_db, render(variable["query"], values))
        options = [row.get("value", row.get("tagKey")) for row in rows]
        if variable["regex"]:
            pattern = re.compile(variable["regex"].strip("/"))
            options = [option for option in options if pattern.search(option)]
        assert values[variable["name"]] in options, f"{variable['name']}: {options}"
        if variable["name"] == "group_by":
            assert options == [values["group_by"]], "only the group tag is left after the regex"


@pytest.mark.influxdb
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("title", PANELS)
def test_every_panel_query_returns_rows(demo_db: InfluxTarget, title: str, scenario: str) -> None:
    (panel,) = [p for p in DASHBOARD["panels"] if p["title"] == title]
    values = SCENARIOS[scenario]
    for target in panel["targets"]:
        query = render(target["query"], values)
        rows = run(demo_db, query)  # fails on an InfluxQL error
        if panel["type"] == "table":
            # One detector selected (a repeated table has one each): only its own query answers.
            assert bool(rows) == (target["refId"] == values["detector"] and scenario in PANELS[title]), query
        elif scenario in EMPTY.get((title, target["refId"]), []):
            assert not rows, f"{title} {target['refId']}: rows for {scenario}: update EMPTY"
        elif scenario in PANELS[title]:
            assert rows, f"{title} {target['refId']}: no rows for {scenario}: {query}"


@pytest.mark.influxdb
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_annotation_query_returns_the_anomalies(demo_db: InfluxTarget, scenario: str) -> None:
    (annotation,) = annotation_queries()
    values = SCENARIOS[scenario]
    rows = run(demo_db, render(annotation["target"]["query"], values))
    flagged = run(demo_db, render(
        'SELECT "is_anomaly" FROM "anomalies" WHERE "is_anomaly" = true AND "source" = \'$measurement\' AND '
        '"field" = \'$field\' AND "detector" = \'$detector\' AND "$group_by" = \'$host\' AND $timeFilter', values))
    assert rows and len(rows) == len(flagged), "one annotation per flagged point"
    # Grafana reads the text and tag columns by name (variables are not replaced there).
    columns = [annotation["textColumn"], *annotation["tagsColumn"].split(",")]
    assert all(row[column] is not None for row in rows for column in columns), columns
    assert {row["detector"] for row in rows} == {values["detector"]}
    assert {row["group"] for row in rows} == {values["host"]}


@pytest.mark.influxdb
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_table_column_belongs_to_its_detector(demo_db: InfluxTarget, scenario: str) -> None:
    (table,) = [p for p in DASHBOARD["panels"] if p["type"] == "table"]
    values = SCENARIOS[scenario]
    (target,) = [t for t in table["targets"] if t["refId"] == values["detector"]]
    rows = run(demo_db, render(target["query"], values))
    selected = re.findall(r'"(\w+)"', render(target["query"].split(" FROM ")[0], values))
    assert rows and set(selected) <= set(rows[0])
    empty = [column for column in selected if all(row[column] is None for row in rows)]
    assert not empty, f"{values['detector']} never writes {empty}"


@pytest.mark.influxdb
def test_queries_work_with_all_hosts_and_detectors_selected(demo_db: InfluxTarget) -> None:
    # "All" of a multi-value variable becomes (a|b) inside the regex.
    values = {**SCENARIOS["printer"], "host": "(printer1|printer2)", "detector": "(mad|zscore)"}
    rows = run(demo_db, render(DASHBOARD["panels"][1]["targets"][0]["query"], values))
    assert {row["time"] for row in rows}
    client = demo_db.client()
    try:
        result = client.query(render(DASHBOARD["panels"][1]["targets"][0]["query"], values), database=demo_db.database)
    finally:
        client.close()
    groups = {(tags["detector"], tags["printer"]) for (_name, tags), _points in result.items()}
    assert groups == {("mad", "printer1"), ("mad", "printer2")}, "zscore runs on humidity, not temperature"


@pytest.mark.influxdb
def test_the_overlay_marks_the_labelled_overheats(demo_db: InfluxTarget) -> None:
    all_printers = {**SCENARIOS["printer"], "host": "(printer1|printer2)"}
    query = render(DASHBOARD["panels"][0]["targets"][1]["query"], all_printers)
    marked = run(demo_db, query)
    assert marked and all(row["anomaly"] > 40 for row in marked), "anomaly points sit on the overheated values"
    (edge,) = [t for t in DASHBOARD["panels"][3]["targets"] if t["refId"] == "edge"]
    edge_table = run(demo_db, render(edge["query"], SCENARIOS["adsl"]))
    assert {"previous", "current", "previous_duration", "changes"} <= set(edge_table[0])

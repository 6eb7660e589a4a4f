"""One type per field in the shared ``anomalies`` measurement, whatever the inputs are.

Every shipped detector script writes into one measurement, and InfluxDB keeps one type
per field name (per shard): ``edge`` on string states and ``edge`` on integer pings both
wrote ``current``, and InfluxDB refused one of them ("field type conflict"). Here every
UDF whose script writes to ``anomalies`` is run on every kind of input it accepts
(string, bool, integer and float states; integer and float numbers; vectors), and all
of their output goes into ONE measurement of a real InfluxDB: every write must succeed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from influxdb.exceptions import InfluxDBClientError

from udfs.functions import REGISTRY as UDFS
from udfs.functions.detector_udf import DetectorUDF
from udfs.io.lineprotocol import format_record
from udfs.protocol import EdgeType
from udfs.protocol import udf_pb2 as pb
from udfs.replay.output import point_to_record

from .test_common_udfs import STEP, T0, Driver, run_options

pytestmark = pytest.mark.influxdb

ROOT = Path(__file__).resolve().parents[2]
POINTS = 120


def writes_anomalies() -> list[str]:
    """UDFs called by a shipped script that writes into measurement 'anomalies'."""
    names = set()
    for script in (ROOT / "tickscripts").glob("*.tick"):
        text = script.read_text()
        if "measurement('anomalies')" in text:
            names.update(re.findall(r"@(\w+)\(\)", text))
    return sorted(n for n in names if n in UDFS)


def input_kinds(cls: Any) -> list[str]:
    kind = cls.detector_class().input_kind if issubclass(cls, DetectorUDF) else "float"
    if kind == "state":
        return ["str", "bool", "int", "float"]
    return ["int", "float"]


def value(kind: str, i: int) -> Any:
    level = (i // 9) % 3
    if kind == "str":
        return ("SHOWTIME", "TRAINING", "IDLE")[level]
    if kind == "bool":
        return level == 0
    if kind == "int":
        return 40 + level * 3 + (30 if i % 47 == 40 else 0)
    return 40.0 + 3.0 * math.sin(i / 7.0) + (i % 5) / 10.0 + (30.0 if i % 47 == 40 else 0.0)


def points(cls: Any, kind: str, options: dict[str, Any]) -> list[pb.Point]:
    fields = options.get("field", "value")
    names = fields if isinstance(fields, list) else [fields]
    out = []
    for i in range(POINTS):
        point = pb.Point(time=T0 + i * STEP, name="src", group="host=a", dimensions=["host"], tags={"host": "a"})
        for n, name in enumerate(names):
            v = value(kind, i + 13 * n)
            if isinstance(v, bool):
                point.fieldsBool[name] = v
            elif isinstance(v, int):
                point.fieldsInt[name] = v
            elif isinstance(v, float):
                point.fieldsDouble[name] = v
            else:
                point.fieldsString[name] = v
        point.fieldsInt["bytes_recv"] = 1000 + i  # a passed-through integer field of the source
        out.append(point)
    return out


def test_every_udf_on_every_input_kind_writes_into_one_measurement(influxdb_server: Any,
                                                                    influxdb_database: str) -> None:
    client = influxdb_server.client()
    written: dict[str, int] = {}
    for name in writes_anomalies():
        cls = UDFS[name]
        if cls.wants is not EdgeType.STREAM:
            continue
        options = run_options(cls)
        for kind in input_kinds(cls):
            driver = Driver(cls, options)
            out = [r.point for r in driver.feed(points(cls, kind, options)) if r.WhichOneof("message") == "point"]
            lines = [format_record(point_to_record(p, measurement="anomalies")) for p in out]
            try:
                client.write_points(lines, database=influxdb_database, protocol="line", time_precision="n")
            except InfluxDBClientError as exc:
                pytest.fail(f"@{name}() on {kind} input: InfluxDB refused its output: {exc}")
            written[f"{name}:{kind}"] = len(lines)
    assert written.get("edge:str") and written.get("edge:int") and written.get("edge:bool"), written
    assert sum(1 for n in written.values() if n) >= len(written) // 2, written
    keys = client.query('SHOW FIELD KEYS FROM "anomalies"', database=influxdb_database)
    types = {row["fieldKey"]: row["fieldType"] for row in keys.get_points()}
    assert types["current"] == "string" and types["previous"] == "string"
    assert types["bytes_recv"] == "float" and types["anomaly_score"] == "float"

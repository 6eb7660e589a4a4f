"""Every registered UDF through the same checks, over the protocol; test ids ``udf:check``.

Nothing here names a particular UDF: options come from each UDF's ``OptionSet`` (for a
detector UDF, from its detector's first ``check_configs`` entry), input from its
detector's ``input_kind``, bad option values from each option's declaration. A UDF
added to ``udfs.functions.REGISTRY`` (and a detector added to
``udfs.detectors.REGISTRY``) is checked by being registered.

Info and Init go through the real agent (:class:`~udfs.protocol.Agent` over framed
bytes); data goes through the UDF's handler methods with a real ``Outbox`` whose
framed output is decoded, calling ``settle()`` after each message so that background
fits make the same output in every run.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest

from udfs.detectors import REGISTRY as DETECTORS
from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS
from udfs.functions import REGISTRY as UDFS
from udfs.functions.base import GROUP_PARAMETERS, UDF, PerGroupUDF
from udfs.functions.detector_udf import DetectorUDF
from udfs.functions.options import OptionSpec, ValueType
from udfs.params.constraints import Interval, OneOf
from udfs.params.declaration import Param
from udfs.protocol import Agent, EdgeType, FrameDecoder, Outbox, encode_frame, metrics
from udfs.protocol import udf_pb2 as pb

T0 = 1_700_000_000_000_000_000
STEP = 10_000_000_000
GROUPS = ("a", "b")
POINTS_PER_GROUP = 240
_MEMBER = {
    ValueType.BOOL: "boolValue", ValueType.INT: "intValue", ValueType.DOUBLE: "doubleValue",
    ValueType.STRING: "stringValue", ValueType.DURATION: "durationValue",
}
_KIND_TYPE = {"int": ValueType.INT, "float": ValueType.DOUBLE, "bool": ValueType.BOOL, "str": ValueType.STRING,
              "duration": ValueType.DURATION, "choice": ValueType.STRING, "list": ValueType.STRING}


# -- what each UDF is run with -------------------------------------------------------

def option_value(vtype: ValueType, value: Any) -> pb.OptionValue:
    if isinstance(value, tuple):  # a names parameter: one comma-separated STRING
        value = ",".join(value)
    return pb.OptionValue(type=vtype.value, **{_MEMBER[vtype]: value})


def init_request(options: dict[str, Any], cls: type[UDF]) -> pb.InitRequest:
    request = pb.InitRequest(taskID="task", nodeID="node")
    for name, value in options.items():
        spec = cls.options[name]
        for v in value if isinstance(value, list) else [value]:
            request.options.add(name=name, values=[option_value(spec.types[0], v)])
    return request


def run_options(cls: type[UDF]) -> dict[str, Any]:
    """Options that make a quick, fully answered run: required ones, a detector's first check config."""
    options: dict[str, Any] = {}
    for spec in cls.options:
        if spec.required:
            assert spec.name == "field", f"the checks cannot fill required option {spec.name}()"
            options["field"] = "value"
    if issubclass(cls, DetectorUDF):
        names = {spec.name for spec in cls.options}
        config = cls.detector_class().check_configs[0]
        options.update({k: v for k, v in config.items() if k in names})
        if "emit" in names:
            options["emit"] = "all"
    return options


def takes_states(cls: type[UDF]) -> bool:
    return issubclass(cls, DetectorUDF) and cls.detector_class().input_kind == "state"


def value_at(cls: type[UDF], i: int, group: str) -> Any:
    if issubclass(cls, DetectorUDF) and cls.detector_class().input_kind == "fraction":
        return 1.0 if (i * 31 + len(group)) % 17 < 3 or 100 <= i % 150 < 106 else 0.0
    if takes_states(cls):
        return ("SHOWTIME", "TRAINING", "IDLE")[(i // 3 + (i * i) % 7 // 5 + len(group)) % 3]
    x = 50.0 + 5.0 * math.sin(i / 20.0) + ((i * 7919 + ord(group)) % 101) / 50.0
    return x + (25.0 if i % 53 == 40 else 0.0)


def make_point(cls: type[UDF], i: int, group: str, value: Any = None) -> pb.Point:
    point = pb.Point(time=T0 + i * STEP, name="m", group=f"host={group}", dimensions=["host"],
                     tags={"host": group})
    value = value_at(cls, i, group) if value is None else value
    if isinstance(value, str):
        point.fieldsString["value"] = value
    elif value is not ...:  # Ellipsis: a point without the field
        point.fieldsDouble["value"] = value
    return point


def stream(cls: type[UDF], groups: tuple[str, ...] = GROUPS) -> list[pb.Point]:
    return [make_point(cls, i, g) for i in range(POINTS_PER_GROUP) for g in groups]


# -- drivers ---------------------------------------------------------------------------

def over_agent(udf: UDF, requests: list[pb.Request]) -> list[pb.Response]:
    """``requests`` framed as Kapacitor sends them through a real Agent; its decoded answers."""
    out: list[bytes] = []
    Agent(udf, io.BytesIO(b"".join(map(encode_frame, requests))).read, out.append).run()
    decoder = FrameDecoder(pb.Response)
    responses = decoder.feed(b"".join(out))
    decoder.close()
    return responses


class Driver:
    """A UDF after a successful Init, fed points (or batches, for a batch UDF) one message at a time."""

    def __init__(self, cls: type[UDF], options: dict[str, Any] | None = None) -> None:
        self.cls = cls
        self.udf = cls()
        self._sink: list[bytes] = []
        self.udf.outbox = Outbox(self._sink.append)
        response = self.udf.init(init_request(run_options(cls) if options is None else options, cls))
        assert response.success, response.error

    def _send(self, call: Any, arg: Any) -> None:
        call(arg)
        self.udf.settle(30)

    def feed(self, points: list[pb.Point]) -> list[pb.Response]:
        """Stream points; a batch UDF gets them as batches (see :func:`batches`)."""
        if self.cls.wants is EdgeType.STREAM:
            for p in points:
                self._send(self.udf.point, p)
        else:
            for batch in batches(points):
                first = batch[0]
                self._send(self.udf.begin_batch, pb.BeginBatch(name=first.name, group=first.group,
                                                               tags=first.tags, size=len(batch)))
                for p in batch:
                    self._send(self.udf.point, p)
                self._send(self.udf.end_batch, pb.EndBatch(name=first.name, group=first.group, tmax=batch[-1].time,
                                                           tags=first.tags))
        return self.output()

    def output(self) -> list[pb.Response]:
        self.udf.outbox.flush()
        decoder = FrameDecoder(pb.Response)
        out = decoder.feed(b"".join(self._sink))
        decoder.close()
        self._sink.clear()
        return out


def batches(points: list[pb.Point]) -> Iterator[list[pb.Point]]:
    """Each group's points by periods of 40 steps (as ``|window()`` would cut them), in arrival order."""
    open_: dict[str, tuple[int, list[pb.Point]]] = {}
    for p in points:
        period = (p.time - T0) // STEP // 40
        current = open_.get(p.group)
        if current is not None and current[0] != period:
            yield current[1]
            current = None
        if current is None:
            current = open_[p.group] = (period, [])
        current[1].append(p)
    yield from (batch for _, batch in open_.values())


def of_group(responses: list[pb.Response], group: str) -> list[pb.Response]:
    out, inside = [], False
    for r in responses:
        kind = r.WhichOneof("message")
        if kind == "begin":
            inside = r.begin.group == group
        if (kind == "point" and r.point.group == group) or (kind in ("begin", "end") and inside):
            out.append(r)
    return out


# -- the checks -------------------------------------------------------------------------

def check_info_matches_declaration(cls: type[UDF]) -> None:
    [response] = over_agent(cls(), [pb.Request(info=pb.InfoRequest())])
    info = response.info
    assert info.wants == cls.wants.value and info.provides == cls.provides.value
    declared = {spec.name: [t.value for t in spec.types] for spec in cls.options}
    assert {name: list(o.valueTypes) for name, o in info.options.items()} == declared
    if issubclass(cls, DetectorUDF):
        params = cls.detector_class().parameters
        own = {spec.name for spec in cls.own_options()}
        shown = {name for name in params if name not in cls.hidden_params}
        calibration = set(CALIBRATION_PARAMETERS) - own - shown if cls.is_calibrated() else set()
        groups = set(GROUP_PARAMETERS) - own - shown - calibration if cls.keeps_groups else set()
        assert set(declared) == own | shown | calibration | groups
        for name in shown:
            spec = cls.options[name]
            assert spec.param == params[name] and spec.default == params[name].default
            assert declared[name] == [_KIND_TYPE[params[name].kind].value]


def bad_option_values(spec: OptionSpec) -> Iterator[tuple[ValueType, Any]]:
    """(type, value) calls the UDF must refuse at Init: a wrong type, then values its declaration refuses."""
    vtype = spec.types[0] if spec.types else None
    if vtype is None:
        return
    wrong = ValueType.STRING if vtype is not ValueType.STRING else ValueType.INT
    yield wrong, "text" if wrong is ValueType.STRING else 3
    param: Param | None = spec.param
    if param is not None:
        if param.kind in ("int", "float", "duration"):
            step = 0.5 if param.kind == "float" else 1
            if param.low is not None:
                yield vtype, param.low if param.closed in ("right", "neither") else param.low - step
            if param.high is not None:
                yield vtype, param.high if param.closed in ("left", "neither") else param.high + step
            if param.kind != "float":
                yield vtype, 2**63 - 1
        elif param.kind in ("choice", "list"):
            yield vtype, "<none of the choices>"
    elif isinstance(spec.constraint, OneOf):
        yield vtype, "<none of the choices>"
    elif isinstance(spec.constraint, Interval):
        if spec.constraint.low is not None:
            yield vtype, spec.constraint.low - 1
        if spec.constraint.high is not None:
            yield vtype, spec.constraint.high + 1


def check_init_refuses_bad_values(cls: type[UDF]) -> None:
    base = run_options(cls)
    tried = 0
    for spec in cls.options:
        for vtype, value in bad_option_values(spec):
            if vtype in (ValueType.INT, ValueType.DURATION):
                value = int(value)
                if not -(2**63) <= value < 2**63:
                    continue
            elif vtype is ValueType.DOUBLE:
                value = float(value)
            request = init_request({k: v for k, v in base.items() if k != spec.name}, cls)
            request.options.add(name=spec.name, values=[option_value(vtype, value)])
            [response] = over_agent(cls(), [pb.Request(init=request)])
            init = response.init
            assert not init.success, (spec.name, value)
            assert f"{spec.name}()" in init.error, init.error
            if spec.param is not None and vtype is spec.types[0]:
                # In TICKscript units: a duration reads 10s, never 10000000000.
                assert f"got {_tick(spec.param, value)}" in init.error, init.error
            tried += 1
    assert tried or not len(cls.options)


def _tick(param: Param, value: Any) -> str:
    if param.kind == "float":
        return param.format(float(value))
    return param.format(value)


def check_snapshot_restore_mid_stream(cls: type[UDF]) -> None:
    points = stream(cls)
    # A batch UDF is cut between whole batches (an open batch is not part of a snapshot).
    cut = len(points) // 2 + (0 if cls.wants is EdgeType.BATCH else 7)
    uninterrupted = Driver(cls).feed(points)
    first = Driver(cls)
    before = first.feed(points[:cut])
    snapshot = first.udf.snapshot().snapshot
    second = Driver(cls)
    assert second.udf.restore(pb.RestoreRequest(snapshot=snapshot)).success
    second.udf.settle(30)  # a restore may refit in the background
    after = second.feed(points[cut:])
    assert before + after == uninterrupted


def check_groups_are_isolated(cls: type[UDF]) -> None:
    together = Driver(cls).feed(stream(cls))
    for group in GROUPS:
        alone = Driver(cls).feed(stream(cls, (group,)))
        assert of_group(together, f"host={group}") == alone


def _evictions(name: str, reason: str) -> float:
    return sum(v for n, labels, v in metrics.METRICS.samples()
               if n == "udfs_groups_evicted_total" and labels == {"udf": name, "reason": reason})


def check_groups_are_bounded(cls: type[UDF]) -> None:
    """``.max_groups()`` evicts the least recently seen group, ``.idle_timeout()`` an idle one; both counted."""
    if not (issubclass(cls, PerGroupUDF) and cls.keeps_groups):
        return
    probe = Driver(cls)
    alone = {g: Driver(cls).feed(stream(cls, (g,))) for g in ("a", "b", "c")}
    probe.feed(stream(cls, ("a",)))
    if not probe.udf.groups:  # the common stream is none of its input (a second stage's fields)
        return
    before = _evictions(cls.name, "max_groups")
    bounded = Driver(cls, {**run_options(cls), "max_groups": 2})
    out = [r for g in ("a", "b", "c") for r in bounded.feed(stream(cls, (g,)))]
    assert list(bounded.udf.groups) == ["host=b", "host=c"]  # a, least recently seen, went when c came
    assert _evictions(cls.name, "max_groups") == before + 1
    for g in ("a", "b", "c"):  # evicted after its last point: every answer as if alone
        assert of_group(out, f"host={g}") == alone[g]
    # The order of last sight survives a snapshot: the next new group evicts b.
    restored = Driver(cls, {**run_options(cls), "max_groups": 2})
    assert restored.udf.restore(pb.RestoreRequest(snapshot=bounded.udf.snapshot().snapshot)).success
    restored.feed([make_point(cls, POINTS_PER_GROUP, "d")])
    assert list(restored.udf.groups) == ["host=c", "host=d"]

    gap = 1000 * STEP
    late = stream(cls, ("b",))
    for p in late:
        p.time += gap
    before = _evictions(cls.name, "idle_timeout")
    idle = Driver(cls, {**run_options(cls), "idle_timeout": 100 * STEP})
    idle.feed(stream(cls, ("a",)))
    idle.feed(late)
    assert list(idle.udf.groups) == ["host=b"]
    assert _evictions(cls.name, "idle_timeout") == before + 1


def check_output_schema(cls: type[UDF]) -> None:
    if not issubclass(cls, DetectorUDF) or not cls.adds_output_schema:
        return
    out = [r.point for r in Driver(cls).feed(stream(cls)) if r.WhichOneof("message") == "point"]
    assert out
    field = run_options(cls).get("field", cls.options["field"].default)
    field = field if isinstance(field, str) else ",".join(field)
    for p in out:
        assert p.tags["detector"] == cls.name and p.tags["source"] == "m" and p.tags["field"] == field
        assert isinstance(p.fieldsBool["is_anomaly"], bool) and "is_anomaly" in p.fieldsBool
        assert "anomaly_score" not in p.fieldsInt and "anomaly_score" not in p.fieldsString
    assert any("anomaly_score" in p.fieldsDouble for p in out)


def check_bad_point_is_skipped(cls: type[UDF], caplog: pytest.LogCaptureFixture) -> None:
    if "field" not in {spec.name for spec in cls.options}:
        return
    points = stream(cls, ("a",))
    bad = [make_point(cls, 50, "a", ...)]  # no field at all
    if not takes_states(cls):
        bad.append(make_point(cls, 50, "a", "not a number"))
    with caplog.at_level(logging.WARNING):
        got = Driver(cls).feed(points[:50] + bad + points[50:])
    assert got == Driver(cls).feed(points)  # every other point answered as if the bad ones never came
    assert sum("skipped point" in r.getMessage() for r in caplog.records) >= len(bad)


CHECKS = (
    check_info_matches_declaration,
    check_init_refuses_bad_values,
    check_snapshot_restore_mid_stream,
    check_groups_are_isolated,
    check_groups_are_bounded,
    check_output_schema,
)
CASES = [(name, check) for name in sorted(UDFS) for check in CHECKS]


@pytest.mark.parametrize(("name", "check"), CASES,
                         ids=[f"{name}:{check.__name__.removeprefix('check_')}" for name, check in CASES])
def test_udf(name: str, check: Any) -> None:
    check(UDFS[name])


@pytest.mark.parametrize("name", sorted(UDFS), ids=[f"{name}:bad_point_is_skipped" for name in sorted(UDFS)])
def test_bad_point_is_skipped(name: str, caplog: pytest.LogCaptureFixture) -> None:
    check_bad_point_is_skipped(UDFS[name], caplog)


def test_every_detector_has_a_udf_and_every_detector_udf_a_detector() -> None:
    named = {UDFS[name].detector for name in UDFS if issubclass(UDFS[name], DetectorUDF)}
    assert named <= set(DETECTORS), named - set(DETECTORS)
    assert set(DETECTORS) <= named, f"detectors without a UDF: {set(DETECTORS) - named}"


@pytest.mark.parametrize("name", [n for n in sorted(UDFS) if issubclass(UDFS[n], DetectorUDF)])
def test_no_option_redeclares_a_detector_parameter(name: str) -> None:
    """A detector parameter is declared once, in the detector: the UDF adds only options of its own."""
    cls = UDFS[name]
    params = cls.detector_class().parameters
    clashes = [spec.name for spec in cls.own_options() if spec.name in params]
    assert not clashes, f"@{name}() declares {clashes} again; they come from the detector's parameters"
    assert "options" not in cls.__dict__, f"@{name}() sets options by hand; override own_options() instead"
    assert cls.hidden_params <= set(params)


@pytest.mark.parametrize(
    ("name", "option", "vtype", "value", "words"),
    [
        ("sigma", "full_duration", ValueType.DURATION, -5_000_000_000, ["full_duration()", "> 0s", "got -5s"]),
        ("edge", "flap_window", ValueType.DURATION, 0, ["flap_window()", "> 0s", "got 0s"]),
        ("edge", "flap_count", ValueType.INT, 2**63 - 1, ["flap_count()", "<= 10000000"]),
        ("isolation_forest", "refit_every", ValueType.INT, 2**63 - 1, ["refit_every()", "<= 1000000"]),
        ("isolation_forest", "n_estimators", ValueType.INT, 10**8, ["n_estimators()", "<= 10000"]),
        ("matrix_profile", "history", ValueType.INT, 2**63 - 1, ["history()", "<= 1000000"]),
        ("sigma", "algorithms", ValueType.STRING, "grubbs,bogus", ["algorithms()", "comma-separated list"]),
    ],
)
def test_init_errors_name_the_option_in_tickscript_units(
    name: str, option: str, vtype: ValueType, value: Any, words: list[str]
) -> None:
    request = pb.InitRequest(taskID="t", nodeID="n")
    request.options.add(name=option, values=[option_value(vtype, value)])
    [response] = over_agent(UDFS[name](), [pb.Request(init=request)])
    assert not response.init.success
    assert all(word in response.init.error for word in words), response.init.error
    assert "000000000" not in response.init.error.replace(str(value), "")  # no nanoseconds shown

"""The shared body of every detector UDF: a field in, the point out with a verdict added.

Each detector UDF module declares its options and names its detector; this class
keeps one detector per Kapacitor group, feeds it the configured field, and emits
the input point with the output schema added:

* fields ``anomaly_score`` (float; left out while the detector warms up or when
  the score is not finite, since InfluxDB cannot store NaN or infinity),
  ``is_anomaly`` (bool) and the detector's own detail fields;
* tags ``detector`` (the UDF name), ``source`` (the input measurement) and
  ``field`` (the analysed field), so one Grafana query can show every detector.

Every stream detector UDF on real-valued input also gets the calibration options
(``.calibration()``, ``.risk()``, ``.cooldown()``, ... declared once in
:mod:`udfs.detectors.calibration.parameters`): per group, a
:class:`~udfs.detectors.calibration.CalibratedVerdicts` turns the detector's raw score
into ``calibrated_score``, ``alert_rule`` and the ``is_anomaly`` verdict, with a
false-alarm budget and a cooldown. ``anomaly_score`` stays the raw score.

A duration window that cannot hold the points its detector needs is reported once
per group on stderr (:mod:`udfs.functions.window_fit`).

The detector module is imported in ``configure``, not at import time, so that
``udfs run NAME`` answers Kapacitor's start-up ``Info`` without loading scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS, calibration_parameters
from udfs.functions.base import PerGroupUDF, StreamUDF, numeric_field, with_group_options
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.functions.window_fit import WindowFit
from udfs.params.constraints import OneOf
from udfs.protocol import EdgeType, metrics, set_field, udf_pb2
from udfs.registry import import_target

__all__ = ["DetectorUDF", "Skip", "common_options"]


def common_options(*, field_default: str = "value", emit_choices: tuple[str, ...] = ("all", "anomalies"),
                   emit_default: str = "all") -> list[OptionSpec]:
    """Options every detector UDF has: which field to read and which points to emit."""
    return [
        OptionSpec("field", (ValueType.STRING,), default=field_default, help="Field to analyse."),
        OptionSpec(
            "emit", (ValueType.STRING,), default=emit_default, constraint=OneOf(emit_choices),
            help="Which points to pass on.",
        ),
    ]


@dataclass(frozen=True)
class Skip:
    """No usable value in a point, and why."""

    reason: str


class _DerivedOptions:
    """``options`` of a detector UDF: its own options plus one per declared detector parameter.

    A UDF that still lists its options itself (``options = OptionSet([...])`` in its
    class body) keeps that list. Either way the calibration options follow when the
    UDF :meth:`~DetectorUDF.is_calibrated`, and the group options (``.max_groups()``,
    ``.idle_timeout()``) of every per-group UDF. Computed on first access (Info, Init, the
    docs), not at import, and cached per class.
    """

    def __get__(self, obj: Any, cls: type[DetectorUDF]) -> OptionSet:
        cached = cls.__dict__.get("_derived_options")
        if cached is None:
            listed = cls.__dict__.get("_listed_options")
            if listed is not None:
                specs = list(listed)
            else:
                params = cls.detector_class().parameters
                specs = [
                    *cls.own_options(),
                    *(OptionSpec.from_param(p) for p in params.values() if p.name not in cls.hidden_params),
                ]
            if cls.is_calibrated():
                taken = {spec.name for spec in specs}
                shared = calibration_parameters(getattr(cls.detector_class(), "calibration_defaults", None))
                specs += [OptionSpec.from_param(p) for p in shared.values() if p.name not in taken]
            cached = OptionSet(with_group_options(specs) if cls.keeps_groups else specs)
            setattr(cls, "_derived_options", cached)  # noqa: B010 - cached on this very class
        return cached


class DetectorUDF(StreamUDF, PerGroupUDF[Any]):
    """Base of detector UDFs: a UDF module names its detector and adds only what is its own.

    ``detector`` is the detector's registry key (``"mad"``). Every parameter the
    detector declares becomes an option of the same name, default, help and check
    (:meth:`OptionSpec.from_param`), except those in ``hidden_params``; the options
    the UDF adds (``field``, ``emit``, model options) come from :meth:`own_options`.
    """

    #: The detector's key in ``udfs.detectors.REGISTRY`` (``"module:Class"`` also works, for a
    #: detector not registered).
    detector: ClassVar[str]
    #: Detector parameters that are not TICKscript options (set by the UDF itself).
    hidden_params: ClassVar[frozenset[str]] = frozenset()
    #: False for detectors whose verdicts are not a score crossing a threshold (state changes).
    calibrates: ClassVar[bool] = True
    options: ClassVar[OptionSet] = _DerivedOptions()  # type: ignore[assignment]
    #: False for a UDF whose output is not the annotated input point (a second stage that
    #: keeps the first stage's tags, a UDF writing predictions); the UDF checks skip the schema.
    adds_output_schema: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        listed = cls.__dict__.get("options")
        if isinstance(listed, OptionSet):  # listed by hand: derived around it (calibration added)
            setattr(cls, "_listed_options", listed)  # noqa: B010 - kept on this very class
            cls.options = _DerivedOptions()  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.calibration: dict[str, Any] | None = None
        self.alerting: dict[str, Any] = {}
        self._window_fit = WindowFit({}, {})

    @classmethod
    def is_calibrated(cls) -> bool:
        """Whether this UDF has the calibration options: stream UDFs that ``calibrates``, on a
        detector that takes calibration (:meth:`Detector.takes_calibration`)."""
        return cls.calibrates and cls.wants == EdgeType.STREAM and cls.detector_class().takes_calibration()

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        """The options this UDF adds to its detector's parameters (default: ``field`` and ``emit``)."""
        return common_options()

    @classmethod
    def detector_class(cls) -> Any:
        if ":" in cls.detector:
            return import_target(cls.detector)
        from udfs.detectors import REGISTRY

        return REGISTRY[cls.detector]

    def configure(self, config: dict[str, Any]) -> None:
        self._detector_cls = self.detector_class()
        self.field: str = config["field"]
        self.emit: str = config["emit"]
        self.calibration = None
        if self.is_calibrated():
            self.calibration = {k: config[k] for k in CALIBRATION_PARAMETERS}
        self.params = self.detector_params({k: v for k, v in config.items() if k not in CALIBRATION_PARAMETERS})
        # Build one now so that a bad combination is refused in Init, naming the option;
        # its params() are what a restored group's detector must have been built with.
        self.expected_params = self._detector_cls(**self.params).params()
        # The class's kind, not this instance's: edge with levels still takes strings as states.
        self._takes_states = self._detector_cls.input_kind == "state"
        self.alerting = {}
        self._window_fit = WindowFit(
            {s.name: config[s.name] for s in self.options if s.types == (ValueType.DURATION,) and config.get(s.name)},
            {s.name: config[s.name] for s in self.options if s.types == (ValueType.INT,) and config.get(s.name)},
        )

    def detector_params(self, config: dict[str, Any]) -> dict[str, Any]:
        """Detector keyword arguments from the options (the detector's declared parameters)."""
        return {k: config[k] for k in self.detector_class().parameters if k in config}

    def new_group(self, group: str) -> Any:
        return self.prepare_detector(self._detector_cls(**self.params))

    def prepare_detector(self, detector: Any) -> Any:
        """A new or restored group's detector, before its first point (default: as it is)."""
        return detector

    def group_to_json(self, state: Any) -> Any:
        return state.state_dict()

    def alerting_state(self, group: str) -> Any:
        """The group's :class:`~udfs.detectors.calibration.CalibratedVerdicts` (made on first use)."""
        stage = self.alerting.get(group)
        if stage is None:
            from udfs.detectors.calibration.verdicts import CalibratedVerdicts

            stage = self.alerting[group] = CalibratedVerdicts(**(self.calibration or {}))
        return stage

    def get_state(self) -> Any:
        state = super().get_state()
        if self.calibration is not None:
            state["alerting"] = {g: s.state_dict() for g, s in self.alerting.items()}
        return state

    def set_state(self, state: Any) -> None:
        alerting: dict[str, Any] = {}
        if self.calibration is not None and state.get("alerting") is not None:
            # A snapshot from before calibration restores its detectors; calibration learns afresh.
            from udfs.detectors.calibration.verdicts import CalibratedVerdicts

            for group, data in state["alerting"].items():
                stage = CalibratedVerdicts.from_state(data)
                if stage.params() != self.calibration:
                    raise ValueError("snapshot was taken with other calibration options")
                alerting[str(group)] = stage
        super().set_state(state)
        self.alerting = alerting

    def reset_state(self) -> None:
        super().reset_state()
        self.alerting = {}

    def forget_group(self, group: str) -> None:
        super().forget_group(group)
        self.alerting.pop(group, None)
        self._window_fit.forget(group)

    def group_from_json(self, data: Any) -> Any:
        detector = self._detector_cls.from_state(data)
        if detector.params() != self.expected_params:
            raise ValueError("snapshot was taken with other detector options")
        return self.prepare_detector(detector)

    def read_value(self, point: udf_pb2.Point) -> Any:
        """The value to feed the detector, or a :class:`Skip` saying why there is none."""
        if not self._takes_states:
            value = numeric_field(point, self.field)
            return Skip(value) if isinstance(value, str) else value
        for values in (point.fieldsString, point.fieldsBool, point.fieldsInt, point.fieldsDouble):
            if self.field in values:
                return values[self.field]
        return Skip(f"field {self.field!r} is missing")

    def should_emit(self, verdict: Any) -> bool:
        return self.emit == "all" or verdict.is_anomaly

    def point(self, point: udf_pb2.Point) -> None:
        self._require_init()
        value = self.read_value(point)
        if isinstance(value, Skip):
            self.skips.skip("bad value", "%s at %d: %s", point.group or "(no group)", point.time, value.reason)
            return
        if self._window_fit.active:
            warning = self._window_fit.observe(point.group, point.time)
            if warning:
                self.log.warning("task %s group %s: %s", self.task_id, point.group or "(no group)", warning)
        verdict = self.group_state(point.group, point.time).update(point.time, value)
        if self.calibration is not None:
            verdict = self.alerting_state(point.group).update(point.time, verdict)
        if verdict.is_anomaly:
            metrics.count("udfs_anomalies_total", udf=self.name)
        if not self.should_emit(verdict):
            return
        self.outbox.point(self.annotate(point, verdict))

    def annotate(self, point: udf_pb2.Point, verdict: Any, *, source: str | None = None) -> udf_pb2.Point:
        """The point with the output schema added; ``source`` names the measurement of a batch point."""
        out = udf_pb2.Point()
        out.CopyFrom(point)
        # One type per field name in the shared output measurement, whatever the sources
        # are: integer input fields are passed on as floats (an int field in one source and
        # a float field of the same name in another would be refused by InfluxDB).
        for key, number in point.fieldsInt.items():
            out.fieldsDouble[key] = float(number)
        out.ClearField("fieldsInt")
        score = verdict.score
        if math.isfinite(score):
            out.fieldsDouble["anomaly_score"] = score
        out.fieldsBool["is_anomaly"] = bool(verdict.is_anomaly)
        for key, value in verdict.details.items():
            _set_detail(out, key, value)
        out.tags["detector"] = self.name
        out.tags["source"] = point.name if source is None else source
        out.tags["field"] = self.field
        return out


_INT64 = range(-(2**63), 2**63)


def _set_detail(point: udf_pb2.Point, key: str, value: Any) -> None:
    # None, non-finite floats and integers beyond int64 (a duration between points more
    # than 292 years apart) are left out: neither the protocol nor InfluxDB can hold them.
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return
    if isinstance(value, int) and value not in _INT64:
        return
    set_field(point, key, value)

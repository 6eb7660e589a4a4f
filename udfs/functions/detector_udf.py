"""The shared body of every detector UDF: a field in, the point out with a verdict added.

Each detector UDF module declares its options and names its detector; this class
keeps one detector per Kapacitor group, feeds it the configured field, and emits
the input point with the output schema added:

* fields ``anomaly_score`` (float; left out while the detector warms up or when
  the score is not finite, since InfluxDB cannot store NaN or infinity),
  ``is_anomaly`` (bool) and the detector's own detail fields;
* tags ``detector`` (the UDF name), ``source`` (the input measurement) and
  ``field`` (the analysed field), so one Grafana query can show every detector.

The detector module is imported in ``configure``, not at import time, so that
``udfs run NAME`` answers Kapacitor's start-up ``Info`` without loading scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from udfs.functions.base import PerGroupUDF, StreamUDF, numeric_field
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.params.constraints import OneOf
from udfs.protocol import set_field, udf_pb2
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

    Computed on first access (Info, Init, the docs), not at import, and cached per class.
    """

    def __get__(self, obj: Any, cls: type[DetectorUDF]) -> OptionSet:
        cached = cls.__dict__.get("_derived_options")
        if cached is None:
            params = cls.detector_class().parameters
            cached = OptionSet([
                *cls.own_options(),
                *(OptionSpec.from_param(p) for p in params.values() if p.name not in cls.hidden_params),
            ])
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
    options: ClassVar[OptionSet] = _DerivedOptions()  # type: ignore[assignment]
    #: False for a UDF whose output is not the annotated input point (a second stage that
    #: keeps the first stage's tags, a UDF writing predictions); the UDF checks skip the schema.
    adds_output_schema: ClassVar[bool] = True

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
        self.params = self.detector_params(config)
        # Build one now so that a bad combination is refused in Init, naming the option;
        # its params() are what a restored group's detector must have been built with.
        self.expected_params = self._detector_cls(**self.params).params()
        # The class's kind, not this instance's: edge with levels still takes strings as states.
        self._takes_states = self._detector_cls.input_kind == "state"

    def detector_params(self, config: dict[str, Any]) -> dict[str, Any]:
        """Detector keyword arguments from the options (default: same names, None = unset)."""
        return {k: config[k] for k in self.detector_class().parameters if k in config}

    def new_group(self, group: str) -> Any:
        return self._detector_cls(**self.params)

    def group_to_json(self, state: Any) -> Any:
        return state.state_dict()

    def group_from_json(self, data: Any) -> Any:
        detector = self._detector_cls.from_state(data)
        if detector.params() != self.expected_params:
            raise ValueError("snapshot was taken with other detector options")
        return detector

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
        verdict = self.group_state(point.group).update(point.time, value)
        if not self.should_emit(verdict):
            return
        self.outbox.point(self.annotate(point, verdict))

    def annotate(self, point: udf_pb2.Point, verdict: Any, *, source: str | None = None) -> udf_pb2.Point:
        """The point with the output schema added; ``source`` names the measurement of a batch point."""
        out = udf_pb2.Point()
        out.CopyFrom(point)
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


def _set_detail(point: udf_pb2.Point, key: str, value: Any) -> None:
    # None and non-finite floats are left out: InfluxDB cannot store them.
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return
    set_field(point, key, value)

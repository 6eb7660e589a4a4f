"""``@network()``: Streamevmon's ensemble over the network detectors, on a latency field and a loss field.

One alert per network event: the members (changepoint, distribution_shift,
mode_change, spike on the latency; loss on the loss fraction) vote for ``span`` points
after they flag (by default when their calibrated verdict alerts, ``member_verdicts``),
and the point where the votes reach ``k`` is flagged, with ``fired`` naming the members.
A measurement without a latency (every probe lost) still feeds the loss member;
``loss_scale`` turns the loss field into a fraction (0.01 for Telegraf's
``percent_packet_loss``).
"""

from __future__ import annotations

from typing import Any

from udfs.functions.base import numeric_field
from udfs.functions.detector_udf import DetectorUDF, Skip, common_options
from udfs.functions.options import OptionSpec, ValueType
from udfs.params.constraints import Interval
from udfs.protocol import udf_pb2

__all__ = ["NetworkUDF"]


class NetworkUDF(DetectorUDF):
    name = "network"
    summary = ("Ensemble of the network detectors on a latency and a loss field (Streamevmon): one alert per "
               "event when k members agree within span points; 'fired' names them.")
    detector = "network"  # not calibrated: the detector's verdict is the event itself

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        return [
            *common_options(emit_default="anomalies"),
            OptionSpec("loss_field", (ValueType.STRING,), default="percent_packet_loss",
                       help="Field with the loss of each measurement ('' = none: the loss member sees nothing)."),
            OptionSpec("loss_scale", (ValueType.DOUBLE,), default=0.01, constraint=Interval(float, 0, None, "neither"),
                       help="Factor turning the loss field into a fraction (0.01 for a percentage)."),
        ]

    def configure(self, config: dict[str, Any]) -> None:
        super().configure(config)
        self.loss_field: str = config["loss_field"]
        self.loss_scale: float = config["loss_scale"]

    def read_value(self, point: udf_pb2.Point) -> Any:
        latency = self._number(point, self.field)
        loss = self._number(point, self.loss_field) if self.loss_field else None
        if isinstance(latency, Skip):
            return latency
        if isinstance(loss, Skip):
            return loss
        if latency is None and loss is None:
            return Skip(f"neither {self.field!r} nor {self.loss_field!r} is present")
        return [latency, None if loss is None else loss * self.loss_scale]

    @staticmethod
    def _number(point: udf_pb2.Point, name: str) -> float | Skip | None:
        """The field's number, None when absent, a Skip when present but unusable."""
        if not any(name in fields for fields in (point.fieldsDouble, point.fieldsInt, point.fieldsString,
                                                 point.fieldsBool)):
            return None
        value = numeric_field(point, name)
        return Skip(value) if isinstance(value, str) else value

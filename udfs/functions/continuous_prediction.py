"""``@continuous_prediction()``: Latigo-style predictions of every group's next values, on the batch edge.

A ``batch|query()`` with ``.every(30m)`` and ``.offset(3h)`` hands this UDF, every
30 minutes, the data up to three hours ago (so that late data has arrived: Latigo's
``continuous_prediction_delay``). Each group keeps a model of the ``@forecast()``
detector (``.model()``: Holt-Winters by default, MSTL, ARIMA or Prophet) that learns
the batch's points it has not seen yet; the UDF then answers with ``horizon``
predicted points after the last one, spaced by ``interval`` (or the batch's median
spacing), each with fields ``predicted``, ``lower`` and ``upper`` and tags ``model``
(the model that predicted) and ``field``, for an ``influxDBOut()`` into a
``predictions`` measurement.

MSTL, ARIMA and Prophet fits run in the background as in ``@forecast()``
(:mod:`udfs.functions.background_fit`): a batch is answered at once, by the previous
model or, before the first fit, by the Holt-Winters fallback (tag ``model`` says
which); a fit due after a batch starts then and its model predicts from the group's
next batch on. Models live in the task's snapshots, which first wait for the fits in
flight.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from udfs.functions.background_fit import BackgroundFitUDF
from udfs.functions.base import BatchUDF, numeric_field
from udfs.functions.options import OptionSpec, ValueType
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_DURATION_NS
from udfs.protocol import udf_pb2

__all__ = ["ContinuousPrediction"]


#: The options this UDF adds to the forecast detector's parameters.
_OWN = ParamSet(
    horizon=Param.integer(6, "Values to predict after the newest one.", low=1, high=10_000),
    interval=Param.duration(0, "Spacing of the predicted points; 0s = the median spacing of the batch.", low=0,
                            high=MAX_DURATION_NS),
)


@dataclass
class _Series:
    """One group's model and the time of the newest point it has learned."""

    detector: Any
    last_time: int = -(2**63)


class ContinuousPrediction(BatchUDF, BackgroundFitUDF):
    name = "continuous_prediction"
    summary = "Latigo-style: every batch, learn new points per group and predict the next ones (batch edge)."
    detector = "forecast"
    fit_kind = "forecast"
    adds_output_schema = False  # a predictions measurement, not the input points
    hidden_params = frozenset({"robust"})
    # 2: the forecast detector's state holds a model choice (Holt-Winters under "hw").
    state_version = 2

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        return [
            OptionSpec("field", (ValueType.STRING,), default="value", help="Field to predict."),
            *(OptionSpec.from_param(p) for p in _OWN.values()),
        ]

    def configure(self, config: dict[str, Any]) -> None:
        super().configure({**config, "emit": "all"})
        self.horizon: int = config["horizon"]
        self.interval: int = config["interval"]

    def detector_params(self, config: dict[str, Any]) -> dict[str, Any]:
        return {**super().detector_params(config), "robust": True}

    def new_group(self, group: str) -> Any:
        return _Series(super().new_group(group))

    def fitting_detector(self, state: Any) -> Any:
        return state.detector

    def group_to_json(self, state: Any) -> Any:
        return {"model": state.detector.state_dict(), "last_time": state.last_time}

    def group_from_json(self, data: Any) -> Any:
        return _Series(super().group_from_json(data["model"]), int(data["last_time"]))

    def batch(self, begin: udf_pb2.BeginBatch, points: Sequence[udf_pb2.Point],
              end: udf_pb2.EndBatch) -> list[udf_pb2.Point]:
        series = self.group_state(begin.group, end.tmax)
        times = []
        for p in sorted(points, key=lambda p: p.time):
            times.append(p.time)
            if p.time <= series.last_time:  # overlapping query periods: learned already
                continue
            value = numeric_field(p, self.field)
            if isinstance(value, str):
                self.skips.skip("bad value", "%s at %d: %s", begin.group or "(no group)", p.time, value)
                continue
            series.detector.update(p.time, value)
            series.last_time = p.time
        self.submit_due_fit(begin.group, series.detector)  # predicts from the next batch on
        step = self.interval or (int(statistics.median(b - a for a, b in pairwise(times))) if len(times) > 1
                                 else 0)
        forecasts = series.detector.forecast_ahead(self.horizon)
        if not forecasts or step <= 0:
            return []
        out = []
        for h, (predicted, lower, upper) in enumerate(forecasts, start=1):
            p = udf_pb2.Point(time=series.last_time + h * step, name=begin.name, group=begin.group)
            p.tags.update(begin.tags)
            p.tags["model"] = series.detector.speaking_model
            p.tags["field"] = self.field
            p.fieldsDouble["predicted"] = predicted
            p.fieldsDouble["lower"] = lower
            p.fieldsDouble["upper"] = upper
            out.append(p)
        return out

"""``@forecast()``: each value against its forecast (Holt-Winters, MSTL, ARIMA or Prophet) and its interval.

Holt-Winters fits (milliseconds to a second) run in line. MSTL, ARIMA and Prophet fits
take seconds, so they run in the background (:mod:`udfs.functions.background_fit`)
while the agent keeps answering points and keepalives. No point waits and none is left
unscored: until a group's first model is ready its Holt-Winters fallback scores, and
during a refit the previous model does; a finished model is installed at the group's
next point, brought up to date with the values that came during the fit. A failed fit
is logged and the previous model (or the fallback) stays. A snapshot first waits for
the fits in flight (at most 30 s), so a restored task has their models.
"""

from __future__ import annotations

from typing import Any

from udfs.functions.background_fit import BackgroundFitUDF
from udfs.protocol import udf_pb2

__all__ = ["ForecastUDF"]


class ForecastUDF(BackgroundFitUDF):
    name = "forecast"
    summary = ("Next-value forecast per group (Holt-Winters, MSTL, auto-ARIMA or Prophet; slow fits in the "
               "background); "
               "predicted, lower, upper, residual; flags values outside.")
    detector = "forecast"
    fit_kind = "forecast"
    # 2: one detector for three models (Holt-Winters state under "hw").
    state_version = 2

    def model_installed(self, group: str, detector: Any) -> None:
        if detector.order is not None:
            self.log.info("task %s group %s: %s fitted", self.task_id, group or "(no group)", detector.order_label)

    def point(self, point: udf_pb2.Point) -> None:
        super().point(point)
        detector = self.groups.get(point.group)
        if detector is not None:
            self.submit_due_fit(point.group, detector)

"""``@forecast()``: each value against its forecast (Holt-Winters, MSTL or ARIMA) and its prediction interval.

Holt-Winters fits (milliseconds to a second) run in line. MSTL and ARIMA fits take
seconds, so they run on a background thread (one per process, shared by every task
of a ``udfs serve`` process, so fits queue rather than compete for the CPU) while the
agent keeps answering points and keepalives. No point waits and none is left
unscored: until a group's first model is ready its Holt-Winters fallback scores, and
during a refit the previous model does; a finished model is installed at the group's
next point, brought up to date with the values that came during the fit. A failed fit
is logged and the previous model (or the fallback) stays. A snapshot first waits for
the fits in flight (at most 30 s), so a restored task has their models.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from udfs.functions.detector_udf import DetectorUDF
from udfs.protocol import udf_pb2

__all__ = ["ForecastUDF"]

_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _fit_executor() -> ThreadPoolExecutor:
    """The process's one fitting thread, started on first use."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-fit")
        return _EXECUTOR


class ForecastUDF(DetectorUDF):
    name = "forecast"
    summary = ("Next-value forecast per group (Holt-Winters, MSTL, auto-ARIMA or Prophet; slow fits in the "
               "background); "
               "predicted, lower, upper, residual; flags values outside.")
    detector = "forecast"
    # 2: one detector for three models (Holt-Winters state under "hw").
    state_version = 2

    def __init__(self) -> None:
        super().__init__()
        self._fits: dict[str, Future[Any]] = {}

    def new_group(self, group: str) -> Any:
        detector = super().new_group(group)
        detector.fit_inline = False
        return detector

    def group_from_json(self, data: Any) -> Any:
        detector = super().group_from_json(data)
        detector.fit_inline = False
        return detector

    def group_state(self, group: str, time: int | None = None) -> Any:
        detector = super().group_state(group, time)
        future = self._fits.get(group)
        if future is not None and future.done():
            del self._fits[group]
            try:
                detector.install_model(future.result())
                if detector.order is not None:
                    self.log.info("task %s group %s: ARIMA%s fitted", self.task_id, group or "(no group)",
                                  detector.order)
            except Exception:
                self.log.exception("task %s group %s: %s fit failed; the previous model stays", self.task_id,
                                   group or "(no group)", detector.model)
        return detector

    def point(self, point: udf_pb2.Point) -> None:
        super().point(point)
        group = point.group
        detector = self.groups.get(group)
        if detector is not None and group not in self._fits and detector.needs_fit():
            self._fits[group] = _fit_executor().submit(detector.fit_model, detector.begin_fit())

    def forget_group(self, group: str) -> None:
        future = self._fits.pop(group, None)  # an evicted group's fit is not waited for
        if future is not None:
            future.cancel()
        super().forget_group(group)

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the fits in flight; their models are installed at each group's next point."""
        wait(list(self._fits.values()), timeout=timeout)

    def _cancel_fits(self) -> None:
        for future in self._fits.values():
            future.cancel()  # a fit already running finishes, unheard
        self._fits = {}

    def get_state(self) -> Any:
        if self._fits:
            self.settle(timeout=30.0)
            for group in list(self._fits):
                self.group_state(group)  # installs a finished fit
        return super().get_state()

    def set_state(self, state: Any) -> None:
        self._cancel_fits()
        super().set_state(state)

    def reset_state(self) -> None:
        self._cancel_fits()
        super().reset_state()

    def close(self) -> None:
        self._cancel_fits()
        super().close()

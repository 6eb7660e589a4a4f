"""Model fits off the agent's thread, for every UDF whose detector has slow fits.

A detector with slow fits (forecast's MSTL, ARIMA and Prophet, the isolation forest)
offers the same four calls: ``needs_fit()`` (a fit is due), ``begin_fit()`` (the
data of the fit, taken now), ``fit_model(data)`` (pure: any thread may run it) and
``install_model(fitted)``; with ``fit_inline = False`` its ``learn_one`` leaves the
fitting to its caller. :class:`BackgroundFitUDF` is that caller in the UDF layer:
due fits go to one thread per kind of model and process (:func:`fit_executor`,
shared by every task of a ``udfs serve`` process, so fits queue rather than compete
with Kapacitor for the CPU), at most one in flight per group (:class:`PendingFits`),
while the agent keeps answering points, batches and keepalives. A finished model is
installed at its group's next point or batch (``group_state``) by the thread that
owns the groups; a failed fit is logged and the previous model, or the detector's
fallback, stays. A snapshot first waits (at most :data:`SNAPSHOT_WAIT` seconds) for
the fits in flight, so that it holds their models; a restore, a reset or an evicted
group drops the fits in flight unheard.

Examples
--------
>>> import time
>>> fits = PendingFits("doctest")
>>> class Slow:
...     def fit_model(self, data):
...         time.sleep(0.01)
...         return data * 2
>>> future = fits.submit("host=a", Slow(), 21)
>>> "host=a" in fits, fits.take_finished("host=b")
(True, None)
>>> fits.wait(5)
>>> fits.take_finished("host=a").result(), "host=a" in fits
(42, False)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["SNAPSHOT_WAIT", "BackgroundFitUDF", "PendingFits", "fit_executor"]

#: Seconds a snapshot waits for the fits in flight before saving without their models.
SNAPSHOT_WAIT = 30.0

_EXECUTORS: dict[str, ThreadPoolExecutor] = {}
_EXECUTORS_LOCK = threading.Lock()


def fit_executor(kind: str) -> ThreadPoolExecutor:
    """The process's one fitting thread for models of ``kind`` (``forecast``, ``isolation-forest``),
    started on first use; threads are named ``KIND-fit``."""
    with _EXECUTORS_LOCK:
        executor = _EXECUTORS.get(kind)
        if executor is None:
            executor = _EXECUTORS[kind] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{kind}-fit")
        return executor


class PendingFits:
    """The fits in flight of one UDF instance, at most one per group, on :func:`fit_executor`'s thread."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._futures: dict[str, Future[Any]] = {}

    def __contains__(self, group: object) -> bool:
        return group in self._futures

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._futures))

    def __len__(self) -> int:
        return len(self._futures)

    def submit(self, group: str, detector: Any, data: Any,
               on_done: Callable[[str, Future[Any]], None] | None = None) -> Future[Any]:
        """Run ``detector.fit_model(data)`` in the background as ``group``'s fit (replacing any other);
        ``on_done(group, future)`` runs on the fit's thread when it ends."""
        self.cancel(group)
        future = fit_executor(self.kind).submit(detector.fit_model, data)
        self._futures[group] = future
        if on_done is not None:
            future.add_done_callback(lambda done: on_done(group, done))
        return future

    def current(self, group: str) -> Future[Any] | None:
        """``group``'s fit in flight or finished and not yet taken."""
        return self._futures.get(group)

    def take_finished(self, group: str) -> Future[Any] | None:
        """``group``'s finished fit, no longer pending; None while it runs or when there is none."""
        future = self._futures.get(group)
        if future is None or not future.done():
            return None
        del self._futures[group]
        return future

    def cancel(self, group: str) -> None:
        """Forget ``group``'s fit: a queued one never runs, a running one finishes unheard."""
        future = self._futures.pop(group, None)
        if future is not None:
            future.cancel()

    def cancel_all(self) -> None:
        for group in list(self._futures):
            self.cancel(group)

    def wait(self, timeout: float | None = None) -> None:
        """Wait until every fit in flight has finished, at most ``timeout`` seconds."""
        wait(list(self._futures.values()), timeout=timeout)


class BackgroundFitUDF(DetectorUDF):
    """Base of a detector UDF whose detectors fit in the background.

    The subclass names its ``fit_kind`` (the executor), says where a group's detector is
    (:meth:`fitting_detector`, when the group's state wraps it), and calls
    :meth:`submit_due_fit` after a group has learned. Models are installed by
    :meth:`group_state`; snapshots, restores, resets, evictions and ``close`` are handled here.
    """

    #: Which :func:`fit_executor` runs this UDF's fits.
    fit_kind: ClassVar[str]
    #: What a fit makes, for log lines ("the previous model stays").
    fitted_name: ClassVar[str] = "model"
    #: Whether a snapshot waits for the fits in flight (False: the subclass decides what to wait for).
    snapshot_waits: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.fits = PendingFits(self.fit_kind)

    # -- hooks ---------------------------------------------------------------------
    def fitting_detector(self, state: Any) -> Any:
        """The detector in a group's state (the state itself unless a subclass wraps it)."""
        return state

    def prepare_detector(self, detector: Any) -> Any:
        """Every new or restored detector leaves its fits to this UDF."""
        detector = super().prepare_detector(detector)
        detector.fit_inline = False
        return detector

    def model_installed(self, group: str, detector: Any) -> None:
        """Called after a fitted model was installed (to log what was fitted)."""

    # -- the fits --------------------------------------------------------------------
    def submit_due_fit(self, group: str, detector: Any,
                       on_done: Callable[[str, Future[Any]], None] | None = None) -> bool:
        """Start ``group``'s fit if one is due and none is in flight (``on_done`` as for
        :meth:`PendingFits.submit`); whether one was started."""
        if group in self.fits or not detector.needs_fit():
            return False
        self.fits.submit(group, detector, detector.begin_fit(), on_done)
        return True

    def install_finished(self, group: str, detector: Any) -> bool:
        """Install ``group``'s finished fit into ``detector``; whether a model was installed."""
        future = self.fits.take_finished(group)
        if future is None:
            return False
        try:
            detector.install_model(future.result())
        except Exception:
            self.log.exception("task %s group %s: %s fit failed; the previous %s stays", self.task_id,
                               group or "(no group)", self.fitted_name, self.fitted_name)
            return False
        self.model_installed(group, detector)
        return True

    def group_state(self, group: str, time: int | None = None) -> Any:
        state = super().group_state(group, time)
        self.install_finished(group, self.fitting_detector(state))
        return state

    def install_all_finished(self) -> None:
        """Install every finished fit now (before a snapshot)."""
        for group in self.fits:
            state = self.groups.get(group)
            if state is None:
                self.fits.cancel(group)
            else:
                self.install_finished(group, self.fitting_detector(state))

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the fits in flight; their models are installed at each group's next point."""
        self.fits.wait(timeout)

    # -- lifecycle -------------------------------------------------------------------
    def forget_group(self, group: str) -> None:
        self.fits.cancel(group)  # an evicted group's fit is not waited for
        super().forget_group(group)

    def get_state(self) -> Any:
        if self.snapshot_waits and len(self.fits):
            self.fits.wait(SNAPSHOT_WAIT)
            self.install_all_finished()
        return super().get_state()

    def set_state(self, state: Any) -> None:
        self.fits.cancel_all()
        super().set_state(state)

    def reset_state(self) -> None:
        self.fits.cancel_all()
        super().reset_state()

    def close(self) -> None:
        self.fits.cancel_all()
        super().close()

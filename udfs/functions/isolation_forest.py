"""``@isolation_forest()``: scikit-learn's isolation forest over several fields (or lags of one), per group.

Fitting never holds up the stream. Each group's forest is fitted in the background
(:mod:`udfs.functions.background_fit`: one worker per process, shared by every task a
``udfs serve`` process runs, so fits queue rather than compete with Kapacitor for CPU)
while points keep being answered. No point passes unscored because a forest is training: until a group's
first forest is ready (or, after a restore, its saved training set is refitted) its
points are held back, at most ``HOLD_LIMIT`` per group, and emitted in order, scored
by that forest, with the group's first point after the fit (the training points are
thus scored by the forest fitted on them, as scikit-learn's ``fit_predict``); past
the limit the oldest held point is emitted unscored and logged. Held points are not
part of a snapshot. During a refit the previous forest keeps scoring; a finished
forest is swapped in on the group's next point. A failed fit is logged and the
previous forest (if any) stays; the next refit tries again.

With ``.model('NAME')`` the UDF scores with a model made by ``udfs train`` instead of
training one (the training options are then ignored); see :mod:`udfs.models.store` for
where models live and the checks made before one is loaded.

Only the standard library and the UDF base are imported here: scikit-learn and
joblib are loaded at Init or at the first fit, so ``udfs run`` answers Info fast.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any

from udfs.detectors.base import Verdict
from udfs.functions.background_fit import SNAPSHOT_WAIT, BackgroundFitUDF
from udfs.functions.base import numeric_field
from udfs.functions.detector_udf import Skip, common_options
from udfs.functions.options import OptionError, OptionSpec, ValueType
from udfs.protocol import PeerClosedError, udf_pb2

__all__ = ["HOLD_LIMIT", "IsolationForestUDF"]

#: Points held per group while its first forest trains (a few MB of points at most).
HOLD_LIMIT = 10_000

_UNSCORED = Verdict(math.nan, False, {})


class IsolationForestUDF(BackgroundFitUDF):
    name = "isolation_forest"
    summary = ("scikit-learn isolation forest over several fields of a point (or the lags of one), trained per "
               "group in the background or loaded from a checksum-verified model.")
    detector = "isolation_forest"
    fit_kind = "isolation-forest"
    fitted_name = "forest"
    snapshot_waits = False  # only for the fits that hold points back (below)
    # 2: contamination is kept as a number, 0 for scikit-learn's 'auto' (was the string 'auto').
    state_version = 2

    @classmethod
    def own_options(cls) -> list[OptionSpec]:
        """Several fields instead of one, and where a pre-trained model comes from."""
        return [
            OptionSpec(
                "field", (ValueType.STRING,), default=("value",), repeated=True,
                help="A field of the vector, one per call, in order: .field('a').field('b').",
            ),
            *(spec for spec in common_options() if spec.name != "field"),
            OptionSpec("model", (ValueType.STRING,), default="",
                       help="Score with model NAME from `udfs train` (loaded only if its sha256 and fields match "
                            "its metadata; training options are then ignored); '' = train on the stream."),
            OptionSpec("model_dir", (ValueType.STRING,), default="",
                       help="A directory inside the configured model directory ($MODEL_PATH, else ./models); "
                            "'' = that directory itself."),
        ]

    def __init__(self) -> None:
        super().__init__()
        # Per group: points (and their vectors, None = unscorable) waiting for a forest.
        self._held: dict[str, deque[tuple[udf_pb2.Point, Any]]] = {}
        self._model: Any = None
        self._model_id: dict[str, str] | None = None
        # A finished fit sends its group's held points from the fit's thread (the stream may
        # have paused: nothing else would until the next point or snapshot, a minute later),
        # so everything touching group state holds this lock.
        self._state_lock = threading.RLock()

    # -- options -------------------------------------------------------------
    def configure(self, config: dict[str, Any]) -> None:
        fields: list[str] = list(config["field"])
        if not all(fields):
            raise OptionError("option field() must name a field, got ''")
        if len(set(fields)) != len(fields):
            raise OptionError(f"option field() names a field twice: {', '.join(fields)}")
        if config["lags"] and len(fields) != 1:
            raise OptionError(f"option lags() takes exactly one field(), got {len(fields)}: {', '.join(fields)}")
        super().configure({**config, "field": ",".join(fields)})
        self.fields = fields
        self._model = self._model_id = None
        if config["model"]:
            self._load(config, fields)

    def _load(self, config: dict[str, Any], fields: list[str]) -> None:
        from udfs.models.store import ModelError, load_model, task_model_dir

        try:
            directory = task_model_dir(config["model_dir"])
        except ModelError as exc:
            raise OptionError(f"option model_dir(): {exc}") from None
        try:
            model, metadata = load_model(
                directory, config["model"], detector="isolation_forest", fields=fields, lags=config["lags"]
            )
            self._detector_cls(**self.params).use_model(model)
        except (ModelError, ValueError) as exc:
            raise OptionError(f"option model(): {exc}") from None
        for warning in metadata["warnings"]:
            self.log.warning("model %r: %s", config["model"], warning)
        self._model = model
        self._model_id = {"name": config["model"], "sha256": metadata["sha256"]}
        self.log.info("model %r loaded from %s (%s rows, fields %s)", config["model"], directory.resolve(),
                      metadata.get("rows"), ",".join(fields))

    def read_value(self, point: udf_pb2.Point) -> Any:
        values = []
        for name in self.fields:
            value = numeric_field(point, name)
            if isinstance(value, str):
                return Skip(value)
            values.append(value)
        return values

    # -- groups and background fitting -----------------------------------------
    def prepare_detector(self, detector: Any) -> Any:
        detector = super().prepare_detector(detector)
        if self._model is not None:
            detector.use_model(self._model)
        return detector

    def point(self, point: udf_pb2.Point) -> None:
        with self._state_lock:
            self._point(point)

    def _point(self, point: udf_pb2.Point) -> None:
        self._require_init()
        value = self.read_value(point)
        if isinstance(value, Skip):
            self.skips.skip("bad value", "%s at %d: %s", point.group or "(no group)", point.time, value.reason)
            return
        group = point.group
        detector = self.group_state(group, point.time)  # installs a finished fit
        held = self._held.get(group)
        if held and detector.has_model:
            self._release(group, detector)
            held = None
        vector = detector.feature_vector(value)
        verdict = detector.update(point.time, value)
        if held or (vector is not None and not detector.has_model):
            self._hold(group, point, vector)
        else:
            verdict = self._calibrated(point, verdict)
            if self.should_emit(verdict):
                self.outbox.point(self.annotate(point, verdict))
        self.submit_due_fit(group, detector, on_done=self._fit_done)

    def _hold(self, group: str, point: udf_pb2.Point, vector: Any) -> None:
        held = self._held.setdefault(group, deque())
        if len(held) >= HOLD_LIMIT:
            oldest, _ = held.popleft()
            self.skips.skip("held too long", "%s at %d: no forest yet after %d points; emitted unscored",
                            group or "(no group)", oldest.time, HOLD_LIMIT)
            self._emit(oldest, None, None)
        copy = udf_pb2.Point()
        copy.CopyFrom(point)
        held.append((copy, vector))

    def _release(self, group: str, detector: Any) -> None:
        for point, vector in self._held.pop(group, ()):
            self._emit(point, detector, vector)

    def _emit(self, point: udf_pb2.Point, detector: Any, vector: Any) -> None:
        verdict = detector.score_vector(vector) if detector is not None else _UNSCORED
        verdict = self._calibrated(point, verdict)
        if self.should_emit(verdict):
            self.outbox.point(self.annotate(point, verdict))

    def _calibrated(self, point: udf_pb2.Point, verdict: Any) -> Any:
        """The shared calibration, applied in time order as each point is emitted (held or not)."""
        if self.calibration is None:
            return verdict
        return self.alerting_state(point.group).update(point.time, verdict)

    def forget_group(self, group: str) -> None:
        with self._state_lock:
            self._forget_group(group)

    def _forget_group(self, group: str) -> None:
        # An evicted group's held points go out unscored, as when the hold is full: none is lost.
        for point, _ in self._held.pop(group, ()):
            self._emit(point, None, None)
        super().forget_group(group)

    def _fit_done(self, group: str, future: Future[Any]) -> None:
        """On the fit's thread: install the forest and send the points it was holding."""
        with self._state_lock:
            if self.fits.current(group) is not future or future.cancelled() or not self._held.get(group):
                return  # superseded, or nothing waits for it: the next point installs it
            detector = self.group_state(group)  # installs the finished fit
            if not detector.has_model:
                return
            self._release(group, detector)
        try:
            self.outbox.flush()
        except PeerClosedError:
            pass  # the connection is going; the agent reports it

    def wait_for_fits(self, timeout: float | None = None) -> None:
        """Wait for the fits in flight; their forests are installed at each group's next point."""
        self.fits.wait(timeout)

    def settle(self, timeout: float | None = None) -> None:
        self.wait_for_fits(timeout)
        # The fits' own callbacks may not have run yet: send what they release now, in order.
        for group in self.fits:
            future = self.fits.current(group)
            if future is not None and future.done():
                self._fit_done(group, future)

    # -- snapshots ---------------------------------------------------------------
    def get_state(self) -> Any:
        with self._state_lock:
            return self._get_state()

    def _get_state(self) -> Any:
        # Held points are not part of the state: a snapshot request (Kapacitor's every
        # snapshot interval, the replay's end-of-input barrier) first lets the fits in flight
        # finish and sends the points they were holding, scored, ahead of the snapshot.
        if self._held:
            self.wait_for_fits(timeout=SNAPSHOT_WAIT)
            for group in list(self._held):
                detector = self.group_state(group)  # installs a finished fit
                if detector.has_model:
                    self._release(group, detector)
        return {**super().get_state(), "model": self._model_id}

    def set_state(self, state: Any) -> None:
        with self._state_lock:
            self._set_state(state)

    def _set_state(self, state: Any) -> None:
        if state.get("model") != self._model_id:
            raise ValueError(f"snapshot was taken with model {state.get('model')}, this task uses {self._model_id}")
        self._held = {}
        super().set_state(state)  # drops the fits in flight
        for group, detector in self.groups.items():
            if detector.awaiting_model:  # refit the saved training set, off the agent's thread
                self.fits.submit(group, detector, detector.training_set(), on_done=self._fit_done)

    def group_from_json(self, data: Any) -> Any:
        detector = self._detector_cls.from_state(data, fit=False)
        if detector.params() != self.expected_params:
            raise ValueError("snapshot was taken with other detector options")
        return self.prepare_detector(detector)

    def reset_state(self) -> None:
        with self._state_lock:
            self._held = {}
            super().reset_state()

    def close(self) -> None:
        self._held = {}
        super().close()

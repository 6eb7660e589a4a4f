"""Measurement loss: N consecutive lost measurements, or a loss rate above a bound."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["LossDetector"]


class LossDetector(Detector):
    """Flags runs of lost measurements and high loss rates (Kapacitor's ``deadman`` only knows "no data").

    Each point carries the loss of one measurement: the fraction of probes lost
    (0 = all answered, 1 = all lost) or a 0/1 flag; a value outside [0, 1] is not a
    loss and is skipped like a NaN (divide a count of lost probes by the probes sent,
    e.g. with ``|eval()``, first). A measurement counts as *lost* when its value is at
    least ``lost_at``. It is an
    anomaly when the current run of lost measurements reaches ``consecutive``, or
    when the share of lost measurements among the last ``window`` (once that many
    are known) exceeds ``max_rate``. To avoid one alert per lost probe, only the
    point where a condition starts is flagged; the condition must clear before it
    flags again.

    The score is ``max(run / consecutive, rate / max_rate)`` (>= 1 while a condition
    holds); ``details``: ``run``, ``loss_rate`` and ``rule`` (``"consecutive"``,
    ``"rate"`` or ``""``). Values that are not a loss fraction are neither scored nor learned.

    Examples
    --------
    >>> detector = LossDetector(consecutive=3, window=10, max_rate=0.5)
    >>> [detector.update(i, x).is_anomaly for i, x in enumerate([0, 0, 1, 1, 1, 1, 0])]
    [False, False, False, False, True, False, False]
    """

    name: ClassVar[str] = "loss"
    input_kind: ClassVar[str] = "fraction"
    parameters: ClassVar[ParamSet] = ParamSet(
        consecutive=Param.integer(3, "Lost measurements in a row that make an anomaly.", low=1, high=MAX_WINDOW),
        window=Param.integer(30, "Measurements the loss rate is computed over.", low=1, high=MAX_WINDOW),
        max_rate=Param.number(0.2, "Anomaly when the loss rate over the window exceeds this.", low=0, high=1,
                              closed="left"),
        lost_at=Param.number(1.0, "A measurement with at least this loss (fraction or flag) is lost.", low=0,
                             high=1, closed="right"),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({"window": 100}, {"window": 100, "lost_at": 0.5})

    consecutive: int
    window: int
    max_rate: float
    lost_at: float

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._recent: deque[bool] = deque(maxlen=self.window)
        self._lost = 0  # lost measurements in _recent
        self._run = 0
        self._active = ""  # the rule that holds, "" when none

    def _after(self, lost: bool) -> tuple[int, float, str]:
        run = self._run + 1 if lost else 0
        full = len(self._recent) == self.window
        dropped = bool(self._recent[0]) if full else False
        count = len(self._recent) + (0 if full else 1)
        rate = (self._lost - dropped + lost) / count
        rule = ""
        if run >= self.consecutive:
            rule = "consecutive"
        elif count == self.window and rate > self.max_rate:
            rule = "rate"
        return run, rate, rule

    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        if not 0.0 <= value <= 1.0:  # NaN included
            return Verdict(math.nan, False, {"run": self._run, "loss_rate": math.nan, "rule": ""})
        run, rate, rule = self._after(value >= self.lost_at)
        score = max(run / self.consecutive, rate / self.max_rate if self.max_rate > 0 else float(rate > 0))
        return Verdict(score, bool(rule) and not self._active, {"run": run, "loss_rate": rate, "rule": rule})

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not 0.0 <= value <= 1.0:
            return
        lost = value >= self.lost_at
        self._run, _, self._active = self._after(lost)
        if len(self._recent) == self.window:
            self._lost -= self._recent[0]
        self._recent.append(lost)
        self._lost += lost

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "recent": [int(v) for v in self._recent], "run": self._run,
                "active": self._active}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LossDetector:
        detector = cls(**state["params"])
        recent = [bool(int(v)) for v in state["recent"]]
        run, active = int(state["run"]), str(state["active"])
        if len(recent) > detector.window or run < 0 or active not in ("", "consecutive", "rate"):
            raise ValueError("malformed loss state")
        detector._recent.extend(recent)
        detector._lost = sum(recent)
        detector._run, detector._active = run, active
        return detector

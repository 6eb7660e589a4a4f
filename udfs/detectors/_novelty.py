"""The shared body of the scikit-learn novelty detectors: lagged windows, rolling refits, conformal verdicts.

Each point becomes a feature vector of its value and the ``lags`` values before it,
standardised with the training set's mean and deviation. A model is fitted on the
last ``history`` vectors once that many are known, and again every ``refit_every``
points. Fits are small (``history`` rows of ``lags + 1`` columns: milliseconds) and
run in line, so no point is ever left unscored while a model trains; keepalives are
answered by the agent's own thread meanwhile.

The verdict is conformal: the score of a new vector is compared with the scores of
the training vectors (each scored as the model sees its own training data, e.g.
LOF's leave-one-out factors), ``p = (1 + #{training scores >= score}) / (n + 1)``, and
the point is an anomaly when ``p <= alpha``. Under exchangeability that is a false
alarm rate of at most ``alpha`` whatever the model, so one default fits every
detector here; the default (``alpha`` 0) is ``1 / (n + 1)`` for ``n`` calibration
scores: only vectors scored above every calibration vector are flagged. In-sample
scores are slightly optimistic, so measured rates run up to about twice that on
white noise (see the README).

A snapshot keeps values, never the model: the recent values and the training window
of the current model; restoring refits on that window, which gives the same model
(fixed seeds), so a restored task continues exactly.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet

__all__ = ["NoveltyDetector"]

_NOT_YET = {"p_value": math.nan, "raw_score": math.nan}

#: The "model" of a constant training window: any model would be degenerate (zero variance).
_CONSTANT = "constant"


class NoveltyDetector(Detector):
    """Base of the windowed scikit-learn detectors; subclasses fit a model and score vectors."""

    common_parameters: ClassVar[ParamSet] = ParamSet(
        lags=Param.integer(3, "Earlier values in each feature vector (the value itself is always in).", low=0,
                           high=100),
        history=Param.integer(500, "Feature vectors each fit uses, and the first fit waits for.", low=20,
                              high=20_000),
        refit_every=Param.integer(500, "Points between refits on the latest history; 0 = fit once.", low=0,
                                  high=10_000_000),
        alpha=Param.number(0.0, "Conformal false-alarm rate: anomaly when p <= alpha; 0 = 1 / (history + 1).",
                           low=0, high=0.5),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"history": 50, "refit_every": 50}, {"history": 40, "refit_every": 0, "lags": 0},
    )

    lags: int
    history: int
    refit_every: int
    alpha: float

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._values: deque[float] = deque(maxlen=self.history + self.lags)
        self._model: Any = None
        self._centre = self._scale = np.zeros(0)
        self._train_scores = np.zeros(0)
        self._train_values: tuple[float, ...] = ()
        self._since_fit = 0

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["alpha"] and values["alpha"] < 1.0 / (values["history"] + 1):
            raise InvalidParameterError(
                f"alpha must be 0 or >= 1 / (history + 1) ({1 / (values['history'] + 1):.6g}), got {values['alpha']}"
            )

    # -- what each model provides ----------------------------------------------------------
    @abstractmethod
    def fit_model(self, X: np.ndarray) -> tuple[Any, np.ndarray]:
        """Fit on the standardised training rows; return the model and the training rows' scores."""

    @abstractmethod
    def score_rows(self, model: Any, X: np.ndarray) -> np.ndarray:
        """Scores of standardised rows (higher = more anomalous)."""

    # -- features and fitting ------------------------------------------------------------------
    def _vector(self, x: float) -> np.ndarray | None:
        if len(self._values) < self.lags:
            return None
        past = list(self._values)[len(self._values) - self.lags:] if self.lags else []
        return np.array([x, *reversed(past)], dtype=float)

    def _training_rows(self) -> np.ndarray:
        values = np.fromiter(self._values, float, len(self._values))
        n = len(values) - self.lags
        return np.stack([values[self.lags - k: self.lags - k + n] for k in range(self.lags + 1)], axis=1)

    def _fit(self) -> None:
        rows = self._training_rows()
        self._centre = rows.mean(axis=0)
        scale = rows.std(axis=0)
        self._scale = np.where(scale > 0, scale, 1.0)
        if not np.ptp(rows):  # constant: the score is the distance from that constant
            self._model, scores = _CONSTANT, np.zeros(len(rows))
        else:
            self._model, scores = self.fit_model((rows - self._centre) / self._scale)
        self._train_values = tuple(self._values)
        self._train_scores = np.sort(np.asarray(scores, dtype=float))
        self._since_fit = 0

    # -- the streaming contract -----------------------------------------------------------------
    def score_one(self, t: int, x: Any) -> Verdict:
        value = float(x)
        vector = self._vector(value) if math.isfinite(value) else None
        if vector is None or self._model is None:
            return Verdict(math.nan, False, dict(_NOT_YET))
        row = ((vector - self._centre) / self._scale)[None, :]
        if self._model is _CONSTANT:
            raw = float(np.abs(row).sum())
        else:
            raw = float(self.score_rows(self._model, row)[0])
        n = len(self._train_scores)
        at_least = n - int(np.searchsorted(self._train_scores, raw, side="left"))
        p = (1 + at_least) / (n + 1)
        alpha = self.alpha or 1.0 / (n + 1)  # 0: only scores above every calibration score
        return Verdict(1.0 - p, p <= alpha, {"p_value": p, "raw_score": raw})

    def learn_one(self, t: int, x: Any) -> None:
        value = float(x)
        if not math.isfinite(value):
            return
        self._values.append(value)
        self._since_fit += 1
        full = len(self._values) == self.history + self.lags
        if full and (self._model is None or (self.refit_every and self._since_fit >= self.refit_every)):
            self._fit()

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "values": list(self._values), "since_fit": self._since_fit,
                "train_values": None if self._model is None else list(self._train_values)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NoveltyDetector:
        detector = cls(**state["params"])
        size = detector.history + detector.lags
        values = [float(v) for v in state["values"]]
        train = state["train_values"]
        train_values = None if train is None else [float(v) for v in train]
        since_fit = int(state["since_fit"])
        checked = values + (train_values or [])
        if len(values) > size or not all(math.isfinite(v) for v in checked) or since_fit < 0:
            raise ValueError("novelty state does not fit its parameters")
        if train_values is not None:
            if len(train_values) != size:
                raise ValueError("novelty state's training window has the wrong length")
            detector._values.extend(train_values)
            detector._fit()  # the same values and seed give the same model
            detector._values.clear()
        detector._values.extend(values)
        detector._since_fit = since_fit
        return detector

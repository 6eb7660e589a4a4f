"""Local outlier factor (scikit-learn, novelty mode) on windows of lagged values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors._novelty import NoveltyDetector
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet

__all__ = ["LocalOutlierFactor"]


class LocalOutlierFactor(NoveltyDetector):
    """How much sparser a window's neighbourhood is than its neighbours' (Breunig et al. 2000).

    See :mod:`udfs.detectors._novelty` for the windows, refits and the conformal
    verdict. The raw score is the local outlier factor (about 1 inside a cluster,
    larger outside); training windows are scored by their own leave-one-out factors.
    ``details``: ``p_value`` and ``raw_score``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> detector = LocalOutlierFactor(history=200, lags=2)
    >>> wave = np.sin(np.arange(400) / 5) + rng.normal(0, 0.05, 400)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(wave)]
    >>> sum(flags) <= 3, detector.score_one(400, 4.0).is_anomaly
    (True, True)
    """

    name: ClassVar[str] = "lof"
    parameters: ClassVar[ParamSet] = NoveltyDetector.common_parameters | ParamSet(
        n_neighbors=Param.integer(20, "Neighbours each window is compared with.", low=1, high=1_000),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"history": 20, "n_neighbors": 30},)

    n_neighbors: int

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        super().check_rules(values)
        if values["n_neighbors"] >= values["history"]:
            raise InvalidParameterError(
                f"n_neighbors must be < history ({values['history']}), got {values['n_neighbors']}"
            )

    def fit_model(self, X: np.ndarray) -> tuple[Any, np.ndarray]:
        from sklearn.neighbors import LocalOutlierFactor as SkLOF  # on first fit: Info must not wait

        model = SkLOF(n_neighbors=self.n_neighbors, novelty=True).fit(X)
        return model, -model.negative_outlier_factor_

    def score_rows(self, model: Any, X: np.ndarray) -> np.ndarray:
        return np.asarray(-model.score_samples(X))

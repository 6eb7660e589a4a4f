"""PCA reconstruction error (scikit-learn) of windows of lagged values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors._novelty import NoveltyDetector
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet

__all__ = ["PCAReconstruction"]


class PCAReconstruction(NoveltyDetector):
    """How badly the main components of the training windows reconstruct a new window.

    The windows are projected on their first ``components`` principal components and
    back; the raw score is the squared reconstruction error. A window that breaks the
    usual shape of the series (its correlation between consecutive values) scores
    high even when each value alone looks normal. See :mod:`udfs.detectors._novelty`
    for the windows, refits and the conformal verdict. ``details``: ``p_value`` and
    ``raw_score``.

    Examples
    --------
    >>> detector = PCAReconstruction(history=200, lags=4, components=2)
    >>> wave = np.sin(np.arange(400) / 5)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(wave)]
    >>> detector.score_one(400, float(wave[-1]) + 1.0).is_anomaly
    True
    """

    name: ClassVar[str] = "pca"
    parameters: ClassVar[ParamSet] = NoveltyDetector.common_parameters | ParamSet(
        components=Param.integer(1, "Principal components kept (fewer than lags + 1).", low=1, high=100),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"lags": 2, "components": 3},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"history": 50, "refit_every": 50}, {"history": 40, "refit_every": 0, "lags": 5, "components": 3},
    )

    components: int

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        super().check_rules(values)
        if values["components"] > values["lags"]:
            raise InvalidParameterError(f"components must be <= lags ({values['lags']}), got {values['components']}")

    def fit_model(self, X: np.ndarray) -> tuple[Any, np.ndarray]:
        from sklearn.decomposition import PCA  # on first fit: Info must not wait

        fitted = PCA(n_components=self.components, random_state=0).fit(X)
        # Kept as plain arrays: projecting one row with numpy costs microseconds, a call
        # into scikit-learn hundreds (input validation).
        model = (fitted.mean_.copy(), fitted.components_.copy())
        return model, self.score_rows(model, X)

    def score_rows(self, model: Any, X: np.ndarray) -> np.ndarray:
        mean, components = model
        centred = X - mean
        back = (centred @ components.T) @ components
        return np.asarray(((centred - back) ** 2).sum(axis=1))

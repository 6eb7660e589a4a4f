"""DBSCAN (scikit-learn) on windows of lagged values: distance to the nearest dense region."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from udfs.detectors._novelty import NoveltyDetector
from udfs.params.declaration import Param, ParamSet

__all__ = ["DBSCANDistance"]

#: The model when DBSCAN finds fewer than two core samples.
_NO_CLUSTERS = "no clusters"


class DBSCANDistance(NoveltyDetector):
    """How far a window lies from the core samples of DBSCAN's clusters of the training windows.

    DBSCAN (Ester et al. 1996) finds the dense regions of the standardised training
    windows (``eps``, ``min_samples``); the raw score of a window is its distance to the
    nearest core sample (0 on a core sample). Training windows are scored by their
    distance to the nearest *other* core sample, so that a core sample does not score
    0 against itself. With no cluster at all every window scores infinitely far and the
    conformal verdict flags nothing new. See :mod:`udfs.detectors._novelty`.
    ``details``: ``p_value`` and ``raw_score``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> detector = DBSCANDistance(history=200, lags=1)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(rng.normal(0, 1, 400))]
    >>> sum(flags) <= 6, detector.score_one(400, 9.0).is_anomaly
    (True, True)
    """

    name: ClassVar[str] = "dbscan"
    parameters: ClassVar[ParamSet] = NoveltyDetector.common_parameters | ParamSet(
        eps=Param.number(0.5, "Neighbourhood radius in standardised units.", low=0, closed="neither"),
        min_samples=Param.integer(5, "Windows within eps that make a core sample.", low=1, high=1_000),
    )

    eps: float
    min_samples: int

    def fit_model(self, X: np.ndarray) -> tuple[Any, np.ndarray]:
        from sklearn.cluster import DBSCAN  # on first fit: Info must not wait

        labels = DBSCAN(eps=self.eps, min_samples=self.min_samples).fit(X)
        cores = X[labels.core_sample_indices_]
        if len(cores) < 2:
            return _NO_CLUSTERS, np.full(len(X), np.inf)
        distances = np.sqrt(((X[:, None, :] - cores[None, :, :]) ** 2).sum(axis=2))
        own = np.sort(distances, axis=1)
        is_core = np.zeros(len(X), dtype=bool)
        is_core[labels.core_sample_indices_] = True
        train = np.where(is_core, own[:, 1], own[:, 0])
        return cores.copy(), train

    def score_rows(self, model: Any, X: np.ndarray) -> np.ndarray:
        if model is _NO_CLUSTERS:
            return np.full(len(X), np.inf)
        # The nearest core sample by brute force: a few hundred rows, microseconds in numpy.
        return np.asarray(np.sqrt(((X[:, None, :] - model[None, :, :]) ** 2).sum(axis=2)).min(axis=1))

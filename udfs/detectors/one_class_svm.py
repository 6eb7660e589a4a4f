"""One-class SVM (scikit-learn, RBF kernel) on windows of lagged values."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from udfs.detectors._novelty import NoveltyDetector
from udfs.params.declaration import Param, ParamSet

__all__ = ["OneClassSVM"]


class OneClassSVM(NoveltyDetector):
    """Distance outside the support of the training windows (Schölkopf et al. 2001).

    See :mod:`udfs.detectors._novelty` for the windows, refits and the conformal
    verdict. The raw score is ``-decision_function``: negative inside the learned
    support, positive outside. The SVM is fitted on the older half of the training
    windows and its conformal scores come from the newer half (split conformal), since
    its scores of its own training windows are optimistic. ``details``: ``p_value``
    and ``raw_score``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> detector = OneClassSVM(history=200, lags=2)
    >>> flags = [detector.update(i, x).is_anomaly for i, x in enumerate(rng.normal(0, 1, 400))]
    >>> sum(flags) < 20, detector.score_one(400, 9.0).is_anomaly
    (True, True)
    """

    name: ClassVar[str] = "one_class_svm"
    parameters: ClassVar[ParamSet] = NoveltyDetector.common_parameters | ParamSet(
        nu=Param.number(0.05, "Upper bound on the share of training windows outside the support.", low=0,
                        high=1, closed="right"),
        gamma=Param.number(0.0, "RBF kernel width; 0 = scikit-learn's 'scale'.", low=0),
    )

    nu: float
    gamma: float

    def fit_model(self, X: np.ndarray) -> tuple[Any, np.ndarray]:
        from sklearn.svm import OneClassSVM as SkSVM  # on first fit: Info must not wait

        # An SVM's scores of its own training rows are optimistic (its support vectors sit on
        # the boundary), so it is fitted on the older half and calibrated on the newer half.
        half = len(X) // 2
        train = X[:half]
        variance = float(train.var())
        gamma = self.gamma or (1.0 / (train.shape[1] * variance) if variance > 0 else 1.0)  # sklearn's 'scale'
        fitted = SkSVM(nu=self.nu, gamma=gamma).fit(train)
        # The decision function from the fitted support vectors in numpy: microseconds per
        # point, where a call into scikit-learn costs hundreds (input validation).
        model = (fitted.support_vectors_.copy(), fitted.dual_coef_[0].copy(), float(fitted.intercept_[0]), gamma)
        return model, self.score_rows(model, X[half:])

    def score_rows(self, model: Any, X: np.ndarray) -> np.ndarray:
        vectors, coef, intercept, gamma = model
        kernel = np.exp(-gamma * ((X[:, None, :] - vectors[None, :, :]) ** 2).sum(axis=2))
        return np.asarray(-(kernel @ coef + intercept))

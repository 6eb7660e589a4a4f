"""``@one_class_svm()``: one-class SVM (scikit-learn, RBF) on windows of lagged values; conformal verdict."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["OneClassSvmUDF"]


class OneClassSvmUDF(DetectorUDF):
    name = "one_class_svm"
    summary = "One-class SVM (scikit-learn, RBF) on windows of lagged values; conformal verdict."
    detector = "one_class_svm"

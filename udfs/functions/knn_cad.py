"""``@knn_cad()``: conformal k-nearest-neighbour anomaly score of lagged windows, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["KnnCad"]


class KnnCad(DetectorUDF):
    name = "knn_cad"
    summary = "1 - conformal p-value of a lagged window's k-nearest-neighbour distance sum (after KNN CAD)."
    detector = "knn_cad"

"""``@dbscan()``: distance of windows of lagged values to DBSCAN's dense regions; conformal verdict."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["DbscanUDF"]


class DbscanUDF(DetectorUDF):
    name = "dbscan"
    summary = "Distance of windows of lagged values to DBSCAN's dense regions; conformal verdict."
    detector = "dbscan"

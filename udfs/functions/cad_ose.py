"""``@cad_ose()``: CAD OSE's contextual anomaly score with its full context memory, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["CadOseUDF"]


class CadOseUDF(DetectorUDF):
    name = "cad_ose"
    summary = ("Smirnov's Contextual Anomaly Detector (NAB's CAD OSE): share of selected contexts that failed "
               "plus share of new ones.")
    detector = "cad_ose"

"""``@contextual()``: share of a value's quantised facts its learned context did not predict, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["Contextual"]


class Contextual(DetectorUDF):
    name = "contextual"
    summary = "Quantised values, contexts learned online: share of the current facts not predicted (after CAD OSE)."
    detector = "contextual"

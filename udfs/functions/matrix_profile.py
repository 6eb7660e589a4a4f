"""``@matrix_profile()``: discord score of the newest subsequence against a rolling history, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["MatrixProfileUDF"]


class MatrixProfileUDF(DetectorUDF):
    name = "matrix_profile"
    summary = ("Discord score: distance of the last m values to their nearest earlier match (left matrix "
               "profile) over its usual level.")
    detector = "matrix_profile"

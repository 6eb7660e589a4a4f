"""``@matrix_profile()``: discord score of the newest subsequence against a rolling history, per group."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["MatrixProfileUDF"]


class MatrixProfileUDF(DetectorUDF):
    name = "matrix_profile"
    summary = "Nearest-neighbour distance of the last m values (left matrix profile) over its usual level."
    detector = "matrix_profile"

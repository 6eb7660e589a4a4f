"""``@spectral_residual()``: spectral residual saliency over a rolling window (Ren et al., KDD 2019)."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["SpectralResidualUDF"]


class SpectralResidualUDF(DetectorUDF):
    name = "spectral_residual"
    summary = "Spectral residual saliency (Ren et al. 2019) of each point over a rolling window."
    detector = "spectral_residual"

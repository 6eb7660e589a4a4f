"""Streaming anomaly detectors: numpy/scipy/scikit-learn, nothing of protobuf.

``REGISTRY`` maps each detector's name to its class; every registered detector goes
through the common checks in ``tests/detectors/test_common.py``.
"""

from __future__ import annotations

from udfs.detectors.base import Detector, Verdict

__all__ = ["REGISTRY", "Detector", "Verdict"]

REGISTRY: dict[str, type[Detector]] = {}

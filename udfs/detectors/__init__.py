"""Streaming anomaly detectors: numpy/scipy/scikit-learn, nothing of protobuf.

``REGISTRY`` maps each detector's name to its class; every registered detector goes
through the common checks in ``tests/detectors/test_common.py``. Classes are imported
on first access, so a UDF process that runs one detector does not import the
libraries of all the others (scikit-learn, statsmodels) at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from udfs.detectors.base import Detector, Verdict
from udfs.lazy import import_target

__all__ = ["REGISTRY", "Detector", "Verdict"]

#: name -> "module:Class". One line per detector.
_TARGETS: dict[str, str] = {
    "edge": "udfs.detectors.edge:EdgeDetector",
    "iqr": "udfs.detectors.iqr:InterquartileRange",
    "isolation_forest": "udfs.detectors.isolation_forest:IsolationForestDetector",
    "mad": "udfs.detectors.mad:MedianAbsoluteDeviation",
    "matrix_profile": "udfs.detectors.matrix_profile:MatrixProfile",
    "sigma": "udfs.detectors.sigma:SigmaEnsemble",
    "zscore": "udfs.detectors.zscore:ZScore",
}


class _Registry(Mapping[str, type[Detector]]):
    """A read-only mapping that imports each detector class when first asked for."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, type[Detector]] = {}

    def __getitem__(self, name: str) -> type[Detector]:
        cls = self._loaded.get(name)
        if cls is None:
            cls = self._loaded[name] = import_target(self._targets[name])
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._targets))

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"REGISTRY({', '.join(self)})"


REGISTRY: Mapping[str, type[Detector]] = _Registry(_TARGETS)


def __getattr__(name: str) -> Any:
    # `from udfs.detectors import SigmaEnsemble` keeps working, lazily.
    for key, target in _TARGETS.items():
        if target.endswith(f":{name}"):
            return REGISTRY[key]
    raise AttributeError(f"module 'udfs.detectors' has no attribute {name!r}")

"""The UDFs: one module per Kapacitor UDF, joining options, detectors and the protocol.

``FUNCTIONS`` names every UDF and where its class lives; classes are imported only
when asked for, so ``udfs run NAME`` loads just what that UDF needs and answers
Kapacitor's start-up ``Info`` quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from udfs.lazy import import_target

if TYPE_CHECKING:
    from udfs.functions.base import UDF

__all__ = ["FUNCTIONS", "UnknownUDFError", "load"]

FUNCTIONS: dict[str, str] = {
    "mirror": "udfs.functions.mirror:Mirror",
    "mirror_batch": "udfs.functions.mirror:MirrorBatch",
    "moving_average": "udfs.functions.moving_average:MovingAverage",
    "edge": "udfs.functions.edge:Edge",
    "mad": "udfs.functions.mad:Mad",
    "matrix_profile": "udfs.functions.matrix_profile:MatrixProfileUDF",
    "sigma": "udfs.functions.sigma:Sigma",
    "zscore": "udfs.functions.zscore:ZScoreUDF",
    "iqr": "udfs.functions.iqr:Iqr",
    "iqr_batch": "udfs.functions.iqr:IqrBatch",
    "isolation_forest": "udfs.functions.isolation_forest:IsolationForestUDF",
}


class UnknownUDFError(KeyError):
    def __str__(self) -> str:
        return f"unknown UDF {self.args[0]!r}; known: {', '.join(sorted(FUNCTIONS))}"


def load(name: str) -> type[UDF]:
    """The UDF class registered as ``name``."""
    try:
        target = FUNCTIONS[name]
    except KeyError:
        raise UnknownUDFError(name) from None
    cls: type[UDF] = import_target(target)
    return cls

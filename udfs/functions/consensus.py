"""``@consensus()``: several detectors on one field, their ranked scores combined by vote, max or mean."""

from __future__ import annotations

from udfs.functions.detector_udf import DetectorUDF

__all__ = ["ConsensusUDF"]


class ConsensusUDF(DetectorUDF):
    name = "consensus"
    summary = "Ensemble: members' scores ranked to [0, 1] and combined (k-of-n vote, max, mean); 'fired' names them."
    detector = "consensus"

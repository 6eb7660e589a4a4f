"""``@mirror()``: every point back unchanged, for protocol checks and throughput tests."""

from __future__ import annotations

from udfs.functions.base import BatchUDF, StreamUDF
from udfs.functions.options import OptionSet
from udfs.protocol import udf_pb2

__all__ = ["Mirror", "MirrorBatch"]


class Mirror(StreamUDF):
    """Return each stream point as it came.

    The point is decoded, handed to this handler and encoded again like any UDF's
    output (no byte pass-through), so its cost is the agent's own per-point cost.
    """

    name = "mirror"
    summary = "Return every stream point unchanged (protocol checks, throughput)."
    options = OptionSet()

    def point(self, point: udf_pb2.Point) -> None:
        self.outbox.point(point)


class MirrorBatch(BatchUDF):
    """Return each batch as it came, point by point (nothing is collected)."""

    name = "mirror_batch"
    summary = "Return every batch unchanged (batch-edge protocol checks)."
    options = OptionSet()

    def begin_batch(self, begin: udf_pb2.BeginBatch) -> None:
        self._require_init()
        self.outbox.begin_batch(begin)

    def point(self, point: udf_pb2.Point) -> None:
        self.outbox.point(point)

    def end_batch(self, end: udf_pb2.EndBatch) -> None:
        self.outbox.end_batch(end)

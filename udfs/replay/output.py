"""Collect what a UDF sends back and turn it into records (line protocol or InfluxDB)."""

from __future__ import annotations

from collections.abc import Callable

from udfs.io.records import FieldValue, Record
from udfs.protocol import udf_pb2 as pb

__all__ = ["ResponseCollector", "point_to_record"]


def point_to_record(point: pb.Point, *, measurement: str) -> Record:
    fields: dict[str, FieldValue] = {}
    fields.update(point.fieldsDouble)
    fields.update(point.fieldsInt)
    fields.update(point.fieldsString)
    fields.update(point.fieldsBool)
    return Record(time=point.time, measurement=measurement, tags=dict(point.tags), fields=fields)


class ResponseCollector:
    """Turn point/begin/end responses into records, like Kapacitor's next node.

    Stream points keep their own name; batch points take the name of their
    ``BeginBatch``. ``measurement`` overrides both, like ``influxDBOut().measurement()``.
    Points without fields cannot be written to InfluxDB and are counted, not kept.
    Records go to ``emit`` as they arrive (default: kept in ``records``).
    """

    def __init__(
        self, *, measurement: str | None = None, emit: Callable[[Record], None] | None = None
    ) -> None:
        self.measurement = measurement
        self.records: list[Record] = []
        self._emit = emit if emit is not None else self.records.append
        self.count = 0
        self.batches = 0
        self.fieldless = 0
        self._batch_name: str | None = None

    def __call__(self, response: pb.Response) -> None:
        kind = response.WhichOneof("message")
        if kind == "point":
            point = response.point
            name = self.measurement or point.name or self._batch_name or "udf"
            record = point_to_record(point, measurement=name)
            if not record.fields:
                self.fieldless += 1
                return
            self.count += 1
            self._emit(record)
        elif kind == "begin":
            self._batch_name = response.begin.name
        elif kind == "end":
            self.batches += 1
            self._batch_name = None

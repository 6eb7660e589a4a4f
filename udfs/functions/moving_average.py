"""``@moving_average()``: the mean of the last ``size`` values of a field, per group."""

from __future__ import annotations

from collections import deque
from typing import Any

from udfs.functions.base import PerGroupUDF, numeric_field
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.protocol import udf_pb2
from udfs.validation import Interval

__all__ = ["MovingAverage"]


class _Window:
    __slots__ = ("values", "total")

    def __init__(self, size: int, values: list[float] | None = None) -> None:
        self.values: deque[float] = deque(values or (), maxlen=size)
        # Re-summed on restore and on eviction-free starts; running sum otherwise.
        self.total = float(sum(self.values))


class MovingAverage(PerGroupUDF[_Window]):
    """Per-group moving average; emits one point per input once the window is full."""

    name = "moving_average"
    summary = "Mean of the last N values of a field, per group."
    options = OptionSet(
        [
            OptionSpec("field", (ValueType.STRING,), help="Numeric field to average."),
            OptionSpec(
                "size", (ValueType.INT,), default=10, constraint=Interval(int, 1, 100_000),
                help="Number of values in the window.",
            ),
            OptionSpec("as", (ValueType.STRING,), default="average", help="Name of the output field."),
        ]
    )

    def configure(self, config: dict[str, Any]) -> None:
        self.field: str = config["field"]
        self.size: int = config["size"]
        self.out_field: str = config["as"]

    def new_group(self, group: str) -> _Window:
        return _Window(self.size)

    def group_to_json(self, state: _Window) -> Any:
        return list(state.values)

    def group_from_json(self, data: Any) -> _Window:
        return _Window(self.size, [float(v) for v in data][-self.size :])

    def point(self, point: udf_pb2.Point) -> None:
        self._require_init()
        value = numeric_field(point, self.field)
        if isinstance(value, str):
            self.skips.skip("bad value", "%s at %d: %s", point.group or "(no group)", point.time, value)
            return
        window = self.group_state(point.group)
        if len(window.values) == self.size:
            window.total -= window.values[0]
        window.values.append(value)
        window.total += value
        if len(window.values) < self.size:
            return
        out = udf_pb2.Point(
            time=point.time,
            name=point.name,
            database=point.database,
            retentionPolicy=point.retentionPolicy,
            group=point.group,
            dimensions=point.dimensions,
            tags=point.tags,
            byName=point.byName,
        )
        out.fieldsDouble[self.out_field] = window.total / self.size
        self.outbox.point(out)

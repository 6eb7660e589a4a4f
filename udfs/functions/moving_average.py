"""``@moving_average()``: the mean of the last ``size`` values of a field, per group."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from udfs.functions.base import PerGroupUDF, StreamUDF, numeric_field
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.params.constraints import Interval
from udfs.protocol import udf_pb2

__all__ = ["MovingAverage"]


class _Window:
    __slots__ = ("values", "total")

    def __init__(self, size: int, values: list[float] | None = None, total: float | None = None) -> None:
        self.values: deque[float] = deque(values or (), maxlen=size)
        # The running sum is part of the state: re-summing on restore would change the
        # last bits of every later average.
        self.total = math.fsum(self.values) if total is None else total


def _finite_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


class MovingAverage(StreamUDF, PerGroupUDF[_Window]):
    """Per-group moving average; emits one point per input once the window is full."""

    name = "moving_average"
    state_version = 2
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
        return {"values": list(state.values), "total": state.total}

    def group_from_json(self, data: Any) -> _Window:
        if not isinstance(data, dict) or not isinstance(data.get("values"), list):
            raise ValueError(f"group state must be {{'values': [...], 'total': x}}, got {type(data).__name__}")
        values = [_finite_float(v) for v in data["values"]]
        if len(values) > self.size:  # .size() was lowered since the snapshot
            return _Window(self.size, values[-self.size :])
        return _Window(self.size, values, _finite_float(data["total"]))

    def point(self, point: udf_pb2.Point) -> None:
        self._require_init()
        value = numeric_field(point, self.field)
        if isinstance(value, str):
            self.skips.skip("bad value", "%s at %d: %s", point.group or "(no group)", point.time, value)
            return
        window = self.group_state(point.group, point.time)
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

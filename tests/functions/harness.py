"""Drive a UDF in-process: Init as Kapacitor sends it, output decoded from a real ``Outbox``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from udfs.functions.base import UDF
from udfs.protocol import FrameDecoder, Outbox
from udfs.protocol import udf_pb2 as pb

__all__ = ["Duration", "Harness", "init_request"]


class Duration(int):
    """An option value sent as a DURATION (nanoseconds), not an INT."""


_TYPES = {str: (pb.STRING, "stringValue"), int: (pb.INT, "intValue"), float: (pb.DOUBLE, "doubleValue"),
          bool: (pb.BOOL, "boolValue"), Duration: (pb.DURATION, "durationValue")}


def init_request(**options: Any) -> pb.InitRequest:
    """Options as Kapacitor sends them: one Option per call, so a list value is several calls.

    A trailing ``_`` is dropped from a name, for options that are Python keywords (``as_``).
    """
    request = pb.InitRequest(taskID="task", nodeID="node")
    for name, value in options.items():
        for v in value if isinstance(value, list) else [value]:
            vtype, member = _TYPES[type(v)]
            request.options.add(name=name.rstrip("_"), values=[pb.OptionValue(type=vtype, **{member: v})])
    return request


U = TypeVar("U", bound=UDF)


class Harness(Generic[U]):
    """A UDF sent ``init_request(**options)`` (its answer is ``response``), with a real Outbox
    whose output is decoded after every call."""

    def __init__(self, udf: U, **options: Any) -> None:
        self.udf = udf
        self._sink: list[bytes] = []
        udf.outbox = Outbox(self._sink.append)
        self.response = udf.init(init_request(**options))

    def responses(self) -> list[pb.Response]:
        self.udf.outbox.flush()
        data = b"".join(self._sink)
        self._sink.clear()
        decoder = FrameDecoder(pb.Response)
        out = decoder.feed(data)
        decoder.close()
        return out

    def feed(self, points: list[pb.Point], *, after_each: Callable[[], object] | None = None) -> list[pb.Point]:
        """Send points, calling ``after_each`` after every one; return the points sent back."""
        for p in points:
            self.udf.point(p)
            if after_each is not None:
                after_each()
        responses = self.responses()
        assert all(r.HasField("point") for r in responses)
        return [r.point for r in responses]

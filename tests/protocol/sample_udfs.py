"""Small UDFs the protocol tests run in-process, over sockets and as subprocesses.

Run as a script (``python sample_udfs.py NAME``) it serves one of them over
stdin/stdout with :func:`udfs.protocol.transport.run_stdio`, like ``udfs run``.
It imports nothing from the test package, so the script works from any directory.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from udfs.functions.base import UDF
from udfs.functions.mirror import Mirror
from udfs.functions.options import OptionSet, OptionSpec, ValueType
from udfs.protocol import EdgeType, udf_pb2

__all__ = [
    "ExplodingMirror", "LingeringMirror", "PrintingMirror", "QuittingMirror", "RecordedOptionsBatchMirror",
    "RecordedOptionsMirror", "SlowMirror",
]


class RecordedOptionsMirror(UDF):
    """Declares the options of the recorded UDFs (``@recsock()`` etc.) and mirrors points.

    The options are those in the recordings' ``InfoResponse``; see
    ``kapacitor-transcripts/socket.tick`` for the TICKscript that set them.
    """

    name = "recsock"
    summary = "Mirror with the recorded UDFs' options."
    options = OptionSet(
        [
            OptionSpec("field", (ValueType.STRING,), default="value"),
            OptionSpec("size", (ValueType.INT,), default=1),
            OptionSpec("threshold", (ValueType.DOUBLE,), default=0.0),
            OptionSpec("enabled", (ValueType.BOOL,), default=False),
            OptionSpec("window", (ValueType.DURATION,), default=0),
            OptionSpec("pair", (ValueType.STRING, ValueType.DOUBLE), default=None),
            OptionSpec("flag", ()),
        ]
    )

    def configure(self, config: dict[str, Any]) -> None:
        self.seen_config = config

    def point(self, point: udf_pb2.Point) -> None:
        self.outbox.point(point)


class RecordedOptionsBatchMirror(RecordedOptionsMirror):
    """The batch twin (``@recbatch()``): same options, wants and provides batches."""

    name = "recbatch"
    wants = EdgeType.BATCH
    provides = EdgeType.BATCH

    def begin_batch(self, begin: udf_pb2.BeginBatch) -> None:
        self.outbox.begin_batch(begin)

    def end_batch(self, end: udf_pb2.EndBatch) -> None:
        self.outbox.end_batch(end)


class ExplodingMirror(Mirror):
    """A mirror whose handler raises on a point tagged ``boom`` (a UDF bug)."""

    name = "exploding_mirror"

    def point(self, point: udf_pb2.Point) -> None:
        if "boom" in point.tags:
            raise RuntimeError(f"exploded on {point.tags['boom']}")
        super().point(point)


class PrintingMirror(Mirror):
    """A mirror that writes to stdout in every way a careless handler or library might."""

    name = "printing_mirror"

    def info(self) -> udf_pb2.InfoResponse:
        print("print() from info")
        return super().info()

    def point(self, point: udf_pb2.Point) -> None:
        print(f"print() from point {point.time}")
        sys.stdout.write("sys.stdout.write from point\n")
        sys.stdout.flush()
        if sys.__stdout__ is not None:
            sys.__stdout__.write("sys.__stdout__.write from point\n")
            sys.__stdout__.flush()
        os.write(1, b"os.write(1) from point\n")  # what a C extension does
        super().point(point)


class SlowMirror(Mirror):
    """A mirror taking 20 ms per point, 60 s for a point tagged ``stuck`` (a long model fit)
    and ``S`` seconds for one tagged ``sleep=S``."""

    name = "slow_mirror"

    def point(self, point: udf_pb2.Point) -> None:
        time.sleep(60.0 if "stuck" in point.tags else float(point.tags.get("sleep", 0.02)))
        super().point(point)


class SlowSink(SlowMirror):
    """As slow as :class:`SlowMirror` but emits nothing (a detector with emit=anomalies)."""

    name = "slow_sink"

    def point(self, point: udf_pb2.Point) -> None:
        time.sleep(float(point.tags.get("sleep", 0.02)))


class QuittingMirror(Mirror):
    """A mirror that ends its process, status 0, at a point tagged ``quit`` (a UDF bug)."""

    name = "quitting_mirror"

    def point(self, point: udf_pb2.Point) -> None:
        if "quit" in point.tags:
            self.outbox.flush()
            time.sleep(0.5)  # the rest of the input is in the pipe by then
            os._exit(0)
        super().point(point)


class LingeringMirror(Mirror):
    """Answers Snapshot at once but emits from a thread of its own, and lingers 60 s at EOF.

    A UDF that answers out of order: its snapshot answer says nothing about its output.
    """

    name = "lingering_mirror"

    def snapshot(self) -> udf_pb2.SnapshotResponse:
        def emit() -> None:
            for i in range(600):
                self.outbox.point(udf_pb2.Point(time=i, fieldsDouble={"late": float(i)}))
                self.outbox.flush()
                time.sleep(0.1)

        threading.Thread(target=emit, daemon=True).start()
        return super().snapshot()

    def close(self) -> None:
        time.sleep(60.0)


if __name__ == "__main__":
    from udfs.protocol.transport import run_stdio

    udfs = {
        cls.name: cls
        for cls in (
            SlowSink,
            RecordedOptionsMirror, RecordedOptionsBatchMirror, ExplodingMirror, PrintingMirror, SlowMirror,
            QuittingMirror, LingeringMirror,
        )
    }
    sys.exit(run_stdio(udfs[sys.argv[1]](), label=sys.argv[1], exit_when_stuck=True))

"""Run detector UDFs over records in-process, through the same handler code Kapacitor drives.

Each UDF class is driven over its sans-IO surface exactly as the agent does it:
``info()``, ``init()`` with the typed options built from its own ``InfoResponse``
(so an option Kapacitor would refuse is refused here, in Kapacitor's words), then
the stream (or batch) requests that :mod:`udfs.replay.events` builds the way
``|from()`` / ``|query()`` deliver them, and the responses are read back from the
framed bytes the handler writes. No subprocess: fast enough for a web job, and
still the same code path (options, per-group state, skips, output schema).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from udfs.analysis.specs import DetectorSpec
from udfs.io.records import Record
from udfs.protocol import EdgeType, FrameDecoder
from udfs.protocol import udf_pb2 as pb
from udfs.protocol.agent import Outbox
from udfs.replay.events import StreamSettings, batch_requests, stream_requests
from udfs.replay.options import DefineError, build_options, split_option
from udfs.replay.output import ResponseCollector

__all__ = ["AnalysisError", "UdfRun", "run_udf"]


class AnalysisError(ValueError):
    """A detector could not be run (unknown UDF, refused option, wrong edge)."""


@dataclass
class UdfRun:
    """What one UDF returned: its output records, in order, and the options it ran with."""

    spec: DetectorSpec
    options: tuple[str, ...]
    records: list[Record] = field(default_factory=list)


def effective_options(spec: DetectorSpec, declared: Iterable[str], *, field_name: str | None) -> tuple[str, ...]:
    """The spec's options plus ``emit=all`` (to see every score) and the analysed ``field``."""
    given = {split_option(text).name for text in spec.options}
    names = set(declared)
    extra = []
    if "emit" in names and "emit" not in given:
        extra.append("emit=all")
    if field_name and "field" in names and "field" not in given:
        extra.append(f"field={field_name}")
    return (*spec.options, *extra)


def run_udf(spec: DetectorSpec, records: Sequence[Record], *, field_name: str | None = None,
            group_by: Sequence[str] = (), batch_period_ns: int | None = None,
            task_id: str = "analyze") -> UdfRun:
    """Run one detector UDF over ``records`` (time-ordered) and collect what it emits.

    Raises
    ------
    AnalysisError
        The UDF is unknown, refuses its options (``Init`` error) or wants another edge.
    """
    from udfs.functions import FUNCTIONS, load

    if spec.udf not in FUNCTIONS:
        raise AnalysisError(f"unknown detector {spec.udf!r}; known: {', '.join(sorted(FUNCTIONS))}")
    handler = load(spec.udf)()
    collector = ResponseCollector()
    decoder = FrameDecoder(pb.Response)

    def write(data: bytes) -> None:
        for response in decoder.feed(data):
            if response.WhichOneof("message") == "error":
                raise AnalysisError(f"{spec.label}: {response.error.error}")
            collector(response)

    handler.outbox = Outbox(write)
    info = handler.info()
    options = effective_options(spec, info.options, field_name=field_name)
    try:
        typed = build_options([split_option(text) for text in options], info.options)
    except DefineError as exc:
        raise AnalysisError(f"{spec.label}: {exc}") from None
    answer = handler.init(pb.InitRequest(options=typed, taskID=task_id, nodeID=f"{spec.udf}2"))
    if not answer.success:
        raise AnalysisError(answer.error)
    if info.wants == EdgeType.BATCH.value:
        if batch_period_ns is None:
            raise AnalysisError(f"{spec.udf} wants batches: give a batch period (e.g. --batch-period 1h)")
        requests = batch_requests(records, period_ns=batch_period_ns, group_by=group_by)
    else:
        requests = stream_requests(records, StreamSettings(group_by=tuple(group_by)))
    try:
        for request in requests:
            kind = request.WhichOneof("message")
            if kind == "point":
                handler.point(request.point)
            elif kind == "begin":
                handler.begin_batch(request.begin)
            elif kind == "end":
                handler.end_batch(request.end)
        handler.outbox.flush()
    finally:
        handler.close()
    return UdfRun(spec, options, collector.records)

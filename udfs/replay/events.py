"""Turn records into the requests Kapacitor would send: stream points or batches.

What a real Kapacitor 1.5.7 sends is recorded in
``fixtures/kapacitor-transcripts``: stream points carry name, database, retention
policy, group, dimensions, all tags and typed fields; inside a batch, points carry
only time, group, the group's tags and fields, framed by BeginBatch/EndBatch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from udfs.io.records import Record
from udfs.protocol import set_field
from udfs.protocol import udf_pb2 as pb

__all__ = ["StreamSettings", "batch_requests", "group_id", "stream_requests"]


def group_id(tags: dict[str, str], dimensions: Sequence[str]) -> str:
    """Kapacitor's group key: ``tag=value`` pairs of the group-by tags, sorted, comma-joined.

    >>> group_id({"host": "a", "cpu": "0", "dc": "x"}, ["host", "cpu"])
    'cpu=0,host=a'
    >>> group_id({"host": "a"}, [])
    ''
    """
    return ",".join(f"{d}={tags.get(d, '')}" for d in sorted(dimensions))


def _fill_fields(point: pb.Point, record: Record) -> None:
    for key, value in record.fields.items():
        set_field(point, key, value)


@dataclass(frozen=True)
class StreamSettings:
    """What ``|from()`` and the database routing put on each point."""

    database: str = "telegraf"
    retention_policy: str = "autogen"
    group_by: tuple[str, ...] = ()


def stream_requests(records: Iterable[Record], settings: StreamSettings) -> Iterator[pb.Request]:
    """One ``Request(point=...)`` per record, as ``stream|from().groupBy(...)`` sends them."""
    dims = sorted(settings.group_by)
    for record in records:
        request = pb.Request()
        point = request.point
        point.time = record.time
        point.name = record.measurement
        point.database = settings.database
        point.retentionPolicy = settings.retention_policy
        point.group = group_id(record.tags, dims)
        point.dimensions.extend(dims)
        point.tags.update(record.tags)
        _fill_fields(point, record)
        yield request


def batch_requests(
    records: Iterable[Record], *, period_ns: int, group_by: Sequence[str] = (), align: bool = False
) -> Iterator[pb.Request]:
    """Batches as ``batch|query(...).period(P).every(P).groupBy(...)`` would deliver them.

    Records (in time order) are cut into consecutive periods of ``period_ns``. Like
    Kapacitor's unaligned queries, the periods start at the first record's time;
    with ``align`` they start at multiples of the period since the epoch, like
    ``query().align()``. Each period yields one batch per group, groups in sorted
    order, points in time order. Points carry only the group-by tags, as query
    results do.
    """
    if period_ns <= 0:
        raise ValueError("batch period must be positive")
    dims = sorted(group_by)
    current: int | None = None
    anchor: int | None = 0 if align else None
    groups: dict[str, tuple[str, dict[str, str], list[Record]]] = {}
    for record in records:
        if anchor is None:
            anchor = record.time
        bucket = (record.time - anchor) // period_ns
        if current is not None and bucket != current:
            yield from _emit_batches(groups)
            groups = {}
        current = bucket
        tags = {d: record.tags.get(d, "") for d in dims}
        gid = group_id(tags, dims)
        entry = groups.get(gid)
        if entry is None:
            entry = groups[gid] = (record.measurement, tags, [])
        entry[2].append(record)
    yield from _emit_batches(groups)


def _emit_batches(groups: dict[str, tuple[str, dict[str, str], list[Record]]]) -> Iterator[pb.Request]:
    for gid in sorted(groups):
        name, tags, records = groups[gid]
        records.sort(key=lambda r: r.time)
        yield pb.Request(begin=pb.BeginBatch(name=name, group=gid, tags=tags, size=len(records)))
        for record in records:
            request = pb.Request()
            point = request.point
            point.time = record.time
            point.group = gid
            point.tags.update(tags)
            _fill_fields(point, record)
            yield request
        tmax = records[-1].time if records else 0
        yield pb.Request(end=pb.EndBatch(name=name, group=gid, tags=tags, tmax=tmax))

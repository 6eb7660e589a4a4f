"""Base classes for UDF authors: options, per-group state, snapshots, bad-point handling.

A UDF subclasses :class:`StreamUDF` and implements ``point`` (one call per stream
point), or :class:`BatchUDF` and implements ``batch`` (one call per whole batch);
either is combined with :class:`PerGroupUDF` when it keeps state per Kapacitor
group. It declares ``name``, ``summary`` and an
:class:`~udfs.functions.options.OptionSet`, and implements ``configure``.
Everything Kapacitor needs around that - Info, Init validation, Snapshot/Restore
(versioned, in the container of :mod:`udfs.functions.snapshots`), logging to
stderr - lives in :class:`UDF` once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from udfs.functions.options import OptionError, OptionSet
from udfs.params.constraints import InvalidParameterError
from udfs.protocol import EdgeType, Handler, framing, metrics, udf_pb2

__all__ = ["BatchUDF", "PerGroupUDF", "SkipLog", "StreamUDF", "UDF", "numeric_field"]

log = logging.getLogger("udfs.functions")

SNAPSHOT_FORMAT = "udfs-snapshot"

S = TypeVar("S")


class SkipLog:
    """Log skipped points to stderr without flooding Kapacitor's log.

    The first ``burst`` messages of each kind are logged as they come; after that,
    one summary line per ``interval`` seconds says how many were suppressed.
    """

    def __init__(self, logger: logging.Logger, *, burst: int = 5, interval: float = 60.0, udf: str = "") -> None:
        self._log = logger
        self._udf = udf
        self._burst = burst
        self._interval = interval
        self._counts: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self._last_summary = time.monotonic()
        self.total = 0

    def skip(self, kind: str, message: str, *args: Any) -> None:
        self.total += 1
        metrics.count("udfs_points_skipped_total", udf=self._udf, reason=kind)
        count = self._counts.get(kind, 0) + 1
        self._counts[kind] = count
        if count <= self._burst:
            self._log.warning("skipped point: " + message, *args)
            if count == self._burst:
                self._log.warning("further '%s' skips are summarised every %.0fs", kind, self._interval)
            return
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last_summary >= self._interval:
            for k, n in self._suppressed.items():
                self._log.warning("skipped %d more points: %s", n, k)
            self._suppressed.clear()
            self._last_summary = now


def numeric_field(point: udf_pb2.Point, field: str) -> float | str:
    """The float value of ``field``, or a reason string when it is missing or not numeric."""
    if field in point.fieldsDouble:
        value = point.fieldsDouble[field]
    elif field in point.fieldsInt:
        value = float(point.fieldsInt[field])
    elif field in point.fieldsString:
        return f"field {field!r} is a string ({point.fieldsString[field]!r}), not a number"
    elif field in point.fieldsBool:
        return f"field {field!r} is a bool, not a number"
    else:
        present = sorted(
            [*point.fieldsDouble, *point.fieldsInt, *point.fieldsString, *point.fieldsBool]
        )
        return f"field {field!r} is missing (fields: {', '.join(present) or 'none'})"
    if math.isnan(value) or math.isinf(value):
        return f"field {field!r} is {value}"
    return value


class UDF(Handler):
    """A Kapacitor UDF: one instance per task node (one process or socket connection).

    What every UDF shares (Info, Init, snapshots, the skip log); the data edge comes
    from :class:`StreamUDF` or :class:`BatchUDF`.
    """

    #: The name TICKscripts call (``@name()``); snake_case.
    name: ClassVar[str]
    #: One line for ``udfs list`` and the docs.
    summary: ClassVar[str]
    wants: ClassVar[EdgeType] = EdgeType.STREAM
    provides: ClassVar[EdgeType] = EdgeType.STREAM
    options: ClassVar[OptionSet] = OptionSet()
    #: Bump when the snapshot layout changes; older snapshots are then discarded.
    state_version: ClassVar[int] = 1

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.task_id = ""
        self.node_id = ""
        self.initialized = False
        self.log = logging.getLogger(f"udfs.{self.name}")
        self.skips = SkipLog(self.log, udf=self.name)

    # -- what subclasses implement -------------------------------------------
    def configure(self, config: dict[str, Any]) -> None:
        """Take the validated options. Raise InvalidParameterError/OptionError to refuse."""

    def get_state(self) -> Any:
        """JSON-serialisable state for a snapshot."""
        return None

    def set_state(self, state: Any) -> None:
        """Restore what :meth:`get_state` returned (raise on anything unexpected)."""

    def reset_state(self) -> None:
        """Forget all state (called when a snapshot cannot be used)."""

    def settle(self, timeout: float | None = None) -> None:
        """Wait for work this UDF runs in the background (model fits); tests call it for determinism."""

    # -- Handler implementation ----------------------------------------------
    def info(self) -> udf_pb2.InfoResponse:
        return udf_pb2.InfoResponse(
            wants=self.wants.value, provides=self.provides.value, options=self.options.info()
        )

    def init(self, request: udf_pb2.InitRequest) -> udf_pb2.InitResponse:
        self.task_id = request.taskID
        self.node_id = request.nodeID
        try:
            config = self.options.parse(request.options)
            self.configure(config)
        except (OptionError, InvalidParameterError, OSError) as exc:
            # OSError: a file configure() opens (a model) that the system refuses: a refusal of
            # this task, not an ErrorResponse that reads as the UDF crashing.
            self.log.error("task %s node %s: init refused: %s", self.task_id, self.node_id, exc)
            return udf_pb2.InitResponse(success=False, error=f"{self.name}: {exc}")
        self.config = config
        self.initialized = True
        self.log.info("task %s node %s: initialised", self.task_id, self.node_id)
        return udf_pb2.InitResponse(success=True)

    def snapshot(self) -> udf_pb2.SnapshotResponse:
        from udfs.functions.snapshots import encode_snapshot

        try:
            document = {
                "format": SNAPSHOT_FORMAT,
                "udf": self.name,
                "version": self.state_version,
                "state": self.get_state(),
            }
            data = encode_snapshot(document)
        except Exception:
            # Kapacitor stops a task whose UDF cannot answer a snapshot; losing the state
            # on the next restart is the lesser harm. An empty snapshot restores as fresh.
            self.log.exception("task %s: state cannot be saved, sending an empty snapshot", self.task_id)
            data = b""
        limit = framing.MAX_SNAPSHOT_BYTES
        if len(data) > limit:
            # Kapacitor would keep it and send it back at the next start, where the agent's
            # frame limit refuses it: the task would fail at every restart. Fresh is better.
            self.log.error(
                "task %s: snapshot of %d bytes (%s) exceeds the %d bytes a restore can read (the frame limit); "
                "sending an empty snapshot, so this task restarts without its state. Lower .max_groups() or "
                "the window options", self.task_id, len(data), self.state_summary(), limit,
            )
            metrics.count("udfs_snapshots_refused_total", udf=self.name)
            data = b""
        return udf_pb2.SnapshotResponse(snapshot=data)

    def state_summary(self) -> str:
        """What the state holds, for log lines (a per-group UDF says how many groups)."""
        return "state"

    def restore(self, request: udf_pb2.RestoreRequest) -> udf_pb2.RestoreResponse:
        from udfs.functions.snapshots import decode_snapshot

        # A failed restore stops the Kapacitor task for good, so every problem here is
        # logged and answered with success: the UDF starts fresh instead.
        try:
            if not request.snapshot:
                raise ValueError("the snapshot is empty")
            document = decode_snapshot(request.snapshot)
            if not isinstance(document, dict) or document.get("format") != SNAPSHOT_FORMAT:
                raise ValueError("not a udfs snapshot")
            if document.get("udf") != self.name:
                raise ValueError(f"snapshot belongs to UDF {document.get('udf')!r}")
            if document.get("version") != self.state_version:
                raise ValueError(
                    f"snapshot version {document.get('version')!r}, this UDF reads version {self.state_version}"
                )
            self.set_state(document.get("state"))
        except Exception as exc:
            self.reset_state()
            self.log.warning("task %s: snapshot not restored, starting fresh: %s", self.task_id, exc)
            return udf_pb2.RestoreResponse(success=True)
        self.log.info("task %s: state restored from snapshot", self.task_id)
        return udf_pb2.RestoreResponse(success=True)

    def _require_init(self) -> None:
        if not self.initialized:
            raise RuntimeError(f"{self.name}: data before a successful Init")

    def close(self) -> None:
        if self.skips.total:
            self.log.info("task %s: %d points skipped in total", self.task_id, self.skips.total)


class StreamUDF(UDF):
    """A UDF on a stream edge: :meth:`point` is called for each point, in order."""

    wants: ClassVar[EdgeType] = EdgeType.STREAM
    provides: ClassVar[EdgeType] = EdgeType.STREAM

    def point(self, point: udf_pb2.Point) -> None:
        """Process one stream point (answer through ``self.outbox``)."""
        raise NotImplementedError

    def begin_batch(self, begin: udf_pb2.BeginBatch) -> None:
        raise RuntimeError(f"{self.name}: a batch sent to a stream UDF")

    def end_batch(self, end: udf_pb2.EndBatch) -> None:
        raise RuntimeError(f"{self.name}: a batch sent to a stream UDF")


class BatchUDF(UDF):
    """A UDF on a batch edge: the points of each batch are collected, then :meth:`batch` runs once."""

    wants: ClassVar[EdgeType] = EdgeType.BATCH
    provides: ClassVar[EdgeType] = EdgeType.BATCH

    def __init__(self) -> None:
        super().__init__()
        self._batch_begin: udf_pb2.BeginBatch | None = None
        self._batch_points: list[udf_pb2.Point] = []

    def batch(
        self, begin: udf_pb2.BeginBatch, points: Sequence[udf_pb2.Point], end: udf_pb2.EndBatch
    ) -> list[udf_pb2.Point] | None:
        """Process one whole batch; return the points of the output batch (None: no output batch)."""
        raise NotImplementedError

    def begin_batch(self, begin: udf_pb2.BeginBatch) -> None:
        self._require_init()
        self._batch_begin = begin
        self._batch_points = []

    def point(self, point: udf_pb2.Point) -> None:
        if self._batch_begin is None:
            raise RuntimeError(f"{self.name}: point outside a batch (this UDF wants batches)")
        self._batch_points.append(point)

    def end_batch(self, end: udf_pb2.EndBatch) -> None:
        begin = self._batch_begin
        if begin is None:
            raise RuntimeError(f"{self.name}: EndBatch without BeginBatch")
        points = self._batch_points
        self._batch_begin = None
        self._batch_points = []
        out = self.batch(begin, points, end)
        if out is None:
            return
        header = udf_pb2.BeginBatch()
        header.CopyFrom(begin)
        header.size = len(out)
        self.outbox.begin_batch(header)
        for p in out:
            self.outbox.point(p)
        self.outbox.end_batch(end)


class PerGroupUDF(UDF, Generic[S]):
    """A UDF that keeps independent state per Kapacitor group (``point.group``)."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, S] = {}

    def new_group(self, group: str) -> S:
        raise NotImplementedError

    def group_to_json(self, state: S) -> Any:
        raise NotImplementedError

    def group_from_json(self, data: Any) -> S:
        raise NotImplementedError

    def gauges(self) -> dict[str, float]:
        return {"groups": len(self.groups)}

    def state_summary(self) -> str:
        return f"{len(self.groups)} groups"

    def group_state(self, group: str) -> S:
        state = self.groups.get(group)
        if state is None:
            state = self.groups[group] = self.new_group(group)
        return state

    def get_state(self) -> Any:
        return {"groups": {g: self.group_to_json(s) for g, s in self.groups.items()}}

    def set_state(self, state: Any) -> None:
        groups = state["groups"]
        if not isinstance(groups, dict):
            raise ValueError("groups is not a mapping")
        # Build everything first so a bad entry leaves no half-restored state behind.
        restored = {str(g): self.group_from_json(s) for g, s in groups.items()}
        self.groups = restored

    def reset_state(self) -> None:
        self.groups = {}

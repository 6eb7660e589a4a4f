"""Base classes for UDF authors: options, per-group state, snapshots, bad-point handling.

A UDF subclasses :class:`StreamUDF` and implements ``point`` (one call per stream
point), or :class:`BatchUDF` and implements ``batch`` (one call per whole batch);
either is combined with :class:`PerGroupUDF` when it keeps state per Kapacitor
group, which also bounds the groups kept (``.max_groups()``, ``.idle_timeout()``,
:data:`GROUP_PARAMETERS`). It declares ``name``, ``summary`` and an
:class:`~udfs.functions.options.OptionSet`, and implements ``configure``.
Everything Kapacitor needs around that - Info, Init validation, Snapshot/Restore
(versioned, in the container of :mod:`udfs.functions.snapshots`), logging to
stderr - lives in :class:`UDF` once.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from udfs.functions.options import OptionError, OptionSet, OptionSpec
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.durations import format_duration
from udfs.params.limits import MAX_DURATION_NS, MAX_GROUPS
from udfs.protocol import EdgeType, Handler, framing, metrics, udf_pb2

__all__ = [
    "GROUP_PARAMETERS", "BatchUDF", "BurstLog", "PerGroupUDF", "SkipLog", "StreamUDF", "UDF", "numeric_field",
    "with_group_options",
]

log = logging.getLogger("udfs.functions")

SNAPSHOT_FORMAT = "udfs-snapshot"

S = TypeVar("S")


class BurstLog:
    """Log repeated events to stderr without flooding Kapacitor's log, and count them.

    The first ``burst`` messages of each kind are logged as they come; after that,
    one summary line per ``interval`` seconds says how many were suppressed. Each
    event bumps counter ``metric`` (labels ``udf`` and ``reason``, the kind).
    """

    #: What happened, as the log lines say it: "skipped point: ...", "skipped 7 more points: ...",
    #: "further 'bad value' skips are summarised ...".
    verb, noun, events, metric = "logged", "events", "events", "udfs_events_total"

    def __init__(self, logger: logging.Logger, *, burst: int = 5, interval: float = 60.0, udf: str = "") -> None:
        self._log = logger
        self._udf = udf
        self._burst = burst
        self._interval = interval
        self._counts: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}
        self._last_summary = time.monotonic()
        self.total = 0

    def event(self, kind: str, message: str, *args: Any) -> None:
        self.total += 1
        metrics.count(self.metric, udf=self._udf, reason=kind)
        count = self._counts.get(kind, 0) + 1
        self._counts[kind] = count
        if count <= self._burst:
            self._log.warning(f"{self.verb} {self.noun[:-1]}: " + message, *args)
            if count == self._burst:
                self._log.warning("further '%s' %s are summarised every %.0fs", kind, self.events, self._interval)
            return
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last_summary >= self._interval:
            for k, n in self._suppressed.items():
                self._log.warning("%s %d more %s: %s", self.verb, n, self.noun, k)
            self._suppressed.clear()
            self._last_summary = now


class SkipLog(BurstLog):
    """Skipped points (``skip(kind, message, *args)``), counted as ``udfs_points_skipped_total``."""

    verb, noun, events, metric = "skipped", "points", "skips", "udfs_points_skipped_total"

    def skip(self, kind: str, message: str, *args: Any) -> None:
        self.event(kind, message, *args)


class _EvictionLog(BurstLog):
    verb, noun, events, metric = "evicted", "groups", "evictions", "udfs_groups_evicted_total"


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
                "sending an empty snapshot, so this task restarts without its state. Lower .max_groups(), "
                "the window options or .historic_window() (scores the calibration keeps per group)",
                self.task_id, len(data), self.state_summary(), limit,
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


#: How many groups a per-group UDF keeps, declared once for every one of them. Defaults:
#: 10,000 groups (a window of 1,000 values in each is about 170 MB), idle groups kept
#: (0s) since a group that reports once a day is not idle after an hour.
GROUP_PARAMETERS = ParamSet(
    max_groups=Param.integer(
        10_000, "Groups kept in memory; a new group beyond this evicts the least recently seen one "
        "(logged, counted in udfs_groups_evicted_total). Set it above the number of series.",
        low=1, high=MAX_GROUPS,
    ),
    idle_timeout=Param.duration(
        0, "Evict a group once the newest point of any group is this much later than its last point "
        "(point time, not wall clock); 0s: never.", low=0, high=MAX_DURATION_NS,
    ),
)


def with_group_options(specs: Iterable[OptionSpec]) -> list[OptionSpec]:
    """``specs`` followed by the options of :data:`GROUP_PARAMETERS` they do not have yet."""
    out = list(specs)
    taken = {spec.name for spec in out}
    return out + [OptionSpec.from_param(p) for p in GROUP_PARAMETERS.values() if p.name not in taken]


class PerGroupUDF(UDF, Generic[S]):
    """A UDF that keeps independent state per Kapacitor group (``point.group``), a bounded number of them.

    The point path calls :meth:`group_state` with the point's time: that marks the
    group as seen, and evicts the least recently seen group beyond ``.max_groups()``
    and groups idle for ``.idle_timeout()``. A subclass that keeps more per group
    than ``groups`` extends :meth:`forget_group`. Options listed by hand get the two
    group options added (:func:`with_group_options`).
    """

    #: False for a UDF that keeps nothing across calls (a batch scored on its own): no group options.
    keeps_groups: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        listed = cls.__dict__.get("options")
        if isinstance(listed, OptionSet) and cls.keeps_groups:
            cls.options = OptionSet(with_group_options(listed))

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, S] = {}
        # Group -> time of its latest point (None: restored from a snapshot without times);
        # least recently seen first.
        self._seen: OrderedDict[str, int | None] = OrderedDict()
        self._clock: int | None = None  # the latest point time of any group
        self.max_groups = int(GROUP_PARAMETERS["max_groups"].default)
        self.idle_timeout = 0
        self.evictions = _EvictionLog(self.log, udf=self.name)

    def init(self, request: udf_pb2.InitRequest) -> udf_pb2.InitResponse:
        response = super().init(request)
        if response.success:
            self.max_groups = self.config.get("max_groups", self.max_groups)
            self.idle_timeout = self.config.get("idle_timeout", self.idle_timeout)
        return response

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

    def group_state(self, group: str, time: int | None = None) -> S:
        """The state of ``group`` (made on first use); ``time``: the group has a point at that time."""
        state = self.groups.get(group)
        if time is not None:
            seen = self._seen
            if group in seen:
                seen.move_to_end(group)
            seen[group] = time
            if self._clock is None or time > self._clock:
                self._clock = time
        if state is None:
            self._seen.setdefault(group, time)
            state = self.groups[group] = self.new_group(group)
            if len(self.groups) > self.max_groups:
                self._evict_beyond_max(keep=group)
        if time is not None and self.idle_timeout:
            self._evict_idle(keep=group)
        return state

    def _evict_beyond_max(self, keep: str | None = None) -> None:
        for group in list(self._seen):
            if len(self.groups) <= self.max_groups:
                return
            if group != keep:
                self.evict(group, "max_groups", f"max_groups {self.max_groups} reached")

    def _evict_idle(self, keep: str) -> None:
        clock, seen = self._clock, self._seen
        assert clock is not None
        while seen:
            group, last = next(iter(seen.items()))
            if last is None:  # restored without a time: count it as seen now
                seen[group] = clock
                seen.move_to_end(group)
                continue
            if group == keep or clock - last <= self.idle_timeout:
                return
            idle, timeout = format_duration(clock - last), format_duration(self.idle_timeout)
            self.evict(group, "idle_timeout", f"no point for {idle}, idle_timeout {timeout}")

    def evict(self, group: str, reason: str, why: str) -> None:
        """Forget ``group`` for ``reason`` (the counter's label), logging ``why``."""
        self.forget_group(group)
        self.evictions.event(reason, "task %s group %s: %s; a later point starts it afresh",
                             self.task_id, group or "(no group)", why)

    def forget_group(self, group: str) -> None:
        """Drop everything kept for ``group`` (extend to drop more than ``groups``)."""
        self.groups.pop(group, None)
        self._seen.pop(group, None)

    def get_state(self) -> Any:
        # In order from least to most recently seen, so that eviction picks up where it was.
        order = [g for g in self._seen if g in self.groups] + [g for g in self.groups if g not in self._seen]
        return {
            "groups": {g: self.group_to_json(self.groups[g]) for g in order},
            "seen": {g: self._seen.get(g) for g in order},
        }

    def set_state(self, state: Any) -> None:
        groups = state["groups"]
        if not isinstance(groups, dict):
            raise ValueError("groups is not a mapping")
        seen = state.get("seen") or {}  # absent from snapshots before max_groups
        if not isinstance(seen, dict) or not all(t is None or isinstance(t, int) for t in seen.values()):
            raise ValueError("seen is not a mapping of groups to point times")
        # Build everything first so a bad entry leaves no half-restored state behind.
        restored = {str(g): self.group_from_json(s) for g, s in groups.items()}
        self.groups = restored
        self._seen = OrderedDict((g, seen.get(g)) for g in restored)
        known = [t for t in self._seen.values() if t is not None]
        self._clock = max(known) if known else None
        if len(self.groups) > self.max_groups:
            self._evict_beyond_max()

    def reset_state(self) -> None:
        self.groups = {}
        self._seen = OrderedDict()
        self._clock = None

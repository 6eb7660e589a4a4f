"""One replay, as a function: start the UDF like Kapacitor, feed records, collect output.

Used by ``udfs replay``, ``udfs demo`` and the tests, so that all of them drive
UDFs through the same real-subprocess, real-protocol path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from udfs.io.records import Record
from udfs.protocol import EdgeType
from udfs.protocol import udf_pb2 as pb
from udfs.replay.events import StreamSettings, batch_requests, stream_requests
from udfs.replay.kapacitor import KapacitorEmulator, TaskFailed, TaskResult
from udfs.replay.options import DefineError, build_options, split_option
from udfs.replay.output import ResponseCollector

__all__ = ["ReplayConfig", "ReplayError", "replay_records", "udf_command"]


class ReplayError(RuntimeError):
    """The replay could not run or the task stopped (message says why)."""


def udf_command(name: str, log_level: str = "info") -> list[str]:
    """The process-UDF command for a built-in UDF, as ``udfs conf`` writes it."""
    return [sys.executable, "-m", "udfs", "run", name, "--log-level", log_level]


@dataclass
class ReplayConfig:
    """How Kapacitor would be set up for this replay (TICKscript + kapacitor.conf)."""

    name: str
    options: Sequence[str] = ()
    group_by: Sequence[str] = ()
    batch_period_ns: int | None = None
    batch_align: bool = False
    database: str = "telegraf"
    retention_policy: str = "autogen"
    argv: Sequence[str] | None = None
    timeout: float = 10.0
    snapshot_interval: float | None = 60.0
    task_id: str = "replay"
    node_id: str | None = None
    restore: bytes | None = None
    final_snapshot: bool = False
    #: Seconds the UDF may take after the end of input to answer everything (None: no limit).
    finish_timeout: float | None = None
    record: IO[bytes] | None = None
    env: dict[str, str] | None = field(default=None)
    #: Log level of a built-in UDF's process (its stderr is passed through).
    log_level: str = "info"


def replay_records(
    config: ReplayConfig,
    records: Iterable[Record],
    on_record: Callable[[Record], None],
    *,
    out_measurement: str | None = None,
) -> tuple[TaskResult, ResponseCollector]:
    """Run one task over ``records``; every output point goes to ``on_record``."""
    emulator = KapacitorEmulator(
        list(config.argv or udf_command(config.name, config.log_level)),
        timeout=config.timeout,
        snapshot_interval=config.snapshot_interval,
        record=config.record,
        env=config.env,
    )
    try:
        info = emulator.info()
        calls = [split_option(text) for text in config.options]
        init = pb.InitRequest(
            options=build_options(calls, info.options),
            taskID=config.task_id,
            nodeID=config.node_id or f"{config.name}2",
        )
    except (TaskFailed, DefineError) as exc:
        raise ReplayError(str(exc)) from None
    wants_batch = info.wants == EdgeType.BATCH
    if wants_batch and config.batch_period_ns is None:
        raise ReplayError(f"{config.name} wants batches: give a batch period (e.g. --batch-period 1h)")
    if not wants_batch and config.batch_period_ns is not None:
        raise ReplayError(f"{config.name} wants a stream: drop the batch period")
    if config.batch_period_ns is not None:
        requests = batch_requests(
            records, period_ns=config.batch_period_ns, group_by=config.group_by, align=config.batch_align
        )
    else:
        requests = stream_requests(
            records, StreamSettings(config.database, config.retention_policy, tuple(config.group_by))
        )
    collector = ResponseCollector(measurement=out_measurement, emit=on_record)
    try:
        result = emulator.run_task(
            init, requests, collector, restore=config.restore, final_snapshot=config.final_snapshot,
            finish_timeout=config.finish_timeout,
        )
    except TaskFailed as exc:
        raise ReplayError(f"task stopped: {exc}") from None
    return result, collector

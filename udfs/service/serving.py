"""``udfs serve`` around the protocol layer: prefork workers plus the metrics endpoint."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from udfs.protocol.prefork import serve_prefork
from udfs.protocol.transport import SocketServer

if TYPE_CHECKING:
    from udfs.service.watchdog import TaskWatchdog

__all__ = ["serve_workers"]

log = logging.getLogger("udfs.serve")


def serve_workers(server: SocketServer, workers: int, *, metrics_host: str = "127.0.0.1",
                  metrics_port: int | None = None, watchdog: TaskWatchdog | None = None,
                  watchdog_interval: float = 2.0) -> int:
    """Serve ``server``'s bound sockets with ``workers`` processes; the parent exports metrics.

    ``watchdog`` runs in a thread of the parent (once, however many workers), started
    only when the workers accept: re-enabling a task before its socket answers would
    leave Kapacitor retrying the dial with a growing backoff.
    """
    stop_watchdog = threading.Event()

    def start_watchdog() -> None:
        if watchdog is not None:
            watchdog.start(stop_watchdog, interval=watchdog_interval)

    metrics = None
    directory: Path | None = None
    if metrics_port is not None:
        from udfs.service.metrics_http import MetricsServer

        directory = Path(tempfile.mkdtemp(prefix="udfs-metrics-"))
        try:
            metrics = MetricsServer(metrics_host, metrics_port, directory)
        except OSError as exc:
            server.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise SystemExit(f"udfs serve: cannot listen for metrics on {metrics_host}:{metrics_port}: {exc}") from None
        metrics.start()

    def after_fork(index: int) -> None:
        if metrics is not None and directory is not None:
            os.close(metrics.fileno())  # the parent's endpoint; the worker only writes its file
            from udfs.service.metrics_http import WorkerMetricsWriter

            WorkerMetricsWriter(directory, index).start()

    try:
        return serve_prefork(server, workers, after_fork=after_fork, on_started=start_watchdog)
    finally:
        stop_watchdog.set()
        if metrics is not None:
            metrics.stop()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

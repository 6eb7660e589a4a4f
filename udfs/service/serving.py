"""``udfs serve`` around the protocol layer: prefork workers plus the metrics endpoint."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from udfs.protocol.prefork import serve_prefork
from udfs.protocol.transport import SocketServer

__all__ = ["serve_workers"]

log = logging.getLogger("udfs.serve")


def serve_workers(server: SocketServer, workers: int, *, metrics_host: str = "127.0.0.1",
                  metrics_port: int | None = None) -> int:
    """Serve ``server``'s bound sockets with ``workers`` processes; the parent exports metrics."""
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
        return serve_prefork(server, workers, after_fork=after_fork)
    finally:
        if metrics is not None:
            metrics.stop()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

"""``udfs serve --metrics-port``: the counters of every worker on one Prometheus endpoint.

Each worker process writes its registry (:data:`udfs.protocol.metrics.METRICS`) as
JSON to ``DIR/worker-N.json`` once a second (write, then rename: a reader never sees
half a file); the parent's HTTP server reads those files on each scrape and serves
them in Prometheus' text format, each sample labelled ``worker="N"``. Figures are
therefore at most a second old. Only the standard library is used.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from udfs.protocol.metrics import METRICS, render_samples

__all__ = ["MetricsServer", "WorkerMetricsWriter", "read_worker_samples"]

log = logging.getLogger("udfs.metrics")

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class WorkerMetricsWriter:
    """A daemon thread dumping this process's metrics to ``directory/worker-<index>.json``."""

    def __init__(self, directory: Path, index: int, *, interval: float = 1.0) -> None:
        self.path = directory / f"worker-{index}.json"
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-writer", daemon=True)

    def start(self) -> None:
        self.write()
        self._thread.start()

    def write(self) -> None:
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(METRICS.samples()))
        os.replace(temporary, self.path)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.write()
            except OSError as exc:  # pragma: no cover - a full disk must not end the worker
                log.warning("cannot write metrics to %s: %s", self.path, exc)


def read_worker_samples(directory: Path) -> list[tuple[str, dict[str, str], float]]:
    """Every worker's samples, labelled with ``worker``."""
    samples: list[tuple[str, dict[str, str], float]] = []
    for path in sorted(directory.glob("worker-*.json")):
        worker = path.stem.removeprefix("worker-")
        try:
            data: list[Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for name, labels, value in data:
            samples.append((name, {**labels, "worker": worker}, float(value)))
    return samples


class MetricsServer:
    """HTTP server answering ``GET /metrics`` from the workers' files."""

    def __init__(self, host: str, port: int, directory: Path) -> None:
        self.directory = directory
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404, "try /metrics")
                    return
                body = render_samples(read_worker_samples(outer.directory)).encode()
                self.send_response(200)
                self.send_header("Content-Type", _CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("metrics: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self.address = self._server.server_address
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.address[0], self.address[1])

    def fileno(self) -> int:
        return self._server.fileno()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

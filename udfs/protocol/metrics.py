"""Process-wide counters of the UDF server, rendered in Prometheus' text format.

Anything may bump a counter without importing more than this module (threading and
json from the standard library): the agent counts points, errors, connections and
snapshots; a UDF counts what only it knows (skipped points by reason, anomalies) with
:func:`count`, and reports gauges (groups) through ``Handler.gauges()``.

Examples
--------
>>> metrics = Metrics()
>>> metrics.add("udfs_points_in_total", 3, udf="mad")
>>> print(metrics.render().splitlines()[-1])
udfs_points_in_total{udf="mad"} 3
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

__all__ = ["HELP", "METRICS", "Metrics", "count", "render_samples"]

#: Every metric the project exports, with its type and help text.
HELP: dict[str, tuple[str, str]] = {
    "udfs_points_in_total": ("counter", "Points received from Kapacitor."),
    "udfs_points_out_total": ("counter", "Points sent back to Kapacitor."),
    "udfs_points_skipped_total": ("counter", "Points logged and skipped by a UDF, by reason."),
    "udfs_anomalies_total": ("counter", "Points a detector UDF flagged as anomalous."),
    "udfs_errors_total": ("counter", "Connections ended by an error, by kind."),
    "udfs_connections_total": ("counter", "Connections (task nodes) accepted."),
    "udfs_connections_open": ("gauge", "Connections open now."),
    "udfs_groups": ("gauge", "Kapacitor groups held in memory over the open connections."),
    "udfs_snapshots_total": ("counter", "Snapshot requests answered."),
    "udfs_snapshots_refused_total": ("counter", "Snapshots too large for a restore to read, sent empty instead."),
    "udfs_groups_evicted_total": ("counter", "Groups forgotten to stay within max_groups or idle_timeout, by reason."),
    "udfs_snapshot_bytes_total": ("counter", "Bytes of snapshots sent."),
    "udfs_snapshot_seconds_total": ("counter", "Seconds spent building snapshots."),
    "udfs_accept_errors_total": ("counter", "accept() or thread-start failures the server backed off from."),
}

Key = tuple[str, tuple[tuple[str, str], ...]]


class Metrics:
    """Counters and gauges by name and labels; safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Key, float] = {}
        # Gauges some connections contribute to: (name, labels) -> {part: value}.
        self._parts: dict[Key, dict[object, float]] = {}

    def add(self, name: str, value: float = 1, **labels: str) -> None:
        """Add ``value`` to counter ``name`` with ``labels``."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + value

    def set_part(self, name: str, part: object, value: float | None, **labels: str) -> None:
        """Set one contributor's share of gauge ``name`` (None removes it)."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            parts = self._parts.setdefault(key, {})
            if value is None:
                parts.pop(part, None)
            else:
                parts[part] = value

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Every (name, labels, value), gauges summed over their parts."""
        with self._lock:
            out = [(name, dict(labels), value) for (name, labels), value in self._values.items()]
            out += [(name, dict(labels), sum(parts.values())) for (name, labels), parts in self._parts.items()]
        return sorted(out, key=lambda s: (s[0], sorted(s[1].items())))

    def render(self) -> str:
        """Prometheus text exposition of :meth:`samples`."""
        return render_samples(self.samples())

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._parts.clear()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _label_text(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items())) + "}"


def render_samples(samples: Iterable[tuple[str, Mapping[str, str], float]]) -> str:
    """Render samples as Prometheus text, one HELP/TYPE header per metric name."""
    lines: list[str] = []
    seen: set[str] = set()
    for name, labels, value in sorted(samples, key=lambda s: (s[0], sorted(s[1].items()))):
        if name not in seen:
            seen.add(name)
            kind, text = HELP.get(name, ("untyped", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
        number = int(value) if float(value).is_integer() else value
        lines.append(f"{name}{_label_text(labels)} {number}")
    return "\n".join(lines) + "\n"


#: The registry of this process.
METRICS = Metrics()


def count(name: str, value: float = 1, **labels: str) -> None:
    """Bump counter ``name`` in this process's registry (what UDF code calls)."""
    METRICS.add(name, value, **labels)

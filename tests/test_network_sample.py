"""The shipped ICMP sample (udfs/data/icmp_latency.lp): each network detector finds the events of its kind.

The ground truth comes from the generator (scripts/make_network_sample.py); a hit is a
flag within an event or up to 5 minutes after its start (a detector needs a few points
to be sure), and everything else counts as a false alarm.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from udfs.detectors import REGISTRY
from udfs.io.lineprotocol import parse_lines

GRACE_NS = 300 * 10**9


def load() -> tuple[dict[str, list[tuple[int, dict]]], list[dict]]:
    data = resources.files("udfs.data")
    series: dict[str, list[tuple[int, dict]]] = {}
    with (data / "icmp_latency.lp").open() as lines:
        for record in parse_lines(lines):
            series.setdefault(record.tags["url"], []).append((record.time, dict(record.fields)))
    truth = json.loads((data / "icmp_latency.truth.json").read_text())["events"]
    return series, truth


SERIES, TRUTH = load()


def flags(name: str, field: str, scale: float = 1.0) -> dict[str, list[int]]:
    out = {}
    for url, points in SERIES.items():
        detector = REGISTRY[name]()
        out[url] = [t for t, fields in points if field in fields
                    and detector.update(t, float(fields[field]) * scale).is_anomaly]
    return out


def matches(event: dict, times: list[int]) -> bool:
    return any(event["start"] <= t <= max(event["stop"], event["start"] + GRACE_NS) for t in times)


@pytest.mark.parametrize(("name", "field", "scale", "kinds", "max_false"), [
    ("spike", "average_response_ms", 1.0, {"spike"}, 3),
    ("changepoint", "average_response_ms", 1.0, {"level_shift", "mode_change"}, 2),
    ("mode_change", "average_response_ms", 1.0, {"level_shift", "mode_change"}, 1),
    ("distribution_shift", "average_response_ms", 1.0, {"jitter"}, 6),
    ("loss", "percent_packet_loss", 0.01, {"loss_burst"}, 0),
])
def test_detector_finds_its_events(name: str, field: str, scale: float, kinds: set[str], max_false: int) -> None:
    found = flags(name, field, scale)
    for event in TRUTH:
        if event["kind"] in kinds:
            assert matches(event, found[event["url"]]), (name, event)
    # Flags outside every injected event (with its grace period) are false alarms.
    false = [t for url, times in found.items() for t in times
             if not any(e["url"] == url and e["start"] <= t <= e["stop"] + GRACE_NS for e in TRUTH)]
    assert len(false) <= max_false, (name, false)

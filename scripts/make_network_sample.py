"""Regenerate udfs/data/icmp_latency.lp and its ground truth (deterministic, seeded).

An ICMP-ping-like series in the shape of Telegraf's ``ping`` input: two targets probed
every 10 s for 12 hours; fields ``average_response_ms`` (gamma-distributed jitter over
a base latency) and ``percent_packet_loss`` (0-100). Injected events, written to
``icmp_latency.truth.json`` with their kind, target and time range, one kind per
network detector: ``level_shift`` (changepoint), ``spike`` (spike), ``mode_change``
(a route change: the base moves and stays), ``jitter`` (distribution_shift: same
mean, far wider spread) and ``loss_burst`` (loss: every probe lost for a while).

    python scripts/make_network_sample.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

START_NS = 1_700_000_000 * 1_000_000_000
STEP_NS = 10 * 1_000_000_000
POINTS = 12 * 360
DATA = Path(__file__).resolve().parent.parent / "udfs" / "data"

# target -> list of (kind, first point, points)
EVENTS = {
    "dns.example.net": [("spike", 700, 1), ("spike", 1900, 1), ("level_shift", 2500, POINTS - 2500),
                        ("loss_burst", 3600, 8)],
    "www.example.org": [("jitter", 1200, 180), ("mode_change", 2800, POINTS - 2800), ("spike", 3300, 1),
                        ("loss_burst", 4000, 5)],
}
BASE_MS = {"dns.example.net": 12.0, "www.example.org": 31.0}


def series(target: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    latency = BASE_MS[target] + rng.gamma(2.0, 0.4, POINTS)
    loss = np.where(rng.random(POINTS) < 0.01, 20.0, 0.0)  # now and then one of five probes lost
    for kind, first, n in EVENTS[target]:
        span = slice(first, first + n)
        if kind == "spike":
            latency[span] += 60.0
        elif kind == "level_shift":
            latency[span] += 8.0
        elif kind == "mode_change":
            latency[span] += 14.0
        elif kind == "jitter":  # wider spread around the same mean
            latency[span] = BASE_MS[target] + 0.8 + rng.normal(0.0, 6.0, n).clip(-BASE_MS[target] + 1, None)
        elif kind == "loss_burst":
            loss[span] = 100.0
    return latency, loss


def main() -> None:
    rng = np.random.default_rng(2026)
    lines = []
    truth = []
    for target, events in EVENTS.items():
        latency, loss = series(target, rng)
        for i in range(POINTS):
            fields = f"percent_packet_loss={loss[i]:.1f}"
            if loss[i] < 100.0:  # Telegraf sends no response time when every probe is lost
                fields = f"average_response_ms={latency[i]:.3f},{fields}"
            lines.append(f"ping,host=probe1,url={target} {fields} {START_NS + i * STEP_NS}")
        for kind, first, n in events:
            truth.append({"url": target, "kind": kind, "start": START_NS + first * STEP_NS,
                          "stop": START_NS + (first + n - 1) * STEP_NS})
    lines.sort(key=lambda line: int(line.rsplit(" ", 1)[1]))
    (DATA / "icmp_latency.lp").write_text("\n".join(lines) + "\n")
    (DATA / "icmp_latency.truth.json").write_text(json.dumps({
        "about": "Synthetic ICMP ping series (scripts/make_network_sample.py); times in ns since the epoch.",
        "events": truth,
    }, indent=1) + "\n")
    print(f"wrote {len(lines)} points and {len(truth)} events to {DATA}")


if __name__ == "__main__":
    main()

"""Generated printer telemetry for the isolation forest tests: measurement ``printer``,
tag ``printer``, float fields ``temperature``, ``humidity`` and ``ink_level``.

Each printer's head temperature cycles gently, humidity follows it inversely, and the
ink drains steadily until a refill; sensor noise is bounded. Injected anomalies push
temperature and humidity up together, against their usual relation (``_FAULTS``).
"""

from __future__ import annotations

import math

import numpy as np

from udfs.io.records import Record

FIELDS = ("temperature", "humidity", "ink_level")
T0 = 1_700_000_000_000_000_000
STEP = 60_000_000_000  # one minute
_BASE = {"p1": 200.0, "p2": 201.0}
# Normally a hotter head dries the air: every fault moves temperature and humidity up together.
_FAULTS = (
    {"temperature": 25.0, "humidity": 20.0},  # overheating in a damp room: a failed fan
    {"temperature": 15.0, "humidity": 25.0, "ink_level": -110.0},  # a leak: wet, the gauge below empty
    {"temperature": 30.0, "humidity": 12.0},  # a jammed head, steam from the paper
)


def printer_records(
    n: int, *, seed: int = 0, start: int = T0, anomalies: int = 0, printers: tuple[str, ...] = ("p1", "p2")
) -> tuple[list[Record], set[tuple[str, int]]]:
    """``n`` points per printer in time order, and ``(printer, time)`` of the injected anomalies.

    ``anomalies`` per printer are spread evenly over the second half of the series.
    """
    rng = np.random.default_rng(seed)
    injected: dict[str, dict[int, dict[str, float]]] = {}
    for p in printers:
        at = np.linspace(n // 2, n - 10, anomalies, dtype=int) if anomalies else []
        injected[p] = {int(i): _FAULTS[k % len(_FAULTS)] for k, i in enumerate(at)}
    records, truth = [], set()
    for i in range(n):
        for k, p in enumerate(printers):
            t = start + i * STEP + k  # printers report a nanosecond apart: distinct times
            temperature = _BASE[p] + 3.0 * math.sin(2 * math.pi * i / 300) + rng.uniform(-1.0, 1.0)
            humidity = 45.0 - 0.5 * (temperature - _BASE[p]) + rng.uniform(-1.0, 1.0)
            ink = 100.0 - 0.15 * (i % 500) + rng.uniform(-0.5, 0.5)
            fields = {"temperature": temperature, "humidity": humidity, "ink_level": ink}
            if i in injected[p]:
                for name, shift in injected[p][i].items():
                    fields[name] += shift
                truth.add((p, t))
            records.append(Record(t, "printer", {"printer": p}, fields))
    return records, truth

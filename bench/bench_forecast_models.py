"""The forecast detector's models fitted in line: time of one fit, then CPU per point with the model installed.

``bench_udfs.py`` measures the UDF, where slow fits run in the background and the
Holt-Winters fallback scores until they end, so a short run may never see the model
itself score. This runs each model's first fit in line on the first ``history``
values of NAB's machine temperature (5-minute data) and then times ``update`` on the
next ``--points`` values, with that model predicting::

    python bench/bench_forecast_models.py --points 2000
"""

from __future__ import annotations

import argparse
import csv
import time
from importlib import resources

from udfs.detectors import REGISTRY

MODELS: dict[str, dict[str, object]] = {
    "holt_winters": {"history": 600},
    "arima": {"model": "arima", "history": 600},
    "arima, periods 288 (seasonal)": {"model": "arima", "periods": "288", "history": 600},
    "arima, periods 24 (seasonal AR/MA tried)": {"model": "arima", "periods": "24", "history": 600},
    "mstl, periods 288": {"model": "mstl", "periods": "288", "history": 600},
    "prophet": {"model": "prophet", "history": 600},
}


def series() -> list[tuple[int, float]]:
    path = resources.files("udfs.data").joinpath("machine_temperature.csv")
    with resources.as_file(path) as local, open(local, newline="") as handle:
        rows = list(csv.DictReader(handle))
    from datetime import datetime

    return [(int(datetime.fromisoformat(r["timestamp"]).timestamp()) * 10**9, float(r["value"])) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2000, help="points timed after the fit")
    parser.add_argument("--model", action="append", choices=list(MODELS), help="repeatable; default all")
    args = parser.parse_args()
    data = series()
    print("| model | first fit (CPU s) | CPU per point after it | points/s |")
    print("| --- | --- | --- | --- |")
    for label in args.model or list(MODELS):
        params = {**MODELS[label], "refit_every": 0}
        detector = REGISTRY["forecast"](**params)
        history = int(params["history"])  # type: ignore[call-overload]
        for t, v in data[:history - 1]:
            detector.update(t, v)
        started = time.process_time()
        detector.update(*data[history - 1])  # the fit, in line
        fit = time.process_time() - started
        rest = data[history:history + args.points]
        started, wall = time.process_time(), time.perf_counter()
        for t, v in rest:
            detector.update(t, v)
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
        speaking = detector.speaking_model + (f" {detector.order_label}" if detector.order_label else "")
        print(f"| {label} ({speaking}) | {fit:.2f} | {cpu / len(rest) * 1e6:,.0f} µs | {len(rest) / wall:,.0f} |",
              flush=True)


if __name__ == "__main__":
    main()

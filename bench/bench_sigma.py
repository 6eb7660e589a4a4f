"""Per-point cost of SigmaEnsemble against the naive reference that recomputes everything.

One series of ``--points`` values (a daily wave, noise, rare spikes) spaced so that one
day, Skyline's FULL_DURATION, holds ``--window`` points (1440: one a minute; 10000: one
every 8.64 s). The incremental detector (``udfs.detectors.sigma``) runs over the whole
series, warm-up included, and its steady state (after the first day) is reported
apart. The naive reference (``tests/detectors/naive_sigma.py``: numpy/scipy on the
whole window at every point) is timed over ``--naive-points`` points of the steady
state, its window pre-filled, and its verdicts are checked against the detector's.

ks_test runs scipy's two-sample test and then a Dickey-Fuller test (~5-10 ms) only
when the last 10 minutes look unlike the 50 before (its statistic D > 0.5); both
implementations pay that, so the rows without ks_test show the rest of the work.

    python bench/bench_sigma.py
    python bench/bench_sigma.py --windows 1440 --points 5000 --naive-points 500
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from udfs.detectors._skyline import ALGORITHMS
from udfs.detectors.sigma import SigmaEnsemble

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detectors"))
from naive_sigma import NaiveSigma  # noqa: E402

T0 = 1_700_000_000 * 10**9
DAY_S = 86400


def make_series(n: int, per_day: int, seed: int) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    times = T0 + np.round(i * (DAY_S / per_day) * 1e9).astype(np.int64)
    values = 100 + 5 * np.sin(2 * np.pi * i / per_day) + rng.normal(0, 1, n)
    spikes = rng.random(n) < 0.005
    values[spikes] += rng.choice([-10.0, 10.0], spikes.sum())
    return list(zip(times.tolist(), values.tolist(), strict=True))


def same(a, b) -> bool:
    scores = a.score == b.score or (math.isnan(a.score) and math.isnan(b.score))
    return scores and a.is_anomaly == b.is_anomaly and dict(a.details) == dict(b.details)


def bench(series: list[tuple[int, float]], per_day: int, algorithms: tuple[str, ...], naive_points: int) -> None:
    consensus = min(6, len(algorithms))
    label = "all 9" if len(algorithms) == len(ALGORITHMS) else f"{len(algorithms)} (no ks_test)"
    detector = SigmaEnsemble(algorithms=algorithms, consensus=consensus, max_points=max(10000, per_day))
    verdicts = []
    start = time.perf_counter()
    for t, x in series[:per_day]:
        verdicts.append(detector.update(t, x))
    warm = time.perf_counter()
    for t, x in series[per_day:]:
        verdicts.append(detector.update(t, x))
    end = time.perf_counter()
    steady_n = len(series) - per_day
    total_rate = len(series) / (end - start)
    steady_us = (end - warm) / steady_n * 1e6
    print(
        f"{per_day:>6} {label:<16} incremental  {total_rate:>9.0f} points/s over all {len(series)} "
        f"| steady state {1e6 / steady_us:>8.0f} points/s = {steady_us:8.1f} us/point"
    )
    if naive_points <= 0:
        return
    naive = NaiveSigma(algorithms=algorithms, consensus=consensus, max_points=max(10000, per_day))
    first = len(series) - naive_points
    naive.points = list(series[first - per_day : first])  # the window just before: prefilled
    agree = 0
    start = time.perf_counter()
    for index in range(first, len(series)):
        verdict, _ = naive.step(*series[index])
        agree += same(verdict, verdicts[index])
    naive_us = (time.perf_counter() - start) / naive_points * 1e6
    print(
        f"{per_day:>6} {label:<16} naive        {1e6 / naive_us:>9.0f} points/s over the last {naive_points}"
        f"  = {naive_us:8.1f} us/point; speed-up x{naive_us / steady_us:.1f}; verdicts agree {agree}/{naive_points}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20000, help="length of the series (default 20000)")
    parser.add_argument(
        "--windows", default="1440,10000", help="points per day (FULL_DURATION), comma separated (default 1440,10000)"
    )
    parser.add_argument(
        "--naive-points", type=int, default=1000, help="steady-state points timed for the naive reference (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    no_ks = tuple(name for name in ALGORITHMS if name != "ks_test")
    for per_day in (int(w) for w in args.windows.split(",")):
        if args.points <= per_day:
            parser.error(f"--points must exceed the window ({per_day}) to reach a steady state")
        series = make_series(args.points, per_day, args.seed)
        naive_points = min(args.naive_points, args.points - per_day)
        for algorithms in (ALGORITHMS, no_ks):
            bench(series, per_day, algorithms, naive_points)


if __name__ == "__main__":
    main()

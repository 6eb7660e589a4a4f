"""Per-point cost of SigmaEnsemble against the naive reference that recomputes everything.

One series of ``--points`` values (a daily wave, noise, rare spikes) spaced so that one
day, Skyline's FULL_DURATION, holds ``--window`` points (1440: one a minute; 10000: one
every 8.64 s). The incremental detector (``udfs.detectors.sigma``) runs over the whole
series, warm-up included, and its steady state (after the first day) is reported
apart. The naive reference (``tests/detectors/naive_sigma.py``: numpy/scipy on the
whole window at every point) is timed over ``--naive-points`` points of the steady
state, its window pre-filled, and its verdicts are checked against the detector's.

ks_test's Dickey-Fuller test runs only when the last 10 minutes look unlike the 50
before (its statistic D > 0.5), which on smooth 10 s data (Telegraf's default interval:
300 reference and 60 probe points) is most points. ``--interval 10s`` spaces the points
10 s apart with the default one-day window (8,640 points); ``--series nab:FILE`` takes
the values of a NAB series (``data/nab/data/FILE``) instead of the synthetic wave, at
that spacing. The row "previous ks_test" runs the same detector with ks_test as it was
before ``udfs.detectors._dickey_fuller``: scipy's ``ks_2samp`` and statsmodels'
``adfuller`` at every point past the D gate; it is timed in the same run, and its
verdicts must equal the detector's.

    python bench/bench_sigma.py
    python bench/bench_sigma.py --windows 1440 --points 5000 --naive-points 500
    python bench/bench_sigma.py --interval 10s --series nab:realKnownCause/machine_temperature_system_failure.csv \\
        --points 10000 --naive-points 0 --previous-points 600
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from udfs.detectors import _skyline
from udfs.detectors._skyline import ALGORITHMS
from udfs.detectors.sigma import SigmaEnsemble
from udfs.params.durations import parse_duration

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detectors"))
from naive_sigma import NaiveSigma  # noqa: E402

T0 = 1_700_000_000 * 10**9
DAY_S = 86400


NAB = Path(__file__).resolve().parents[1] / "data" / "nab" / "data"


def make_series(n: int, per_day: int, seed: int, source: str = "synthetic") -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    times = T0 + np.round(i * (DAY_S / per_day) * 1e9).astype(np.int64)
    if source.startswith("nab:"):
        values = np.loadtxt(NAB / source[4:], delimiter=",", skiprows=1, usecols=1)
        if len(values) < n:
            raise SystemExit(f"{source} has {len(values)} rows, fewer than --points {n}")
        values = values[:n]
    else:
        values = 100 + 5 * np.sin(2 * np.pi * i / per_day) + rng.normal(0, 1, n)
        spikes = rng.random(n) < 0.005
        values[spikes] += rng.choice([-10.0, 10.0], spikes.sum())
    return list(zip(times.tolist(), values.tolist(), strict=True))


def previous_ks_test(p) -> bool | None:
    """ks_test as it ran before: scipy's ks_2samp, then statsmodels' adfuller, past the D gate."""
    import warnings

    from scipy import stats

    from udfs.detectors._dickey_fuller import _statsmodels_rejects

    times, values = p.window.times(), p.window.values()
    now = int(times[-1])
    start = int(np.searchsorted(times, now - _skyline.HOUR_NS))
    split = int(np.searchsorted(times, now - _skyline._PROBE_NS))
    reference, probe = values[start:split], values[split:]
    if len(reference) < 20 or len(probe) < 20 or reference.min() == reference.max():
        return False
    if _skyline._ks_statistic(reference, probe) < 0.5 - 1e-9:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ks_2samp(reference, probe)
    if not (result.pvalue < 0.05 and result.statistic > 0.5):
        return False
    return _statsmodels_rejects(reference, 0.05)


def count_adf_tests(series, per_day: int) -> int:
    """How many points reach the Dickey-Fuller test (past the window's first day)."""
    calls = 0
    real = _skyline.adf_rejects_unit_root

    def counting(x):
        nonlocal calls
        calls += 1
        return real(x)

    _skyline.adf_rejects_unit_root = counting
    try:
        detector = SigmaEnsemble(algorithms=("ks_test",), consensus=1, max_points=max(10000, per_day))
        for index, (t, x) in enumerate(series):
            if index == per_day:
                calls = 0
            detector.update(t, x)
    finally:
        _skyline.adf_rejects_unit_root = real
    return calls


def same(a, b) -> bool:
    scores = a.score == b.score or (math.isnan(a.score) and math.isnan(b.score))
    return scores and a.is_anomaly == b.is_anomaly and dict(a.details) == dict(b.details)


def bench(
    series: list[tuple[int, float]], per_day: int, algorithms: tuple[str, ...], naive_points: int, previous_points: int
) -> None:
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
    if previous_points > 0 and "ks_test" in algorithms:
        previous = SigmaEnsemble(algorithms=algorithms, consensus=consensus, max_points=max(10000, per_day))
        first = len(series) - previous_points
        for t, x in series[:first]:  # the window before, learned with the fast ks_test (same window)
            previous.learn_one(t, x)
        voters = _skyline._VOTERS
        fast_ks, voters["ks_test"] = voters["ks_test"], previous_ks_test
        try:
            agree = 0
            start = time.perf_counter()
            for index in range(first, len(series)):
                agree += same(previous.update(*series[index]), verdicts[index])
            previous_us = (time.perf_counter() - start) / previous_points * 1e6
        finally:
            voters["ks_test"] = fast_ks
        print(
            f"{per_day:>6} {label:<16} previous ks_test {1e6 / previous_us:>5.0f} points/s over the last"
            f" {previous_points} = {previous_us:8.1f} us/point; speed-up x{previous_us / steady_us:.1f};"
            f" verdicts agree {agree}/{previous_points}"
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
    parser.add_argument(
        "--interval", help="point spacing as a duration (10s, 1m; comma separated): overrides --windows"
    )
    parser.add_argument(
        "--series", default="synthetic", help="synthetic (default) or nab:CATEGORY/FILE.csv (values only)"
    )
    parser.add_argument(
        "--previous-points", type=int, default=0,
        help="steady-state points timed with the previous ks_test (scipy + statsmodels; 0: skip)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    no_ks = tuple(name for name in ALGORITHMS if name != "ks_test")
    if args.interval:
        per_days = [round(DAY_S * 10**9 / parse_duration(i)) for i in args.interval.split(",")]
    else:
        per_days = [int(w) for w in args.windows.split(",")]
    for per_day in per_days:
        if args.points <= per_day:
            parser.error(f"--points must exceed the window ({per_day}) to reach a steady state")
        series = make_series(args.points, per_day, args.seed, args.series)
        naive_points = min(args.naive_points, args.points - per_day)
        previous_points = min(args.previous_points, args.points - per_day)
        print(f"{per_day:>6} points a day; {count_adf_tests(series, per_day)} of the {args.points - per_day}"
              " steady-state points run the Dickey-Fuller test")
        for algorithms in (ALGORITHMS, no_ks):
            bench(series, per_day, algorithms, naive_points, previous_points)


if __name__ == "__main__":
    main()

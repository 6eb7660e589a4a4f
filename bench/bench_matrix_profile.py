"""Time per update of MatrixProfile against stumpy's incremental matrix profile.

For each history length and subsequence length ``m``, both are given the same random
walk: MatrixProfile learns the first ``history + 1`` values, stumpy.stumpi (or aampi
with ``--raw``) is built on them with ``egress=True``, so both then keep a window of
``history + 1`` values. After ``--warmup`` untimed updates each, ``--points`` updates
are timed (median and mean per update). stumpy's one-off costs are reported apart:
its construction and its first update, which include numba's compilation the first
time a function is used in the process (later configurations reuse it).

    python bench/bench_matrix_profile.py --histories 1000 5000 --ms 32 100 --points 2000
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from udfs.detectors.matrix_profile import MatrixProfile


def per_update(update: Callable[[float], object], values: np.ndarray) -> list[float]:
    times = []
    for x in values:
        start = time.perf_counter()
        update(float(x))
        times.append(time.perf_counter() - start)
    return times


def fmt(seconds: list[float]) -> str:
    p50, p90, p99 = np.percentile(np.array(seconds) * 1e6, [50, 90, 99])
    mean = statistics.fmean(seconds) * 1e6
    return f"median {p50:7.1f} us  p90 {p90:7.1f} us  p99 {p99:8.1f} us  mean {mean:7.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--histories", type=int, nargs="+", default=[1000, 5000], help="history lengths")
    parser.add_argument("--ms", type=int, nargs="+", default=[32, 100], help="subsequence lengths m")
    parser.add_argument("--points", type=int, default=2000, help="timed updates per configuration")
    parser.add_argument("--warmup", type=int, default=50, help="untimed updates before timing")
    parser.add_argument("--raw", action="store_true", help="no z-normalisation (stumpy.aampi, normalize=False)")
    parser.add_argument("--no-stumpy", action="store_true", help="time MatrixProfile only")
    parser.add_argument("--numba-threads", type=int, help="NUMBA_NUM_THREADS for stumpy (default: numba's, all cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.numba_threads:
        os.environ["NUMBA_NUM_THREADS"] = str(args.numba_threads)  # read when numba is first imported

    rng = np.random.default_rng(args.seed)
    if not args.no_stumpy:
        start = time.perf_counter()
        import stumpy

        print(f"import stumpy: {time.perf_counter() - start:.1f} s")
        incremental = stumpy.aampi if args.raw else stumpy.stumpi
    for history in args.histories:
        for m in args.ms:
            n = history + 1 + args.warmup + args.points
            values = np.cumsum(rng.normal(size=n))
            head, warm, timed = np.split(values, [history + 1, history + 1 + args.warmup])
            detector = MatrixProfile(m=m, history=history, min_history=history, normalize=not args.raw)
            for i, x in enumerate(head):
                detector.update(i, float(x))
            update = functools.partial(detector.update, 0)
            per_update(update, warm)
            ours = per_update(update, timed)
            print(f"history {history:5d} m {m:4d}  MatrixProfile.update  {fmt(ours)}")
            if args.no_stumpy:
                continue
            start = time.perf_counter()
            stream = incremental(head, m, egress=True)
            built = time.perf_counter() - start
            start = time.perf_counter()
            stream.update(float(warm[0]))
            first = time.perf_counter() - start
            per_update(stream.update, warm[1:])
            theirs = per_update(stream.update, timed)
            label = f"{incremental.__name__}.update"
            print(f"history {history:5d} m {m:4d}  {label:20s}  {fmt(theirs)}")
            print(f"{'':20s}one-off: construction {built:.2f} s, first update {first:.2f} s")


if __name__ == "__main__":
    main()

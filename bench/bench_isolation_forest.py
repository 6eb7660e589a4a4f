"""Speed of ``IsolationForestDetector``: per-point scoring, and fitting.

Scoring: after the first fit, ``update`` (score + learn) over N points of D fields,
as the UDF calls it for each point; reported as points/s and microseconds per point
(wall time, one thread). For comparison, scikit-learn's own ``decision_function``
on one point at a time. Fitting: ``fit_model`` (scikit-learn's fit plus flattening
the trees) for each training size, best of ``--repeat``.

    python bench/bench_isolation_forest.py --points 20000 --train-sizes 500,2000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from udfs.detectors.isolation_forest import IsolationForestDetector


def data(n: int, dims: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n, dims)) + np.sin(np.arange(n) / 50.0)[:, None]


def bench_scoring(points: int, dims: int, n_estimators: int, train_size: int) -> float:
    """Seconds per point of ``update`` once the forest is fitted."""
    rows = [row.tolist() for row in data(train_size + points, dims)]
    detector = IsolationForestDetector(n_estimators=n_estimators, train_size=train_size)
    for i, row in enumerate(rows[:train_size]):
        detector.update(i, row)
    assert not np.isnan(detector.score_one(0, rows[train_size]).score)
    start = time.perf_counter()
    for i, row in enumerate(rows[train_size:], start=train_size):
        detector.update(i, row)
    return (time.perf_counter() - start) / points


def bench_sklearn_scoring(points: int, dims: int, n_estimators: int, train_size: int) -> float:
    """Seconds per point of scikit-learn's decision_function on single points."""
    from sklearn.ensemble import IsolationForest

    x = data(train_size + points, dims)
    model = IsolationForest(n_estimators=n_estimators, random_state=0).fit(x[:train_size])
    start = time.perf_counter()
    for row in x[train_size:]:
        model.decision_function(row.reshape(1, -1))
    return (time.perf_counter() - start) / points


def bench_fit(train_size: int, dims: int, n_estimators: int, repeat: int) -> float:
    """Best seconds of one fit_model on ``train_size`` vectors."""
    detector = IsolationForestDetector(n_estimators=n_estimators, train_size=train_size)
    x = data(train_size, dims, seed=1)
    detector.fit_model(x)  # the first call pays scikit-learn's import
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        detector.fit_model(x)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20_000, help="points scored (default 20000)")
    parser.add_argument("--dims", type=int, default=3, help="fields per point (default 3)")
    parser.add_argument("--n-estimators", type=int, default=100, help="trees (default 100)")
    parser.add_argument("--train-sizes", default="500,2000", help="comma-separated training sizes (default 500,2000)")
    parser.add_argument("--repeat", type=int, default=5, help="fits timed per size, best kept (default 5)")
    parser.add_argument("--sklearn-points", type=int, default=300,
                        help="points for the scikit-learn comparison; 0 skips it (default 300)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.train_sizes.split(",") if s]
    print(f"isolation_forest: {args.dims} fields, {args.n_estimators} trees")
    for size in sizes:
        per_point = bench_scoring(args.points, args.dims, args.n_estimators, size)
        print(f"  score+learn (train_size {size}): {1 / per_point:10,.0f} points/s  {per_point * 1e6:8.1f} us/point")
    if args.sklearn_points:
        per_point = bench_sklearn_scoring(args.sklearn_points, args.dims, args.n_estimators, sizes[0])
        print(f"  sklearn decision_function, 1 point: {1 / per_point:6,.0f} points/s  {per_point * 1e6:8.1f} us/point")
    for size in sizes:
        seconds = bench_fit(size, args.dims, args.n_estimators, args.repeat)
        print(f"  fit train_size {size:>6}: {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()

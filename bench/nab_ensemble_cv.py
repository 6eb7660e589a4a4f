"""Would searching for the best ensemble on the NAB subset carry over to other series? A cross-validation.

Each candidate member runs once over ``data/nab`` as its UDF does (its calibration and
cooldown defaults). An ensemble of up to three members flags a row when at least ``k``
members' calibrated verdicts fire at it, then the 12 h cooldown, which is what
``@consensus()`` does with ``member_verdicts='calibrated'`` and ``calibration='none'``.
For each random split of the files into two halves, the ensemble with the best NAB
score (standard profile, own verdicts) on one half is scored on the other half, both
ways; next to it, on the same held-out half, the shipped consensus members and
``contextual`` alone. If picking on one half does not beat the shipped default held
out, a search over members finds nothing that carries over::

    python bench/nab_ensemble_cv.py                 # 4 splits, seed 0 (about 3 minutes)
    python bench/nab_ensemble_cv.py --splits 10 --seed 1
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from udfs.detectors import REGISTRY
from udfs.detectors.calibration import Cooldown, calibrated
from udfs.detectors.calibration.parameters import CALIBRATION_PARAMETERS
from udfs.evaluation import evaluate_scores, run_detector
from udfs.evaluation.nab_data import NabCorpus, load_corpus

NAB = Path(__file__).resolve().parents[1] / "data" / "nab"
CANDIDATES = ("contextual", "zscore", "spike", "mad", "iqr", "spectral_residual", "distribution_shift", "sigma",
              "forecast")
SHIPPED = tuple(REGISTRY["consensus"].parameters["detectors"].default)


def ensemble_flags(runs: dict[str, dict[str, np.ndarray]], members: tuple[str, ...], k: int,
                   corpus: NabCorpus) -> dict[str, np.ndarray]:
    """Per file: rows where at least ``k`` members fire, after the default cooldown."""
    flags = {}
    for nab_file in corpus:
        votes = sum(runs[m][nab_file.key].astype(int) for m in members)
        cooldown = Cooldown(CALIBRATION_PARAMETERS["cooldown"].default)
        out = np.zeros(len(nab_file), dtype=bool)
        for row, (t, vote) in enumerate(zip(nab_file.timestamps.tolist(), votes.tolist(), strict=True)):
            out[row] = vote >= k and cooldown.allows(t)
            cooldown.learn_one(t, bool(out[row]))
        flags[nab_file.key] = out
    return flags


def score(runs: dict[str, dict[str, np.ndarray]], members: tuple[str, ...], k: int, corpus: NabCorpus) -> float:
    flags = ensemble_flags(runs, members, k, corpus)
    report = evaluate_scores(corpus, {key: f.astype(float) for key, f in flags.items()}, verdicts=flags)
    assert report.own_verdict is not None
    return report.own_verdict[0].normalised


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=4, help="random halvings of the files (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the splits (default 0)")
    parser.add_argument("--data-dir", type=Path, default=NAB, help="NAB data (default: the bundled subset)")
    args = parser.parse_args()

    corpus = load_corpus(args.data_dir)
    runs = {}
    for name in CANDIDATES:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        runs[name] = run_detector(calibrated(REGISTRY[name]), corpus, progress=False).verdicts
    combos = [(members, k) for size in (1, 2, 3) for members in itertools.combinations(CANDIDATES, size)
              for k in range(1, size + 1) if not (size == 3 and k == 3)]
    print(f"{len(combos)} ensembles; the shipped consensus members: {', '.join(SHIPPED)} (any one)")
    print("| split | picked on the other half | score there | held out: picked | shipped | contextual |")
    print("| --- | --- | --- | --- | --- | --- |")
    files = list(corpus.files)
    rng = np.random.default_rng(args.seed)
    held = {"picked": [], "shipped": [], "contextual": []}
    for split in range(args.splits):
        order = rng.permutation(len(files))
        halves = [NabCorpus(tuple(files[i] for i in sorted(order[: len(files) // 2]))),
                  NabCorpus(tuple(files[i] for i in sorted(order[len(files) // 2:])))]
        for train, test in (halves, halves[::-1]):
            members, k = max(combos, key=lambda combo: score(runs, *combo, train))
            row = {"picked": score(runs, members, k, test), "shipped": score(runs, SHIPPED, 1, test),
                   "contextual": score(runs, ("contextual",), 1, test)}
            for key, value in row.items():
                held[key].append(value)
            print(f"| {split} | {'+'.join(members)}, k={k} | {score(runs, members, k, train):.1f} "
                  f"| {row['picked']:.1f} | {row['shipped']:.1f} | {row['contextual']:.1f} |", flush=True)
    print("| mean held out | | | " + " | ".join(f"{np.mean(held[k]):.1f}" for k in held) + " |")


if __name__ == "__main__":
    main()

"""What a second-stage filter does to a first detector's flags on the NAB subset, and its NAB scores.

Every file of ``data/nab`` streams through each ``--first`` detector (default ``mad``
and ``zscore``) and then through each second stage, which gets the value and the first
stage's ``is_anomaly``, as the chained TICKscripts (``daily_peak.tick``,
``irregular_unstable.tick``) run them. The first stage runs as its UDF does, with the
default calibration (likelihood+spot, risk 1e-5, cooldown 12 h); ``--raw`` takes its raw
threshold verdicts instead (no calibration: the many candidates a filter is for).

Reported per first stage: the flags outside NAB's labelled windows (false positives)
and the windows hit, and the normalised NAB scores of the flags as own verdicts
(NAB's rules: standard / reward_low_FP_rate / reward_low_FN_rate profiles), for the
first stage alone and after each filter::

    python bench/second_stage_nab.py                       # calibrated mad and zscore
    python bench/second_stage_nab.py --raw --first mad     # the raw candidates
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from udfs.detectors import REGISTRY
from udfs.detectors.calibration import calibrated
from udfs.evaluation import evaluate_scores
from udfs.evaluation.nab_data import load_corpus

NAB = Path(__file__).resolve().parents[1] / "data" / "nab"
STAGES = ("daily_peak", "irregular_unstable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", action="append", help="first-stage detector (repeatable; default mad, zscore)")
    parser.add_argument("--stage", action="append", choices=STAGES, help="second stage (repeatable; default both)")
    parser.add_argument("--raw", action="store_true", help="the first stage's raw verdicts (no calibration)")
    parser.add_argument("--per-file", action="store_true", help="a row per file as well")
    args = parser.parse_args()
    stages = args.stage or list(STAGES)
    corpus = load_corpus(NAB)
    rows = []
    for first_name in args.first or ["mad", "zscore"]:
        first_cls = REGISTRY[first_name] if args.raw else calibrated(REGISTRY[first_name])
        names = [first_name, *(f"{first_name} -> {s}" for s in stages)]
        totals = {name: [0, 0] for name in names}
        flags: dict[str, dict[str, np.ndarray]] = {name: {} for name in names}
        for nab_file in corpus:
            first = first_cls()
            filters = [REGISTRY[s]() for s in stages]
            file_flags = np.zeros((len(names), len(nab_file)), dtype=bool)
            for i, (t, v) in enumerate(zip(nab_file.timestamps.tolist(), nab_file.values.tolist(), strict=True)):
                flag = bool(first.update(t, v).is_anomaly)
                file_flags[0, i] = flag
                for k, stage in enumerate(filters, start=1):
                    file_flags[k, i] = stage.update(t, [v, 1.0 if flag else 0.0]).is_anomaly
            cells = []
            for name, row_flags in zip(names, file_flags, strict=True):
                flags[name][nab_file.key] = row_flags
                hits = np.flatnonzero(row_flags)
                outside = sum(not any(a <= r <= b for a, b in nab_file.windows) for r in hits)
                hit = sum(any(a <= r <= b for r in hits) for a, b in nab_file.windows)
                totals[name][0] += outside
                totals[name][1] += hit
                cells.append(f"{outside} / {hit}")
            if args.per_file:
                print(f"| {first_name} | {nab_file.key} | " + " | ".join(cells) + " |", flush=True)
        for name in names:
            as_scores = {key: f.astype(np.float64) for key, f in flags[name].items()}
            report = evaluate_scores(corpus, as_scores, verdicts=flags[name], detector=name)
            assert report.own_verdict is not None
            nab = " / ".join(f"{s.normalised:.1f}" for s in report.own_verdict)
            fp, hit = totals[name]
            rows.append(f"| {name} | {nab} | {fp:,} / {hit} |")
    kind = "raw verdicts" if args.raw else "calibrated (defaults)"
    print(f"| chain ({kind} first stage) | NAB own verdict std / low FP / low FN | FP / windows hit "
          f"(of {corpus.n_windows}) |")
    print("| --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

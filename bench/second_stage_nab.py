"""What a second-stage filter does to a first detector's flags on the NAB subset.

Every file of ``data/nab`` streams through ``--first`` (default ``mad``, its raw
threshold verdicts, no calibration: the many candidates a filter is for) and then
through each second stage; per file and in all, the flags outside NAB's labelled
windows (false positives) and the windows hit, before and after::

    python bench/second_stage_nab.py --stage irregular_unstable --stage daily_peak
"""

from __future__ import annotations

import argparse
from pathlib import Path

from udfs.detectors import REGISTRY
from udfs.evaluation.nab_data import load_corpus

NAB = Path(__file__).resolve().parents[1] / "data" / "nab"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", default="mad", help="first-stage detector (default mad)")
    parser.add_argument("--stage", action="append", choices=["daily_peak", "irregular_unstable"],
                        help="second stage (repeatable; default both)")
    parser.add_argument("--per-file", action="store_true", help="a row per file as well")
    args = parser.parse_args()
    stages = args.stage or ["daily_peak", "irregular_unstable"]
    totals = {name: [0, 0] for name in ["first", *stages]}
    windows = 0
    print(f"| file | {args.first} FP / windows | " + " | ".join(f"-> {s}" for s in stages) + " |")
    print("| --- | --- |" + " --- |" * len(stages))
    for nab_file in load_corpus(NAB):
        first = REGISTRY[args.first]()
        filters = {name: REGISTRY[name]() for name in stages}
        flags: dict[str, list[int]] = {name: [] for name in totals}
        for i, (t, v) in enumerate(zip(nab_file.timestamps.tolist(), nab_file.values.tolist(), strict=True)):
            flag = first.update(t, v).is_anomaly
            if flag:
                flags["first"].append(i)
            for name, stage in filters.items():
                if stage.update(t, [v, 1.0 if flag else 0.0]).is_anomaly:
                    flags[name].append(i)
        cells = []
        for name, rows in flags.items():
            outside = sum(not any(a <= r <= b for a, b in nab_file.windows) for r in rows)
            hit = sum(any(a <= r <= b for r in rows) for a, b in nab_file.windows)
            totals[name][0] += outside
            totals[name][1] += hit
            cells.append(f"{outside} / {hit}")
        windows += len(nab_file.windows)
        if args.per_file:
            print(f"| {nab_file.key} | " + " | ".join(cells) + " |", flush=True)
    print(f"| all ({windows} windows) | " + " | ".join(f"{fp:,} / {hit}" for fp, hit in totals.values()) + " |")


if __name__ == "__main__":
    main()

"""NAB-format results and JSON reports, so NAB's own scorer can check ours.

:func:`export_results` writes ``DIR/<detector>/<category>/<detector>_<file>.csv`` with
NAB's columns ``timestamp,value,anomaly_score,label``, the layout of NAB's
``results/`` directory: copy ``DIR/<detector>`` into a NAB checkout's ``results/``
and run ``python run.py -d <detector> --optimize --score --normalize``.
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from udfs.evaluation.nab import DetectorRun, NabReport
from udfs.evaluation.nab_data import NabCorpus
from udfs.evaluation.nab_scoring import ProfileScore

__all__ = ["export_results", "nab_detector_name", "report_as_json", "unit_scores"]


def nab_detector_name(label: str) -> str:
    """A detector label as a NAB results directory name (letters, digits, ``_`` and ``-``).

    >>> nab_detector_name("zscore:mode=ewma,alpha=0.05")
    'zscore_mode-ewma_alpha-0.05'
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label.replace("=", "-").replace(":", "_").replace(",", "_"))


def unit_scores(run: DetectorRun, key: str) -> np.ndarray:
    """One file's scores in [0, 1] as NAB requires: the calibrated score (0 while learning),
    or, for a detector without calibration, ``(1 + s / (1 + |s|)) / 2`` of the raw score
    (monotone, so NAB's sweep ranks rows as on the raw score).
    """
    if run.calibrated is not None:
        return np.nan_to_num(run.calibrated[key], nan=0.0)
    raw = np.nan_to_num(run.scores[key], nan=-np.inf, posinf=np.finfo(np.float64).max)
    with np.errstate(invalid="ignore"):
        squashed = (1.0 + raw / (1.0 + np.abs(raw))) / 2.0
    return np.nan_to_num(squashed, nan=0.0)


def export_results(corpus: NabCorpus, run: DetectorRun, directory: str | os.PathLike[str], detector: str) -> int:
    """Write NAB results files for ``run``; return how many were written."""
    root = Path(directory) / detector
    for nab_file in corpus:
        category, _, file_name = nab_file.key.partition("/")
        path = root / category / f"{detector}_{file_name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        labels = np.zeros(len(nab_file), dtype=np.int64)
        for first, last in nab_file.windows:
            labels[first : last + 1] = 1
        stamps = np.datetime_as_string(nab_file.timestamps.astype("datetime64[ns]"), unit="s")
        scores = unit_scores(run, nab_file.key)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "value", "anomaly_score", "label"])
            for stamp, value, score, label in zip(stamps, nab_file.values.tolist(), scores.tolist(), labels.tolist(),
                                                   strict=True):
                writer.writerow([str(stamp).replace("T", " "), repr(value), f"{score:.10g}", label])
    return len(corpus)


def _profile(score: ProfileScore) -> dict[str, Any]:
    threshold = score.threshold if math.isfinite(score.threshold) else None
    return {"threshold": threshold, "normalised": round(score.normalised, 4), "raw": score.raw,
            "tp": score.tp, "fp": score.fp, "fn": score.fn}


def report_as_json(report: NabReport, **extra: Any) -> dict[str, Any]:
    """``{"detector", ..extra, "profiles": {profile: {reading: {threshold, normalised, raw, tp, fp, fn}}}}``.

    Readings: ``threshold_sweep`` (NAB's sweep over the calibrated score when there is
    one, else over the raw score), ``raw_score_sweep`` and ``own_verdict`` (the
    detector's ``is_anomaly`` with its options, not swept).
    """
    profiles: dict[str, dict[str, Any]] = {}
    swept = report.calibrated_threshold or report.best_threshold
    for i, raw_sweep in enumerate(report.best_threshold):
        entry = {"threshold_sweep": _profile(swept[i]), "raw_score_sweep": _profile(raw_sweep)}
        if report.own_verdict is not None:
            entry["own_verdict"] = _profile(report.own_verdict[i])
        profiles[raw_sweep.profile] = entry
    return {"detector": report.detector, **extra, "files": len(report.files), "profiles": profiles}

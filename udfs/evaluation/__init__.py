"""Benchmarks for the detectors: NAB (Numenta Anomaly Benchmark) scoring."""

from __future__ import annotations

from udfs.evaluation.nab import (
    OWN_VERDICT_THRESHOLD,
    DetectorRun,
    NabReport,
    SupportsUpdate,
    evaluate,
    evaluate_run,
    evaluate_scores,
    run_detector,
)
from udfs.evaluation.nab_data import DEFAULT_DATA_DIR, NabCorpus, NabFile, load_corpus, window_rows
from udfs.evaluation.nab_scoring import (
    PROFILES,
    Profile,
    ProfileScore,
    probationary_length,
    profile_named,
    scaled_sigmoid,
    score_at_threshold,
    score_best_threshold,
    sweep_thresholds,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "OWN_VERDICT_THRESHOLD",
    "PROFILES",
    "DetectorRun",
    "NabCorpus",
    "NabFile",
    "NabReport",
    "Profile",
    "ProfileScore",
    "SupportsUpdate",
    "evaluate",
    "evaluate_run",
    "evaluate_scores",
    "load_corpus",
    "probationary_length",
    "profile_named",
    "run_detector",
    "scaled_sigmoid",
    "score_at_threshold",
    "score_best_threshold",
    "sweep_thresholds",
    "window_rows",
]

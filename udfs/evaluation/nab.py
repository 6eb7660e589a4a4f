"""Run a streaming detector over the NAB corpus and score it.

Readings of the same run: **best threshold** sweeps the anomaly scores for the
one corpus-wide threshold that maximises NAB's raw score (what NAB publishes), and
**own verdict** scores the detector's own ``is_anomaly`` flags as they are (score 1
for a flag, 0 otherwise, fixed threshold 1). The own verdict is not swept: a sweep
over 0/1 could settle on "never" or "always", which is not the detector's verdict.
A calibrated detector (:func:`udfs.detectors.calibration.calibrated`) adds a third:
the sweep over its ``calibrated_score`` in [0, 1], which is what NAB's own scorer
sees in the files :func:`udfs.evaluation.nab_export.export_results` writes.

Examples
--------
>>> from udfs.evaluation import evaluate
>>> report = evaluate(make_detector, "data/nab")  # doctest: +SKIP
>>> print(report.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from udfs.detectors.base import Verdict
from udfs.evaluation.nab_data import DEFAULT_DATA_DIR, NabCorpus, NabFile, load_corpus
from udfs.evaluation.nab_scoring import (
    PROFILES,
    Profile,
    ProfileScore,
    profile_named,
    score_at_threshold,
    score_best_threshold,
)

__all__ = [
    "OWN_VERDICT_THRESHOLD",
    "DetectorRun",
    "NabReport",
    "SupportsUpdate",
    "evaluate",
    "evaluate_run",
    "evaluate_scores",
    "run_detector",
]

OWN_VERDICT_THRESHOLD = 1.0

_COLUMN_NAMES = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}


class SupportsUpdate(Protocol):
    """What the benchmark needs of a detector: :meth:`udfs.detectors.base.Detector.update`."""

    def update(self, t: int, x: Any) -> Verdict: ...


@dataclass(frozen=True)
class DetectorRun:
    """Per-file outputs of one detector: scores (NaN where it could not score yet)
    and ``is_anomaly`` flags, keyed by ``category/file.csv``; ``calibrated`` holds the
    ``calibrated_score`` details (NaN where absent) when the detector reports them."""

    detector: str
    scores: dict[str, np.ndarray]
    verdicts: dict[str, np.ndarray]
    calibrated: dict[str, np.ndarray] | None = None


def _detector_name(detector: object) -> str:
    return str(getattr(detector, "name", type(detector).__name__))


def run_detector(
    factory: Callable[[], SupportsUpdate],
    corpus: NabCorpus,
    progress: bool = True,
    *,
    for_file: Callable[[NabFile], SupportsUpdate] | None = None,
) -> DetectorRun:
    """Stream every file, row by row, through a fresh ``factory()`` detector.

    ``for_file(nab_file)``, when given, builds each file's detector instead (NAB hands
    a detector the file's value range before the first row). ``update(t, x)`` gets
    ``t`` in ns since the epoch (``int``) and ``x`` as ``float``. The progress bar
    counts files, on stderr.
    """
    scores: dict[str, np.ndarray] = {}
    verdicts: dict[str, np.ndarray] = {}
    calibrated: dict[str, np.ndarray] = {}
    name = getattr(factory, "__name__", "detector")
    bar = tqdm(corpus.files, desc="NAB", unit="file", file=sys.stderr, disable=not progress)
    for nab_file in bar:
        bar.set_postfix_str(nab_file.key, refresh=False)
        detector = for_file(nab_file) if for_file is not None else factory()
        name = _detector_name(detector)
        file_scores = np.empty(len(nab_file))
        file_verdicts = np.zeros(len(nab_file), dtype=bool)
        file_calibrated = np.full(len(nab_file), np.nan)
        reported = False
        for row, (t, x) in enumerate(zip(nab_file.timestamps.tolist(), nab_file.values.tolist(), strict=True)):
            verdict = detector.update(t, x)
            file_scores[row] = verdict.score
            file_verdicts[row] = verdict.is_anomaly
            if "calibrated_score" in verdict.details:
                reported = True
                value = verdict.details["calibrated_score"]
                if value is not None:
                    file_calibrated[row] = value
        scores[nab_file.key] = file_scores
        verdicts[nab_file.key] = file_verdicts
        if reported:
            calibrated[nab_file.key] = file_calibrated
    complete = len(calibrated) == len(corpus) and any(np.isfinite(c).any() for c in calibrated.values())
    return DetectorRun(name, scores, verdicts, calibrated if complete else None)


@dataclass(frozen=True)
class NabReport:
    """Scores of one detector per profile, in both readings.

    ``own_verdict`` is ``None`` when only scores were given; ``calibrated_threshold``
    (the sweep over ``calibrated_score``) when the detector reports none.
    """

    detector: str
    files: tuple[str, ...]
    best_threshold: tuple[ProfileScore, ...]
    own_verdict: tuple[ProfileScore, ...] | None
    calibrated_threshold: tuple[ProfileScore, ...] | None = None

    def _readings(self) -> list[tuple[str, tuple[ProfileScore, ...] | None]]:
        return [("", self.best_threshold), (" (calibrated)", self.calibrated_threshold),
                (" (own verdict)", self.own_verdict)]

    def _columns(self) -> list[str]:
        names = [_COLUMN_NAMES.get(s.profile, s.profile) for s in self.best_threshold]
        return [f"{name}{suffix}" for suffix, _ in self._readings() for name in names]

    def markdown_header(self) -> str:
        """The two header lines of the table :meth:`markdown_row` fills."""
        columns = ["detector", *self._columns()]
        return "| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns)

    def markdown_row(self) -> str:
        """``| detector | normalised scores, best threshold then own verdict |``."""
        cells = []
        for _, scores in self._readings():
            if scores is None:
                cells += ["n/a"] * len(self.best_threshold)
            else:
                cells += [f"{s.normalised:.1f}" for s in scores]
        return "| " + " | ".join([self.detector, *cells]) + " |"

    def to_markdown(self, header: bool = True) -> str:
        """The table row, under its header unless ``header`` is false."""
        return f"{self.markdown_header()}\n{self.markdown_row()}" if header else self.markdown_row()

    def details_markdown(self) -> str:
        """One line per profile and reading: threshold, raw, normalised, TP/FP/FN."""
        lines = ["| reading | profile | threshold | raw | normalised | TP | FP | FN |", "|" + " --- |" * 8]
        readings = [("best threshold", self.best_threshold), ("calibrated", self.calibrated_threshold or ()),
                    ("own verdict", self.own_verdict or ())]
        for reading, profile_scores in readings:
            for s in profile_scores:
                lines.append(
                    f"| {reading} | {s.profile} | {s.threshold:.6g} | {s.raw:.3f} | {s.normalised:.1f} "
                    f"| {s.tp} | {s.fp} | {s.fn} |"
                )
        return "\n".join(lines)


def evaluate_scores(
    corpus: NabCorpus,
    scores: Mapping[str, np.ndarray],
    *,
    verdicts: Mapping[str, np.ndarray] | None = None,
    calibrated: Mapping[str, np.ndarray] | None = None,
    profiles: Sequence[Profile | str] = PROFILES,
    detector: str = "precomputed",
) -> NabReport:
    """Score precomputed per-file scores (and optionally ``is_anomaly`` flags and calibrated scores).

    ``profiles`` are :class:`Profile` objects or names of the built-in ones.
    """
    resolved = [p if isinstance(p, Profile) else profile_named(p) for p in profiles]
    best = tuple(score_best_threshold(corpus, scores, p) for p in resolved)
    own = None
    if verdicts is not None:
        flags = {key: np.asarray(v, dtype=bool).astype(np.float64) for key, v in verdicts.items()}
        own = tuple(score_at_threshold(corpus, flags, p, OWN_VERDICT_THRESHOLD) for p in resolved)
    swept = None
    if calibrated is not None:
        swept = tuple(score_best_threshold(corpus, calibrated, p) for p in resolved)
    return NabReport(detector, corpus.keys, best, own, swept)


def evaluate(
    factory: Callable[[], SupportsUpdate],
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    *,
    profiles: Sequence[Profile | str] = PROFILES,
    progress: bool = True,
    name: str | None = None,
    for_file: Callable[[NabFile], SupportsUpdate] | None = None,
) -> NabReport:
    """Load the corpus in ``data_dir``, run ``factory()`` detectors over it, score both readings.

    ``name`` labels the report; by default the detector's ``name`` (registry key).
    """
    corpus = load_corpus(data_dir)
    run = run_detector(factory, corpus, progress=progress, for_file=for_file)
    return evaluate_run(corpus, run, profiles=profiles, name=name)


def evaluate_run(
    corpus: NabCorpus, run: DetectorRun, *, profiles: Sequence[Profile | str] = PROFILES, name: str | None = None
) -> NabReport:
    """Score a :class:`DetectorRun` in every reading it supports."""
    return evaluate_scores(corpus, run.scores, verdicts=run.verdicts, calibrated=run.calibrated,
                           profiles=profiles, detector=name or run.detector)

"""Run a streaming detector over the NAB corpus and score it.

Two readings of the same run: **best threshold** sweeps the anomaly scores for the
one corpus-wide threshold that maximises NAB's raw score (what NAB publishes), and
**own verdict** scores the detector's own ``is_anomaly`` flags as they are (score 1
for a flag, 0 otherwise, fixed threshold 1). The own verdict is not swept: a sweep
over 0/1 could settle on "never" or "always", which is not the detector's verdict.

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
    and ``is_anomaly`` flags, keyed by ``category/file.csv``."""

    detector: str
    scores: dict[str, np.ndarray]
    verdicts: dict[str, np.ndarray]


def _detector_name(detector: object) -> str:
    return str(getattr(detector, "name", type(detector).__name__))


def _build_for(factory: Callable[[], SupportsUpdate], nab_file: NabFile) -> SupportsUpdate:
    """``factory()``, given the file's min and max as NAB gives them to its detectors
    (``inputMin``/``inputMax``) when the detector class names its range parameters in
    ``value_range_params`` and the factory (a ``functools.partial``) does not set them."""
    cls = getattr(factory, "func", None)
    names = getattr(cls, "value_range_params", None)
    given = getattr(factory, "keywords", {}) or {}
    if names is None or any(name in given for name in names) or len(nab_file) == 0:
        return factory()
    low, high = float(np.min(nab_file.values)), float(np.max(nab_file.values))
    if not high > low:
        return factory()
    return factory(**{names[0]: low, names[1]: high})


def run_detector(factory: Callable[[], SupportsUpdate], corpus: NabCorpus, progress: bool = True) -> DetectorRun:
    """Stream every file, row by row, through a fresh ``factory()`` detector.

    ``update(t, x)`` gets ``t`` in ns since the epoch (``int``) and ``x`` as ``float``.
    A detector class with ``value_range_params`` gets the file's min and max, as NAB
    gives them, unless the factory sets them. The progress bar counts files, on stderr.
    """
    scores: dict[str, np.ndarray] = {}
    verdicts: dict[str, np.ndarray] = {}
    name = getattr(factory, "__name__", "detector")
    bar = tqdm(corpus.files, desc="NAB", unit="file", file=sys.stderr, disable=not progress)
    for nab_file in bar:
        bar.set_postfix_str(nab_file.key, refresh=False)
        detector = _build_for(factory, nab_file)
        name = _detector_name(detector)
        file_scores = np.empty(len(nab_file))
        file_verdicts = np.zeros(len(nab_file), dtype=bool)
        for row, (t, x) in enumerate(zip(nab_file.timestamps.tolist(), nab_file.values.tolist(), strict=True)):
            verdict = detector.update(t, x)
            file_scores[row] = verdict.score
            file_verdicts[row] = verdict.is_anomaly
        scores[nab_file.key] = file_scores
        verdicts[nab_file.key] = file_verdicts
    return DetectorRun(name, scores, verdicts)


@dataclass(frozen=True)
class NabReport:
    """Scores of one detector per profile, in both readings.

    ``own_verdict`` is ``None`` when only scores were given.
    """

    detector: str
    files: tuple[str, ...]
    best_threshold: tuple[ProfileScore, ...]
    own_verdict: tuple[ProfileScore, ...] | None

    def _columns(self) -> list[str]:
        names = [_COLUMN_NAMES.get(s.profile, s.profile) for s in self.best_threshold]
        return names + [f"{name} (own verdict)" for name in names]

    def markdown_header(self) -> str:
        """The two header lines of the table :meth:`markdown_row` fills."""
        columns = ["detector", *self._columns()]
        return "| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns)

    def markdown_row(self) -> str:
        """``| detector | normalised scores, best threshold then own verdict |``."""
        cells = [f"{s.normalised:.1f}" for s in self.best_threshold]
        if self.own_verdict is None:
            cells += ["n/a"] * len(self.best_threshold)
        else:
            cells += [f"{s.normalised:.1f}" for s in self.own_verdict]
        return "| " + " | ".join([self.detector, *cells]) + " |"

    def to_markdown(self, header: bool = True) -> str:
        """The table row, under its header unless ``header`` is false."""
        return f"{self.markdown_header()}\n{self.markdown_row()}" if header else self.markdown_row()

    def details_markdown(self) -> str:
        """One line per profile and reading: threshold, raw, normalised, TP/FP/FN."""
        lines = ["| reading | profile | threshold | raw | normalised | TP | FP | FN |", "|" + " --- |" * 8]
        readings = [("best threshold", self.best_threshold), ("own verdict", self.own_verdict or ())]
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
    profiles: Sequence[Profile | str] = PROFILES,
    detector: str = "precomputed",
) -> NabReport:
    """Score precomputed per-file scores (and optionally ``is_anomaly`` flags).

    ``profiles`` are :class:`Profile` objects or names of the built-in ones.
    """
    resolved = [p if isinstance(p, Profile) else profile_named(p) for p in profiles]
    best = tuple(score_best_threshold(corpus, scores, p) for p in resolved)
    own = None
    if verdicts is not None:
        flags = {key: np.asarray(v, dtype=bool).astype(np.float64) for key, v in verdicts.items()}
        own = tuple(score_at_threshold(corpus, flags, p, OWN_VERDICT_THRESHOLD) for p in resolved)
    return NabReport(detector, corpus.keys, best, own)


def evaluate(
    factory: Callable[[], SupportsUpdate],
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
    *,
    profiles: Sequence[Profile | str] = PROFILES,
    progress: bool = True,
    name: str | None = None,
) -> NabReport:
    """Load the corpus in ``data_dir``, run ``factory()`` detectors over it, score both readings.

    ``name`` labels the report; by default the detector's ``name`` (registry key).
    """
    corpus = load_corpus(data_dir)
    run = run_detector(factory, corpus, progress=progress)
    return evaluate_scores(corpus, run.scores, verdicts=run.verdicts, profiles=profiles, detector=name or run.detector)

"""NAB's scoring rules, from ``data/nab/README.md``.

For a threshold ``θ`` a row is a detection when its score is ``>= θ``. Per file:

- the first ``min(floor(0.15 n), 750)`` rows are probationary: detections there are
  ignored (neither credit nor false positive). A window reaching into them still
  counts as a window; only its later rows can detect it, and its width ``w`` is its
  full width.
- the earliest detection in a window of ``w`` rows with right edge ``r`` earns
  ``tp * A(-(r - i + 1) / w) / A(-1)``, so a detection at the left edge earns exactly
  ``tp``; later detections in the same window earn nothing and cost nothing. A window
  without one costs ``fn``.
- every detection outside the windows costs ``fp * A(|i - r_prev| / (w_prev - 1))``
  relative to the previous window, or ``-fp`` before the first window. A previous
  window one row wide (``w_prev - 1 == 0``) is read as ``y = inf``, i.e. ``-fp``.

``A(y) = 2 / (1 + exp(5y)) - 1``, and ``-1`` for ``y > 3``. Scores are summed over
files, and one threshold per profile is chosen for the whole corpus.

Scores need not lie in [0, 1]. NaN (warm-up) and ``-inf`` never detect; ``+inf`` is
read as the largest finite float, so the threshold ``inf`` means "never fire".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from udfs.evaluation.nab_data import NabCorpus, NabFile

__all__ = [
    "PROFILES",
    "Profile",
    "ProfileScore",
    "probationary_length",
    "profile_named",
    "scaled_sigmoid",
    "score_at_threshold",
    "score_best_threshold",
    "sweep_thresholds",
]


@dataclass(frozen=True)
class Profile:
    """Weights of true positives, false positives and false negatives."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True)
class ProfileScore:
    """The score of one profile at one threshold, with its counts.

    ``null`` is the raw score of never firing, ``perfect`` of catching every window
    at its left edge with no false positive.
    """

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int

    @property
    def normalised(self) -> float:
        """``100 * (raw - null) / (perfect - null)``: 0 for never firing, 100 for perfect."""
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def profile_named(name: str) -> Profile:
    """The built-in profile called ``name``."""
    for profile in PROFILES:
        if profile.name == name:
            return profile
    raise ValueError(f"unknown NAB profile {name!r}; known: {', '.join(p.name for p in PROFILES)}")


def scaled_sigmoid(y: np.ndarray | float) -> np.ndarray:
    """``A(y) = 2 / (1 + exp(5y)) - 1``, and ``-1`` for ``y > 3``.

    Examples
    --------
    >>> float(scaled_sigmoid(0.0)), float(scaled_sigmoid(3.5))
    (0.0, -1.0)
    """
    y = np.asarray(y, dtype=np.float64)
    # clip first so exp never overflows; the clipped values are replaced anyway
    a = 2.0 / (1.0 + np.exp(5.0 * np.minimum(y, 3.0))) - 1.0
    return np.where(y > 3.0, -1.0, a)


def probationary_length(n: int) -> int:
    """``min(floor(0.15 n), 750)`` rows, in integer arithmetic."""
    return min(15 * n // 100, 750)


@dataclass(frozen=True)
class _Geometry:
    """Threshold- and profile-independent per-row terms of one file."""

    probation: int
    outside: np.ndarray  # bool: scorable row outside every window
    tp_unit: np.ndarray  # A(y) / A(-1) inside windows, 0 elsewhere
    fp_unit: np.ndarray  # A(y) (or -1) outside windows, 0 elsewhere


def _geometry(nab_file: NabFile) -> _Geometry:
    n = len(nab_file)
    rows = np.arange(n)
    inside = np.zeros(n, dtype=bool)
    tp_unit = np.zeros(n)
    for first, last in nab_file.windows:
        width = last - first + 1
        span = rows[first : last + 1]
        inside[first : last + 1] = True
        tp_unit[first : last + 1] = scaled_sigmoid(-(last - span + 1) / width) / scaled_sigmoid(-1.0)
    outside = ~inside & (rows >= probationary_length(n))
    fp_unit = np.zeros(n)
    lasts = np.array([last for _, last in nab_file.windows], dtype=np.int64)
    widths = np.array([last - first + 1 for first, last in nab_file.windows], dtype=np.int64)
    out_rows = rows[outside]
    prev = np.searchsorted(lasts, out_rows, side="left") - 1  # last window ending before the row
    unit = np.full(out_rows.shape, -1.0)
    has_prev = prev >= 0
    distance = np.abs(out_rows[has_prev] - lasts[prev[has_prev]]).astype(np.float64)
    with np.errstate(divide="ignore"):
        unit[has_prev] = scaled_sigmoid(distance / (widths[prev[has_prev]] - 1))
    fp_unit[outside] = unit
    return _Geometry(probationary_length(n), outside, tp_unit, fp_unit)


def _clean_scores(corpus: NabCorpus, scores: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    cleaned = []
    for nab_file in corpus:
        if nab_file.key not in scores:
            raise KeyError(f"no scores for {nab_file.key}")
        s = np.array(scores[nab_file.key], dtype=np.float64)
        if s.shape != (len(nab_file),):
            raise ValueError(f"{nab_file.key}: {s.shape[0] if s.ndim else 0} scores for {len(nab_file)} rows")
        s[np.isnan(s)] = -np.inf
        s[s == np.inf] = np.finfo(np.float64).max
        cleaned.append(s)
    return cleaned


def _null_and_perfect(corpus: NabCorpus, profile: Profile) -> tuple[float, float]:
    return -profile.fn_weight * corpus.n_windows, profile.tp_weight * corpus.n_windows


def score_at_threshold(
    corpus: NabCorpus, scores: Mapping[str, np.ndarray], profile: Profile, threshold: float
) -> ProfileScore:
    """Score the corpus at one fixed threshold (rows with score ``>= threshold`` detect)."""
    raw, tp, fp, fn = 0.0, 0, 0, 0
    for nab_file, s in zip(corpus, _clean_scores(corpus, scores), strict=True):
        geo = _geometry(nab_file)
        detected = (s >= threshold) & (s > -np.inf)
        detected[: geo.probation] = False
        false_pos = detected & geo.outside
        fp += int(false_pos.sum())
        raw += profile.fp_weight * float(geo.fp_unit[false_pos].sum())
        for first, last in nab_file.windows:
            hits = np.flatnonzero(detected[first : last + 1])
            if hits.size:
                tp += 1
                raw += profile.tp_weight * float(geo.tp_unit[first + hits[0]])
            else:
                fn += 1
                raw -= profile.fn_weight
    null, perfect = _null_and_perfect(corpus, profile)
    return ProfileScore(profile.name, float(threshold), raw, null, perfect, tp, fp, fn)


def sweep_thresholds(
    corpus: NabCorpus, scores: Mapping[str, np.ndarray], profile: Profile
) -> tuple[np.ndarray, np.ndarray]:
    """Raw score at every candidate threshold, in one pass over the sorted scores.

    Candidates are ``inf`` (never fire, the null score) and every distinct finite
    score, in descending order. Lowering the threshold past a row changes the raw
    score by that row's own term: its false-positive cost, or for a window row the
    gain from moving the window's earliest detection to it (from ``-fn`` for the
    first). A tie group is taken whole, as ``>=`` demands.

    Returns
    -------
    thresholds, raws : ndarray
        Same length; ``raws[k]`` is the raw score at ``thresholds[k]``.
    """
    cleaned = _clean_scores(corpus, scores)
    all_scores = np.concatenate(cleaned) if cleaned else np.empty(0)
    delta = np.zeros(all_scores.shape)
    offset = 0
    for nab_file, s in zip(corpus, cleaned, strict=True):
        geo = _geometry(nab_file)
        delta[offset : offset + len(s)][geo.outside] = profile.fp_weight * geo.fp_unit[geo.outside]
        for first, last in nab_file.windows:
            rows = np.arange(max(first, geo.probation), last + 1)
            if rows.size == 0:
                continue
            by_score = rows[np.argsort(-s[rows], kind="stable")]
            credit = profile.tp_weight * geo.tp_unit[np.minimum.accumulate(by_score)]
            delta[offset + by_score] = np.diff(credit, prepend=-profile.fn_weight)
        offset += len(s)
    order = np.argsort(-all_scores, kind="stable")
    order = order[all_scores[order] > -np.inf]
    ranked = all_scores[order]
    null, _ = _null_and_perfect(corpus, profile)
    if ranked.size == 0:
        return np.array([np.inf]), np.array([null])
    raws = null + np.cumsum(delta[order])
    group_ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    return np.append(np.inf, ranked[group_ends]), np.append(null, raws[group_ends])


def score_best_threshold(corpus: NabCorpus, scores: Mapping[str, np.ndarray], profile: Profile) -> ProfileScore:
    """The threshold with the highest raw score over the corpus, and its score.

    Among equal raw scores the highest threshold (fewest detections) wins. Raw
    score and counts are recomputed at that threshold, so they carry no sum drift.
    """
    thresholds, raws = sweep_thresholds(corpus, scores, profile)
    return score_at_threshold(corpus, scores, profile, float(thresholds[int(np.argmax(raws))]))

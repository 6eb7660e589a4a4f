"""NAB scoring: hand-computed cases, sweep against a naive scorer, the real corpus.

Expected numbers are derived here from the formulas in ``data/nab/README.md``,
written out again (``A`` below), not taken from the implementation.
"""

from __future__ import annotations

import calendar
import json
import math
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from udfs.detectors.base import Verdict
from udfs.evaluation import (
    PROFILES,
    NabCorpus,
    NabFile,
    evaluate,
    evaluate_scores,
    load_corpus,
    profile_named,
    run_detector,
    score_at_threshold,
    score_best_threshold,
    sweep_thresholds,
)

NAB_DIR = Path(__file__).resolve().parents[2] / "data" / "nab"
STANDARD = profile_named("standard")
LOW_FN = profile_named("reward_low_FN_rate")
MINUTE = 60 * 10**9


def A(y: float) -> float:
    """README step 2, the scaled sigmoid."""
    return -1.0 if y > 3 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def synthetic(n: int, windows: tuple[tuple[int, int], ...], key: str = "synthetic/a.csv") -> NabFile:
    timestamps = np.arange(n, dtype=np.int64) * MINUTE
    return NabFile(key, timestamps, np.zeros(n), windows)


# n = 40 rows: probation = min(floor(0.15 * 40), 750) = 6 rows; one window, rows 20..24.
N, FIRST, LAST = 40, 20, 24
W = LAST - FIRST + 1
ONE_WINDOW = NabCorpus((synthetic(N, ((FIRST, LAST),)),))
KEY = "synthetic/a.csv"


def fire_at(rows: list[int], n: int = N) -> np.ndarray:
    scores = np.zeros(n)
    scores[rows] = 1.0
    return scores


def at_one(corpus: NabCorpus, rows: list[int], profile=STANDARD, key: str = KEY):
    return score_at_threshold(corpus, {key: fire_at(rows, len(corpus[key]))}, profile, 1.0)


# --- hand-computed cases -----------------------------------------------------------


def test_detection_at_right_edge_earns_little() -> None:
    s = at_one(ONE_WINDOW, [LAST])
    raw = 1.0 * A(-(LAST - LAST + 1) / W) / A(-1)  # y = -1/5
    assert s.raw == pytest.approx(raw)
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)
    assert s.null == -1.0 and s.perfect == 1.0
    assert s.normalised == pytest.approx(100 * (raw + 1) / 2)


def test_detection_at_left_edge_earns_the_full_weight() -> None:
    s = at_one(ONE_WINDOW, [FIRST])
    assert s.raw == pytest.approx(A(-W / W) / A(-1)) and s.raw == pytest.approx(1.0)
    assert s.normalised == pytest.approx(100.0)


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    s = at_one(ONE_WINDOW, [FIRST + 2, LAST, FIRST + 1])
    assert s.raw == pytest.approx(A(-(LAST - (FIRST + 1) + 1) / W) / A(-1))
    assert (s.tp, s.fp, s.fn) == (1, 0, 0)


def test_false_positive_before_any_window_costs_fp_weight() -> None:
    s = at_one(ONE_WINDOW, [10])
    assert s.raw == pytest.approx(-1.0 - 0.11)  # missed window + lone FP
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)
    assert s.normalised == pytest.approx(100 * (-1.11 + 1) / 2)


def test_false_positive_after_a_window_is_scored_relative_to_it() -> None:
    s = at_one(ONE_WINDOW, [FIRST, 27])
    assert s.raw == pytest.approx(1.0 + 0.11 * A(abs(27 - LAST) / (W - 1)))  # y = 0.75
    assert (s.tp, s.fp, s.fn) == (1, 1, 0)
    far = at_one(ONE_WINDOW, [39])  # y = 15 / 4 > 3
    assert far.raw == pytest.approx(-1.0 + 0.11 * -1.0)


def test_detections_in_the_probationary_period_are_ignored() -> None:
    s = at_one(ONE_WINDOW, [0, 3, 5])
    assert s.raw == -1.0 and (s.tp, s.fp, s.fn) == (0, 0, 1)


def test_no_detection_scores_null() -> None:
    s = at_one(ONE_WINDOW, [])
    assert s.raw == s.null == -1.0 and s.normalised == 0.0


def test_other_profiles_weigh_misses_and_normalise_with_their_own_null() -> None:
    s = at_one(ONE_WINDOW, [LAST], profile=LOW_FN)
    raw = A(-1 / W) / A(-1)
    assert (s.null, s.perfect) == (-2.0, 1.0)
    assert s.normalised == pytest.approx(100 * (raw + 2) / 3)
    assert at_one(ONE_WINDOW, [10], profile=profile_named("reward_low_FP_rate")).raw == pytest.approx(-1.22)


def test_fp_between_windows_uses_the_previous_window() -> None:
    corpus = NabCorpus((synthetic(100, ((30, 39), (60, 64))),))  # probation 15 rows
    s = at_one(corpus, [50, 60, 70])
    expected = 0.11 * A(abs(50 - 39) / (10 - 1)) - 1.0 + 1.0 + 0.11 * A(abs(70 - 64) / (5 - 1))
    assert s.raw == pytest.approx(expected)
    assert (s.tp, s.fp, s.fn) == (1, 2, 1)


def test_fp_after_a_one_row_window_costs_fp_weight() -> None:
    corpus = NabCorpus((synthetic(100, ((30, 30),)),))
    assert at_one(corpus, [30, 31]).raw == pytest.approx(1.0 - 0.11)  # w_prev - 1 = 0: y = inf


def test_window_reaching_into_probation_is_only_detectable_after_it() -> None:
    corpus = NabCorpus((synthetic(N, ((3, 8),)),))  # probation rows 0..5
    assert at_one(corpus, [4]).raw == -1.0
    assert at_one(corpus, [4, 6]).raw == pytest.approx(A(-(8 - 6 + 1) / 6) / A(-1))


def test_perfect_ish_detector_scores_near_100() -> None:
    corpus = NabCorpus((synthetic(200, ((60, 79), (120, 139))),))
    scores = {KEY: fire_at([61, 121], 200)}
    s = score_best_threshold(corpus, scores, STANDARD)
    raw = 2 * A(-(79 - 61 + 1) / 20) / A(-1)
    assert s.threshold == 1.0 and s.raw == pytest.approx(raw)
    assert s.normalised == pytest.approx(100 * (raw + 2) / 4)
    assert 95 < s.normalised < 100


def test_detector_that_never_fires_scores_exactly_zero() -> None:
    report = evaluate_scores(ONE_WINDOW, {KEY: np.full(N, np.nan)}, verdicts={KEY: np.zeros(N, dtype=bool)})
    assert report.own_verdict is not None
    for s in (*report.best_threshold, *report.own_verdict):
        assert s.normalised == 0.0 and (s.tp, s.fp, s.fn) == (0, 0, 1)
    assert report.best_threshold[0].threshold == math.inf


def test_detector_that_fires_everywhere_scores_negative() -> None:
    report = evaluate_scores(ONE_WINDOW, {KEY: np.ones(N)}, verdicts={KEY: np.ones(N, dtype=bool)})
    assert report.own_verdict is not None
    own = report.own_verdict[0]
    before = sum(-0.11 for _ in range(6, FIRST))  # rows after probation, before the window
    after = sum(0.11 * A((i - LAST) / (W - 1)) for i in range(LAST + 1, N))
    raw = 1.0 + before + after  # the window is caught at its left edge
    assert own.raw == pytest.approx(raw) and own.threshold == 1.0
    assert own.normalised == pytest.approx(100 * (raw + 1) / 2) and own.normalised < 0
    assert (own.tp, own.fp, own.fn) == (1, (FIRST - 6) + (N - LAST - 1), 0)
    # the sweep may always fall back to never firing
    assert report.best_threshold[0].normalised == 0.0


def test_one_threshold_for_the_whole_corpus() -> None:
    a, b = synthetic(N, ((FIRST, LAST),), "s/a.csv"), synthetic(N, ((FIRST, LAST),), "s/b.csv")
    corpus = NabCorpus((a, b))
    sa, sb = np.zeros(N), np.zeros(N)
    sa[FIRST], sa[10], sb[FIRST] = 0.9, 0.5, 0.5
    # theta 0.9: 1 - 1 = 0; theta 0.5: (1 - 0.11) + 1 = 1.89; theta inf: -2 (file a alone prefers 0.9)
    s = score_best_threshold(corpus, {"s/a.csv": sa, "s/b.csv": sb}, STANDARD)
    assert s.threshold == 0.5 and s.raw == pytest.approx(1.89) and (s.tp, s.fp, s.fn) == (2, 1, 0)


def test_sweep_takes_tied_scores_together() -> None:
    scores = np.zeros(N)
    scores[[10, FIRST + 2]] = 0.7
    scores[FIRST] = 0.3
    thresholds, raws = sweep_thresholds(ONE_WINDOW, {KEY: scores}, STANDARD)
    assert list(thresholds[:3]) == [math.inf, 0.7, 0.3]
    assert raws[:3] == pytest.approx([-1.0, -0.11 + A(-(LAST - FIRST - 2 + 1) / W) / A(-1), -0.11 + 1.0])


def test_unbounded_and_infinite_scores_are_fine() -> None:
    scores = np.full(N, -1e9)
    scores[FIRST], scores[10] = np.inf, 1e12
    thresholds, raws = sweep_thresholds(ONE_WINDOW, {KEY: scores}, STANDARD)
    assert len(thresholds) == 4 and raws[1] == pytest.approx(1.0)
    assert score_best_threshold(ONE_WINDOW, {KEY: scores}, STANDARD).raw == pytest.approx(1.0)


def test_scores_must_match_the_files() -> None:
    with pytest.raises(KeyError):
        score_best_threshold(ONE_WINDOW, {}, STANDARD)
    with pytest.raises(ValueError):
        score_best_threshold(ONE_WINDOW, {KEY: np.zeros(N - 1)}, STANDARD)


# --- the sweep against brute force on the real corpus -----------------------------


@pytest.fixture(scope="module")
def corpus() -> NabCorpus:
    return load_corpus(NAB_DIR)


def naive_raw(corpus: NabCorpus, scores: dict[str, np.ndarray], profile, theta: float) -> float:
    """README steps 1-5 as a plain loop over rows."""
    total = 0.0
    for f in corpus:
        n, s = len(f), scores[f.key]
        probation = min(math.floor(0.15 * n), 750)
        detected = [i >= probation and not math.isnan(s[i]) and s[i] >= theta for i in range(n)]
        for first, last in f.windows:
            hit = next((i for i in range(first, last + 1) if detected[i]), None)
            w = last - first + 1
            total += -profile.fn_weight if hit is None else profile.tp_weight * A(-(last - hit + 1) / w) / A(-1)
        for i in range(n):
            if not detected[i] or any(first <= i <= last for first, last in f.windows):
                continue
            before = [(first, last) for first, last in f.windows if last < i]
            if not before:
                total -= profile.fp_weight
            else:
                first, last = before[-1]
                total += profile.fp_weight * A(abs(i - last) / (last - first + 1 - 1))
    return total


def random_scores(corpus: NabCorpus, levels: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = {}
    for f in corpus:
        s = rng.integers(0, levels, len(f)) / levels
        s[rng.random(len(f)) < 0.05] = np.nan
        scores[f.key] = s
    return scores


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_sweep_equals_naive_rescoring_at_every_threshold(corpus: NabCorpus, profile) -> None:
    subset = corpus.subset(
        [
            "realAdExchange/exchange-3_cpc_results.csv",
            "realTraffic/speed_7578.csv",
            "realKnownCause/rogue_agent_key_hold.csv",
        ]
    )
    scores = random_scores(subset, levels=25, seed=1)
    thresholds, raws = sweep_thresholds(subset, scores, profile)
    finite = np.concatenate([s[~np.isnan(s)] for s in scores.values()])
    assert list(thresholds) == [math.inf, *sorted(set(finite.tolist()), reverse=True)]
    for theta, raw in zip(thresholds, raws, strict=True):
        assert raw == pytest.approx(naive_raw(subset, scores, profile, theta), abs=1e-9)


def test_sweep_equals_rescoring_at_every_threshold_on_the_whole_corpus(corpus: NabCorpus) -> None:
    scores = random_scores(corpus, levels=150, seed=2)
    thresholds, raws = sweep_thresholds(corpus, scores, STANDARD)
    assert len(thresholds) == 151
    for theta, raw in zip(thresholds, raws, strict=True):
        assert raw == pytest.approx(score_at_threshold(corpus, scores, STANDARD, theta).raw, rel=1e-12)
    best = score_best_threshold(corpus, scores, STANDARD)
    assert best.raw == pytest.approx(raws.max(), rel=1e-12)
    assert best.threshold == thresholds[np.argmax(raws)]


def test_whole_corpus_scoring_takes_seconds_at_most(corpus: NabCorpus) -> None:
    rng = np.random.default_rng(3)
    scores = {f.key: rng.random(len(f)) for f in corpus}
    verdicts = {f.key: rng.random(len(f)) < 0.01 for f in corpus}
    start = time.perf_counter()
    report = evaluate_scores(corpus, scores, verdicts=verdicts, detector="random")
    assert time.perf_counter() - start < 5.0
    assert report.own_verdict is not None
    assert len(report.best_threshold) == len(report.own_verdict) == 3
    # random beats never firing once a threshold is picked for it
    assert all(s.normalised > 0 for s in report.best_threshold)


# --- loading ----------------------------------------------------------------------


def parse_ns(stamp: str) -> int:
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S"
    moment = datetime.strptime(stamp, fmt)
    return calendar.timegm(moment.timetuple()) * 10**9 + moment.microsecond * 1000


def test_corpus_is_the_26_labelled_files(corpus: NabCorpus) -> None:
    assert len(corpus) == 26 and corpus.n_windows == sum(len(f.windows) for f in corpus)
    labels = json.loads((NAB_DIR / "labels" / "combined_windows.json").read_text())
    assert all(len(f.windows) == len(labels[f.key]) for f in corpus)
    taxi = corpus["realKnownCause/nyc_taxi.csv"]
    assert taxi.timestamps.dtype == np.int64 and taxi.values.dtype == np.float64
    assert taxi.timestamps[0] == parse_ns("2014-07-01 00:00:00") and taxi.values[0] == 10844.0


@pytest.mark.parametrize(
    "key", ["realKnownCause/nyc_taxi.csv", "realKnownCause/machine_temperature_system_failure.csv"]
)
def test_windows_map_to_the_rows_inside_them(corpus: NabCorpus, key: str) -> None:
    labels = json.loads((NAB_DIR / "labels" / "combined_windows.json").read_text())[key]
    lines = (NAB_DIR / "data" / key).read_text().splitlines()[1:]
    stamps = [parse_ns(line.split(",")[0]) for line in lines]
    windows = corpus[key].windows
    assert len(windows) == len(labels)
    for (first, last), (start, end) in zip(windows, labels, strict=True):
        lo, hi = parse_ns(start), parse_ns(end)
        inside = [i for i, t in enumerate(stamps) if lo <= t <= hi]
        assert (first, last) == (inside[0], inside[-1]) and len(inside) == last - first + 1
    if key.endswith("nyc_taxi.csv"):  # half-hourly; the first window is 2014-10-30 15:30 .. 2014-11-03 22:30
        assert windows[0][0] == stamps.index(parse_ns("2014-10-30 15:30:00"))
        assert windows[0][1] - windows[0][0] + 1 == (4 * 24 + 7) * 2 + 1


def write_nab_dir(root: Path, windows: dict[str, list[list[str]]], n: int = N) -> None:
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = [f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{float(i)}" for i in range(n)]
    (root / "data" / "synthetic" / "a.csv").write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def test_load_rejects_unlabelled_files_and_empty_windows(tmp_path: Path) -> None:
    write_nab_dir(tmp_path / "a", {})
    with pytest.raises(ValueError, match="no entry"):
        load_corpus(tmp_path / "a")
    write_nab_dir(tmp_path / "b", {KEY: [["2021-01-01 00:00:00.000000", "2021-01-02 00:00:00.000000"]]})
    with pytest.raises(ValueError, match="covers no row"):
        load_corpus(tmp_path / "b")


# --- running detectors --------------------------------------------------------------


class FiresAtValue:
    """A stub detector: NaN for two rows, then score = value, flagged when value == target."""

    name = "fires_at"
    built = 0

    def __init__(self, target: float) -> None:
        FiresAtValue.built += 1
        self.target = target
        self.seen: list[int] = []

    def update(self, t: int, x: float) -> Verdict:
        assert isinstance(t, int) and isinstance(x, float)
        self.seen.append(t)
        score = math.nan if len(self.seen) <= 2 else x
        return Verdict(score, x == self.target)


def test_run_detector_streams_every_file_through_a_fresh_detector(corpus: NabCorpus) -> None:
    subset = corpus.subset(["realTraffic/speed_7578.csv", "realKnownCause/rogue_agent_key_hold.csv"])
    built: list[FiresAtValue] = []

    def factory() -> FiresAtValue:
        built.append(FiresAtValue(-1.0))
        return built[-1]

    run = run_detector(factory, subset, progress=False)
    assert run.detector == "fires_at" and len(built) == 2
    for detector, f in zip(built, subset, strict=True):
        assert detector.seen == f.timestamps.tolist()
        assert np.isnan(run.scores[f.key][:2]).all()
        np.testing.assert_array_equal(run.scores[f.key][2:], f.values[2:])
        assert not run.verdicts[f.key].any()


def test_evaluate_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_nab_dir(tmp_path, {KEY: [["2020-01-01 00:20:00.000000", "2020-01-01 00:24:00.000000"]]})
    report = evaluate(lambda: FiresAtValue(float(FIRST)), tmp_path)  # the value at row i is i
    captured = capsys.readouterr()
    assert captured.out == "" and "NAB" in captured.err  # the progress bar goes to stderr
    # best threshold: score = value = row index, so theta = k fires every row >= k. Lower than 20
    # adds FPs before the window, 21..24 catch it later, above 24 misses it; so 20 wins if it
    # beats never firing: the window at its left edge, then rows 25..39 as FPs after it.
    raw_at_20 = 1.0 + sum(0.11 * A((i - LAST) / (W - 1)) for i in range(LAST + 1, N))
    assert raw_at_20 > -1.0
    best = report.best_threshold[0]
    assert best.threshold == 20.0 and best.raw == pytest.approx(raw_at_20)
    assert (best.tp, best.fp, best.fn) == (1, N - LAST - 1, 0)
    assert report.own_verdict is not None
    own = report.own_verdict[0]
    assert own.raw == pytest.approx(1.0) and own.normalised == pytest.approx(100.0)
    table = report.to_markdown().splitlines()
    assert table[0] == (
        "| detector | standard | low FP | low FN | standard (own verdict) "
        "| low FP (own verdict) | low FN (own verdict) |"
    )
    assert table[1] == "|" + " --- |" * 7
    assert table[2].startswith("| fires_at | ") and table[2].endswith(" | 100.0 | 100.0 | 100.0 |")
    assert report.to_markdown(header=False) == table[2]
    assert "| own verdict | standard | 1 | 1.000 | 100.0 | 1 | 0 | 0 |" in report.details_markdown()


def test_cli_random_baseline_row_is_reproducible() -> None:
    from click.testing import CliRunner

    from udfs.evaluation.cli import evaluate

    data = Path(__file__).resolve().parents[2] / "data" / "nab"
    runs = [
        CliRunner().invoke(evaluate, ["nab", "--data-dir", str(data), "--markdown", "-d", "zscore",
                                      "--random-baseline", "0", "--no-progress"])
        for _ in range(2)
    ]
    assert runs[0].exit_code == 0, runs[0].output
    rows = [line for line in runs[0].output.splitlines() if line.startswith("| random (seed 0)")]
    assert len(rows) == 1 and rows[0].endswith("| n/a | n/a | n/a |")
    assert runs[0].output == runs[1].output


def test_detector_specs_read_durations_with_their_unit() -> None:
    import pytest as _pytest

    from udfs.detectors import REGISTRY
    from udfs.evaluation.cli import _typed, parse_detector_spec
    from udfs.params.constraints import InvalidParameterError

    name, params = parse_detector_spec("sigma:full_duration=10d,consensus=5")
    assert _typed(REGISTRY[name], params) == {"full_duration": 10 * 86_400 * 10**9, "consensus": 5}
    with _pytest.raises(InvalidParameterError, match="full_duration .* with its unit"):
        _typed(REGISTRY["sigma"], {"full_duration": 864000})  # seconds as before: refused, not read as 864 us

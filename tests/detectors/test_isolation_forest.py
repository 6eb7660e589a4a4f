"""``IsolationForestDetector`` against scikit-learn's ``IsolationForest`` itself.

The reference is the obvious use of scikit-learn: fit an ``IsolationForest`` with the
same parameters and seed on the same training vectors, score with
``-decision_function``. The detector must give the same scores (to 12 decimals, its
rounding) and verdicts at every step, through refits, lags and snapshots.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from udfs.detectors._flat_forest import FlatForest
from udfs.detectors.isolation_forest import IsolationForestDetector


def stream(n: int, dims: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 1.0, (n, dims)) + np.linspace(0.0, 3.0, n)[:, None]
    spikes = rng.random(n) < 0.03
    data[spikes] += rng.choice([-6.0, 6.0], (spikes.sum(), dims))
    return data


def reference_scores(train: np.ndarray, test: np.ndarray, *, seed: int, **params: object) -> np.ndarray:
    model = IsolationForest(random_state=seed, **params).fit(train)  # type: ignore[arg-type]
    return np.round(-model.decision_function(test), 12)


@pytest.mark.parametrize(
    ("dims", "contamination", "n_estimators", "train_size"),
    [(3, 0.0, 50, 300), (1, 0.0, 20, 40), (2, 0.05, 30, 500), (4, 0.5, 10, 257)],
)
def test_scores_are_scikit_learns(dims: int, contamination: float, n_estimators: int, train_size: int) -> None:
    # The detector's contamination 0 is scikit-learn's "auto".
    data = stream(train_size + 200, dims, seed=dims)
    detector = IsolationForestDetector(  # threshold 0: scikit-learn's predict
        n_estimators=n_estimators, contamination=contamination, train_size=train_size, seed=11, threshold=0.0
    )
    verdicts = [detector.update(i, row.tolist()) for i, row in enumerate(data)]
    assert all(math.isnan(v.score) and not v.is_anomaly for v in verdicts[:train_size])
    expected = reference_scores(
        data[:train_size], data[train_size:], seed=11, n_estimators=n_estimators,
        contamination=contamination or "auto",
    )
    assert [v.score for v in verdicts[train_size:]] == expected.tolist()
    assert [v.is_anomaly for v in verdicts[train_size:]] == (expected > 0).tolist()
    assert any(v.is_anomaly for v in verdicts[train_size:])


def test_flat_forest_is_bit_for_bit_scikit_learn() -> None:
    for n, dims, contamination in ((1, 2, "auto"), (3, 1, "auto"), (1000, 3, 0.1), (5000, 5, "auto")):
        train, test = stream(n, dims, seed=n), stream(300, dims, seed=n + 1) * 1.5
        model = IsolationForest(random_state=2, contamination=contamination).fit(train)
        forest = FlatForest(model)
        assert [forest.score(row) for row in test] == (-model.decision_function(test)).tolist()


def test_refits_use_the_latest_train_size_vectors() -> None:
    data = stream(400, 2, seed=5)
    detector = IsolationForestDetector(n_estimators=20, train_size=100, refit_every=60, seed=4)
    scores = [detector.update(i, row).score for i, row in enumerate(data)]
    # Fits after points 100, 160, 220, ...: each on the 100 vectors before it.
    for start in (100, 160, 340):
        end = min(start + 60, len(data))
        expected = reference_scores(data[start - 100 : start], data[start:end], seed=4, n_estimators=20)
        assert scores[start:end] == expected.tolist(), start


def test_lags_score_windows_of_one_field() -> None:
    values = stream(300, 1, seed=8)[:, 0]
    detector = IsolationForestDetector(n_estimators=20, train_size=100, lags=3, seed=1)
    verdicts = [detector.update(i, float(x)) for i, x in enumerate(values)]
    windows = np.lib.stride_tricks.sliding_window_view(values, 4)  # [x(t-3), ..., x(t)] for t >= 3
    # The first 3 points only fill the lags; windows 0..99 (points 3..102) train.
    assert all(math.isnan(v.score) for v in verdicts[:103])
    expected = reference_scores(windows[:100], windows[100:], seed=1, n_estimators=20)
    assert [v.score for v in verdicts[103:]] == expected.tolist()


def test_non_finite_values_keep_the_lags_intact() -> None:
    detector = IsolationForestDetector(train_size=10, n_estimators=5, lags=2)
    for i, x in enumerate([1.0, 2.0, math.nan, 3.0]):
        detector.update(i, x)
    assert detector.state_dict()["lagged"] == [2.0, 3.0]
    assert detector.state_dict()["history"] == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize("cut", [0, 99, 100, 150, 399])
def test_snapshot_round_trip_gives_identical_verdicts(cut: int) -> None:
    data = stream(600, 3, seed=3)
    original = IsolationForestDetector(n_estimators=20, train_size=100, refit_every=70, seed=9)
    for i, row in enumerate(data[:cut]):
        original.update(i, row)
    text = json.dumps(original.state_dict())  # plain JSON: numbers and lists, no pickle
    restored = IsolationForestDetector.from_state(json.loads(text))
    assert json.dumps(restored.state_dict()) == text
    for i, row in enumerate(data[cut:], start=cut):
        a, b = original.update(i, row), restored.update(i, row)
        assert (a.score, a.is_anomaly) == (b.score, b.is_anomaly) or (math.isnan(a.score) and math.isnan(b.score))


def test_fitting_in_pieces_is_fitting_inline() -> None:
    data = stream(300, 2, seed=6)
    inline = IsolationForestDetector(n_estimators=15, train_size=80, refit_every=50)
    pieces = IsolationForestDetector(n_estimators=15, train_size=80, refit_every=50)
    pieces.fit_inline = False
    for i, row in enumerate(data):
        a = inline.update(i, row)
        b = pieces.update(i, row)
        assert a == b or (math.isnan(a.score) and math.isnan(b.score))
        if pieces.needs_fit():
            training = pieces.begin_fit()
            before = json.dumps(pieces.state_dict())
            forest = pieces.fit_model(training)  # what the UDF runs on its thread: touches nothing
            assert json.dumps(pieces.state_dict()) == before and pieces.needs_fit() is False
            pieces.install_model(forest)


def test_a_pretrained_model_is_used_as_is() -> None:
    data = stream(300, 3, seed=4)
    model = IsolationForest(n_estimators=40, random_state=0).fit(data[:200])
    detector = IsolationForestDetector(train_size=10)
    detector.use_model(model)
    scores = [detector.update(i, row).score for i, row in enumerate(data[200:])]
    assert scores == np.round(-model.decision_function(data[200:]), 12).tolist()
    state = detector.state_dict()
    assert state["external"] is True and state["history"] == [] and detector.needs_fit() is False
    restored = IsolationForestDetector.from_state(state)
    assert math.isnan(restored.score_one(0, data[0]).score)  # until the model is given again
    restored.use_model(model)
    assert restored.score_one(0, data[0]).score == detector.score_one(0, data[0]).score
    with pytest.raises(ValueError, match="takes 3 values per point, this detector 5"):
        IsolationForestDetector(lags=4).use_model(model)
    for wrong in (IsolationForest(), {"estimators_": []}):
        with pytest.raises(ValueError, match="expected a fitted scikit-learn IsolationForest"):
            IsolationForestDetector().use_model(wrong)


def test_inconsistent_vectors_are_refused() -> None:
    detector = IsolationForestDetector(train_size=10)
    detector.update(0, [1.0, 2.0])
    with pytest.raises(ValueError, match="must have 2 values"):
        detector.update(1, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="one value"):
        IsolationForestDetector(lags=2).update(0, [1.0, 2.0])


def test_a_constant_series_is_not_anomalous() -> None:
    # scikit-learn scores it -1e-16 (decision_function): every point an outlier. Rounded here: 0.
    model = IsolationForest(n_estimators=20, random_state=0).fit(np.full((50, 3), 5.0))
    assert model.predict([[5.0, 5.0, 5.0]])[0] == -1
    detector = IsolationForestDetector(train_size=50, n_estimators=20)
    verdicts = [detector.update(i, [5.0, 5.0, 5.0]) for i in range(60)]
    assert [v.score for v in verdicts[50:]] == [0.0] * 10 and not any(v.is_anomaly for v in verdicts)


def test_input_kind_follows_lags() -> None:
    assert IsolationForestDetector.input_kind_of(IsolationForestDetector(lags=3).params()) == "float"
    assert IsolationForestDetector.input_kind_of(IsolationForestDetector().params()) == "vector"


@pytest.mark.parametrize("dims", [1, 3])
def test_default_verdicts_do_not_flag_normal_data(dims: int) -> None:
    """By default a point must be as isolated as the most isolated 0.5% of the training points.

    scikit-learn's cut-off (score > 0, the threshold before) flagged 13 to 25% of such
    points; this cut about one in a hundred or fewer, and still a point 6 sd out on every axis.
    """
    rng = np.random.default_rng(20 + dims)
    detector = IsolationForestDetector()
    for i, row in enumerate(rng.normal(size=(500, dims))):
        detector.update(i, row.tolist())
    normal = [detector.update(500 + i, row.tolist()).is_anomaly for i, row in enumerate(rng.normal(size=(5000, dims)))]
    assert sum(normal) <= 75, sum(normal)  # 1.5%; measured 0.1 to 1.1% over seeds and dims
    assert detector.update(6000, [6.0] * dims).is_anomaly
    training = sorted(detector.score_one(0, row).score for row in detector.training_set())
    assert detector.cut == training[-3]  # 1 - 0.005 of 500, the higher order statistic: the 3rd highest
    if dims == 1:  # beyond either end of the range
        assert detector.update(6001, [-6.0]).is_anomaly
    sklearn_cut = IsolationForestDetector(threshold=0.0)
    for i, row in enumerate(rng.normal(size=(500, dims))):
        sklearn_cut.update(i, row.tolist())
    flagged = sum(sklearn_cut.update(i, row.tolist()).is_anomaly for i, row in enumerate(rng.normal(size=(2000, dims))))
    assert flagged > 200  # what the default was: > 10% of normal points

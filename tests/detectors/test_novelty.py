"""lof, one_class_svm, dbscan and pca against scikit-learn called directly on the same windows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.decomposition import PCA
from sklearn.neighbors import LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM

from udfs.detectors import REGISTRY

HISTORY, LAGS = 120, 3


def windows(values: np.ndarray) -> np.ndarray:
    return np.stack([values[LAGS - k: len(values) - k] for k in range(LAGS + 1)], axis=1)


def direct(name: str, train: np.ndarray, probe: np.ndarray) -> tuple[float, np.ndarray]:
    """(raw score of probe, calibration scores), computed straight from scikit-learn."""
    if name == "lof":
        model = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(train)
        return -model.score_samples(probe[None])[0], -model.negative_outlier_factor_
    if name == "one_class_svm":
        half = len(train) // 2
        model = OneClassSVM(nu=0.05, gamma="scale").fit(train[:half])
        return -model.decision_function(probe[None])[0], -model.decision_function(train[half:])
    if name == "pca":
        model = PCA(n_components=1, random_state=0).fit(train)

        def error(x: np.ndarray) -> np.ndarray:
            return ((x - model.inverse_transform(model.transform(x))) ** 2).sum(axis=1)

        return error(probe[None])[0], error(train)
    cores = train[DBSCAN(eps=0.5, min_samples=5).fit(train).core_sample_indices_]
    index = NearestNeighbors(n_neighbors=2).fit(cores)
    own = index.kneighbors(train)[0]
    is_core = (own[:, 0] == 0)
    return index.kneighbors(probe[None], n_neighbors=1)[0][0, 0], np.where(is_core, own[:, 1], own[:, 0])


@pytest.mark.parametrize("name", ["lof", "one_class_svm", "pca", "dbscan"])
@pytest.mark.parametrize("probe_value", [0.3, 2.5, 8.0])
def test_scores_and_p_values_equal_scikit_learn_on_the_same_window(name: str, probe_value: float) -> None:
    rng = np.random.default_rng(5)
    values = np.sin(np.arange(HISTORY + LAGS) / 4.0) + rng.normal(0, 0.2, HISTORY + LAGS)
    detector = REGISTRY[name](history=HISTORY, lags=LAGS, refit_every=0)
    for i, v in enumerate(values):
        detector.update(i, float(v))
    rows = windows(values)
    centre, scale = rows.mean(axis=0), rows.std(axis=0)
    probe = (np.array([probe_value, *values[::-1][:LAGS]]) - centre) / scale
    raw, calibration = direct(name, (rows - centre) / scale, probe)
    verdict = detector.score_one(len(values), probe_value)
    assert verdict.details["raw_score"] == pytest.approx(raw, rel=1e-9, abs=1e-12)
    p = (1 + np.sum(calibration >= raw)) / (len(calibration) + 1)
    assert verdict.details["p_value"] == pytest.approx(p)
    assert verdict.is_anomaly == (p <= 1 / (len(calibration) + 1))


@pytest.mark.parametrize("name", ["lof", "one_class_svm", "pca", "dbscan"])
def test_restore_mid_stream_continues_exactly(name: str) -> None:
    rng = np.random.default_rng(8)
    values = (np.sin(np.arange(700) / 6.0) + rng.normal(0, 0.2, 700)).tolist()
    params = {"history": 100, "refit_every": 150}
    whole = REGISTRY[name](**params)
    expected = [whole.update(i, v).score for i, v in enumerate(values)]
    first = REGISTRY[name](**params)
    got = [first.update(i, v).score for i, v in enumerate(values[:333])]
    second = type(first).from_state(first.state_dict())
    got += [second.update(333 + i, v).score for i, v in enumerate(values[333:])]
    np.testing.assert_array_equal(np.array(got), np.array(expected))

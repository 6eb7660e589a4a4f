"""A fitted scikit-learn ``IsolationForest`` as flat numpy arrays, to score one point fast.

``IsolationForest.decision_function`` on a single sample walks its trees one by one
in Python: about 5 ms for 100 trees. Here every tree's nodes are concatenated into
one set of arrays and one sample descends all trees at once, one numpy step per
level (at most ``ceil(log2(max_samples))`` levels): tens of microseconds.

The arithmetic is scikit-learn's, in the same order (a leaf contributes its depth
plus the average path length of its training samples, minus one; trees are summed
one after the other; ``2 ** -(mean path / c(max_samples))``), so the scores agree
with scikit-learn's to the last bits; ``tests/detectors/test_isolation_forest.py``
checks them against scikit-learn itself. Only public fitted attributes are read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FlatForest", "average_path_length"]


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n keys."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Depth of every node, the root at 1 (as ``Tree.compute_node_depths``)."""
    depth = np.zeros(len(left), dtype=float)
    depth[0] = 1.0
    for node in range(len(left)):  # sklearn numbers a parent before its children
        if left[node] != -1:
            depth[left[node]] = depth[right[node]] = depth[node] + 1.0
    return depth


class FlatForest:
    """Score vectors with the trees of a fitted ``sklearn.ensemble.IsolationForest``.

    ``score(x)`` is ``-model.decision_function([x])[0]``: higher is more anomalous,
    above 0 is what scikit-learn calls an outlier. About 0.5 MB for 100 trees of 256
    samples; indices stay ``intp``, as numpy's indexing wants them (int32: 2x slower).
    """

    def __init__(self, model: Any) -> None:
        n_features = int(model.n_features_in_)
        if getattr(model, "_max_features", n_features) != n_features:
            raise ValueError("only forests fitted with max_features=1.0 can be scored here")
        lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
        start = levels = 0
        for estimator in model.estimators_:
            tree = estimator.tree_
            left = tree.children_left.astype(np.intp)
            right = tree.children_right.astype(np.intp)
            leaf = left == -1
            own = np.arange(tree.node_count, dtype=np.intp) + start
            # A leaf points to itself with a test that always holds, so the descent can
            # take the same number of steps in every tree.
            lefts.append(np.where(leaf, own, left + start))
            rights.append(np.where(leaf, own, right + start))
            features.append(np.where(leaf, 0, tree.feature).astype(np.intp))
            thresholds.append(np.where(leaf, np.inf, tree.threshold))
            values.append(_depths(left, right) + average_path_length(tree.n_node_samples) - 1.0)
            roots.append(start)
            levels = max(levels, int(tree.max_depth))
            start += tree.node_count
        self._left = np.concatenate(lefts)
        self._right = np.concatenate(rights)
        self._feature = np.concatenate(features)
        self._threshold = np.concatenate(thresholds)
        self._value = np.concatenate(values)
        self._roots = np.asarray(roots, dtype=np.intp)
        self._levels = levels
        self.n_features = n_features
        self._denominator = len(roots) * float(average_path_length(np.array([model.max_samples_]))[0])
        self._offset = float(model.offset_)
        #: The lowest and highest score of the training vectors, when the fitter sets them (else None).
        self.training_scores: tuple[float, float] | None = None

    def score(self, x: np.ndarray) -> float:
        """``-decision_function`` of one vector of ``n_features`` finite floats."""
        # The trees compare float32 inputs with float64 thresholds, as scikit-learn does.
        x = np.asarray(x, dtype=np.float32).astype(float)
        node = self._roots
        for _ in range(self._levels):
            node = np.where(x[self._feature[node]] <= self._threshold[node], self._left[node], self._right[node])
        depth = np.cumsum(self._value[node])[-1]  # a sequential sum, in tree order, like scikit-learn's
        ratio = depth / self._denominator if self._denominator != 0 else 1.0
        return -(-float(np.power(2.0, -ratio)) - self._offset)

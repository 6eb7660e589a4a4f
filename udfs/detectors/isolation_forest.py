"""Isolation forest (scikit-learn) over a vector per point: several fields, or the lags of one."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from udfs.detectors._flat_forest import FlatForest
from udfs.detectors.base import Detector, Verdict
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_HISTORY, MAX_LAGS, MAX_TREES

__all__ = ["DEFAULT_SHARE", "IsolationForestDetector"]

_NO_SCORE = Verdict(math.nan, False, {})
# Scores are sums of ~100 path lengths: rounding drops the float noise that would put a
# constant series a hair above the threshold (scikit-learn calls every point of one an outlier).
_SCORE_DIGITS = 12
#: By default a point is an anomaly when it is as isolated as this share of the training points.
DEFAULT_SHARE = 0.005


class IsolationForestDetector(Detector):
    """scikit-learn's ``IsolationForest``, trained on the stream itself, scoring each point.

    Each point is a vector ``x``: the values of one or several fields (a float or a
    sequence of floats, always in the same order), or, with ``lags=k``, one field's
    value at ``t`` with its ``k`` previous values, ``[x(t-k), ..., x(t-1), x(t)]``, so
    that an unusual *shape* stands out even when each value alone is ordinary.

    The first ``train_size`` vectors are collected (scored NaN, never anomalous), then
    a forest is fitted on them and every later point is scored. With ``refit_every=N``
    the forest is refitted on the latest ``train_size`` vectors every N points;
    otherwise it is kept. The score is ``-decision_function(x)`` of the forest::

        score = 2 ** (-E[h(x)] / c(max_samples)) + offset_

    where ``E[h(x)]`` is the mean path length that isolates ``x``, ``c`` the mean path
    length of a binary search tree, and ``offset_`` is -0.5 for
    ``contamination=0`` (scikit-learn's ``"auto"``) or, for a fraction, the level that scikit-learn's score
    exceeds on that fraction of the training vectors. So the score lies in (-1, 1),
    higher is more anomalous, and above 0 is what scikit-learn's ``predict`` calls an
    outlier. Scores are rounded to 12 decimals (see Notes).

    The verdict is a score above ``threshold``; by default (none) a score that
    reaches :attr:`cut`, the level that the most isolated ``DEFAULT_SHARE`` (0.5%) of
    the forest's own training vectors reach (the 3rd highest of 500): what
    scikit-learn's ``contamination=0.005`` would call outliers, without moving the
    score. Reaches, not exceeds: a point beyond the training range takes the same
    path as the most extreme training point, so it ties with it (unless every
    training point ties: a constant series flags nothing). On i.i.d. normal vectors
    of 1 to 3 values (500 training points) that flags 0.1 to 1.1% of new points (new
    points are isolated a little sooner than those the trees were grown on), and
    points 6 sd out on every axis; scikit-learn's cut-off 0 (the default before)
    flags 13 to 25% of normal data, the training maximum 0.01 to 0.1% but misses a
    point beyond the less isolated end of a single value's range. A point far out
    on one axis only is isolated no sooner than the training set's corners (an
    isolation forest's own limit, whatever the cut). A forest given by
    :meth:`use_model` comes without its training vectors, so there the default is
    above 0.

    Parameters
    ----------
    See ``parameters`` (one declaration gives the constructor, the
    ``@isolation_forest()`` options and the docs): ``n_estimators`` trees;
    ``contamination`` sets ``offset_`` as in scikit-learn (0 for its ``"auto"``);
    ``train_size`` vectors are collected before the first fit and make the training
    set of every refit; ``refit_every`` N points after the first fit (0 = never); a
    score above ``threshold`` is an anomaly (none: above every training vector's
    score); ``seed`` is the ``random_state`` of every
    fit (same data, same seed, same forest); ``lags=0``: ``x`` is the vector,
    ``lags=k``: ``x`` is one value and the vector is it and its k predecessors (the
    first k points only fill the lags).

    Notes
    -----
    Fitting comes in pieces so that the UDF can run it on another thread:
    :meth:`needs_fit`, :meth:`begin_fit` (takes the training set), :meth:`fit_model`
    (pure) and :meth:`install_model`; with ``fit_inline`` (the default) ``learn_one``
    does them all. Scoring walks the fitted trees as flat arrays: scikit-learn's
    numbers, ~100x faster for one point. The state is the training data as JSON
    numbers (never a pickle); ``from_state`` refits on it with the same seed, so the
    next verdicts are the same. A constant series scores 0 (scikit-learn: 1e-16).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> detector = IsolationForestDetector(train_size=100, n_estimators=20)
    >>> for i in range(100):
    ...     _ = detector.update(i, [10.0 + rng.normal(), 20.0 + rng.normal()])
    >>> usual, odd = detector.update(100, [10.2, 19.5]), detector.update(101, [15.0, 30.0])
    >>> usual.is_anomaly, round(usual.score, 3), odd.is_anomaly, round(odd.score, 3)
    (False, -0.076, True, 0.261)
    >>> round(detector.cut, 3)  # reached by the most isolated 0.5% of the 100 training points
    0.183
    >>> detector.update(102, [10.2, 35.0]).is_anomaly  # far out on one axis only: isolated no sooner
    False
    """

    name: ClassVar[str] = "isolation_forest"
    input_kind: ClassVar[str] = "vector"
    parameters: ClassVar[ParamSet] = ParamSet(
        lags=Param.integer(0, "0: the fields are the vector. k: one field's value and its k previous values.",
                           low=0, high=MAX_LAGS),
        n_estimators=Param.integer(100, "Trees in the forest.", low=1, high=MAX_TREES),
        contamination=Param.number(0.0, "Expected outlier fraction, sets the score offset; 0 means scikit-learn's "
                                   "'auto'.", low=0.0, high=0.5),
        train_size=Param.integer(500, "Points collected per group before the first fit; the size of every "
                                 "training set.", low=2, high=MAX_HISTORY),
        refit_every=Param.integer(0, "Refit on the latest train_size points every N points; 0 = never.", low=0,
                                  high=MAX_HISTORY),
        threshold=Param.number(None, "Anomaly when the score (-decision_function, in (-1, 1)) exceeds this "
                               "(none: when it reaches the score of the most isolated 0.5% of the training "
                               "points; exceeds 0 for a model from udfs train).",
                               low=-1.0, high=1.0, optional=True),
        seed=Param.integer(0, "Random seed of every fit.", low=0, high=2**32 - 1),
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"train_size": 50, "n_estimators": 20, "refit_every": 25},
        {"train_size": 50, "n_estimators": 20, "refit_every": 25, "lags": 3, "contamination": 0.1},
    )

    lags: int
    n_estimators: int
    contamination: float
    train_size: int
    refit_every: int
    threshold: float | None
    seed: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        lags, train_size, refit_every = self.lags, self.train_size, self.refit_every
        #: Fit inside ``learn_one`` when a fit is due; the UDF sets False and fits on a thread.
        self.fit_inline = True
        # The current forest's training set is the train_size vectors before the last
        # `pending`; the `refit_every` slots after them hold the next one's newest part.
        self._history: deque[list[float]] = deque(maxlen=train_size + refit_every)
        self._lagged: deque[float] = deque(maxlen=lags)
        self._n_features: int | None = None
        self._pending = 0
        self._trained = False  # a training set was taken (its forest may still be fitting)
        self._external = False  # the forest came from outside (use_model): nothing to learn
        self._forest: FlatForest | None = None

    # -- the streaming contract ------------------------------------------------
    def _vector(self, values: np.ndarray) -> np.ndarray | None:
        """The feature vector of finite ``values``; None while the lags fill."""
        if self.lags:
            if values.size != 1:
                raise ValueError(f"with lags={self.lags} x must be one value, got {values.size}")
            if len(self._lagged) < self.lags:
                return None
            values = np.array([*self._lagged, values[0]])
        if self._n_features is not None and values.size != self._n_features:
            raise ValueError(f"x must have {self._n_features} values, as before; got {values.size}")
        return values

    def feature_vector(self, x: Any) -> np.ndarray | None:
        """The vector ``x`` would be scored as now (changes nothing); None: not finite, or lags filling."""
        values = np.asarray(x, dtype=float).ravel()
        if not np.isfinite(values).all():
            return None
        return self._vector(values)

    def score_vector(self, vector: np.ndarray | None) -> Verdict:
        """The verdict on a :meth:`feature_vector` by the current forest (NaN score without one)."""
        if self._forest is None or vector is None:
            return _NO_SCORE
        score = round(self._forest.score(vector), _SCORE_DIGITS)
        scores = self._forest.training_scores
        if self.threshold is None and scores is not None:
            low, top = scores
            # A tie with the top counts (see the class notes), unless every training point ties (constant data).
            anomalous = score > top or (score == top and top > low)
        else:
            anomalous = score > self.cut
        return Verdict(score, anomalous, {})

    @property
    def cut(self) -> float:
        """``threshold``, or the default cut from the training scores (0 for an external model; NaN without one)."""
        if self.threshold is not None:
            return self.threshold
        if self._forest is None:
            return math.nan
        scores = self._forest.training_scores
        return scores[1] if scores is not None else 0.0

    @property
    def has_model(self) -> bool:
        """Whether a forest is installed (points can be scored)."""
        return self._forest is not None

    def score_one(self, t: int, x: Any) -> Verdict:
        if self._forest is None:
            return _NO_SCORE
        return self.score_vector(self.feature_vector(x))

    def learn_one(self, t: int, x: Any) -> None:
        values = np.asarray(x, dtype=float).ravel()
        if not np.isfinite(values).all():
            return
        vector = self._vector(values)
        if self.lags:
            self._lagged.append(float(values[0]))
        if vector is None or self._external or (self._trained and not self.refit_every):
            return
        self._n_features = vector.size
        self._history.append(vector.tolist())
        if self._trained:
            # Past refit_every only while a background refit is late; the oldest part of the
            # current training set is then gone, and a restore refits on what is left.
            self._pending = min(self._pending + 1, self.refit_every)
        if self.fit_inline and self.needs_fit():
            self.install_model(self.fit_model(self.begin_fit()))

    # -- fitting, in pieces the UDF can spread over threads ----------------------
    def needs_fit(self) -> bool:
        """Whether a new training set is due (the first one, or a refit)."""
        if self._external:
            return False
        if not self._trained:
            return len(self._history) >= self.train_size
        return self.refit_every > 0 and self._pending >= self.refit_every

    def begin_fit(self) -> np.ndarray:
        """Take the due training set: from now on it is the current one (state included)."""
        self._trained = True
        self._pending = 0
        return self.training_set()

    def training_set(self) -> np.ndarray:
        """The current forest's training vectors, shape (n, n_features)."""
        rows = list(self._history)
        end = len(rows) - self._pending
        return np.array(rows[max(0, end - self.train_size) : end], dtype=float)

    def fit_estimator(self, data: np.ndarray) -> Any:
        """A scikit-learn ``IsolationForest`` fitted on ``data`` (rows of vectors) with these parameters."""
        from sklearn.ensemble import IsolationForest  # slow import: only once a fit is due

        model = IsolationForest(
            n_estimators=self.n_estimators, contamination=self.contamination or "auto", random_state=self.seed
        )
        return model.fit(data)

    def fit_model(self, data: np.ndarray) -> FlatForest:
        """The forest to install for training set ``data``; pure (touches no state), so thread-safe.

        The forest knows the lowest (rounded) score of ``data`` and the default cut: the
        score that the top ``DEFAULT_SHARE`` of ``data`` reach (the higher order statistic).
        """
        forest = FlatForest(self.fit_estimator(data))
        scores = np.array([round(forest.score(row), _SCORE_DIGITS) for row in data])
        cut = float(np.quantile(scores, 1.0 - DEFAULT_SHARE, method="higher"))
        forest.training_scores = (float(scores.min()), cut)
        return forest

    def install_model(self, forest: FlatForest) -> None:
        """Score with ``forest`` from now on."""
        self._forest = forest

    def use_model(self, model: Any) -> None:
        """Score with a pre-trained ``IsolationForest`` and never fit (nor collect data)."""
        from sklearn.ensemble import IsolationForest

        if not isinstance(model, IsolationForest) or not hasattr(model, "estimators_"):
            raise ValueError(f"expected a fitted scikit-learn IsolationForest, got {type(model).__name__}")
        forest = FlatForest(model)
        expected = self.lags + 1 if self.lags else self._n_features
        if expected is not None and forest.n_features != expected:
            raise ValueError(f"the model takes {forest.n_features} values per point, this detector {expected}")
        self._external, self._trained, self._pending = True, False, 0
        self._history.clear()
        self._n_features = forest.n_features
        self._forest = forest

    @classmethod
    def input_kind_of(cls, params: Mapping[str, Any]) -> str:
        """``"float"`` with lags (one value per point), else ``"vector"``."""
        return "float" if params.get("lags") else "vector"

    @property
    def awaiting_model(self) -> bool:
        """A training set was taken but its forest is not installed (restored, or fitting)."""
        return self._trained and self._forest is None

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(), "history": list(self._history), "lagged": list(self._lagged),
            "n_features": self._n_features, "pending": self._pending, "trained": self._trained,
            "external": self._external,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, fit: bool = True) -> IsolationForestDetector:
        """Rebuild from :meth:`state_dict`; refit on the saved training set unless ``fit=False``.

        An ``external`` detector comes back without its forest: give it again with
        :meth:`use_model`.
        """
        detector = cls(**state["params"])
        detector._history.extend([float(v) for v in row] for row in state["history"])
        detector._lagged.extend(float(v) for v in state["lagged"])
        n_features = state["n_features"]
        detector._n_features = None if n_features is None else int(n_features)
        detector._pending = int(state["pending"])
        detector._trained = bool(state["trained"])
        detector._external = bool(state["external"])
        if not 0 <= detector._pending <= len(detector._history):
            raise ValueError(f"pending {detector._pending} is outside the history")
        widths = {len(row) for row in detector._history}
        if detector._n_features is not None and (detector._n_features < 1 or widths - {detector._n_features}):
            raise ValueError(f"n_features {detector._n_features} does not fit the history's rows")
        if fit and detector.awaiting_model:
            detector.install_model(detector.fit_model(detector.training_set()))
        return detector

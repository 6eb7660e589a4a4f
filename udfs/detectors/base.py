"""The streaming contract every detector follows.

One detector instance watches one series. ``score_one`` looks at a new value
without changing anything; ``learn_one`` folds it into the state; ``update`` does
both and is what the UDF layer calls for each point. Higher scores mean more
anomalous; the verdict comes from a threshold on the score. State is plain data:
``state_dict()`` returns something ``json.dumps`` accepts (parameters included) and
``from_state`` rebuilds an equivalent detector, which is how Kapacitor snapshots
and restores a task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from udfs.validation import Constraint, check_param

__all__ = ["Detector", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of scoring one value.

    Attributes
    ----------
    score : float
        Higher is more anomalous. NaN when the detector cannot score yet (warm-up).
    is_anomaly : bool
        Whether the score crossed the detector's threshold.
    details : mapping
        Detector-specific fields, written out next to the score (names in
        snake_case; values float, int, str or bool).
    """

    score: float
    is_anomaly: bool
    details: Mapping[str, Any] = field(default_factory=dict)


class Detector(ABC):
    """Base class of streaming detectors.

    Subclasses set ``name`` (the registry key), declare ``parameter_constraints``
    (parameter name -> :class:`~udfs.validation.Constraint`), take keyword-only
    parameters with immutable defaults and call :meth:`_validate` in ``__init__``.

    Two optional class attributes describe a detector to the common checks in
    ``tests/detectors/test_common.py`` (and to the UDF layer), so that a new
    detector is checked without the checks knowing it:

    ``input_kind``
        ``"float"`` (the default): the detector takes real numbers.
        ``"state"``: it takes discrete values (str, bool, int or float) compared
        for equality, such as a line's ``"SHOWTIME"`` / ``"TRAINING"``.
        ``"vector"``: it takes a sequence of real numbers per point (several fields
        of one point, always the same number in the same order); a NaN or infinity
        in any component makes the whole point non-finite.
    ``invalid_param_examples``
        Keyword sets the constructor must reject that ``parameter_constraints``
        cannot express, typically rules across parameters
        (``{"window": 5, "min_periods": 10}``). Bad values for the declared
        constraints are derived by the checks themselves.
    ``check_params``
        Keyword arguments the checks build the detector with (defaults
        otherwise; a detector taking ``seed`` gets a fixed one). They must bound
        the state to its ``window`` parameter's worth of points, or 100 points for
        a detector without one, since bounded memory is checked between 2 and 10
        windows of input: e.g. ``{"max_points": 100}`` for a detector bounded by
        a point count.
    """

    name: ClassVar[str]
    parameter_constraints: ClassVar[Mapping[str, Constraint]] = {}
    input_kind: ClassVar[str] = "float"
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    check_params: ClassVar[Mapping[str, Any]] = {}

    def _validate(self, **params: Any) -> None:
        for key, value in params.items():
            constraint = self.parameter_constraints.get(key)
            if constraint is not None:
                check_param(key, value, constraint)

    def params(self) -> dict[str, Any]:
        """The constructor parameters, so that ``type(d)(**d.params())`` is a fresh copy.

        Every declared parameter is kept as an attribute of the same name; a detector
        whose parameters are not all in ``parameter_constraints`` overrides this.
        """
        return {name: getattr(self, name) for name in self.parameter_constraints}

    @abstractmethod
    def score_one(self, t: int, x: Any) -> Verdict:
        """Score value ``x`` at time ``t`` (ns since epoch) without changing state."""

    @abstractmethod
    def learn_one(self, t: int, x: Any) -> None:
        """Fold value ``x`` at time ``t`` into the state."""

    def update(self, t: int, x: Any) -> Verdict:
        """Score, classify, then learn: what the UDF calls for each point."""
        verdict = self.score_one(t, x)
        self.learn_one(t, x)
        return verdict

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state, parameters included."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: Mapping[str, Any]) -> Detector:
        """Rebuild a detector from :meth:`state_dict` output."""

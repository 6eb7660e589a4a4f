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

from udfs.params.declaration import ParamSet

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

    A subclass sets ``name`` (the registry key) and declares every parameter once in
    ``parameters`` (a :class:`~udfs.params.declaration.ParamSet`). The base
    constructor takes those as keyword arguments, checks and normalises them (an
    error names the parameter, in the user's units), runs :meth:`check_rules` for
    rules across parameters and stores each as an attribute of the same name; a
    subclass's ``__init__(self, **params)`` calls ``super().__init__(**params)`` and
    then builds its state. ``params()``, the class signature, the UDF's options and
    the docs all come from the same declaration.

    Class attributes that describe a detector to the common checks in
    ``tests/detectors/test_common.py``, so that a new detector is checked by being
    registered:

    ``input_kind``
        ``"float"`` (the default): the detector takes real numbers.
        ``"state"``: it takes discrete values (str, bool, int or float) compared
        for equality, such as a line's ``"SHOWTIME"`` / ``"TRAINING"``.
        ``"vector"``: it takes a sequence of real numbers per point (several fields
        of one point, always the same number in the same order); a NaN or infinity
        in any component makes the whole point non-finite. ``"fraction"``: real
        numbers in [0, 1] (a loss fraction or a 0/1 flag). A detector whose kind
        depends on its parameters overrides :meth:`input_kind_of`.
    ``invalid_param_examples``
        Keyword sets the constructor must reject that the declarations cannot
        express, typically rules across parameters (``{"window": 5, "min_periods": 10}``).
        Bad values for the declared parameters are derived by the checks themselves.
    ``check_configs``
        Keyword sets the checks build the detector with, one run of every check each:
        one per mode the detector has (``{"method": "ewma"}``). Each must bound the
        state to its ``window`` parameter's worth of points, or 100 points for a
        detector without one, since bounded memory is checked between 2 and 10
        windows of input. A detector taking ``seed`` gets a fixed one.
    ``calibrates``
        True (the default) when the verdicts go through the shared calibration
        layer, as its UDF's options and ``udfs evaluate nab`` run it; False for a
        detector whose verdict is the event itself (``network``: one alert per event).
        :meth:`takes_calibration` says whether a detector does.
    ``calibration_defaults``
        Defaults of the shared calibration options (``calibration``, ``risk``,
        ``cooldown``, ...) that differ for this detector, e.g.
        ``{"calibration": "none"}`` for a detector whose raw score is already a
        verdict. Its UDF's options, its docs and ``udfs evaluate nab`` use them.
    """

    name: ClassVar[str]
    parameters: ClassVar[ParamSet] = ParamSet()
    input_kind: ClassVar[str] = "float"
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = ({},)
    calibrates: ClassVar[bool] = True
    calibration_defaults: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def takes_calibration(cls) -> bool:
        """Whether its verdicts go through the shared calibration: a detector of numbers
        (not of states, whose verdict is the change itself) that ``calibrates``."""
        return cls.calibrates and cls.input_kind != "state"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.parameters:
            # inspect.signature(cls) and help(cls) show the declared keyword arguments.
            cls.__signature__ = cls.parameters.signature()  # type: ignore[attr-defined]

    def __init__(self, **params: Any) -> None:
        values = self.parameters.resolve(params)
        self.check_rules(values)
        for key, value in values.items():
            setattr(self, key, value)

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        """Rules across parameters (each already valid alone); raise InvalidParameterError naming one."""
        return None

    @classmethod
    def input_kind_of(cls, params: Mapping[str, Any]) -> str:
        """The input kind of a detector built with ``params`` (default: the class's ``input_kind``)."""
        return cls.input_kind

    def params(self) -> dict[str, Any]:
        """The constructor parameters, so that ``type(d)(**d.params())`` is a fresh copy."""
        return {name: getattr(self, name) for name in self.parameters}

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

"""Several detectors on one series, their scores made comparable and combined (vote, max or mean)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from udfs.detectors._percentile_rank import PercentileRank
from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["Consensus"]

#: Detectors that may be members: every registered numeric detector but the ensemble itself.
MEMBER_CHOICES = (
    "changepoint", "contextual", "dbscan", "distribution_shift", "forecast", "iqr", "knn_cad", "lof", "mad",
    "matrix_profile", "one_class_svm", "pca", "relative_entropy", "sigma", "spectral_residual", "spike", "zscore",
)


def parse_member_options(text: str, members: tuple[str, ...], *, calibrated: bool = False) -> dict[str, dict[str, Any]]:
    """``"mad.window=200, sigma.consensus=4"`` -> ``{"mad": {"window": 200}, "sigma": {"consensus": 4}}``.

    Each value is read as its parameter declares (:meth:`Param.from_text`: a duration
    needs its unit, ``mad.cooldown=7`` is refused rather than read as 7 ns) and checked;
    an error names the member. With ``calibrated`` a member's
    calibration parameters (``mad.risk=1e-4``, ``mad.cooldown=1h``) are known too.

    >>> parse_member_options("mad.window=200, contextual.min=0", ("mad", "contextual"))
    {'mad': {'window': 200}, 'contextual': {'min': 0.0}}
    """
    from udfs.detectors import REGISTRY

    options: dict[str, dict[str, Any]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        member, dot, param = key.strip().partition(".")
        if not sep or not dot or not param:
            raise InvalidParameterError(f"member_options: expected MEMBER.PARAM=VALUE, got {item!r}")
        if member not in members:
            raise InvalidParameterError(f"member_options: {member!r} is not a member ({', '.join(members)})")
        cls = member_class(REGISTRY[member], calibrated)
        known = list(cls.parameters)
        if param not in known:
            raise InvalidParameterError(
                f"member_options: {member} has no parameter {param!r} (known: {', '.join(known)})"
            )
        try:
            options.setdefault(member, {})[param] = cls.parameters[param].from_text(value)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"member_options: {member}: {exc}") from None
    return options



def member_class(cls: type[Detector], calibrated: bool) -> type[Detector]:
    """A member's class: the detector, or with ``calibrated`` the detector followed by its
    calibration and cooldown, as its UDF runs it."""
    if not calibrated:
        return cls
    from udfs.detectors.calibration import calibrated as with_calibration

    return with_calibration(cls)


def build_members(values: Mapping[str, Any],
                  calibration: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Detector]:
    """The member detectors of an ensemble: ``values["detectors"]`` built with their
    ``values["member_options"]``; a member's bad option names the member. Members are
    calibrated when ``values["member_verdicts"]`` is ``'calibrated'``, with the
    calibration parameters ``calibration[member]`` in place of their defaults (a
    member's own options still win)."""
    from udfs.detectors import REGISTRY

    calibrated = values.get("member_verdicts") == "calibrated"
    options = parse_member_options(values["member_options"], values["detectors"], calibrated=calibrated)
    defaults = calibration if calibrated and calibration else {}
    members = {}
    for name in values["detectors"]:
        try:
            members[name] = member_class(REGISTRY[name], calibrated)(**{**defaults.get(name, {}),
                                                                          **options.get(name, {})})
        except (InvalidParameterError, TypeError) as exc:
            raise InvalidParameterError(f"member_options: {name}: {exc}") from None
    return members

class Consensus(Detector):
    """Run ``detectors`` on the same values and combine their comparable scores.

    Each member runs with its defaults (or ``member_options``). Its raw score goes
    through a calibration to [0, 1]: the mid-rank among the member's last
    ``rank_window`` scores (so a z-score of 4 and a p-value of 0.999 become
    comparable). A member has *fired* when its verdict is an anomaly: with
    ``member_verdicts='calibrated'`` (the default) the verdict its own UDF would give,
    after its calibration and cooldown (its defaults, or ``member_options`` such as
    ``mad.risk=1e-4``), so each member alerts within its own false-alarm budget; with
    ``'own'`` the detector's bare threshold. With
    ``combine`` = ``vote`` the value is an anomaly when at least ``k`` members fired
    and the score is the ``k``-th highest calibrated member score; with ``max`` or
    ``mean`` the score is the highest or the mean calibrated score and the value an
    anomaly when it reaches ``threshold``.

    Notes
    -----
    A member that has not scored yet (warming up, or never: sigma on hourly data)
    counts as unremarkable, a calibrated score of 0.5 (the median rank), so the
    combined score does not change scale when it starts; a member that has scored
    before and scores NaN on one point is left out of that point's combination. The
    score is NaN while no member has scored.
    ``details``: ``fired`` (names of the members that fired, comma separated, ``""`` for
    none), ``votes`` (how many) and
    ``<member>_score`` (each calibrated score).

    Examples
    --------
    >>> detector = Consensus(detectors=("mad", "zscore"), k=2, rank_window=200)
    >>> for i in range(300):
    ...     _ = detector.update(i, 10.0 + (i % 5) * 0.1)
    >>> verdict = detector.update(300, 50.0)
    >>> verdict.is_anomaly, verdict.details["fired"], verdict.score
    (True, 'mad,zscore', 1.0)
    """

    name: ClassVar[str] = "consensus"
    parameters: ClassVar[ParamSet] = ParamSet(
        detectors=Param.names(("contextual", "mad", "sigma"), MEMBER_CHOICES, "Member detectors (comma separated).",
                              min_items=1),
        combine=Param.choice("vote", ("vote", "max", "mean"), "How member scores combine: vote (k of n), max, mean."),
        k=Param.integer(1, "Members that must fire for a vote (at most the number of members).", low=1, high=100),
        threshold=Param.number(0.99, "Anomaly when a max or mean combined score reaches this.", low=0, high=1,
                               closed="right"),
        rank_window=Param.integer(1000, "Recent scores of each member its score is ranked among.", low=2,
                                  high=MAX_WINDOW),
        member_options=Param.text("", "Member parameters as MEMBER.PARAM=VALUE, comma separated."),
        member_verdicts=Param.choice(
            "calibrated", ("calibrated", "own"),
            "When a member fires: 'calibrated', its calibrated verdict after its cooldown, as its UDF "
            "alerts; 'own', its bare threshold."),
    )
    #: The vote of calibrated members is already a verdict with a budget: only the cooldown follows.
    calibration_defaults: ClassVar[Mapping[str, Any]] = {"calibration": "none"}
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"detectors": ("mad", "zscore"), "k": 3},
        {"member_options": "mad.window"},
        {"member_options": "iqr.window=50"},
        {"member_options": "mad.no_such=1"},
        {"member_options": "mad.window=-3"},
        {"member_options": "mad.risk=0.9"},
        {"member_options": "mad.cooldown=7"},  # a duration without its unit
        {"member_verdicts": "own", "member_options": "mad.risk=1e-4"},
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"detectors": ("mad", "contextual"), "rank_window": 50,
         "member_options": "mad.window=50,contextual.min_periods=10"},
        {"detectors": ("mad", "zscore"), "combine": "max", "rank_window": 50,
         "member_options": "mad.window=50,zscore.window=50"},
        {"detectors": ("mad", "zscore"), "k": 2, "rank_window": 50, "member_verdicts": "own",
         "member_options": "mad.window=50,zscore.window=50"},
    )

    detectors: tuple[str, ...]
    combine: str
    k: int
    threshold: float
    rank_window: int
    member_options: str
    member_verdicts: str

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._members = build_members(self.params())
        self._ranks = {name: PercentileRank(self.rank_window) for name in self.detectors}


    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["combine"] == "vote" and values["k"] > len(values["detectors"]):
            raise InvalidParameterError(
                f"k must be <= the number of detectors ({len(values['detectors'])}), got {values['k']}"
            )
        build_members(values)  # member options checked by the members, errors naming them

    def score_one(self, t: int, x: Any) -> Verdict:
        fired: list[str] = []
        calibrated: dict[str, float] = {}
        for name, member in self._members.items():
            verdict = member.score_one(t, x)
            calibrated[name] = self._ranks[name].calibrate(float(verdict.score))
            if verdict.is_anomaly:
                fired.append(name)
        details: dict[str, Any] = {"fired": ",".join(fired), "votes": len(fired)}
        details.update({f"{name}_score": s for name, s in calibrated.items()})
        if not any(len(rank) for rank in self._ranks.values()):
            return Verdict(math.nan, False, details)
        ranked = sorted((s if len(self._ranks[name]) else 0.5 for name, s in calibrated.items()
                         if not (math.isnan(s) and len(self._ranks[name]))), reverse=True)
        if not ranked:
            return Verdict(math.nan, False, details)
        if self.combine == "vote":
            score = ranked[self.k - 1] if len(ranked) >= self.k else 0.0
            return Verdict(score, len(fired) >= self.k, details)
        score = ranked[0] if self.combine == "max" else sum(ranked) / len(ranked)
        return Verdict(score, score >= self.threshold, details)

    def learn_one(self, t: int, x: Any) -> None:
        for name, member in self._members.items():
            self._ranks[name].learn(float(member.score_one(t, x).score))
            member.learn_one(t, x)

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(),
            "members": {name: member.state_dict() for name, member in self._members.items()},
            "ranks": {name: rank.state_dict() for name, rank in self._ranks.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Consensus:
        from udfs.detectors import REGISTRY

        detector = cls(**state["params"])
        members, ranks = state["members"], state["ranks"]
        if not (isinstance(members, dict) and isinstance(ranks, dict) and members.keys() == ranks.keys()
                == detector._members.keys()):
            raise ValueError(f"consensus state does not hold one member and one rank for each of {detector.detectors}")
        calibrated = detector.member_verdicts == "calibrated"
        detector._members = {name: member_class(REGISTRY[name], calibrated).from_state(s)
                             for name, s in members.items()}
        detector._ranks = {name: PercentileRank.from_state(s) for name, s in ranks.items()}
        return detector

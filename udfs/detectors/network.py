"""Streamevmon's ensemble: the network detectors on one latency series and its loss, one alert per event."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.detectors.consensus import build_members, member_class
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet

__all__ = ["MEMBERS", "NetworkEnsemble"]

#: The members: four on the latency, ``loss`` on the loss fraction.
MEMBERS = ("changepoint", "distribution_shift", "mode_change", "spike", "loss")
_LATENCY_MEMBERS = frozenset(MEMBERS) - {"loss"}
#: How a calibrated member decides, where it differs from its UDF's calibration. The latency
#: members' raw scores are running statistics (a CUSUM sum, a KS test over the recent window, a
#: persistence streak, a z-score against a filtered history): SPOT judges each one against the
#: tail of that member's own scores at ``risk`` (1e-5), a false-alarm budget in no unit; the
#: anomaly likelihood's second smoothing of them (the mean of the last 10) fired on plain noise
#: of the shipped ICMP sample. ``loss`` keeps its own rule: a run of lost measurements is the
#: event itself (and a score never exceeded before is, to SPOT, no rarer than one in the points
#: seen). No member cooldown: the ensemble merges a member's alerts into one per event, and a
#: 12 h cooldown would hide the next event of the member's kind (ping events come minutes apart).
MEMBER_CALIBRATION: Mapping[str, Mapping[str, Any]] = {
    **{name: {"calibration": "spot", "cooldown": 0} for name in _LATENCY_MEMBERS},
    "loss": {"calibration": "none", "cooldown": 0},
}


class NetworkEnsemble(Detector):
    """Run the network detectors on one measurement's latency and loss; alert once per event.

    The input of each point is ``(latency, loss)``: the round-trip time (``None`` when
    the measurement has none, e.g. every probe was lost) and the fraction of probes
    lost (``None`` when unknown; a value outside [0, 1] is not a loss and is ignored).
    A bare number is a latency alone (loss unknown), so a series without a loss, such
    as NAB's, runs through the latency members. A non-finite float in either makes the
    point invalid: neither scored nor learned.

    Each member of ``detectors`` runs with its defaults (or ``member_options``, as
    ``MEMBER.PARAM=VALUE``): ``changepoint``, ``distribution_shift``, ``mode_change`` and
    ``spike`` on the latency, ``loss`` on the loss fraction. A member *flags* when its
    verdict is an anomaly: with ``member_verdicts='calibrated'`` (the default) a latency
    member's raw score must be past SPOT's threshold at ``risk`` 1e-5 (the shared
    calibration layer, after ``learning_period`` scores), so each member alerts within
    a false-alarm budget whatever the series' scale and noise, and ``loss`` flags by its
    own rule (lost measurements in a row, or the loss rate); members have no cooldown of
    their own (``member_options`` may set any calibration option, e.g.
    ``spike.risk=1e-4``). With ``'own'`` each member flags at its bare threshold, which
    on series other than pings (daily cycles, heavy tails) flags far more often. The
    members see one event at different points (a level shift is a changepoint at once,
    a mode change some points later), so a member's flag counts as a *vote* for
    ``span`` points. The ensemble flags the point where the votes reach ``k``, once:
    the votes must fall below ``k`` again before it flags anew. ``k`` = 1 (default) is
    the union of the members with one alert per event; ``k`` = 2 asks two detectors to
    agree (fewer false alarms, and events only one member sees, such as an isolated
    spike or a loss burst, are missed; calibrated members seldom flag within ``span``
    of each other, so ``k`` = 2 is best with ``member_verdicts='own'``).

    The score is ``votes / k`` (>= 1 while the votes hold). ``details``: ``fired``
    (the members whose votes count, comma separated, ``""`` for none) and ``votes``.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> detector = NetworkEnsemble(span=5)
    >>> for i in range(600):  # the members learn, then their calibration (288 scores)
    ...     _ = detector.update(i, [10.0 + rng.gauss(0.0, 0.3), 0.0])
    >>> verdict = detector.update(600, [60.0, 0.0])     # a spike
    >>> verdict.is_anomaly, verdict.details["fired"]
    (True, 'spike')
    >>> detector.update(601, [10.0, 0.0]).is_anomaly  # the same event: no second alert
    False
    """

    name: ClassVar[str] = "network"
    input_kind: ClassVar[str] = "vector"
    #: Its verdict is the event itself (one alert per event), not a score to calibrate: the
    #: UDF has no calibration options and ``udfs evaluate nab`` runs it as it is.
    calibrates: ClassVar[bool] = False
    parameters: ClassVar[ParamSet] = ParamSet(
        detectors=Param.names(MEMBERS, MEMBERS, "Member detectors (comma separated).", min_items=1),
        k=Param.integer(1, "Members whose votes must hold at once for an alert (at most the number of members).",
                        low=1, high=len(MEMBERS)),
        span=Param.integer(30, "Points a member's flag counts as a vote (30: 5 minutes of 10-second pings).",
                           low=1, high=100_000),
        member_options=Param.text("", "Member parameters as MEMBER.PARAM=VALUE, comma separated."),
        member_verdicts=Param.choice(
            "calibrated", ("calibrated", "own"),
            "When a member votes: 'calibrated', when its score passes SPOT's threshold at risk 1e-5 (loss: "
            "its own rule), without a cooldown; 'own', at its bare threshold."),
    )
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"detectors": ("spike", "loss"), "k": 3},
        {"member_options": "spike.lag"},
        {"member_options": "mad.window=50"},
        {"member_options": "spike.no_such=1"},
        {"member_options": "spike.cooldown=7"},  # a duration without its unit
        {"member_verdicts": "own", "member_options": "spike.risk=1e-4"},
    )
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"member_options": "changepoint.warmup=30,distribution_shift.reference=50,mode_change.window=30,spike.lag=30"},
        {"detectors": ("changepoint", "spike", "loss"), "k": 2, "span": 10, "member_options": "changepoint.warmup=30"},
        {"detectors": ("changepoint", "spike", "loss"), "k": 2, "span": 10, "member_verdicts": "own",
         "member_options": "changepoint.warmup=30"},
    )

    detectors: tuple[str, ...]
    k: int
    span: int
    member_options: str
    member_verdicts: str

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._members = build_members(self.params(), MEMBER_CALIBRATION)
        self._last_fired: dict[str, int] = {}  # member -> index of the point it last fired at
        self._n = 0  # valid points learned
        self._alerting = False  # the votes have reached k and not fallen below since


    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        if values["k"] > len(values["detectors"]):
            raise InvalidParameterError(
                f"k must be <= the number of detectors ({len(values['detectors'])}), got {values['k']}"
            )
        build_members(values, MEMBER_CALIBRATION)

    @staticmethod
    def _split(x: Any) -> tuple[float | None, float | None] | None:
        """``(latency, loss)`` with unusable parts as None; None when the point is invalid."""
        if isinstance(x, int | float) and not isinstance(x, bool):
            x = (x, None)  # a latency alone
        if not isinstance(x, Sequence) or isinstance(x, str) or len(x) < 2:
            return None
        parts: list[float | None] = []
        for item in x[:2]:
            if item is None:
                parts.append(None)
                continue
            value = float(item)
            if not math.isfinite(value):
                return None
            parts.append(value)
        latency, loss = parts
        if loss is not None and not 0.0 <= loss <= 1.0:
            loss = None
        if latency is None and loss is None:
            return None
        return latency, loss

    def _input_of(self, name: str, latency: float | None, loss: float | None) -> float | None:
        return loss if name == "loss" else latency

    def _evaluate(self, t: int, parts: tuple[float | None, float | None]) -> tuple[Verdict, list[str]]:
        """The verdict at this point and the members that fire at it (nothing changed)."""
        fired_now = []
        for name, member in self._members.items():
            value = self._input_of(name, *parts)
            if value is not None and member.score_one(t, value).is_anomaly:
                fired_now.append(name)
        voting = [name for name in self._members if name in fired_now or (
            name in self._last_fired and self._n - self._last_fired[name] < self.span)]
        votes = len(voting)
        details = {"fired": ",".join(voting), "votes": votes}
        return Verdict(votes / self.k, votes >= self.k and not self._alerting, details), fired_now

    def score_one(self, t: int, x: Any) -> Verdict:
        parts = self._split(x)
        if parts is None:
            return Verdict(math.nan, False, {"fired": "", "votes": 0})
        return self._evaluate(t, parts)[0]

    def _learn(self, t: int, parts: tuple[float | None, float | None], verdict: Verdict,
               fired_now: list[str]) -> None:
        for name in fired_now:
            self._last_fired[name] = self._n
        self._alerting = verdict.details["votes"] >= self.k
        for name, member in self._members.items():
            value = self._input_of(name, *parts)
            if value is not None:
                member.learn_one(t, value)
        self._n += 1
        # Forget votes that no longer count, so the state stays bounded and canonical.
        self._last_fired = {n: i for n, i in self._last_fired.items() if self._n - i < self.span}

    def learn_one(self, t: int, x: Any) -> None:
        parts = self._split(x)
        if parts is not None:
            self._learn(t, parts, *self._evaluate(t, parts))

    def update(self, t: int, x: Any) -> Verdict:
        parts = self._split(x)
        if parts is None:
            return Verdict(math.nan, False, {"fired": "", "votes": 0})
        verdict, fired_now = self._evaluate(t, parts)
        self._learn(t, parts, verdict, fired_now)
        return verdict

    def state_dict(self) -> dict[str, Any]:
        return {"params": self.params(), "members": {n: m.state_dict() for n, m in self._members.items()},
                "last_fired": dict(self._last_fired), "n": self._n, "alerting": self._alerting}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NetworkEnsemble:
        from udfs.detectors import REGISTRY

        detector = cls(**state["params"])
        members = state["members"]
        if set(members) != set(detector.detectors):
            raise ValueError("network state has other members than its parameters")
        calibrated = detector.member_verdicts == "calibrated"
        detector._members = {name: member_class(REGISTRY[name], calibrated).from_state(members[name])
                             for name in detector.detectors}
        last = {str(n): int(i) for n, i in state["last_fired"].items()}
        detector._n = int(state["n"])
        if not set(last) <= set(detector.detectors) or any(not 0 <= i < detector._n for i in last.values()):
            raise ValueError("network state has malformed votes")
        detector._last_fired = last
        detector._alerting = bool(state["alerting"])
        return detector

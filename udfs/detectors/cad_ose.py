"""Contextual Anomaly Detector, Open Source Edition (Smirnov 2016), with its full context memory."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from udfs.detectors.base import Detector, Verdict
from udfs.params.constraints import InvalidParameterError
from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_WINDOW

__all__ = ["CadOse", "tuple_order_key"]

#: Facts of the quantised value are ``2 * bit + value`` (CAD OSE's numbering).
#: Facts of an active context ("neuron"): ``NEURON + context id``.
NEURON = 1 << 31
_MASK = (1 << 64) - 1


def _signed(x: int) -> int:
    x &= _MASK
    return x - (1 << 64) if x >> 63 else x


def tuple_order_key(facts: Sequence[int]) -> int:
    """The order CAD OSE breaks ties between equally active contexts in.

    CAD OSE keeps the ``max_active`` most often activated contexts and, among those
    activated equally often, the ones whose fact tuples hash highest under the
    64-bit CPython 2 tuple hash its published results were computed with. This is
    that formula (FNV-like multiply and xor over the items' own hashes, which for
    these non-negative integers are the integers), kept so that the scores match
    NAB's published CAD OSE output row for row; any fixed order would do otherwise.
    """
    x, mult, n = 0x345678, 1000003, len(facts)
    for item in facts:
        n -= 1
        x = _signed((x ^ item) * mult)
        mult = _signed(mult + 82520 + n + n)
    x = _signed(x + 97531)
    return -2 if x == -1 else x


@dataclass
class _Left:
    facts: tuple[int, ...]
    contexts: dict[int, int] = field(default_factory=dict)  # right semi-context id -> context id


@dataclass
class _Context:
    left: int
    right: int
    zero: bool  # a zero-level context: previous facts -> current value's facts, seen as such
    order: tuple[int, int]  # tie-break key (tuple_order_key of the left and right facts)
    active: int = 0  # times its right side came in full


@dataclass
class _Step:
    """What one value does to the memory, worked out before any of it is applied."""

    score: float
    raw: float
    facts: tuple[int, ...]
    new_zero: bool
    zero_id: int | None
    active: list[int]
    potential: list[tuple[tuple[int, ...], tuple[int, ...]]]


class CadOse(Detector):
    """CAD OSE's anomaly score: how little of the current value its learned contexts predicted.

    Smirnov's Contextual Anomaly Detector, Open Source Edition (NAB 2016, the
    ``contextOSE`` detector), written from its description with its full memory,
    where ``contextual`` keeps one-step transitions only. Each value is quantised
    into ``bits`` bits over ``[min, max]`` (``2**bits - 1`` steps, so the top level
    is the maximum itself); bit ``i`` of value ``b`` is a *fact*. A *context* pairs
    a left semi-context (a set of facts: the previous value's facts and the
    contexts that were active then) with a right one (facts that followed it).
    Every value:

    1. the pair (previous left facts, current facts) is looked up, and stored as a
       new *zero-level* context if it is new;
    2. each context whose left side held in full at the previous value is
       *selected*; it is *active* when its right side came in full now, and when
       only part of either side came, the parts that did become a potential new
       context (for zero-level contexts, only when step 1 stored a new one, and with
       at most ``max_left`` left facts);
    3. the ``max_active`` most often activated contexts become the "neurons": their
       ids join the current value's facts as the next left facts; potential
       contexts not yet stored are stored;
    4. the facts predicted next are the right sides of the contexts whose left side
       holds in full now and whose share of right facts that came so far is the
       highest.

    The score is 0 when every fact of the value was predicted at the previous
    step, and otherwise ``(1 - active / selected + new / potential) / 2``: the
    share of selected contexts that failed, plus the share of potential contexts
    that were new (0 unless step 1 stored one). After a score of at least
    ``threshold`` (CAD's base threshold, 0.75) the reported score is 0 for the next
    ``rest_period`` values; the first ``rest_period`` values score NaN (warming
    up: CAD starts as if it had just alarmed). The verdict is a reported score of at
    least ``threshold``; the score is its own calibration, so the UDF's default
    ``.calibration()`` is ``'none'`` and the cooldown applies on top.

    Notes
    -----
    NAB runs CAD OSE with the file's minimum and maximum and a rest of a fifth of
    its probationary period (15 % of the file, at most 750 values): 150 values on
    a long series, the default here. ``bits``, ``max_left`` (7), ``max_active`` (15)
    and ``threshold`` (0.75) are CAD OSE's values. Without ``min``/``max`` the range
    is the lowest and highest of the first ``rest_period`` values (at least 2);
    once it is known they are learned as if the range had been
    given, and it stays fixed. Values beyond a range, given or learned, take its
    end level. Ties between equally active contexts are broken as
    CAD OSE's published run broke them (see :func:`tuple_order_key`), and like it
    the first context stored is never selected unless a new zero-level context was
    stored at the same step; with these, the scores equal NAB's published per-row
    CAD OSE scores (``tests/detectors/test_cad_ose.py``). The memory grows with
    what the series does (about 10,000 contexts after 20,000 NAB values); at
    ``max_contexts`` no new context is stored and the detector goes on scoring with
    the ones it has. NaN and infinite values score NaN and are not learned.
    ``details``: ``raw_score`` (before the rest period), ``contexts`` (stored before this value).

    Examples
    --------
    >>> detector = CadOse(min=0.0, max=7.0, rest_period=10)
    >>> for i in range(300):
    ...     _ = detector.update(i, [1.0, 5.0, 3.0][i % 3])
    >>> detector.update(300, 1.0).score
    0.0
    >>> verdict = detector.update(301, 7.0)   # 1 -> 7: never seen after 1
    >>> verdict.is_anomaly, verdict.score >= 0.75
    (True, True)
    """

    name: ClassVar[str] = "cad_ose"
    parameters: ClassVar[ParamSet] = ParamSet(
        bits=Param.integer(3, "Bits each value is quantised into (CAD OSE's 3).", low=1, high=8),
        min=Param.number(None, "Lowest expected value (none: the lowest of the first rest_period values).",
                         optional=True),
        max=Param.number(None, "Highest expected value (none: the highest of the first rest_period values).",
                         optional=True),
        threshold=Param.number(0.75, "Anomaly when the score reaches this; a score this high starts a rest "
                               "(CAD OSE's base threshold).", low=0, high=1, closed="right"),
        rest_period=Param.integer(150, "Values after an alarm, and at the start, whose score is reported as 0 "
                                  "(NAB: a fifth of the probationary period).", low=0, high=MAX_WINDOW),
        max_left=Param.integer(7, "Most left facts of a context learned from a partial match.", low=1, high=1000),
        max_active=Param.integer(15, "Most active contexts carried into the next left facts.", low=1, high=1000),
        max_contexts=Param.integer(200_000, "Contexts stored at most; then the memory stops growing.", low=1,
                                   high=10_000_000),
    )
    calibration_defaults: ClassVar[Mapping[str, Any]] = {"calibration": "none"}
    invalid_param_examples: ClassVar[tuple[Mapping[str, Any], ...]] = ({"min": 5.0, "max": 1.0},)
    check_configs: ClassVar[tuple[Mapping[str, Any], ...]] = (
        {"max_contexts": 300, "rest_period": 20}, {"bits": 2, "min": -3.0, "max": 3.0, "max_contexts": 200},
    )
    value_range_params: ClassVar[tuple[str, str]] = ("min", "max")
    #: Parameters NAB's wrapper sets to this share of the probationary period (``udfs evaluate nab``
    #: does the same in its "NAB range" run): CAD OSE's rest is a fifth of it.
    probation_params: ClassVar[Mapping[str, float]] = {"rest_period": 0.2}

    bits: int
    min: float | None
    max: float | None
    threshold: float
    rest_period: int
    max_left: int
    max_active: int
    max_contexts: int

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._lefts: list[_Left] = []
        self._left_ids: dict[tuple[int, ...], int] = {}
        self._lefts_of: dict[int, list[int]] = {}  # fact -> left semi-contexts holding it, oldest first
        self._rights: list[tuple[int, ...]] = []
        self._right_ids: dict[tuple[int, ...], int] = {}
        self._rights_of: dict[int, list[int]] = {}
        self._contexts: list[_Context] = []
        self._left_facts: tuple[int, ...] = ()  # the previous value's facts and neurons
        self._crossed: list[tuple[int, tuple[int, ...]]] = []  # (left id, its facts among _left_facts)
        self._since = 1  # values since the last score >= threshold (CAD starts just after one)
        self._seen: list[float] = []  # values learning the range
        self._learned = 0  # finite values learned
        self._low = self.min
        self._high = self.max

    @classmethod
    def check_rules(cls, values: Mapping[str, Any]) -> None:
        low, high = values["min"], values["max"]
        if low is not None and high is not None and not low < high:
            raise InvalidParameterError(f"min must be < max ({high}), got {low}")

    # -- the range and the facts of a value ------------------------------------------------

    def _ranged(self) -> bool:
        return self._low is not None and self._high is not None

    def _value_facts(self, x: float) -> tuple[int, ...]:
        assert self._low is not None and self._high is not None
        top = (1 << self.bits) - 1
        width = self._high - self._low
        step = (width if width > 0 else top) / top
        level = min(top, max(0, int((x - self._low) / step)))
        return tuple(2 * i + (level >> i & 1) for i in range(self.bits))

    def _learn_range(self, x: float) -> None:
        self._seen.append(x)
        if len(self._seen) >= max(2, self.rest_period):
            low, high = min(self._seen), max(self._seen)
            self._low = low if self.min is None else self.min
            self._high = high if self.max is None else self.max
            if not self._low < self._high:  # a flat start: CAD's own rule for an empty range
                self._high = self._low + (1 << self.bits) - 1
            seen, self._seen = self._seen, []
            for value in seen:  # learned as CAD would have with this range from the start
                self._apply(self._step(value))

    # -- one step ----------------------------------------------------------------------------

    def _step(self, x: float) -> _Step:
        facts = self._value_facts(x)
        new_zero, zero_id = False, None
        if self._left_facts:
            zero_id = self._context_id(self._left_facts, facts)
            new_zero = zero_id is None
        came: dict[int, int] = {}  # right semi-context id -> its facts among the current ones
        for fact in facts:
            for right_id in self._rights_of.get(fact, ()):
                came[right_id] = came.get(right_id, 0) + 1
        # CAD OSE compares context ids with "no new zero-level context" (False), equal to 0.
        skipped = None if new_zero else 0
        selected = 0
        active: list[int] = []
        potential: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        for left_id, matched in self._crossed:
            left = self._lefts[left_id]
            full = len(matched) == len(left.facts)
            for right_id, cid in left.contexts.items():
                if cid == skipped:
                    continue
                context = self._contexts[cid]
                n_came = came.get(right_id, 0)
                zero = new_zero and (context.zero or cid == zero_id) and len(matched) <= self.max_left
                if full:
                    selected += 1
                    if n_came:
                        if n_came == len(self._rights[right_id]):
                            active.append(cid)
                            continue
                if zero and n_came:
                    right_facts = self._rights[right_id]
                    potential.append((matched, tuple(f for f in right_facts if f in facts)))
        share_active = len(active) / selected if selected else 0.0
        unique = set(potential)
        if self._left_facts:
            unique.add((self._left_facts, facts))
        if new_zero and unique:
            new = sum(1 for pair in unique
                      if pair != (self._left_facts, facts) and self._context_id(*pair) is None) + 1
            share_new = new / len(unique)
        else:
            share_new = 0.0
        raw = (1.0 - share_active + share_new) / 2.0
        if self._learned < self.rest_period:  # CAD's start, as if it had just alarmed: warming up
            score = math.nan
        else:
            score = raw if self._since > self.rest_period or self.rest_period == 0 else 0.0
        return _Step(score, raw, facts, new_zero, zero_id, active, potential)

    def _context_id(self, left: tuple[int, ...], right: tuple[int, ...]) -> int | None:
        """The id of the stored context ``left -> right``, or None."""
        left_id, right_id = self._left_ids.get(left), self._right_ids.get(right)
        return None if left_id is None or right_id is None else self._lefts[left_id].contexts.get(right_id)

    def _add_left(self, facts: tuple[int, ...]) -> int:
        left_id = self._left_ids[facts] = len(self._lefts)
        self._lefts.append(_Left(facts))
        for fact in facts:
            self._lefts_of.setdefault(fact, []).append(left_id)
        return left_id

    def _add_right(self, facts: tuple[int, ...]) -> int:
        right_id = self._right_ids[facts] = len(self._rights)
        self._rights.append(facts)
        for fact in facts:
            self._rights_of.setdefault(fact, []).append(right_id)
        return right_id

    def _store(self, left: tuple[int, ...], right: tuple[int, ...], zero: bool) -> None:
        """Store the context ``left -> right`` unless it is stored or the memory is full."""
        if self._context_id(left, right) is not None or len(self._contexts) >= self.max_contexts:
            return
        left_id = self._left_ids.get(left)
        right_id = self._right_ids.get(right)
        if left_id is None:
            left_id = self._add_left(left)
        if right_id is None:
            right_id = self._add_right(right)
        cid = len(self._contexts)
        self._lefts[left_id].contexts[right_id] = cid
        self._contexts.append(_Context(left_id, right_id, zero, (tuple_order_key(left), tuple_order_key(right))))

    def _apply(self, step: _Step) -> None:
        if step.new_zero:
            self._store(self._left_facts, step.facts, zero=True)
        elif step.zero_id is not None:
            self._contexts[step.zero_id].zero = True
        for cid in step.active:
            self._contexts[cid].active += 1
        ranked = sorted(step.active, key=lambda c: (self._contexts[c].active, self._contexts[c].order))
        neurons = {NEURON + cid for cid in ranked[max(0, len(ranked) - self.max_active):]}
        self._left_facts = tuple(sorted(set(step.facts) | neurons))
        for left, right in step.potential:
            self._store(left, right, zero=False)
        self._cross()
        self._since = 1 if step.raw >= self.threshold else self._since + 1

    def _cross(self) -> None:
        """Match every left semi-context against the new left facts."""
        matched: dict[int, list[int]] = {}
        for fact in self._left_facts:
            for left_id in self._lefts_of.get(fact, ()):
                matched.setdefault(left_id, []).append(fact)
        self._crossed = [(left_id, tuple(matched[left_id])) for left_id in sorted(matched)]

    # -- the detector contract ---------------------------------------------------------------

    def score_one(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x):
            return Verdict(math.nan, False, {"raw_score": math.nan, "contexts": len(self._contexts)})
        if not self._ranged():
            return Verdict(math.nan, False, {"raw_score": math.nan, "contexts": len(self._contexts)})
        step = self._step(x)
        return Verdict(step.score, step.score >= self.threshold,
                       {"raw_score": step.raw, "contexts": len(self._contexts)})

    def learn_one(self, t: int, x: Any) -> None:
        self.update(t, x)

    def update(self, t: int, x: Any) -> Verdict:
        x = float(x)
        if not math.isfinite(x):
            return self.score_one(t, x)
        if not self._ranged():
            self._learned += 1
            self._learn_range(x)
            return Verdict(math.nan, False, {"raw_score": math.nan, "contexts": 0})
        step = self._step(x)
        stored = len(self._contexts)  # as score_one reports it: before this value is learned
        self._learned += 1
        self._apply(step)
        return Verdict(step.score, step.score >= self.threshold, {"raw_score": step.raw, "contexts": stored})

    # -- snapshots ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "params": self.params(),
            "range": [self._low, self._high] if self._ranged() else None,
            "seen": list(self._seen),
            "lefts": [list(left.facts) for left in self._lefts],
            "rights": [list(right) for right in self._rights],
            "contexts": [[c.left, c.right, int(c.zero), c.active] for c in self._contexts],
            "left_facts": list(self._left_facts),
            "since": self._since,
            "learned": self._learned,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CadOse:
        detector = cls(**state["params"])
        if state["range"] is not None:
            detector._low, detector._high = (float(v) for v in state["range"])
        detector._seen = [float(v) for v in state["seen"]]
        for facts in state["lefts"]:
            detector._add_left(tuple(int(f) for f in facts))
        for facts in state["rights"]:
            detector._add_right(tuple(int(f) for f in facts))
        for cid, (left, right, zero, active) in enumerate(state["contexts"]):
            if not (0 <= left < len(detector._lefts) and 0 <= right < len(detector._rights)):
                raise ValueError(f"bad cad_ose context {cid}")
            order = (tuple_order_key(detector._lefts[left].facts), tuple_order_key(detector._rights[right]))
            detector._contexts.append(_Context(int(left), int(right), bool(zero), order, int(active)))
            detector._lefts[left].contexts[right] = cid
        detector._left_facts = tuple(int(f) for f in state["left_facts"])
        detector._cross()
        detector._since = int(state["since"])
        detector._learned = int(state["learned"])
        return detector

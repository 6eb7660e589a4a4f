"""Every registered detector through every common check; test ids are ``name:check``.

The checks know nothing of any particular detector: sample input comes from the
class's ``input_kind``, bad parameters from its ``parameter_constraints`` and
``invalid_param_examples``, the parameters to run with from ``check_params`` (see
``udfs/detectors/base.py``), so a detector added to ``REGISTRY`` later is checked
as it is registered.
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from udfs.detectors import REGISTRY, Detector, Verdict
from udfs.params.constraints import Constraint, Interval, OneOf

T0 = 1_700_000_000_000_000_000
STEP = 10_000_000_000  # 10 s in ns
STATES = ("SHOWTIME", "TRAINING", "IDLE")


def sample_values(kind: str, n: int, seed: int) -> list[Any]:
    """A stationary stream (so that its values print at a steady width) with changes and spikes."""
    rng = np.random.default_rng(seed)
    if kind == "state":
        values: list[Any] = []
        while len(values) < n:  # runs of 1 to 5 points: repeats as well as changes
            values += [STATES[rng.integers(len(STATES))]] * int(rng.integers(1, 6))
        return values[:n]
    if kind == "float":
        base = 50.0 + 5.0 * np.sin(np.arange(n) / 20.0) + rng.normal(0.0, 1.0, n)
        spikes = rng.random(n) < 0.02
        base[spikes] += rng.choice([-20.0, 20.0], spikes.sum())
        return [float(v) for v in base]
    if kind == "vector":  # three fields per point: the float stream and two noisy functions of it
        xs = sample_values("float", n, seed)
        noise = rng.normal(0.0, 1.0, (n, 2))
        return [[x, 2.0 * x + a, 100.0 - x + b] for x, (a, b) in zip(xs, noise.tolist(), strict=True)]
    raise AssertionError(f"the checks know no input_kind {kind!r}")


def sample_stream(cls: type[Detector], n: int, seed: int = 0) -> list[tuple[int, Any]]:
    return [(T0 + i * STEP, x) for i, x in enumerate(sample_values(cls.input_kind, n, seed))]


def constant_value(cls: type[Detector]) -> Any:
    return {"state": "SHOWTIME", "vector": [5.0, 5.0, 5.0]}.get(cls.input_kind, 5.0)


def other_value(cls: type[Detector]) -> Any:
    """A value other than :func:`constant_value`."""
    return {"state": "TRAINING", "vector": [6.0, 6.0, 6.0]}.get(cls.input_kind, 6.0)


def with_non_finite(cls: type[Detector], bad: float) -> Any:
    """An input carrying the non-finite float ``bad`` (one component of a vector)."""
    return [5.0, bad, 5.0] if cls.input_kind == "vector" else bad


def make(cls: type[Detector]) -> Detector:
    # Randomised detectors get one fixed seed so that two instances can be compared.
    seeded: dict[str, Any] = {"seed": 7} if "seed" in cls().params() else {}
    return cls(**{**cls.check_params, **seeded})


def window_of(cls: type[Detector]) -> int:
    """How many points fill the state under ``check_params`` (see ``Detector``)."""
    return int(make(cls).params().get("window", 100))


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def same_verdict(a: Verdict, b: Verdict) -> bool:
    return (
        same(float(a.score), float(b.score))
        and a.is_anomaly == b.is_anomaly
        and a.details.keys() == b.details.keys()
        and all(same(a.details[key], b.details[key]) for key in a.details)
    )


def snapshot(detector: Detector) -> str:
    return json.dumps(detector.state_dict(), sort_keys=True)


def bad_values(constraint: Constraint) -> Iterator[Any]:
    """Values a declared constraint must refuse; nothing for constraints the checks do not know."""
    if isinstance(constraint, Interval):
        yield "text"
        yield None
        yield 2.5 if constraint.kind is int else math.nan
        if constraint.low is not None:
            yield constraint.low if constraint.closed in ("right", "neither") else constraint.low - 1
        if constraint.high is not None:
            yield constraint.high if constraint.closed in ("left", "neither") else constraint.high + 1
    elif isinstance(constraint, OneOf):
        yield "<none of the choices>"


def check_defaults(cls: type[Detector]) -> None:
    assert REGISTRY[cls.name] is cls
    assert cls.input_kind in ("float", "state", "vector")
    detector = cls()
    params = detector.params()
    assert type(detector)(**params).params() == params
    json.dumps(detector.state_dict())


def check_bad_params(cls: type[Detector]) -> None:
    cases: list[Mapping[str, Any]] = [
        {name: value}
        for name, constraint in cls.parameter_constraints.items()
        for value in bad_values(constraint)
    ]
    cases += cls.invalid_param_examples
    for kwargs in cases:
        with pytest.raises(ValueError) as raised:
            cls(**kwargs)
        assert any(name in str(raised.value) for name in kwargs), (kwargs, str(raised.value))


def check_score_one_does_not_mutate(cls: type[Detector]) -> None:
    detector = make(cls)
    for i, (t, x) in enumerate(sample_stream(cls, 2 * window_of(cls) + 50)):
        if i % 7 == 0 or i >= 2 * window_of(cls):  # during warm-up as well as after
            before = snapshot(detector)
            first = detector.score_one(t, x)
            assert snapshot(detector) == before
            assert same_verdict(detector.score_one(t, x), first)
        detector.update(t, x)


def check_snapshot_round_trip(cls: type[Detector]) -> None:
    stream = sample_stream(cls, 2 * window_of(cls) + 200)
    for cut in (0, 5, 2 * window_of(cls)):  # fresh, warming up, warm
        original = make(cls)
        for t, x in stream[:cut]:
            original.update(t, x)
        restored = cls.from_state(json.loads(json.dumps(original.state_dict())))
        assert snapshot(restored) == snapshot(original)
        for t, x in stream[cut : cut + 200]:
            assert same_verdict(restored.update(t, x), original.update(t, x)), (cut, t, x)


def check_non_finite(cls: type[Detector]) -> None:
    stream = sample_stream(cls, 2 * window_of(cls))
    for warm in (0, len(stream)):
        detector = make(cls)
        for t, x in stream[:warm]:
            detector.update(t, x)
        t = stream[-1][0] + STEP
        for bad in (math.nan, math.inf, -math.inf):
            before = snapshot(detector)
            verdict = detector.update(t, with_non_finite(cls, bad))
            assert snapshot(detector) == before, f"{bad} was learned"
            assert math.isnan(verdict.score) and verdict.is_anomaly is False


def check_constant_series(cls: type[Detector]) -> None:
    value = constant_value(cls)
    detector = make(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(3 * window_of(cls)):
            verdict = detector.update(T0 + i * STEP, value)
            assert not verdict.is_anomaly, i
        detector.update(T0 + 3 * window_of(cls) * STEP, other_value(cls))  # any verdict, but no warning


def check_deterministic(cls: type[Detector]) -> None:
    stream = sample_stream(cls, 3 * window_of(cls), seed=3)
    first, second = make(cls), make(cls)
    for t, x in stream:
        assert same_verdict(first.update(t, x), second.update(t, x))


def check_memory_bounded(cls: type[Detector]) -> None:
    window = window_of(cls)
    detector = make(cls)
    sizes = {}
    for i, (t, x) in enumerate(sample_stream(cls, 10 * window), start=1):
        detector.update(t, x)
        if i in (2 * window, 10 * window):
            sizes[i] = len(json.dumps(detector.state_dict()))
    # "No larger" up to printing noise: counters gain a digit, floats print at 16 to 18
    # characters. Keeping even one number per point over the last 8 windows is far more.
    slack = 64 + sizes[2 * window] // 20
    assert sizes[10 * window] <= sizes[2 * window] + slack, sizes


CHECKS: tuple[Callable[[type[Detector]], None], ...] = (
    check_defaults,
    check_bad_params,
    check_score_one_does_not_mutate,
    check_snapshot_round_trip,
    check_non_finite,
    check_constant_series,
    check_deterministic,
    check_memory_bounded,
)
CASES = [(name, check) for name in sorted(REGISTRY) for check in CHECKS]


@pytest.mark.parametrize(
    ("name", "check"), CASES, ids=[f"{name}:{check.__name__.removeprefix('check_')}" for name, check in CASES]
)
def test_detector(name: str, check: Callable[[type[Detector]], None]) -> None:
    check(REGISTRY[name])


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_docstring_examples(name: str) -> None:
    cls = REGISTRY[name]
    assert "Examples\n    --------" in (cls.__doc__ or ""), "house style: a doctest Examples section"
    module = importlib.import_module(cls.__module__)
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert attempted > 0 and failed == 0


# -- the same checks over each detector with calibrated verdicts (what the UDFs run) -----------
#: Small calibration windows so that the checks' streams reach alerting and bounded state.
CALIBRATION_CHECK_PARAMS = {"learning_period": 20, "historic_window": 30, "short_window": 3, "drift_window": 5,
                            "risk": 1e-2, "cooldown": 3 * STEP}
def check_calibration_bounded(cls: type[Detector]) -> None:
    """The calibration keeps at most ``historic_window`` entries per list, whatever the stream.

    (How many SPOT peaks fall in the window depends on the data, so the size at two windows
    is not yet the bound; the detector's own state is checked by ``memory_bounded`` above.)
    """
    detector = make(cls)
    bound = CALIBRATION_CHECK_PARAMS["historic_window"]
    for i, (t, x) in enumerate(sample_stream(cls, 10 * window_of(cls)), start=1):
        detector.update(t, x)
        if i % 50 == 0:
            state = detector.state_dict()["calibration"]["calibrator"] or {}
            assert all(len(v) <= bound for v in state.values() if isinstance(v, list)), i


CALIBRATED_CHECKS = tuple(c for c in CHECKS if c not in (check_defaults, check_memory_bounded)) + (
    check_calibration_bounded,
)
CALIBRATED_CASES = [
    (name, mode, check)
    for name in sorted(REGISTRY) if REGISTRY[name].input_kind != "state"
    for mode in ("likelihood", "spot", "dspot", "none")
    for check in CALIBRATED_CHECKS
]


def calibrated_for_checks(name: str, mode: str) -> type[Detector]:
    from udfs.detectors.calibration import calibrated

    base = calibrated(REGISTRY[name])
    return type(base.__name__, (base,), {
        "check_params": {**base.check_params, **CALIBRATION_CHECK_PARAMS, "calibration": mode},
    })


@pytest.mark.parametrize(
    ("name", "mode", "check"), CALIBRATED_CASES,
    ids=[f"calibrated-{name}-{mode}:{check.__name__.removeprefix('check_')}" for name, mode, check in CALIBRATED_CASES],
)
def test_calibrated_detector(name: str, mode: str, check: Callable[[type[Detector]], None]) -> None:
    check(calibrated_for_checks(name, mode))

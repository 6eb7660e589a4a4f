"""Every registered detector, in every config of its ``check_configs``, through every common check.

Test ids are ``name:config:check``. The checks know nothing of any particular
detector: the configs to run come from ``check_configs``, sample input from
``input_kind_of(params)`` of each instance, bad parameters from each declared
:class:`~udfs.params.declaration.Param`'s kind, bounds and choices plus
``invalid_param_examples`` (see ``udfs/detectors/base.py``), so a detector added to
``REGISTRY`` later is checked as it is registered.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from udfs.detectors import REGISTRY, Detector, Verdict
from udfs.params.declaration import Param

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
    if kind == "fraction":  # mostly answered, bursts of loss, some partial
        lost = rng.random(n) < 0.1
        return [1.0 if x else float(round(f, 2)) if f < 0.3 else 0.0 for x, f in zip(lost, rng.random(n), strict=True)]
    if kind == "vector":  # three fields per point: the float stream and two noisy functions of it
        xs = sample_values("float", n, seed)
        noise = rng.normal(0.0, 1.0, (n, 2))
        return [[x, 2.0 * x + a, 100.0 - x + b] for x, (a, b) in zip(xs, noise.tolist(), strict=True)]
    raise AssertionError(f"the checks know no input_kind {kind!r}")


class Case:
    """One detector class in one of its ``check_configs``, and the input it takes there."""

    def __init__(self, cls: type[Detector], config: Mapping[str, Any]) -> None:
        self.cls = cls
        # Randomised detectors get one fixed seed so that two instances can be compared.
        self.config = {**config, **({"seed": 7} if "seed" in cls.parameters else {})}
        self.params = cls(**self.config).params()
        self.kind = cls.input_kind_of(self.params)
        #: How many points fill the state (see ``Detector.check_configs``).
        self.window = int(self.params.get("window", 100))

    def make(self) -> Detector:
        return self.cls(**self.config)

    def stream(self, n: int, seed: int = 0) -> list[tuple[int, Any]]:
        return [(T0 + i * STEP, x) for i, x in enumerate(sample_values(self.kind, n, seed))]

    def constant_value(self) -> Any:
        return {"state": "SHOWTIME", "vector": [5.0, 5.0, 5.0], "fraction": 0.0}.get(self.kind, 5.0)

    def other_value(self) -> Any:
        """A value other than :meth:`constant_value`."""
        return {"state": "TRAINING", "vector": [6.0, 6.0, 6.0], "fraction": 1.0}.get(self.kind, 6.0)

    def with_non_finite(self, bad: float) -> Any:
        """An input carrying the non-finite float ``bad`` (one component of a vector)."""
        return [5.0, bad, 5.0] if self.kind == "vector" else bad


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


def bad_values(param: Param) -> Iterator[Any]:
    """Values a declared parameter must refuse, from its kind, bounds and choices."""
    if not param.optional:
        yield None
    kind = param.kind
    if kind in ("int", "float", "duration"):
        yield "text"
        yield True
        if kind == "float":
            yield math.nan
            yield math.inf
        else:
            yield 2.5
        step = 0.5 if kind == "float" else 1
        if param.low is not None:
            yield param.low if param.closed in ("right", "neither") else param.low - step
        if param.high is not None:
            yield param.high if param.closed in ("left", "neither") else param.high + step
    elif kind == "bool":
        yield 1
        yield "TRUE"
    elif kind == "str":
        yield 3
    elif kind == "choice":
        yield "<none of the choices>"
        yield 3
    elif kind == "list":
        yield ""
        yield ("<none of the choices>",)
        yield 3
    else:
        raise AssertionError(f"the checks know no parameter kind {kind!r}")


def check_defaults(case: Case) -> None:
    cls = case.cls
    assert REGISTRY[cls.name] is cls
    assert case.kind in ("float", "state", "vector", "fraction")
    detector = case.make()
    params = detector.params()
    assert type(detector)(**params).params() == params
    json.dumps(detector.state_dict())


def check_declaration(case: Case) -> None:
    """Declared parameters are the constructor's keywords; defaults immutable; numbers bounded."""
    cls = case.cls
    assert cls.parameters, "declare every parameter in `parameters` (a ParamSet)"
    signature = inspect.signature(cls)
    assert list(signature.parameters) == list(cls.parameters)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in signature.parameters.values())
    assert set(cls().params()) == set(cls.parameters)
    for name, param in cls.parameters.items():
        hash(param.default)  # immutable: a tuple, never a list or dict shared by instances
        assert signature.parameters[name].default == param.default
        assert param.help.strip(), f"{name} has no help"
        if param.kind in ("int", "duration"):
            # Floats are finite by kind; integers need a ceiling so that Init refuses 2**63 - 1.
            assert param.high is not None, f"{name} has no upper bound (see udfs/params/limits.py)"
    for config in cls.check_configs:
        assert set(config) <= set(cls.parameters), config


def check_bad_params(case: Case) -> None:
    cls = case.cls
    cases: list[Mapping[str, Any]] = [
        {**case.config, name: value} for name, param in cls.parameters.items() for value in bad_values(param)
    ]
    cases += cls.invalid_param_examples
    for kwargs in cases:
        with pytest.raises(ValueError) as raised:
            cls(**kwargs)
        changed = [k for k in kwargs if k not in case.config or kwargs[k] is not case.config[k]]
        assert any(name in str(raised.value) for name in changed), (kwargs, str(raised.value))


def check_update_is_score_then_learn(case: Case) -> None:
    updated, stepped = case.make(), case.make()
    for t, x in case.stream(3 * case.window):
        verdict = updated.update(t, x)
        expected = stepped.score_one(t, x)
        stepped.learn_one(t, x)
        assert same_verdict(verdict, expected), (t, x)
        assert snapshot(updated) == snapshot(stepped), (t, x)


def check_score_one_does_not_mutate(case: Case) -> None:
    detector = case.make()
    for i, (t, x) in enumerate(case.stream(2 * case.window + 50)):
        if i % 7 == 0 or i >= 2 * case.window:  # during warm-up as well as after
            before = snapshot(detector)
            first = detector.score_one(t, x)
            assert snapshot(detector) == before
            assert same_verdict(detector.score_one(t, x), first)
        detector.update(t, x)


def check_snapshot_round_trip(case: Case) -> None:
    stream = case.stream(2 * case.window + 200)
    for cut in (0, 5, case.window + 7, 2 * case.window):  # fresh, warming up, mid-stream, warm
        original = case.make()
        for t, x in stream[:cut]:
            original.update(t, x)
        restored = case.cls.from_state(json.loads(json.dumps(original.state_dict())))
        assert snapshot(restored) == snapshot(original)
        for t, x in stream[cut : cut + 200]:
            assert same_verdict(restored.update(t, x), original.update(t, x)), (cut, t, x)


def check_corrupted_state(case: Case) -> None:
    """A snapshot with a wrong type in it is refused by ``from_state`` or harmless, never a crash later.

    The UDF restores a refused snapshot by starting fresh (and says so); a state that
    was accepted but fails at the next point would stop the Kapacitor task.
    """
    stream = case.stream(case.window + 40)
    original = case.make()
    for t, x in stream[: case.window + 20]:
        original.update(t, x)
    state = json.loads(json.dumps(original.state_dict()))
    for key in [k for k in state if k != "params"]:
        for wrong in (None, "text", -1, [], {}):
            corrupted = {**state, key: wrong}
            try:
                restored = case.cls.from_state(corrupted)
            except Exception:
                continue
            for t, x in stream[case.window + 20 :]:
                try:
                    restored.update(t, x)
                except Exception as exc:
                    raise AssertionError(f"{key}={wrong!r} was restored, then failed: {exc!r}") from exc


def check_non_finite(case: Case) -> None:
    stream = case.stream(2 * case.window)
    for warm in (0, len(stream)):
        detector = case.make()
        for t, x in stream[:warm]:
            detector.update(t, x)
        t = stream[-1][0] + STEP
        for bad in (math.nan, math.inf, -math.inf):
            before = snapshot(detector)
            verdict = detector.update(t, case.with_non_finite(bad))
            assert snapshot(detector) == before, f"{bad} was learned"
            assert math.isnan(verdict.score) and verdict.is_anomaly is False


def check_constant_series(case: Case) -> None:
    value = case.constant_value()
    detector = case.make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(3 * case.window):
            verdict = detector.update(T0 + i * STEP, value)
            assert not verdict.is_anomaly, i
        detector.update(T0 + 3 * case.window * STEP, case.other_value())  # any verdict, but no warning


def check_deterministic(case: Case) -> None:
    stream = case.stream(3 * case.window, seed=3)
    first, second = case.make(), case.make()
    for t, x in stream:
        assert same_verdict(first.update(t, x), second.update(t, x))


def check_memory_bounded(case: Case) -> None:
    window = case.window
    detector = case.make()
    sizes = {}
    for i, (t, x) in enumerate(case.stream(10 * window), start=1):
        detector.update(t, x)
        if i in (2 * window, 10 * window):
            sizes[i] = len(json.dumps(detector.state_dict()))
    # "No larger" up to printing noise: counters gain a digit, floats print at 16 to 18
    # characters. Keeping even one number per point over the last 8 windows is far more.
    slack = 64 + sizes[2 * window] // 20
    assert sizes[10 * window] <= sizes[2 * window] + slack, sizes


CHECKS: tuple[Callable[[Case], None], ...] = (
    check_defaults,
    check_declaration,
    check_bad_params,
    check_update_is_score_then_learn,
    check_score_one_does_not_mutate,
    check_snapshot_round_trip,
    check_corrupted_state,
    check_non_finite,
    check_constant_series,
    check_deterministic,
    check_memory_bounded,
)


def config_label(config: Mapping[str, Any]) -> str:
    """``mode=ewma,alpha=0.05``; ``defaults`` for the empty config."""
    def shown(value: Any) -> str:
        return "+".join(value) if isinstance(value, tuple) else str(value)

    return ",".join(f"{k}={shown(v)}" for k, v in config.items()) or "defaults"


CASES = [
    (name, config, check)
    for name in sorted(REGISTRY)
    for config in REGISTRY[name].check_configs
    for check in CHECKS
]


@pytest.mark.parametrize(
    ("name", "config", "check"), CASES,
    ids=[f"{name}:{config_label(config)}:{check.__name__.removeprefix('check_')}" for name, config, check in CASES],
)
def test_detector(name: str, config: Mapping[str, Any], check: Callable[[Case], None]) -> None:
    check(Case(REGISTRY[name], config))


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


def check_calibration_bounded(case: Case) -> None:
    """The calibration keeps at most ``historic_window`` entries per list, whatever the stream.

    (How many SPOT peaks fall in the window depends on the data, so the size at two windows
    is not yet the bound; the detector's own state is checked by ``memory_bounded`` above.)
    """
    detector = case.make()
    bound = CALIBRATION_CHECK_PARAMS["historic_window"]
    for i, (t, x) in enumerate(case.stream(10 * case.window), start=1):
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


def calibrated_case(name: str, mode: str) -> Case:
    """The detector in its first check configuration, with calibrated verdicts in ``mode``."""
    from udfs.detectors.calibration import calibrated

    base = REGISTRY[name]
    config = {**base.check_configs[0], **CALIBRATION_CHECK_PARAMS, "calibration": mode}
    return Case(calibrated(base), config)


@pytest.mark.parametrize(
    ("name", "mode", "check"), CALIBRATED_CASES,
    ids=[f"calibrated-{name}-{mode}:{check.__name__.removeprefix('check_')}" for name, mode, check in CALIBRATED_CASES],
)
def test_calibrated_detector(name: str, mode: str, check: Callable[[Case], None]) -> None:
    check(calibrated_case(name, mode))

"""MatrixProfile against the naive reference and against stumpy, at every step.

Distances are compared with ``np.isclose(fast, reference, rtol=1e-6, atol=1e-6)``:
absolute 1e-6 for distances up to 1, relative 1e-6 above. The fast path takes its dot
products from diagonal updates (each recomputed at least every ``period`` points),
the naive reference z-normalises each subsequence and takes ``np.linalg.norm``, so
the two differ by rounding only (~1e-11 on these streams). A nearest neighbour may
differ only between candidates at the same distance within that tolerance.

The stumpy reference (``stumpi`` when normalising, ``aampi`` otherwise) is the last
entry of ``left_P_`` after each ``update``: with ``egress=False`` while the window
(``history`` learned values and the new one) is still growing, then, from the point
whose window first holds ``history + 1`` values, a second object built on that window
with ``egress=True``, whose ``T_`` is then exactly the detector's window at every
update. Its left neighbour index ``left_I_[-1]`` counts from the start of the stream
in both modes, so it gives ``neighbor_age`` too. NaN is never learned, so the
detector sees the stream with its non-finite values taken out, and so does stumpy.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from naive_matrix_profile import distance_profile, matrix_profile

from udfs.detectors import Verdict
from udfs.detectors.matrix_profile import MatrixProfile
from udfs.params.constraints import InvalidParameterError

NAB = Path(__file__).resolve().parents[2] / "data/nab/data/realKnownCause/machine_temperature_system_failure.csv"
TOL = {"rtol": 1e-6, "atol": 1e-6}


def nab_slice(start: int, n: int) -> list[float]:
    with NAB.open() as f:
        return [float(row["value"]) for row in csv.DictReader(f)][start : start + n]


def random_walk(n: int, seed: int = 0) -> list[float]:
    return np.cumsum(np.random.default_rng(seed).normal(size=n)).tolist()


def sine_with_discord(n: int, seed: int = 1) -> list[float]:
    rng = np.random.default_rng(seed)
    x = np.sin(2 * np.pi * np.arange(n) / 23.7) + rng.normal(0, 0.05, n)
    x[n // 2 : n // 2 + 10] = 0.8  # a flat top where a trough should be
    return x.tolist()


def constant_stretches(n: int, seed: int = 2) -> list[float]:
    x = np.array(random_walk(n, seed))
    x[n // 4 : n // 4 + 60] = 3.0
    x[n // 2 : n // 2 + 40] = 3.0  # a constant stretch matching the first one
    x[3 * n // 4 : 3 * n // 4 + 25] = -1.5
    return x.tolist()


def with_gaps(n: int, seed: int = 3) -> list[float]:
    x = np.array(random_walk(n, seed))
    rng = np.random.default_rng(seed)
    x[rng.random(n) < 0.03] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[n // 3 : n // 3 + 5] = np.nan
    return x.tolist()


STREAMS = {
    "random_walk": lambda n: random_walk(n),
    "sine_discord": sine_with_discord,
    "constant_stretches": constant_stretches,
    "nan_gaps": with_gaps,
    "nab_machine_temperature": lambda n: nab_slice(2000, n),
}


def run(values: list[float], **params: Any) -> list[Verdict]:
    detector = MatrixProfile(**params)
    return [detector.update(i, x) for i, x in enumerate(values)]


def assert_same_neighbor(fast: int | None, ref: int | None, window: np.ndarray, m: int, normalize: bool) -> None:
    """The same neighbour age, or one at the same distance (within TOL) from the newest subsequence of ``window``."""
    if fast != ref:
        assert fast is not None and ref is not None
        profile, newest = distance_profile(window, m, normalize), len(window) - m
        assert np.isclose(profile[newest - fast], profile[newest - ref], **TOL), (fast, ref)


@pytest.mark.parametrize("normalize", [True, False], ids=["znorm", "raw"])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_matches_naive_at_every_step(name: str, normalize: bool) -> None:
    values = STREAMS[name](700)
    params = {"m": 10, "history": 150, "threshold": 3.0, "normalize": normalize, "min_history": 40}
    fast, ref = run(values, **params), matrix_profile(values, **params)
    learned: list[float] = []
    for i, (a, b) in enumerate(zip(fast, ref, strict=True)):
        da, db = a.details["distance"], b.details["distance"]
        assert np.isclose(da, db, equal_nan=True, **TOL), (i, da, db)
        assert np.isclose(a.score, b.score, equal_nan=True, **TOL), (i, a.score, b.score)
        assert a.is_anomaly == b.is_anomaly, i
        if not math.isnan(db):
            window = np.array(learned[-150:] + [values[i]])
            assert_same_neighbor(a.details["neighbor_age"], b.details["neighbor_age"], window, 10, normalize)
        if math.isfinite(values[i]):
            learned.append(values[i])


def stumpy_left_profile(values: list[float], m: int, history: int, normalize: bool) -> list[tuple[float, int]]:
    """(left matrix profile value, neighbour start) of the newest subsequence at each point."""
    import stumpy  # a declared dependency: missing, it fails rather than skips
    incremental = stumpy.stumpi if normalize else stumpy.aampi
    x = np.array(values)
    first = m + math.ceil(m / 4)  # the first point whose subsequence has a left neighbour
    out = [(math.nan, -1)] * first
    growing = incremental(x[: first + 1], m, egress=False)
    out.append((growing.left_P_[-1], growing.left_I_[-1]))
    for v in x[first + 1 : history + 1]:
        growing.update(v)
        out.append((growing.left_P_[-1], growing.left_I_[-1]))
    rolling = incremental(x[: history + 1], m, egress=True)
    assert np.isclose(rolling.left_P_[-1], out[history][0], **TOL)
    for v in x[history + 1 :]:
        rolling.update(v)
        out.append((rolling.left_P_[-1], rolling.left_I_[-1]))
    return out


# stumpy warns that m is large for the first, short window of the growing phase.
@pytest.mark.filterwarnings("ignore:The window size:UserWarning")
@pytest.mark.parametrize("normalize", [True, False], ids=["stumpi", "aampi"])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_matches_stumpy_left_profile(name: str, normalize: bool) -> None:
    values = STREAMS[name](1500)
    m, history = 16, 300
    fast = run(values, m=m, history=history, min_history=64, normalize=normalize)
    finite = [(x, v) for x, v in zip(values, fast, strict=True) if math.isfinite(x)]
    reference = stumpy_left_profile([x for x, _ in finite], m, history, normalize)
    learned: list[float] = []
    for n, ((x, verdict), (distance, neighbor)) in enumerate(zip(finite, reference, strict=True)):
        assert np.isclose(verdict.details["distance"], distance, equal_nan=True, **TOL), (n, distance)
        if neighbor >= 0:
            window = np.array(learned[-history:] + [x])
            assert_same_neighbor(verdict.details["neighbor_age"], n - m + 1 - neighbor, window, m, normalize)
        learned.append(x)


def test_gaps_close_up() -> None:
    """NaN and inf are skipped: the finite points score as if the gaps were not there."""
    values = with_gaps(600)
    gapped = run(values, m=12, history=200, min_history=48)
    closed = run([x for x in values if math.isfinite(x)], m=12, history=200, min_history=48)
    assert [v for x, v in zip(values, gapped, strict=True) if math.isfinite(x)] == closed
    assert all(math.isnan(v.score) for x, v in zip(values, gapped, strict=True) if not math.isfinite(x))


@pytest.mark.parametrize(
    ("m", "history", "normalize"), [(8, 100, True), (5, 37, False), (24, 90, True), (20, 27, True)]
)
def test_restore_reproduces_every_later_verdict(m: int, history: int, normalize: bool) -> None:
    """From any cut (warm-up, growing, around compaction), the restored detector stays bit-identical."""
    values = constant_stretches(6 * history, seed=5)
    params = {"m": m, "history": history, "normalize": normalize, "min_history": m + math.ceil(m / 4) + 1}
    live = MatrixProfile(**params)
    for cut, x in enumerate(values):
        if cut % 7 == 0 or 2 * history - 3 <= cut <= 2 * history + 3:
            restored = MatrixProfile.from_state(json.loads(json.dumps(live.state_dict())))
            assert restored.state_dict() == live.state_dict()
            for later in values[cut : cut + 2 * m]:
                assert repr(restored.score_one(0, later)) == repr(live.score_one(0, later)), cut  # NaN-safe, exact
                restored.learn_one(0, later)
                live.learn_one(0, later)
            live = MatrixProfile.from_state(json.loads(json.dumps(restored.state_dict())))
        live.update(cut, x)


def test_scores_the_discord() -> None:
    values = sine_with_discord(1200)
    verdicts = run(values, m=16, history=500, min_history=100)
    flagged = [i for i, v in enumerate(verdicts) if v.is_anomaly]
    assert flagged and all(600 <= i < 600 + 10 + 16 for i in flagged), flagged


def test_a_mostly_flat_series_is_not_scored_against_the_floor() -> None:
    """Regular bursts of noise on a flat line: each burst is like the others, none is a discord.

    Before, the zeros between constant subsequences made the median distance 0, so
    every subsequence overlapping a burst scored sqrt(m) / (1e-3 sqrt(2 m)) = 707 (NAB's
    rogue_agent_key_updown: 1,424 such points). Now the median is of the varying
    subsequences' distances; a flat stretch in a varying series still stands out.
    """
    rng = np.random.default_rng(11)
    values = np.zeros(3000)
    for start in range(100, 3000, 250):
        values[start : start + 20] = rng.normal(size=20)
    verdicts = run(values.tolist(), m=32, history=2000, min_history=128)
    scores = np.array([v.score for v in verdicts])
    assert np.isfinite(scores).sum() > 2000
    assert np.nanmax(scores) < 3.0, np.nanmax(scores)
    assert not any(v.is_anomaly for v in verdicts)
    wave = np.sin(np.arange(1500) / 5.0) + 0.05 * rng.normal(size=1500)
    wave[1000:1100] = wave[1000]  # a flat line in a varying series
    flagged = [i for i, v in enumerate(run(wave.tolist(), m=32, history=800, min_history=128)) if v.is_anomaly]
    assert flagged and all(1000 <= i < 1100 + 32 for i in flagged), flagged


@pytest.mark.parametrize(
    "kwargs",
    [{"m": 2}, {"m": 32, "min_history": 40}, {"history": 100, "min_history": 128}, {"normalize": "yes"},
     {"threshold": 0.0}],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        MatrixProfile(**kwargs)
    assert any(key in str(raised.value) for key in kwargs)


def test_inconsistent_snapshot_is_refused() -> None:
    detector = MatrixProfile(m=8, history=50, min_history=20)
    for i, x in enumerate(random_walk(80)):
        detector.update(i, x)
    state = detector.state_dict()
    with pytest.raises(ValueError, match="values"):
        MatrixProfile.from_state({**state, "values": state["values"][1:]})
    with pytest.raises(ValueError, match="distances"):
        MatrixProfile.from_state({**state, "distances": state["distances"][1:]})


def test_udf_answers_info_without_stumpy_or_numba() -> None:
    code = """
import sys
from udfs.functions import load
from udfs.protocol import udf_pb2 as pb
udf = load("matrix_profile")()
assert "m" in udf.info().options
request = pb.InitRequest(taskID="t", nodeID="n")
request.options.add(name="m", values=[pb.OptionValue(type=pb.INT, intValue=8)])
request.options.add(name="min_history", values=[pb.OptionValue(type=pb.INT, intValue=20)])
assert udf.init(request).success
from udfs.detectors.matrix_profile import MatrixProfile
detector = MatrixProfile(m=8, history=50, min_history=20)
for i in range(100):
    detector.update(i, float(i % 7))
print(sorted(name for name in ("stumpy", "numba", "llvmlite") if name in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

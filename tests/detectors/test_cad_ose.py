"""cad_ose against NAB's published CAD OSE output, row for row, and its learned range."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from udfs.detectors.cad_ose import CadOse, tuple_order_key
from udfs.evaluation.nab_scoring import probationary_length

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "tests" / "fixtures" / "nab-cad-ose"
FILES = ["realTraffic/speed_7578.csv", "realAdExchange/exchange-3_cpc_results.csv",
         "realKnownCause/rogue_agent_key_hold.csv", "realTraffic/TravelTime_387.csv"]


def _column(path: Path, name: str) -> list[float]:
    with path.open(newline="") as f:
        return [float(row[name]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("key", FILES)
def test_scores_equal_nab_published_cad_ose(key: str) -> None:
    # As NAB runs it: the file's min and max, a rest of a fifth of the probationary period.
    values = _column(ROOT / "data" / "nab" / "data" / key, "value")
    published = np.array(_column(PUBLISHED / Path(key).name, "anomaly_score"))
    detector = CadOse(min=min(values), max=max(values), rest_period=int(probationary_length(len(values)) / 5.0))
    ours = np.array([detector.update(i, v).score for i, v in enumerate(values)])
    # NaN while warming up is what CAD reports as 0 (its rest at the start).
    ours = np.nan_to_num(ours, nan=0.0)
    assert published.shape == ours.shape and published.max() > 0.75
    different = np.flatnonzero(~np.isclose(ours, published, rtol=0, atol=1e-9))
    assert different.size == 0, f"{key}: first difference at row {different[0]}: {ours[different[0]]} " \
                                f"against {published[different[0]]}"


def test_order_key_is_cpython2_tuple_hash() -> None:
    # hash(()) and hash((1, 2)) of 64-bit CPython 2.7.
    assert tuple_order_key(()) == 3527539
    assert tuple_order_key((1, 2)) == 3713081631934410656


def test_learned_range_is_the_first_rest_period_values() -> None:
    rng = np.random.default_rng(3)
    values = list(20 + 5 * np.sin(np.arange(1500) / 12.0) + rng.normal(0, 1, 1500))
    values[900] = 80.0  # beyond the learned range: the top level
    learned = CadOse(rest_period=100)
    given = CadOse(min=min(values[:100]), max=max(values[:100]), rest_period=100)
    a = [learned.update(i, v) for i, v in enumerate(values)]
    b = [given.update(i, v) for i, v in enumerate(values)]
    assert all(math.isnan(v.score) for v in a[:100])
    assert [v.score for v in a[100:]] == [v.score for v in b[100:]]
    assert a[900].is_anomaly


def test_snapshot_mid_stream_continues_identically() -> None:
    values = _column(ROOT / "data" / "nab" / "data" / FILES[0], "value")
    whole = CadOse(min=min(values), max=max(values), rest_period=30)
    half = CadOse(min=min(values), max=max(values), rest_period=30)
    expected = [whole.update(i, v).score for i, v in enumerate(values)]
    for i, v in enumerate(values[:600]):
        half.update(i, v)
    restored = CadOse.from_state(half.state_dict())
    got = [restored.update(i, v).score for i, v in enumerate(values[600:], start=600)]
    np.testing.assert_array_equal(got, expected[600:])


def test_memory_stops_growing_at_max_contexts() -> None:
    values = _column(ROOT / "data" / "nab" / "data" / FILES[0], "value")
    detector = CadOse(min=min(values), max=max(values), rest_period=30, max_contexts=200)
    scores = [detector.update(i, v).score for i, v in enumerate(values)]
    assert len(detector._contexts) == 200
    assert all(0.0 <= s <= 1.0 for s in scores[30:])

"""``FloatRing`` against its naive reference, ``collections.deque(maxlen=...)``."""

from __future__ import annotations

import random
from collections import deque

import pytest

from udfs.detectors._float_ring import FloatRing


@pytest.mark.parametrize("maxlen", [1, 2, 7, 100])
def test_float_ring_is_a_bounded_deque(maxlen: int) -> None:
    rng = random.Random(maxlen)
    initial = [rng.random() for _ in range(rng.randint(0, 3 * maxlen))]
    ring, reference = FloatRing(maxlen, initial), deque(initial, maxlen=maxlen)
    for step in range(5 * maxlen + 10):
        assert list(ring) == list(reference) == list(ring.raw()) and len(ring) == len(reference)
        if reference:
            assert ring[0] == reference[0] and ring[-1] == reference[-1]
            assert [ring[i] for i in range(len(ring))] == list(reference)
        with pytest.raises(IndexError):
            ring[len(reference)]
        x = rng.random()
        ring.append(x)
        reference.append(x)
        if step == 3 * maxlen:
            ring.clear()
            reference.clear()

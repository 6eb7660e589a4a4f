"""The last ``maxlen`` floats appended, as raw doubles: a ``deque(maxlen=...)`` at 8 bytes a value.

A ``deque`` of Python floats costs about 32 bytes per value (the float object and its
slot); a detector keeping a window of 1,000 values in each of 10,000 groups holds ten
million of them. Here the values live in one ``array('d')`` used as a circular
buffer: it grows by appending until it holds ``maxlen`` values, then the newest
overwrites the oldest.

Examples
--------
>>> ring = FloatRing(3, [1.0, 2.0])
>>> ring.append(3.0); ring.append(4.0)
>>> list(ring), ring[0], len(ring)
([2.0, 3.0, 4.0], 2.0, 3)
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from itertools import chain

__all__ = ["FloatRing"]


class FloatRing:
    """Floats in arrival order, at most ``maxlen`` of them (the oldest dropped first)."""

    __slots__ = ("_head", "_values", "maxlen")

    def __init__(self, maxlen: int, values: Iterable[float] = ()) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.maxlen = maxlen
        initial = array("d", values)  # one C loop: restoring 10,000 windows is 10 million values
        self._values = initial[-maxlen:] if len(initial) > maxlen else initial
        self._head = 0  # index of the oldest value once the buffer is full

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[float]:
        values, head = self._values, self._head
        return iter(values) if not head else chain(values[head:], values[:head])

    def raw(self) -> array[float]:
        """The values as one ``array('d')`` (a copy), oldest first."""
        values, head = self._values, self._head
        return values[head:] + values[:head] if head else array("d", values)

    def __getitem__(self, index: int) -> float:
        """The ``index``-th oldest value (``0`` is the oldest, ``-1`` the newest)."""
        n = len(self._values)
        if not -n <= index < n:
            raise IndexError("FloatRing index out of range")
        return self._values[(self._head + index) % n]

    def append(self, x: float) -> None:
        values = self._values
        if len(values) < self.maxlen:
            values.append(x)
            return
        head = self._head
        values[head] = x
        self._head = head + 1 if head + 1 < self.maxlen else 0

    def extend(self, xs: Iterable[float]) -> None:
        for x in xs:
            self.append(x)

    def clear(self) -> None:
        self._values = array("d")
        self._head = 0

    def __repr__(self) -> str:
        return f"FloatRing({self.maxlen}, {list(self)!r})"

"""The NAB corpus on disk: series as arrays, anomaly windows as row ranges.

A data dir holds ``data/<category>/<file>.csv`` (``timestamp,value`` rows, timestamps
``YYYY-MM-DD HH:MM:SS``) and ``labels/combined_windows.json`` (key
``<category>/<file>.csv`` -> list of ``[start, end]`` timestamps with microseconds).
Timestamps are naive in the files and read as UTC, in ns since the epoch.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_DATA_DIR", "NabCorpus", "NabFile", "load_corpus", "window_rows"]

DEFAULT_DATA_DIR = Path("data/nab")

WINDOWS_FILE = Path("labels/combined_windows.json")


def _to_ns(stamps: Sequence[str]) -> np.ndarray:
    return np.array(stamps, dtype="datetime64[ns]").astype(np.int64)


@dataclass(frozen=True, eq=False)
class NabFile:
    """One labelled series.

    Attributes
    ----------
    key : str
        ``category/file.csv``, as in the label files.
    timestamps : ndarray of int64
        ns since the epoch, in file order. Not always strictly increasing: a few NAB
        files repeat a timestamp or step back once.
    values : ndarray of float64
    windows : tuple of (first, last)
        Anomaly windows as inclusive row ranges, in order and disjoint.
    """

    key: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class NabCorpus:
    """The files of a benchmark run, sorted by key."""

    files: tuple[NabFile, ...]

    def __iter__(self) -> Iterator[NabFile]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: str) -> NabFile:
        for nab_file in self.files:
            if nab_file.key == key:
                return nab_file
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.files)

    @property
    def n_windows(self) -> int:
        return sum(len(f.windows) for f in self.files)

    @property
    def n_rows(self) -> int:
        return sum(len(f) for f in self.files)

    def subset(self, keys: Iterable[str]) -> NabCorpus:
        """The corpus restricted to ``keys`` (which must all exist)."""
        return NabCorpus(tuple(self[k] for k in sorted(set(keys))))


def window_rows(timestamps: np.ndarray, windows: Sequence[Sequence[str]]) -> tuple[tuple[int, int], ...]:
    """Map ``[start, end]`` timestamp windows to inclusive row ranges.

    A window covers the rows whose timestamp lies in ``[start, end]`` (both ends
    included). A boolean mask rather than a binary search, because some NAB files are
    not sorted by time; the covered rows must still be contiguous and non-empty.

    Examples
    --------
    >>> ts = np.array([0, 60, 120, 180], dtype=np.int64) * 10**9
    >>> window_rows(ts, [["1970-01-01 00:01:00.000000", "1970-01-01 00:02:30.000000"]])
    ((1, 2),)
    """
    ranges = []
    for start, end in windows:
        lo, hi = _to_ns([start, end])
        rows = np.flatnonzero((timestamps >= lo) & (timestamps <= hi))
        if rows.size == 0:
            raise ValueError(f"window [{start}, {end}] covers no row")
        if rows[-1] - rows[0] + 1 != rows.size:
            raise ValueError(f"window [{start}, {end}] covers rows that are not contiguous")
        ranges.append((int(rows[0]), int(rows[-1])))
    ranges.sort()
    for (_, last), (first, _) in pairwise(ranges):
        if first <= last:
            raise ValueError(f"windows overlap at row {first}")
    return tuple(ranges)


def _read_series(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != ["timestamp", "value"]:
            raise ValueError(f"{path}: expected header timestamp,value, got {header}")
        rows = [row for row in reader if row]
    stamps = [row[0] for row in rows]
    values = np.array([float(row[1]) for row in rows], dtype=np.float64)
    return _to_ns(stamps), values


def load_corpus(data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR) -> NabCorpus:
    """Read every ``data/*/*.csv`` under ``data_dir`` with its windows.

    Every CSV must have an entry in ``labels/combined_windows.json`` (an empty list
    is allowed); label entries without a CSV are ignored, so a subset of NAB works.
    ``data_dir`` is resolved against the current directory.
    """
    root = Path(data_dir)
    labels = json.loads((root / WINDOWS_FILE).read_text())
    paths = sorted((root / "data").glob("*/*.csv"))
    if not paths:
        raise FileNotFoundError(f"no CSV files under {root / 'data'}")
    files = []
    for path in paths:
        key = f"{path.parent.name}/{path.name}"
        if key not in labels:
            raise ValueError(f"{key} has no entry in {root / WINDOWS_FILE}")
        timestamps, values = _read_series(path)
        files.append(NabFile(key, timestamps, values, window_rows(timestamps, labels[key])))
    return NabCorpus(tuple(sorted(files, key=lambda f: f.key)))

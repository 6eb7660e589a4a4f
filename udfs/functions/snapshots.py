"""The snapshot container: a UDF's state as JSON metadata plus raw little-endian arrays.

A snapshot of JSON text spends about 18 characters and a float-to-text conversion on
every stored number: ten thousand groups of ``@mad()`` with a window of 1,000 came to
41 MB and 18 s, past Kapacitor's keepalive timeout. Here every long list of numbers in
the state is written as the bytes of a numpy array instead, and everything else stays
JSON. Nothing in it is executable: no pickle, only JSON and arrays of float64, float32
and int64 read with ``numpy.frombuffer``.

Layout (version 2; version 1 was the JSON document itself, still read)::

    magic       8 bytes   b"\\x89UDFSNP\\n" (not JSON, not text: a mangled copy fails at once)
    version     uint32    2
    flags       uint32    0
    meta_len    uint64    length of the metadata
    metadata    meta_len  UTF-8 JSON: {"document": ..., "arrays": [[dtype, shape, offset], ...]}
    padding               to a multiple of 8
    arrays                each at an 8-aligned offset from here, little-endian

In the document an array is ``{"$array": index}``; a dict of the state that has a
key ``"$array"`` or ``"$dict"`` itself (a Kapacitor group of that name) is written
as ``{"$dict": [[key, value], ...]}``, so no state can be mistaken for a reference.
A list becomes an array when it holds at least :data:`MIN_ARRAY` numbers, all
floats or all integers within int64, or equally long rows of floats. Floats are
written in 4 bytes when that loses nothing: as float32 when every one is a float32
exactly, else as int32 counts of ``10**-k`` (k <= 6, an index entry's fourth item)
when each divides back to the very same double (values read from text such as
``73.967`` do); else as float64. Decoding gives back the very same Python lists
(``decode_snapshot(encode_snapshot(d)) == d``, bit for bit).

Examples
--------
>>> state = {"values": [float(i) / 4 for i in range(20)], "changes": 3, "groups": {"$array": 1}}
>>> data = encode_snapshot(state)
>>> data[:8], decode_snapshot(data) == state
(b'\\x89UDFSNP\\n', True)
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["CONTAINER_VERSION", "MAGIC", "MIN_ARRAY", "decode_snapshot", "encode_snapshot", "is_container"]

MAGIC = b"\x89UDFSNP\n"
CONTAINER_VERSION = 2
#: Shorter lists stay JSON: an array costs a reference and an index entry.
MIN_ARRAY = 16

_HEADER = struct.Struct("<8sIIQ")
_DTYPES: dict[str, np.dtype[Any]] = {name: np.dtype(name) for name in ("<f8", "<f4", "<i8", "<i4")}
#: Most decimal places of a float array written as int32 counts of 10**-k.
MAX_DECIMALS = 6
_INT32_MAX = 2**31 - 1
_RESERVED = ("$array", "$dict")


class _Writer:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.index: list[list[Any]] = []
        self.size = 0

    def add(self, array: np.ndarray, decimals: int | None) -> dict[str, int]:
        entry = [array.dtype.str, list(array.shape), self.size]
        self.index.append(entry if decimals is None else [*entry, decimals])
        self.arrays.append(array)
        self.size += -(-array.nbytes // 8) * 8
        return {"$array": len(self.arrays) - 1}

    def walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            if any(key in value for key in _RESERVED):
                return {"$dict": [[k, self.walk(v)] for k, v in value.items()]}
            return {k: self.walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            found = _as_array(value) if len(value) >= MIN_ARRAY else None
            if found is not None:
                return self.add(*found)
            return [self.walk(v) for v in value]
        return value


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    # Bit for bit, NaN payloads and signed zeros included.
    return bool(np.array_equal(a.view("<u8"), b.view("<u8")))


def _as_decimals(values: list[float], array: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``values`` as int32 counts of 10**-k (k <= 6) that divide back to the same doubles, or None.

    Measurements read from text ("73.967") are such decimals: 4 bytes instead of 8.
    """
    head = values[:4]
    if not all(math.isfinite(v) and abs(v) <= _INT32_MAX for v in head):
        return None
    for k in range(MAX_DECIMALS + 1):
        scale = 10.0**k
        if not all(round(v * scale) / scale == v for v in head):
            continue  # a cheap first look, so that most arrays of arbitrary doubles take no numpy pass
        counts = np.round(array * scale)
        if not (np.abs(counts) <= _INT32_MAX).all():  # NaN fails this too
            return None
        if _same_bits(counts / scale, array):
            return counts.astype("<i4"), k
    return None


def _as_array(values: list[Any] | tuple[Any, ...]) -> tuple[np.ndarray, int | None] | None:
    """``values`` as an array (and its decimal places, for counts of 10**-k) that gives them back exactly."""
    kinds = set(map(type, values))
    if kinds == {float}:
        array = np.array(values, dtype="<f8")
        narrow = array.astype("<f4")  # beyond float32's range: inf, which the check below refuses
        if _same_bits(narrow.astype("<f8"), array):
            return narrow, None
        return _as_decimals(list(values), array) or (array, None)
    if kinds == {int}:
        try:
            return np.array(values, dtype="<i8"), None
        except OverflowError:
            return None
    if kinds == {list} and len({len(row) for row in values}) == 1 and values[0]:
        if set().union(*(set(map(type, row)) for row in values)) == {float}:
            return np.array(values, dtype="<f8"), None
    return None


def encode_snapshot(document: Mapping[str, Any]) -> bytes:
    """The container bytes of ``document`` (JSON-serialisable; numbers may be NaN or infinite)."""
    writer = _Writer()
    with np.errstate(over="ignore"):  # float32 casts of values beyond its range: refused, not warned
        body = writer.walk(dict(document))
    meta = json.dumps({"document": body, "arrays": writer.index}, separators=(",", ":"), allow_nan=True).encode()
    parts = [_HEADER.pack(MAGIC, CONTAINER_VERSION, 0, len(meta)), meta, b"\0" * (-(_HEADER.size + len(meta)) % 8)]
    for array in writer.arrays:
        parts.append(array.tobytes())
        parts.append(b"\0" * (-array.nbytes % 8))
    return b"".join(parts)


def is_container(data: bytes) -> bool:
    """Whether ``data`` starts like this container (else it may be a version 1 JSON snapshot)."""
    return data[:8] == MAGIC


def decode_snapshot(data: bytes) -> Any:
    """The document :func:`encode_snapshot` wrote; a version 1 (JSON) snapshot is read too.

    Raises ValueError on anything else (truncated, unknown version, inconsistent index).
    """
    if not is_container(data):
        return json.loads(data.decode())
    if len(data) < _HEADER.size:
        raise ValueError("snapshot header is truncated")
    _, version, _flags, meta_len = _HEADER.unpack_from(data)
    if version != CONTAINER_VERSION:
        raise ValueError(f"snapshot container version {version}, this agent reads version {CONTAINER_VERSION}")
    start = _HEADER.size
    if meta_len > len(data) - start:
        raise ValueError(f"snapshot metadata of {meta_len} bytes is longer than the snapshot")
    meta = json.loads(data[start : start + meta_len].decode())
    if not isinstance(meta, dict) or not isinstance(meta.get("arrays"), list) or "document" not in meta:
        raise ValueError("snapshot metadata is not a container index")
    base = start + meta_len + (-(start + meta_len) % 8)
    view = memoryview(data)
    arrays = [_read_array(view, base, entry) for entry in meta["arrays"]]
    return _Reader(arrays).walk(meta["document"])


def _read_array(view: memoryview, base: int, entry: Any) -> list[Any]:
    if not (isinstance(entry, list) and len(entry) in (3, 4) and entry[0] in _DTYPES and isinstance(entry[1], list)
            and all(isinstance(n, int) and n >= 0 for n in entry[1]) and isinstance(entry[2], int) and entry[2] >= 0
            and (len(entry) == 3 or (entry[0] == "<i4" and entry[3] in range(MAX_DECIMALS + 1)))):
        raise ValueError(f"snapshot array entry {entry!r} is malformed")
    dtype, shape, offset = _DTYPES[entry[0]], entry[1], entry[2]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    end = base + offset + count * dtype.itemsize
    if end > len(view):
        raise ValueError("snapshot array runs past the end of the snapshot")
    array = np.frombuffer(view[base + offset : end], dtype=dtype).reshape(shape)
    if len(entry) == 4:  # decimals: the very division the writer checked
        decoded: list[Any] = (array.astype("<f8") / 10.0 ** entry[3]).tolist()
        return decoded
    values: list[Any] = (array.astype("<f8") if dtype.kind == "f" else array).tolist()
    return values


class _Reader:
    def __init__(self, arrays: list[list[Any]]) -> None:
        self.arrays = arrays

    def walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and "$array" in value:
                index = value["$array"]
                if not isinstance(index, int) or not 0 <= index < len(self.arrays):
                    raise ValueError(f"snapshot refers to array {index!r}, which it does not hold")
                return self.arrays[index]
            if len(value) == 1 and "$dict" in value:
                pairs = value["$dict"]
                if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                    raise ValueError("snapshot has a malformed escaped mapping")
                return {str(k): self.walk(v) for k, v in pairs}
            return {k: self.walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        return value

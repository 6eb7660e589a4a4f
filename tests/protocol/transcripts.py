"""The recorded real-Kapacitor transcripts, and a wire-format reader to compare against them.

``kapacitor-transcripts/`` is a verbatim copy of the recordings of a Kapacitor 1.5.7
daemon talking to a pass-through UDF (see its README). The readers here are written
from the protobuf wire-format spec and share no code with ``udfs.protocol.framing``,
so the framing tests do not check the code against itself.

Why map entries need sorting before a byte comparison: protobuf leaves the order of
map entries on the wire to the encoder. Kapacitor 1.5.7 marshals with golang/protobuf
``proto.Marshal`` (not ``Deterministic``), which writes a map in Go's randomised map
iteration order; the recording UDF did the same on its side, and Python's upb runtime
also iterates maps in a per-process hash order. Everything else (field order, varints,
packed enums, doubles) is canonical, so a frame and its re-encoding are compared
byte for byte after :func:`sort_map_entries` puts every map's entries in key order,
which is exactly what ``SerializeToString(deterministic=True)`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor

from udfs.protocol import udf_pb2 as pb

__all__ = [
    "TRANSCRIPTS",
    "frames",
    "jsonl",
    "map_key_orders",
    "message_type",
    "messages",
    "read_varint",
    "sort_map_entries",
    "take_frames",
    "varint",
    "wire_fields",
]

TRANSCRIPTS = Path(__file__).resolve().parent / "kapacitor-transcripts"


def varint(value: int) -> bytes:
    """Base-128 little-endian groups, high bit = more bytes follow (protobuf spec)."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    """``(value, next_pos)``, or None if ``buf`` ends inside the varint."""
    value = 0
    shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    return None


def take_frames(buf: bytes) -> tuple[list[bytes], bytes]:
    """Split off every complete length-prefixed payload; return them and the rest."""
    payloads: list[bytes] = []
    pos = 0
    while True:
        header = read_varint(buf, pos)
        if header is None or header[1] + header[0] > len(buf):
            return payloads, buf[pos:]
        length, start = header
        payloads.append(buf[start : start + length])
        pos = start + length


def message_type(name: str) -> type[pb.Request] | type[pb.Response]:
    """``Request`` for ``*.requests.*`` (Kapacitor -> UDF), ``Response`` otherwise."""
    return pb.Request if ".requests." in name else pb.Response


def frames(name: str) -> list[bytes]:
    """The payloads of a recorded ``.bin`` file, in order."""
    payloads, rest = take_frames((TRANSCRIPTS / name).read_bytes())
    assert rest == b"", f"{name} ends inside a frame"
    return payloads


def messages(name: str) -> list[Any]:
    cls = message_type(name)
    return [cls.FromString(p) for p in frames(name)]


def jsonl(name: str) -> list[str]:
    """The lines of a recorded ``.jsonl`` file (``name`` may end in ``.bin``)."""
    path = TRANSCRIPTS / name.replace(".bin", ".jsonl")
    return [line for line in path.read_text().splitlines() if line.strip()]


def jsonl_dicts(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsonl(name)]


def wire_fields(data: bytes) -> list[tuple[int, int, bytes, Any]]:
    """Top-level fields of a serialized message: ``(number, wire_type, raw_bytes, value)``.

    ``value`` is an int for varints and the payload bytes for every other wire type.
    """
    out = []
    pos = 0
    while pos < len(data):
        start = pos
        header = read_varint(data, pos)
        assert header is not None, "truncated tag"
        tag, pos = header
        number, wire_type = tag >> 3, tag & 7
        value: Any
        if wire_type == 0:
            header = read_varint(data, pos)
            assert header is not None, "truncated varint"
            value, pos = header
        elif wire_type == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire_type == 2:
            header = read_varint(data, pos)
            assert header is not None, "truncated length"
            length, pos = header
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise AssertionError(f"unexpected wire type {wire_type} at byte {start}")
        out.append((number, wire_type, data[start:pos], value))
    return out


def _is_map(field: Any) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _entry_key(entry: bytes) -> Any:
    for number, _wire_type, _raw, value in wire_fields(entry):
        if number == 1:
            return value
    return b""  # a default key (empty string / 0) is left out of the entry


def sort_map_entries(data: bytes, descriptor: Descriptor) -> bytes:
    """Re-emit ``data`` with every map's entries (at any depth) sorted by key."""
    chunks: list[Any] = []
    entries: dict[int, list[tuple[Any, bytes]]] = {}
    for number, wire_type, raw, value in wire_fields(data):
        field = descriptor.fields_by_number.get(number)
        if field is None or wire_type != 2 or field.message_type is None:
            chunks.append(raw)
            continue
        # Sorting never changes a length, so the original tag and length bytes stay valid.
        framed = raw[: len(raw) - len(value)] + sort_map_entries(value, field.message_type)
        if _is_map(field):
            if number not in entries:
                entries[number] = []
                chunks.append(number)  # placeholder: the map goes where its first entry was
            entries[number].append((_entry_key(value), framed))
        else:
            chunks.append(framed)
    return b"".join(
        b"".join(f for _k, f in sorted(entries[c], key=lambda e: e[0])) if isinstance(c, int) else c
        for c in chunks
    )


def map_key_orders(data: bytes, descriptor: Descriptor, prefix: str = "") -> dict[str, tuple[Any, ...]]:
    """``{"point.tags": (b"host", b"line"), ...}``: the wire order of every map with 2+ entries."""
    orders: dict[str, list[Any]] = {}
    for number, wire_type, _raw, value in wire_fields(data):
        field = descriptor.fields_by_number.get(number)
        if field is None or wire_type != 2 or field.message_type is None:
            continue
        path = prefix + field.name
        if _is_map(field):
            orders.setdefault(path, []).append(_entry_key(value))
        else:
            nested = map_key_orders(value, field.message_type, path + ".")
            orders.update({k: list(v) for k, v in nested.items()})
    return {k: tuple(v) for k, v in orders.items() if len(v) > 1}

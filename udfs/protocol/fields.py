"""A point's fields live in four typed maps; a Python value goes in the map of its type.

Kapacitor (like InfluxDB) types every field as float, integer, string or boolean.

Examples
--------
>>> from udfs.protocol import udf_pb2 as pb
>>> point = pb.Point()
>>> for key, value in {"ok": True, "n": 3, "x": 0.5, "state": "up"}.items():
...     set_field(point, key, value)
>>> dict(point.fieldsBool), dict(point.fieldsInt), dict(point.fieldsDouble), dict(point.fieldsString)
({'ok': True}, {'n': 3}, {'x': 0.5}, {'state': 'up'})
"""

from __future__ import annotations

from udfs.protocol import udf_pb2

__all__ = ["set_field"]


def set_field(point: udf_pb2.Point, key: str, value: object) -> None:
    """Store ``value`` as field ``key``: bool, int, float, and anything else as its ``str``."""
    # bool first: a bool is an int too.
    if isinstance(value, bool):
        point.fieldsBool[key] = value
    elif isinstance(value, int):
        point.fieldsInt[key] = value
    elif isinstance(value, float):
        point.fieldsDouble[key] = value
    else:
        point.fieldsString[key] = str(value)

"""What Kapacitor knows when it evaluates a TICKscript: its pipeline nodes and the UDFs.

Kapacitor names the object a bad call was made on by its Go type
(``no method or property "x" on *pipeline.FromNode``), so the checker needs the node
type each chaining method creates. The UDFs come from this package's registry, or,
for a Kapacitor configured with other UDFs, from its ``kapacitor.conf`` (which UDFs
exist) and a JSON file with their ``Info`` (which options they take)::

    {"recstream": {"wants": "stream", "provides": "stream",
                   "options": {"size": ["INT"], "pair": ["STRING", "DOUBLE"], "flag": []}}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from udfs.tickscript.vars import read_json_object

__all__ = [
    "CHAIN_METHODS", "UDFDeclaration", "chain_node_type", "known_udfs", "load_udf_info",
    "registry_declarations", "udf_names_from_conf",
]

_INFLUXQL = {
    "bottom", "count", "cumulativeSum", "difference", "distinct", "elapsed", "first", "holtWinters",
    "holtWintersWithFit", "last", "max", "mean", "median", "min", "mode", "movingAverage", "percentile",
    "spread", "stddev", "sum", "top",
}
# Chaining methods ('|name()') of Kapacitor 1.5 - 1.8 nodes, and the node each creates
# where the name is not simply Name + "Node".
_ODD_NODE_TYPES = {
    "httpOut": "HTTPOutNode", "httpPost": "HTTPPostNode", "influxDBOut": "InfluxDBOutNode", "deadman": "AlertNode",
    **dict.fromkeys(_INFLUXQL, "InfluxQLNode"),
}
CHAIN_METHODS = frozenset({
    "alert", "barrier", "changeDetect", "combine", "deadman", "default", "delete", "derivative", "ec2Autoscale",
    "eval", "flatten", "from", "groupBy", "httpOut", "httpPost", "influxDBOut", "join", "k8sAutoscale",
    "kapacitorLoopback", "log", "noOp", "query", "queryFlux", "sample", "shift", "sideload", "stateCount",
    "stateDuration", "stats", "swarmAutoscale", "trickle", "union", "where", "window", *_INFLUXQL,
})

_VALUE_TYPES = ("BOOL", "INT", "DOUBLE", "STRING", "DURATION")
_EDGES = ("stream", "batch")


def chain_node_type(method: str) -> str:
    """The Go type (without ``*pipeline.``) of the node ``|method()`` creates."""
    return _ODD_NODE_TYPES.get(method) or method[:1].upper() + method[1:] + "Node"


@dataclass(frozen=True)
class UDFDeclaration:
    """A UDF as Kapacitor sees it after asking ``Info``.

    ``options`` maps each option to the value types of one call (``()`` for a flag);
    None means the UDF is configured but its options are not known here (not checked).
    """

    name: str
    options: Mapping[str, tuple[str, ...]] | None
    wants: str = "stream"
    provides: str = "stream"


def registry_declarations() -> dict[str, UDFDeclaration]:
    """Every UDF of this package, declared from its own option specs."""
    from udfs.functions import FUNCTIONS, load

    out = {}
    for name in FUNCTIONS:
        cls = load(name)
        options = {spec.name: tuple(t.name for t in spec.types) for spec in cls.options}
        out[name] = UDFDeclaration(name, options, cls.wants.name.lower(), cls.provides.name.lower())
    return out


def load_udf_info(path: str | Path) -> dict[str, UDFDeclaration]:
    """UDF declarations from a JSON file (format in the module docstring); ValueError if malformed."""
    document = read_json_object(path, "UDF name -> {wants, provides, options}")
    out = {}
    for name, info in document.items():
        where = f"{path}: UDF {name!r}"
        options = info.get("options", {}) if isinstance(info, dict) else None
        if not isinstance(options, dict):
            raise ValueError(f"{where}: expected {{\"options\": {{name: [TYPE, ...]}}}}")
        for option, types in options.items():
            if not isinstance(types, list) or any(t not in _VALUE_TYPES for t in types):
                raise ValueError(f"{where}: option {option!r} must list value types from {', '.join(_VALUE_TYPES)}")
        edges = [info.get(key, "stream") for key in ("wants", "provides")]
        if any(edge not in _EDGES for edge in edges):
            raise ValueError(f"{where}: wants/provides must be 'stream' or 'batch'")
        out[name] = UDFDeclaration(name, {k: tuple(v) for k, v in options.items()}, *edges)
    return out


_CONF_SECTION = re.compile(r"^\s*\[udf\.functions\.([A-Za-z0-9_]+)\]\s*(?:#.*)?$", re.MULTILINE)


def udf_names_from_conf(path: str | Path) -> list[str]:
    """The UDF names configured in a kapacitor.conf (its ``[udf.functions.NAME]`` sections)."""
    return _CONF_SECTION.findall(Path(path).read_text(encoding="utf-8"))


def known_udfs(
    *, kapacitor_conf: str | Path | None = None, udf_info: str | Path | None = None
) -> dict[str, UDFDeclaration]:
    """The UDFs a Kapacitor knows.

    Without ``kapacitor_conf``: this package's UDFs plus those in ``udf_info``. With it:
    exactly the UDFs it configures, their options from ``udf_info`` or this package.
    """
    info = load_udf_info(udf_info) if udf_info else {}
    local = registry_declarations()
    if kapacitor_conf is None:
        return {**local, **info}
    names = udf_names_from_conf(kapacitor_conf)
    return {name: info.get(name) or local.get(name) or UDFDeclaration(name, None) for name in names}

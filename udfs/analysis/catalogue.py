"""The detectors one can analyse with, and their options, as plain data (for forms and docs).

Each detector UDF's options come from its detector's declarations
(``udfs.detectors.REGISTRY[name].parameters``, a ParamSet of Param: kind, default,
help, bounds, choices) through the UDF's option set; a UDF whose detector does not
declare its parameters yet is described from its TICKscript option specs. ``emit``
is left out: an analysis always looks at every point.
"""

from __future__ import annotations

from typing import Any

__all__ = ["detector_catalogue"]

_TYPE_KIND = {"INT": "int", "DOUBLE": "float", "BOOL": "bool", "STRING": "str", "DURATION": "duration"}


def _describe_param(param: Any) -> dict[str, Any]:
    default = param.default
    if param.kind == "duration" and default is not None:
        default = param.format(default)
    elif param.kind == "list":
        default = ",".join(default)
    return {"name": param.name, "kind": param.kind, "default": default, "help": param.help,
            "low": param.low, "high": param.high, "closed": param.closed, "choices": list(param.choices),
            "optional": param.optional, "accepts": param.describe()}


def _describe_spec(spec: Any, constraint: Any) -> dict[str, Any]:
    kind = _TYPE_KIND.get(spec.types[0].name, "str") if len(spec.types) == 1 else "str"
    if spec.is_flag:
        kind = "bool"
    low = getattr(constraint, "low", None)
    high = getattr(constraint, "high", None)
    choices = [str(c) for c in getattr(constraint, "choices", ())]
    if choices and kind != "bool":
        kind = "choice"
    elif kind == "bool":
        choices = []
    default = None if spec.required else spec.default
    if default is not None and kind == "duration":
        default = spec.default_text()
    return {"name": spec.name, "kind": kind, "default": default, "help": spec.help, "low": low, "high": high,
            "closed": getattr(constraint, "closed", "both"), "choices": choices, "optional": default is None,
            "accepts": constraint.describe() if constraint is not None else ", ".join(t.name for t in spec.types)}


def detector_catalogue() -> list[dict[str, Any]]:
    """Every detector UDF: name, summary, edge it wants, and its options (declaration order)."""
    from udfs.functions import FUNCTIONS, load
    from udfs.functions.detector_udf import DetectorUDF

    out = []
    for name in sorted(FUNCTIONS):
        cls = load(name)
        if not issubclass(cls, DetectorUDF):
            continue
        params = cls.detector_class().parameters
        constraints: dict[str, Any] = {}  # every detector parameter is a Param now
        options = []
        for spec in cls.options:
            if spec.name == "emit":
                continue
            param = spec.param if spec.param is not None else params.get(spec.name) if params else None
            options.append(_describe_param(param) if param is not None
                           else _describe_spec(spec, constraints.get(spec.name, spec.constraint)))
        out.append({"name": name, "summary": cls.summary, "wants": cls.wants.name.lower(), "options": options})
    return out

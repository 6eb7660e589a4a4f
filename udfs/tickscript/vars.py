"""Kapacitor vars files: the JSON that sets a template task's (or any task's) vars.

The format is Kapacitor's (``kapacitor define -vars FILE``, and the ``vars`` of the HTTP
API): ``{"measurement": {"type": "string", "value": "cpu"}, ...}`` with types ``bool``,
``int``, ``float``, ``string``, ``regex``, ``duration`` (``"5m"`` or nanoseconds),
``lambda`` (the expression as a string), ``list`` (of ``{"type": "string"|"star", ...}``)
and ``star``. Kapacitor refuses a var whose type differs from the script's declaration
(``invalid type supplied for field, got int exp string``).

Examples
--------
>>> check_vars({"size": {"type": "float", "value": 2.5}}, {"size": "int", "field": "string"})
['invalid type supplied for size, got float exp int']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from udfs.params.durations import parse_duration

__all__ = ["VAR_TYPE_NAMES", "VarsError", "check_vars", "load_vars", "read_json_object", "var_types"]


class VarsError(ValueError):
    """A vars file that is not valid JSON in Kapacitor's vars format."""


# The vars-JSON type of each TICKscript value kind, and Kapacitor's own name of a type
# in its messages (tick/ast ValueType.String) where that differs.
VAR_TYPE_NAMES = {"BOOL": "bool", "INT": "int", "DOUBLE": "float", "STRING": "string", "REGEX": "regex",
                  "DURATION": "duration", "LAMBDA": "lambda", "LIST": "list", "STAR": "star"}
_AST_NAMES = {"bool": "boolean"}


def _value_problem(var_type: str, value: Any) -> str | None:
    """Why ``value`` is not a valid JSON value for ``var_type``, or None."""
    if var_type == "bool":
        ok = isinstance(value, bool)
    elif var_type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif var_type == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif var_type in ("string", "regex", "lambda"):
        ok = isinstance(value, str)
    elif var_type == "duration":
        if isinstance(value, str):
            try:
                parse_duration(value)
            except ValueError as exc:
                return str(exc)
            return None
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif var_type == "list":
        if not isinstance(value, list):
            return "a list value must be a list of {\"type\": ..., \"value\": ...}"
        for item in value:
            if not isinstance(item, dict) or item.get("type") not in ("string", "star") or "value" not in item:
                return "list items must be {\"type\": \"string\" or \"star\", \"value\": ...}"
        return None
    elif var_type == "star":
        return None
    else:
        return f"unknown VarType {var_type}"
    return None if ok else f"expected a {var_type} value, got {json.dumps(value)}"


def read_json_object(path: str | Path, shape: str) -> dict[str, Any]:
    """The JSON object in ``path``; ValueError naming the file if it is unreadable or not ``{shape}``."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected an object of {shape}")
    return document


def load_vars(path: str | Path) -> dict[str, dict[str, Any]]:
    """The vars of a vars file, each checked for Kapacitor's format; VarsError if not."""
    try:
        document = read_json_object(path, 'var name -> {"type": ..., "value": ...}')
    except ValueError as exc:
        raise VarsError(str(exc)) from None
    for name, var in document.items():
        if not isinstance(var, dict) or "type" not in var:
            raise VarsError(f"{path}: var {name!r}: expected {{\"type\": ..., \"value\": ...}}")
        if var["type"] != "star" and "value" not in var:
            raise VarsError(f"{path}: var {name!r}: no \"value\"")
        problem = _value_problem(var["type"], var.get("value"))
        if problem:
            raise VarsError(f"{path}: var {name!r}: {problem}")
    return document


def var_types(document: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Var name -> vars-JSON type."""
    return {name: var["type"] for name, var in document.items()}


def check_vars(document: Mapping[str, Mapping[str, Any]], declared: Mapping[str, str | None]) -> list[str]:
    """What is wrong with setting these vars on a script declaring ``declared`` (name -> type).

    A var the script does not declare is refused too: Kapacitor would ignore it, and a
    vars file that sets nothing the script reads is a mistake.
    """
    problems = []
    known = ", ".join(name for name, kind in declared.items() if kind) or "none"
    for name, var in document.items():
        if name not in declared:
            problems.append(f"var {name!r} is not declared in the script (it declares: {known})")
            continue
        expected = declared[name]
        if expected is None:
            problems.append(f"var {name!r} holds a pipeline node in the script; a vars file cannot set it")
        elif expected != var["type"]:
            got = _AST_NAMES.get(var["type"], var["type"])
            problems.append(f"invalid type supplied for {name}, got {got} exp {_AST_NAMES.get(expected, expected)}")
    return problems

"""Import an object named ``"package.module:attribute"`` when it is first needed.

The UDF, detector and command registries name their classes this way so that
``udfs run NAME`` imports only what that one UDF needs (Kapacitor waits for its
``Info`` at start-up). Imports nothing from the rest of the package.

Examples
--------
>>> import_target("os.path:join")("a", "b")
'a/b'
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["import_target"]


def import_target(target: str) -> Any:
    """The object ``target`` (``"module:attribute"``) names, importing its module."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    return getattr(importlib.import_module(module_name), attr)

"""The one-way layers, checked on the import statements of every module of ``udfs``.

``protocol`` knows nothing of detectors or UDFs; ``detectors`` nothing of the protocol
or the UDFs; ``params`` and ``registry`` import nothing else of ``udfs``. Imports are
read from the source (top level and inside functions alike), so a lazy import
breaking a rule is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "udfs"

#: layer -> the parts of udfs it must not import ("*" = anything outside itself).
FORBIDDEN = {
    "protocol": {"functions", "detectors"},
    "detectors": {"protocol", "functions"},
    "params": {"*"},
    "registry": {"*"},
}


def imported_udfs_parts(path: Path) -> set[str]:
    """The second component of every ``udfs.X`` module ``path`` imports (``udfs.protocol`` -> ``protocol``)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "udfs":
                parts.add(pieces[1] if len(pieces) > 1 else "")
    return parts


def layer_files(layer: str) -> list[Path]:
    single = PACKAGE / f"{layer}.py"
    return [single] if single.exists() else sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_one_way(layer: str) -> None:
    files = layer_files(layer)
    assert files, f"no module for layer {layer}"
    broken = []
    for path in files:
        for part in imported_udfs_parts(path):
            if part != layer and ("*" in FORBIDDEN[layer] or part in FORBIDDEN[layer]):
                broken.append(f"{path.relative_to(PACKAGE.parent)} imports udfs.{part}")
    assert not broken, "\n".join(broken)


def test_the_check_sees_imports() -> None:
    # The rule above would pass vacuously if the parser missed imports.
    assert {"protocol", "params", "registry"} <= imported_udfs_parts(PACKAGE / "functions" / "detector_udf.py")

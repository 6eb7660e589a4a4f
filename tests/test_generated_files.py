"""Files generated from the code must be in step with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_udf_reference_is_current() -> None:
    gen = _script("gen_docs")
    assert (ROOT / "docs" / "UDFS.md").read_text() == gen.render(), "run python scripts/gen_docs.py"


def test_kapacitor_conf_sections_are_current() -> None:
    gen = _script("gen_kapacitor_conf")
    for path, section in gen.expected_sections().items():
        text = path.read_text()
        assert text == gen.replace_section(text, section), f"{path.name}: run python scripts/gen_kapacitor_conf.py"
        # Every UDF has its section, in the mode the file is for.
        from udfs.functions import FUNCTIONS

        for name in FUNCTIONS:
            assert f"[udf.functions.{name}]" in text
        assert ("socket = " in text) == (path.name == "kapacitor.conf")


def test_readme_udf_table_is_current() -> None:
    gen = _script("gen_readme")
    text = (ROOT / "README.md").read_text()
    assert text == gen.replace_table(text, gen.render_table()), "run python scripts/gen_readme.py"

"""The Examples sections of every module's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import udfs

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(udfs.__path__, "udfs.")
    if not name.endswith("_pb2")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert failed == 0, f"{failed} doctest example(s) failed in {name} (see the output above)"

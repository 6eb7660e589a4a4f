"""One lazy registry: names mapped to ``"package.module:attribute"``, imported on first use.

The UDF, detector and command registries name their classes this way so that
``udfs run NAME`` imports only what that one UDF needs (Kapacitor waits for its
``Info`` at start-up). Imports nothing from the rest of the package.

Examples
--------
>>> import_target("os.path:join")("a", "b")
'a/b'
>>> joins = LazyRegistry({"join": "os.path:join"}, kind="function")
>>> sorted(joins), joins["join"]("a", "b")
(['join'], 'a/b')
>>> joins["split"]
Traceback (most recent call last):
...
udfs.registry.UnknownNameError: unknown function 'split'; known: join
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["LazyRegistry", "UnknownNameError", "import_target"]

T = TypeVar("T")


def import_target(target: str) -> Any:
    """The object ``target`` (``"module:attribute"``) names, importing its module."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    return getattr(importlib.import_module(module_name), attr)


class UnknownNameError(KeyError):
    """A name the registry does not hold; the message lists the known ones."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.kind, self.name, self.known = kind, name, known

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}; known: {', '.join(self.known)}"


class LazyRegistry(Mapping[str, T], Generic[T]):
    """A read-only mapping name -> object that imports each object when first asked for.

    Iteration is in sorted name order. ``target(name)`` gives the ``module:attribute``
    string without importing anything.
    """

    def __init__(self, targets: Mapping[str, str], *, kind: str = "name") -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, T] = {}
        self.kind = kind

    def __getitem__(self, name: str) -> T:
        obj = self._loaded.get(name)
        if obj is None:
            try:
                target = self._targets[name]
            except KeyError:
                raise UnknownNameError(self.kind, name, sorted(self._targets)) from None
            obj = self._loaded[name] = import_target(target)
        return obj

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._targets))

    def __len__(self) -> int:
        return len(self._targets)

    def target(self, name: str) -> str:
        return self._targets[name]

    def key_of(self, attribute: str) -> str | None:
        """The name registered for an object called ``attribute``, without importing it."""
        for key, target in self._targets.items():
            if target.endswith(f":{attribute}"):
                return key
        return None

    def __repr__(self) -> str:
        return f"LazyRegistry({self.kind}: {', '.join(self)})"

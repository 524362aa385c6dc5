"""Every module of the proxy package declares ``__all__``, and it is true: each name in it exists, and
every public function and class the module defines is in it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import toolhive_py.proxy

MODULES = sorted(["toolhive_py.proxy"] + [f"toolhive_py.proxy.{info.name}"
                                         for info in pkgutil.iter_modules(toolhive_py.proxy.__path__)])


def defined_here(module: ModuleType) -> set[str]:
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
            and value.__module__ == module.__name__}


@pytest.mark.parametrize("name", MODULES)
def test_all_is_declared_and_true(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} declares no __all__"
    assert sorted(exported) == sorted(set(exported)), "no duplicates"
    assert [n for n in exported if not hasattr(module, n)] == [], "names in __all__ that do not exist"
    assert sorted(defined_here(module) - set(exported)) == [], "public definitions missing from __all__"

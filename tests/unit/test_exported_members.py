"""Each module's public face is what its ``__all__`` says (httpx's test_exported_members): every listed name
exists, and every public class or function it defines is listed. Packages re-export only what others use."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "toolhive_py"
MODULES = sorted(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
                 for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")

# What each package's __init__ re-exports for other packages.
PACKAGE_FACES = {
    "toolhive_py": ["__version__"],
    "toolhive_py.cli": ["main"],
    "toolhive_py.clients": [],
    "toolhive_py.egress": [],
    "toolhive_py.export": ["ExportFormat", "ExportResult", "ExportedFile", "ExportedWorkload", "build_export_model",
                           "export_entries", "export_workloads"],
    "toolhive_py.proxy": ["HOST"],
    "toolhive_py.registry": ["EnvVar", "FoundServer", "Permissions", "RegistryDocument", "RegistryInfo",
                             "RegistryStore", "ServerEntry", "VerifyResult"],
    "toolhive_py.runtime": [],
    "toolhive_py.scan": [],
    "toolhive_py.secrets": ["BACKENDS", "DEFAULT_BACKEND", "ENV_PREFIX", "Capabilities", "SecretProvider",
                            "SecretRequest", "check_secret_name", "open_provider", "parse_secret_flag",
                            "resolve_secret_env"],
}


def _public_definitions(module: str) -> list[str]:
    """Top-level classes and functions not starting with ``_``; decorated ones (CLI commands) register
    themselves and are not imported by name."""
    path = PACKAGE.parent / Path(*module.split("."))
    source = (path / "__init__.py") if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return [node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and not node.name.startswith("_") and not node.decorator_list]


@pytest.mark.parametrize("module", MODULES)
def test_all_is_true(module: str) -> None:
    if module == "toolhive_py.egress.filter":
        pytest.skip("runs alone in the sidecar image, imported by nobody")
    loaded = importlib.import_module(module)
    exported = getattr(loaded, "__all__", None)
    assert exported is not None, f"{module} has no __all__"
    assert [name for name in exported if not hasattr(loaded, name)] == []
    assert [name for name in _public_definitions(module) if name not in exported] == []


@pytest.mark.parametrize("package", sorted(PACKAGE_FACES))
def test_package_faces_are_pinned(package: str) -> None:
    assert sorted(importlib.import_module(package).__all__) == sorted(PACKAGE_FACES[package])

"""The package's import graph (module- and function-level imports, read with ast) has no cycle, and no CLI module
imports another one's private names: the CLI's shared pieces live in ``cli/options.py``, ``cli/output.py`` and
``cli/_state.py``, the rest in the core."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "toolhive_py"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> tuple[set[str], list[str]]:
    """(modules of the package that ``module`` imports, private names it takes from another cli module)."""
    targets: set[str] = set()
    private: list[str] = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*parts, *([base] if base else [])])
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
            if module.startswith("toolhive_py.cli.") and base.startswith("toolhive_py.cli.") and base != module \
                    and not base.endswith("._state"):
                private += [f"{module} imports {alias.name} from {base}" for alias in node.names
                            if alias.name.startswith("_")]
    return {t for t in targets if t in known and t != module}, private


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = {}
    private: list[str] = []
    for module, path in modules.items():
        edges[module], taken = _imports(module, path, set(modules))
        private += taken
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, ignoring a package and its own submodules
    (an ``__init__`` re-exporting what its modules define)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return [c for c in found if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]


def test_the_import_graph_has_no_cycle() -> None:
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_cli_module_imports_another_ones_private_names() -> None:
    assert _graph()[1] == []


def test_the_graph_walk_sees_function_level_imports() -> None:
    edges, _ = _graph()
    assert "toolhive_py.workloads" in edges["toolhive_py.cli.workload_cmd"]
    assert "toolhive_py.runtime.engine" in edges["toolhive_py.workloads"]

"""The package's imports run one way: no cycle, imports inside functions included.

Imports under ``if TYPE_CHECKING:`` are annotations only and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import hotspot_env

PACKAGE = Path(hotspot_env.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """Every module of ``modules`` imported anywhere in ``tree`` (relative ones resolved).

    ``from pkg import name`` imports the module ``pkg.name`` when there is one
    (Python runs ``pkg/__init__`` first whatever is imported, so that is no
    edge of ours), else ``pkg`` itself (a name ``pkg/__init__`` re-exports).
    """
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                sub = f"{prefix}.{alias.name}"
                found.add(sub if sub in modules else prefix)
        stack.extend(ast.iter_child_nodes(node))
    return found & modules


def import_graph() -> nx.DiGraph:
    """Module -> imported module, for every module of the package."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(paths)
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _imports(tree, module, path.name == "__init__.py", set(paths)):
            if target != module:
                graph.add_edge(module, target)
    return graph


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert graph.number_of_nodes() > 30
    # pipeline imports export inside run(); analysis imports grid at the top
    assert graph.has_edge("hotspot_env.core.pipeline", "hotspot_env.outputs.export")
    assert graph.has_edge("hotspot_env.core.analysis", "hotspot_env.core.grid")


def test_a_planted_cycle_is_found():
    code = "def f():\n    from hotspot_env import b\n"
    graph = nx.DiGraph([("hotspot_env.b", "hotspot_env.a")])
    modules = {"hotspot_env.a", "hotspot_env.b"}
    for target in _imports(ast.parse(code), "hotspot_env.a", False, modules):
        graph.add_edge("hotspot_env.a", target)
    assert list(nx.simple_cycles(graph))


def test_no_import_cycle_in_hotspot_env():
    graph = import_graph()
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c + [c[0]]) for c in cycles)

"""The import graph of our packages: no cycle, and the layers point one way.

Built from the source with :mod:`ast`, so every import counts — those inside functions too (a
cycle hidden in a function still ties the modules together: importing one can run the other
half-initialised, and neither can be understood or tested alone). Layers: ``traceability``
imports nothing from ``chain`` or ``api``; ``chain`` nothing from ``api``.

An import names a module of ours (``from chain.errors import X`` → ``chain.errors``;
``from chain import errors`` → ``chain.errors``, a submodule). A package's ``__init__`` is an
edge only when it is named itself: Python runs it first when a submodule is imported, but it
does not depend on the submodule for that.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chain", "api", "traceability")
LOOSE_MODULES = ("tuanchain_cli",)
# A layer may import only the layers after it in this tuple.
LAYERS = ("api", "chain", "traceability")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    """Every module of ours, by dotted name."""
    found = {name: REPO_ROOT / f"{name}.py" for name in LOOSE_MODULES}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names an import statement anywhere in ``tree`` may refer to, most precise first."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base.pop()
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            for alias in node.names:
                yield f"{prefix}.{alias.name}"  # ``from chain import errors``: a submodule
                yield prefix


def import_graph() -> dict[str, set[str]]:
    """module → the modules of ours it imports (at module level or inside a function)."""
    modules = our_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        names = list(_imported_names(tree, name, path.name == "__init__.py"))
        # ``from a.b import c`` yields "a.b.c" then "a.b": take the submodule when there is one.
        i = 0
        while i < len(names):
            candidate = names[i]
            if candidate in modules:
                edges.add(candidate)
                if i + 1 < len(names) and candidate.rsplit(".", 1)[0] == names[i + 1]:
                    i += 1  # the submodule answered for this alias; skip its package
            i += 1
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_module_of_ours_is_in_an_import_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles (function-level imports count):\n" + "\n".join(
        " ⇄ ".join(c) for c in cycles
    )


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_the_layers_below(layer: str) -> None:
    below = LAYERS[LAYERS.index(layer) + 1 :]
    above = set(PACKAGES) - {layer, *below}
    wrong = sorted(
        f"{module} → {target}"
        for module, targets in import_graph().items()
        if module.split(".")[0] == layer
        for target in targets
        if target.split(".")[0] in above
    )
    assert wrong == []


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The graph builder itself: a cycle through an import inside a function is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse(
        "def f():\n    from chain.artifacts import load_all_artifacts\n"
        "from . import sibling\nfrom ..x import y\n"
    )
    names = set(_imported_names(tree, "api.relayer.worker", is_package=False))
    assert {"chain.artifacts", "api.relayer.sibling", "api.x.y", "api.x"} <= names


# The gasless path's folders (api/relayer today; api/gasless once the layout moves it there) and
# the bundler's outbox (api/bundler).
GASLESS_FOLDERS = ("api/relayer", "api/gasless", "api/bundler")
CHAIN_LIBRARIES = ("web3", "eth_account")


def test_the_relayer_talks_to_the_chain_through_chain_only() -> None:
    """Signing, broadcasting, receipts, simulations and their errors live in ``chain/`` once:
    the gasless path (prepare's checks, accept, queue, worker) imports no web3 or eth-account."""
    folders = [REPO_ROOT / f for f in GASLESS_FOLDERS if (REPO_ROOT / f).is_dir()]
    assert folders, f"none of {GASLESS_FOLDERS} exists"
    wrong = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            module = _module_name(path)
            tree = ast.parse(path.read_text(), filename=str(path))
            for name in _imported_names(tree, module, path.name == "__init__.py"):
                if name.split(".")[0] in CHAIN_LIBRARIES:
                    wrong.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert sorted(set(wrong)) == []

"""The layers of mkdlib (docs/architecture.md): imports run one way, including the imports inside
functions, so building a network can never start a training run."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mkdlib"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """mkdlib module -> the mkdlib modules it imports anywhere (top level or inside functions)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:  # `from .data import x`: the package, or a submodule
                    t = t.rpartition(".")[0]
                if t and t != name and t.startswith("mkdlib"):
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_finds_a_cycle():  # the check itself can fail
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_model_layer_is_a_leaf():
    graph = import_graph()
    assert graph["mkdlib.models"] == set(), graph["mkdlib.models"]


def test_layers_point_down():
    """Data and models at the bottom, methods above, the trainer above them, reporting on top."""
    graph = import_graph()
    below = {
        "mkdlib.data": ("mkdlib.methods", "mkdlib.trainer", "mkdlib.report", "mkdlib.experiments"),
        "mkdlib.methods": ("mkdlib.trainer", "mkdlib.report", "mkdlib.experiments", "mkdlib.pretrain"),
        "mkdlib.trainer": ("mkdlib.report", "mkdlib.experiments"),
    }
    for low, highs in below.items():
        for mod, deps in graph.items():
            if mod == low or mod.startswith(low + "."):
                bad = [d for d in deps if any(d == h or d.startswith(h + ".") for h in highs)]
                assert not bad, f"{mod} imports {bad}, a layer above it"

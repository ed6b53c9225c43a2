"""The layers of mkdlib (docs/architecture.md): imports run one way, including the imports inside
functions, so building a network can never start a training run."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

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


# --------------------------------------------------------------------------- the library and the book's tools
BOOKTOOLS = PACKAGE.parent / "booktools"
#: what only the book's machinery and the tests use: never imported by the library
BOOK_ONLY = (
    "booktools",
    "tests",
    "conftest",
    "browser_check",
    "selenium",
    "papermill",
    "ghp_import",
    "sphinx",
    "nbformat",
)


def imported_names(source: str) -> set[str]:
    """Top-level names of every module ``source`` imports, in functions too (relative imports left out)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_library_never_imports_the_books_tools():
    """Imports run one way: the book's tools (booktools/, tests/browser_check.py) import mkdlib,
    mkdlib imports none of them, nor the libraries only they need (selenium, papermill, ghp-import,
    sphinx, nbformat)."""
    bad = {
        str(p.relative_to(PACKAGE.parent)): sorted(imported_names(p.read_text()) & set(BOOK_ONLY))
        for p in sorted(PACKAGE.rglob("*.py"))
    }
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"mkdlib imports the book's tools or their libraries: {bad}"
    tools = {p.name: imported_names(p.read_text()) for p in BOOKTOOLS.glob("*.py")}
    assert {"build.py", "publish.py", "readme.py", "sphinx_ext.py"} <= set(tools)
    assert "mkdlib" in tools["build.py"] | tools["readme.py"]  # the other way is allowed, and used
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert 'include = ["mkdlib*"]' in pyproject  # the wheel is mkdlib alone: booktools is not installed


def test_the_one_way_check_sees_a_forbidden_import():  # the check itself can fail
    source = "import os\ndef f():\n    import papermill as pm\n    from booktools.build import build\nfrom . import x\n"
    assert imported_names(source) & set(BOOK_ONLY) == {"papermill", "booktools"}


#: what trains: modules, and functions of other modules, the report layer must not import (the
#: explorer's "train short run" button is above the report: mkdlib/explorer/)
TRAINING_MODULES = ("mkdlib.trainer", "mkdlib.parallel", "mkdlib.pretrain")
TRAINING_FUNCTIONS = {"train", "trace", "run_grids", "run_missing", "short_run", "pretrain"}


def training_imports(module: str, source: str) -> list[str]:
    """What ``module`` (a module of mkdlib) imports that trains: a training module, or a training
    function of another module, anywhere in its source."""
    package = module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(TRAINING_MODULES)]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source_module = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                full = f"{source_module}.{a.name}"
                if source_module.startswith(TRAINING_MODULES) or full.startswith(TRAINING_MODULES):
                    found.append(full)
                elif a.name in TRAINING_FUNCTIONS:
                    found.append(full)
    return found


def test_the_report_layer_trains_nothing():
    """The report reads what training stored: the collapse traces are computed by mkdlib.traces
    (beside the experiment grids), never by a module of mkdlib.report."""
    bad = {
        m: found
        for m, p in sorted({_module_name(p): p for p in (PACKAGE / "report").rglob("*.py")}.items())
        if (found := training_imports(m, p.read_text()))
    }
    assert not bad, f"the report layer imports what trains: {bad}"


def test_the_training_import_check_finds_one():  # the check itself can fail
    source = "from ...traces import TRACED_STARTS, trace\ndef f():\n    from ...trainer import train\n"
    assert training_imports("mkdlib.report.figures.collapse", source) == ["mkdlib.traces.trace", "mkdlib.trainer.train"]
    assert training_imports("mkdlib.report.paper", "from ..experiments import short_run\n") == [
        "mkdlib.experiments.short_run"
    ]


# --------------------------------------------------------------------------- datasets: one registry
DATA_PACKAGE = PACKAGE / "data"
BENCH = PACKAGE.parent / "bench"


def _is_dataset_name(node: ast.AST) -> bool:
    """``cfg.dataset``, ``self.dataset``, or a variable called ``dataset``."""
    return (isinstance(node, ast.Attribute) and node.attr == "dataset") or (
        isinstance(node, ast.Name) and node.id == "dataset"
    )


def _is_name_literal(node: ast.AST) -> bool:
    """A string, a tuple / list / set holding strings, or a ``DATASETS`` tuple."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return (isinstance(node, ast.Name) and node.id == "DATASETS") or (
        isinstance(node, ast.Attribute) and node.attr == "DATASETS"
    )


def dataset_branches(source: str, names: set[str]) -> list[tuple[int, str]]:
    """``(line, code)`` of each place that branches on a dataset's name: a comparison of a dataset
    name with a literal (``cfg.dataset == "voc"``, ``dataset in ("voc", "vocaug")``, ``not in
    DATASETS``), or a table keyed by two or more of ``names`` (a ``{"voc": 21, ...}`` repeating
    what the registry holds)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(_is_dataset_name, operands)) and any(map(_is_name_literal, operands)):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if len(keys & names) >= 2:
                found.append((node.lineno, ast.unparse(node)[:80]))
    return sorted(found)


def test_no_module_outside_data_branches_on_a_dataset_name():
    """What a dataset is (its reader, classes, run-key part, evaluation defaults) is its entry in
    mkdlib.data.registry; every other module reads the entry, so a new dataset is one file and one
    entry there."""
    from mkdlib.data.registry import DATASET_INFO

    files = [p for p in [*PACKAGE.rglob("*.py"), *BENCH.rglob("*.py")] if DATA_PACKAGE not in p.parents]
    bad = [
        f"{p.relative_to(PACKAGE.parent)}:{line}: {code}"
        for p in sorted(files)
        for line, code in dataset_branches(p.read_text(), set(DATASET_INFO))
    ]
    assert not bad, "branches on a dataset's name outside mkdlib/data/ (read its registry entry):\n" + "\n".join(bad)


def test_the_dataset_branch_check_finds_branches():  # the check itself can fail
    names = {"synthetic", "voc", "folder"}
    source = (
        "a = 32 if cfg.dataset == 'synthetic' else 1\n"
        "b = dataset in ('voc', 'vocaug')\n"
        "c = self.dataset not in DATASETS\n"
        "d = {'synthetic': 5, 'voc': 21}\n"
        "e = dataset_info(cfg.dataset).val_batch_size\n"
        "f = cfg.dataset not in DATASET_INFO\n"
    )
    assert [line for line, _ in dataset_branches(source, names)] == [1, 2, 3, 4]


def test_a_dataset_added_to_the_registry_needs_no_other_module(tiny_data_root, tmp_path, monkeypatch):
    """A new dataset is one entry: resolve() accepts it, prepare_data and the validation loader use
    its reader and batch size, its key part goes into the run key, and its class names reach
    prediction from a checkpoint that does not store them, with no other module knowing its name."""
    import numpy as np
    import torch
    from PIL import Image

    from mkdlib.config import ConfigError, make_config, resolve
    from mkdlib.data import prepare_data, prepare_synthetic
    from mkdlib.data import registry as datasets
    from mkdlib.methods import build_method
    from mkdlib.predict import predict_folder
    from mkdlib.runs import val_loader

    names = ("void", "ring", "checker", "stripes", "dots")  # the tiny data's five classes, renamed
    version = {"v": 1}
    entry = datasets.DatasetInfo(
        "tiny-fake",
        "tiny fake",
        "the built-in tiny data under another name (a test's dataset)",
        lambda cfg, problems=None: prepare_synthetic(cfg.data_root, cfg.split, progress=False),
        lambda cfg: names,
        len(names),
        key_fields=lambda cfg: {"tiny_fake_version": version["v"]},
        val_batch_size=7,
    )
    fields = dict(dataset="tiny-fake", data_root=str(tiny_data_root), method="supervised", crop_size=32)
    fields.update(decoder_channels=16, split="1/4", progress=False, threads=1)
    with pytest.raises(ConfigError, match="tiny-fake"):
        resolve(make_config(**fields))
    monkeypatch.setitem(datasets.DATASET_INFO, "tiny-fake", entry)
    cfg = resolve(make_config(**fields))

    key = cfg.key()
    assert key.startswith("tiny-fake-supervised-1_4-s0-")
    version["v"] = 2  # the entry's key part is hashed: another version of the data, another run
    assert cfg.key() != key

    data = prepare_data(cfg)
    assert data.num_classes == len(names) and val_loader(cfg, data).batch_size == 7

    method = build_method(cfg, len(names)).eval()
    assert method.class_names is None  # a checkpoint without class names: the entry names them
    torch.save({"method": method.state_dict(), "config": cfg.to_dict()}, tmp_path / "best.pt")
    image = tmp_path / "images" / "a.png"
    image.parent.mkdir()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(image)
    result = predict_folder(tmp_path, image.parent, tmp_path / "out", device="cpu", progress=False)
    assert result.ok and result.class_names == names
    assert "4: dots" in result.index.read_text()


# --------------------------------------------------------------------------- the documented floors
ARCHITECTURE_DOC = PACKAGE.parent / "docs" / "architecture.md"


def documented_floors() -> list[tuple[str, list[str]]]:
    """The floors of docs/architecture.md's diagram, top first: ``(name, [module tokens])``, a
    token being ``name.py`` or ``package/`` (or a path to one: ``report/figures/``) outside
    parentheses."""
    import re

    text = ARCHITECTURE_DOC.read_text()
    block = text.split("```", 2)[1]
    floors: list[tuple[str, list[str]]] = []
    depth = 0
    for line in block.splitlines():
        if not line.strip() or line.strip() == "|":
            continue
        label, rest = (line[1:15].strip(), line[15:]) if len(line) > 15 else ("", "")
        if label and depth == 0:
            floors.append((label, []))
        kept = []
        for ch in rest:  # drop the explanations in parentheses (they may span lines)
            depth += ch == "("
            if depth == 0:
                kept.append(ch)
            depth -= ch == ")"
        floors[-1][1].extend(re.findall(r"(?<![\w./])([a-z_]+(?:/[a-z_]+)*(?:\.py|/))", "".join(kept)))
    return floors


def floor_of_module() -> dict[str, int]:
    """mkdlib module -> its floor's height (0: the bottom), from the documented diagram."""
    floors = documented_floors()
    height = {}
    for k, (_, tokens) in enumerate(reversed(floors)):
        for t in tokens:
            height["mkdlib." + t.removesuffix("/").removesuffix(".py").replace("/", ".")] = k
    return height


def _unit(module: str, height: dict[str, int]) -> str | None:
    """The documented unit a module belongs to: itself, or the package the diagram names."""
    while module and module not in height:
        module = module.rpartition(".")[0]
    return module or None


def test_every_module_is_on_exactly_one_documented_floor():
    floors = documented_floors()
    tokens = [t for _, ts in floors for t in ts]
    assert len(tokens) == len(set(tokens)), f"placed twice: {sorted(t for t in tokens if tokens.count(t) > 1)}"
    height = floor_of_module()
    unplaced = [m for m in import_graph() if m != "mkdlib" and _unit(m, height) is None]
    assert not unplaced, f"docs/architecture.md places no floor for {unplaced}"


def test_imports_never_reach_a_documented_floor_above():
    height = floor_of_module()
    up = []
    for mod, deps in import_graph().items():
        here = _unit(mod, height)
        if here is None:  # the package's __init__: the public API, on top of everything it re-exports
            continue
        up += [f"{mod} -> {d}" for d in deps if (u := _unit(d, height)) and height[u] > height[here]]
    assert not up, "imports of a floor above, against docs/architecture.md: " + "; ".join(up)


def test_the_floor_check_sees_a_wrong_placement(monkeypatch, tmp_path):
    doc = tmp_path / "architecture.md"
    doc.write_text(
        "```\n top            trainer.py  report/evidence/ (report/x.py)\n                    |\n"
        " bottom         config.py   io.py\n```\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ARCHITECTURE_DOC", doc)
    assert documented_floors() == [("top", ["trainer.py", "report/evidence/"]), ("bottom", ["config.py", "io.py"])]
    height = floor_of_module()
    assert height["mkdlib.trainer"] > height["mkdlib.config"]
    assert _unit("mkdlib.report.evidence.store", height) == "mkdlib.report.evidence"  # a room: its modules
    # config.py imports models, which this diagram does not place: the placement test would fail
    assert _unit("mkdlib.models", height) is None


# --------------------------------------------------------------------------- the report's size
REPORT = PACKAGE / "report"
EXPLORER = PACKAGE / "explorer"
#: issue 34: a report layer a newcomer can navigate: at most this many lines in all, none over this per module
REPORT_MAX_LINES, MODULE_MAX_LINES = 4000, 450


def report_lines(folder: Path = REPORT) -> dict[str, int]:
    """Lines of each module of ``folder`` (mkdlib/report), by its path there (``tables/notices.py``)."""
    return {p.relative_to(folder).as_posix(): len(p.read_text().splitlines()) for p in sorted(folder.rglob("*.py"))}


def test_no_report_or_explorer_module_is_over_450_lines():
    lines = {**report_lines(), **{f"explorer/{m}": n for m, n in report_lines(EXPLORER).items()}}
    over = {m: n for m, n in lines.items() if n > MODULE_MAX_LINES}
    assert not over, f"over {MODULE_MAX_LINES} lines: {over}"


def test_the_report_is_three_rooms_and_the_notebooks_facade():
    """evidence/, tables/ and figures/ (what each holds: mkdlib/report/__init__.py's map, which names
    every module of them), beside paper.py (the notebooks' one import); the explorer is a package
    of its own above the report (mkdlib/explorer/, its map in its docstring)."""
    lines = report_lines()
    rooms = {m.split("/")[0] for m in lines if "/" in m}
    assert rooms == {"evidence", "tables", "figures"}
    assert {m for m in lines if "/" not in m} == {"__init__.py", "paper.py"}
    the_map = (REPORT / "__init__.py").read_text()
    unnamed = [m for m in lines if "/" in m and not m.endswith("__init__.py") and f"    {Path(m).stem} " not in the_map]
    assert not unnamed, f"the report's map (mkdlib/report/__init__.py) does not name {unnamed}"
    explorer_map = (EXPLORER / "__init__.py").read_text()
    unnamed = [m for m in report_lines(EXPLORER) if m != "__init__.py" and f"\n{Path(m).stem} " not in explorer_map]
    assert not unnamed, f"the explorer's map (mkdlib/explorer/__init__.py) does not name {unnamed}"


def test_the_report_is_at_most_4000_lines():
    total = sum(report_lines().values())
    assert total <= REPORT_MAX_LINES, f"mkdlib/report is {total} lines, over {REPORT_MAX_LINES}"

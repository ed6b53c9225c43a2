"""Build the book: execute the notebooks with papermill, then render them with jupyter-book.

    python -m booktools.build                # execute every notebook, build book/_build/html (-W)
    python -m booktools.build --recompute    # first train every grid config missing from the store
    python -m booktools.build --only 03_train --no-html
    python -m booktools.build --html-only    # jupyter-book over the chapters already executed

The notebooks in ``notebooks/`` are the sources (committed without outputs); their executed
copies go to ``book/chapters/`` (not committed) and jupyter-book renders those without executing
again. Tables and figures read the book's results store (the repository's ``results/``, named in
``book/_config.yml``: :func:`booktools.use_book_dirs`), so a build with the committed results
retrains nothing; ``--recompute`` sets ``run_missing=True`` in the tables notebook, which trains
each missing grid config through the one grid runner (mkdlib.experiments).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from mkdlib.experiments import train_config
from mkdlib.io import git, git_commit

from . import BOOK_DIR, REPO, pythonpath_with_repo, use_book_dirs

NOTEBOOKS_DIR = REPO / "notebooks"
#: Book order; each is one page (``book/_toc.yml``; ``intro`` is the book's first page; ``04_table*`` and
#: ``04_questions`` are the tables chapter's sections).
NOTEBOOKS = (
    "intro",
    "00_data",
    "01_components",
    "02_baselines",
    "03_train",
    "04_tables",
    "04_table1",
    "04_table2",
    "04_table3",
    "04_table4",
    "04_table5",
    "04_questions",
    "05_qualitative",
    "explorer",
    "experiments",
)
#: Environment of the notebook kernels: no progress widgets in the output (they render blank in
#: the HTML), no hub downloads.
KERNEL_ENV = {"TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}


class BookError(RuntimeError):
    """A notebook or the HTML build failed; the message names the notebook / log to read."""


def execute_notebook(name: str, output: str | Path, parameters: dict | None = None, progress: bool = True) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with papermill into ``output`` (kernel: this Python)."""
    import papermill as pm

    source = NOTEBOOKS_DIR / f"{name}.ipynb"
    if not source.is_file():
        raise BookError(f"notebook {source} does not exist; notebooks: {', '.join(NOTEBOOKS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    use_book_dirs()  # the kernels read and write the book's folders (unless a caller named others)
    for k, v in KERNEL_ENV.items():  # the kernel inherits this process's environment
        os.environ.setdefault(k, v)
    os.environ["PYTHONPATH"] = pythonpath_with_repo()  # the kernel imports booktools from the checkout
    try:
        pm.execute_notebook(
            str(source),
            str(output),
            parameters=parameters or {},
            kernel_name="python3",
            progress_bar=progress,
            cwd=str(NOTEBOOKS_DIR),
        )
    except pm.PapermillExecutionError as e:
        raise BookError(
            f"notebook {name} failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
            f"(executed copy with the traceback: {output})"
        ) from None
    strip_widgets(output)
    hide_injected_parameters(output)
    return output


def hide_injected_parameters(path: str | Path) -> bool:
    """Tag papermill's injected-parameters cell ``remove-cell`` so the book does not show it: the
    page keeps its own parameters cell (the defaults), and a parameter given for one build (a data
    folder, say) never puts a machine path into the HTML. Returns whether there was one."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    found = False
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
            found = True
    if found:
        nbformat.write(nb, str(path))
    return found


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def strip_widgets(path: str | Path) -> int:
    """Remove ipywidgets outputs and the saved widget state from an executed notebook; returns how
    many outputs went. Without a kernel a widget does nothing, and the state makes jupyter-book
    load the widget manager from a CDN (a console error offline); the explorer's plotly figures
    are what works in the page."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.get("outputs", []) if WIDGET_VIEW not in o.get("data", {})]
        removed += len(cell.get("outputs", [])) - len(kept)
        cell.outputs = kept
    if removed or "widgets" in nb.metadata:
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, str(path))
    return removed


def train_parameters(cfg) -> dict:
    """Papermill parameters under which ``03_train`` trains exactly ``cfg`` (same results key)."""
    from mkdlib.config import Config

    fields = {k: v for k, v in cfg.to_dict().items() if k not in Config.RUNTIME_ONLY}
    return {
        "dataset": cfg.dataset,
        "split": cfg.split,
        "method": cfg.method,
        "seed": cfg.seed,
        "iters": cfg.iters,
        "config_overrides": fields,
    }


def execute_all(
    chapters_dir: str | Path = BOOK_DIR / "chapters",
    parameters: dict[str, dict] | None = None,
    common: dict | None = None,
    only: list[str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Execute the book's notebooks in order into ``chapters_dir``.

    ``parameters``: per-notebook papermill parameters; ``common``: given to every notebook (each
    notebook declares the parameters it takes; papermill warns about and ignores the others).
    """
    out = []
    names = [n for n in NOTEBOOKS if not only or n in only]
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        print(f"[book {i}/{len(names)}] executing {name} ...", flush=True)
        out.append(
            execute_notebook(
                name,
                Path(chapters_dir) / f"{name}.ipynb",
                {**(common or {}), **(parameters or {}).get(name, {})},
                progress=progress,
            )
        )
        print(f"[book {i}/{len(names)}] {name} done in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


#: iterations of 03_train's run when the default one is not stored (a few CPU minutes, not 45)
DEMO_ITERS = 300

#: the GPU check's index of records (``python -m bench.gpu_check --reindex``), shown by the GPU page
GPU_RECORDS_INDEX = REPO / "bench" / "results" / "gpu_checks.md"
NO_GPU_RECORD = (
    "**No GPU check record exists yet** (`bench/results/gpu_checks.md` is missing): "
    "`bash bench/gpu_check.sh` on one GPU writes the first one.\n"
)


def copy_gpu_records(book_dir: str | Path = BOOK_DIR) -> Path:
    """Put the GPU check's table of records into the book (``<book_dir>/gpu_checks.md``, included
    by ``reproduce-on-gpus.md``); says plainly that none exists when there is no index."""
    dest = Path(book_dir) / "gpu_checks.md"
    text = GPU_RECORDS_INDEX.read_text() if GPU_RECORDS_INDEX.is_file() else NO_GPU_RECORD
    dest.write_text(text)
    return dest


def repository_url() -> str | None:
    """The https URL of the ``origin`` remote (an ssh remote is rewritten), None without one."""
    url = git("remote", "get-url", "origin")
    if not url:
        return None
    if url.startswith("git@"):
        host, _, path = url[4:].partition(":")
        url = f"https://{host}/{path}"
    return url.removesuffix(".git") if url.startswith("https://") else None


def build_stamp() -> str:
    """The footer of every page: the commit (``+ local changes`` when the tree differs), the build
    date and the versions of the libraries the numbers depend on."""
    from datetime import datetime, timezone
    from importlib.metadata import PackageNotFoundError, version

    commit = git_commit(short=True) or "unknown commit"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " + local changes"
    libs = []
    for name in ("torch", "torchvision", "segmentation-models-pytorch", "albumentations", "jupyter-book"):
        try:
            libs.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Built from commit {commit} on {date}; Python {sys.version.split()[0]}, {', '.join(libs)}."


def stamped_config(book_dir: Path) -> Path:
    """``_config.yml`` plus the build stamp as the footer and, when the repository has a remote, its
    repository button and launch buttons (Binder, Colab); written beside the build output."""
    import html

    import yaml

    cfg = yaml.safe_load((book_dir / "_config.yml").read_text())
    cfg.setdefault("html", {})["extra_footer"] = f"<p>{html.escape(build_stamp())}</p>"
    url = repository_url()
    if url:
        cfg["repository"] = {"url": url, "path_to_book": "book", "branch": "main"}
        cfg["html"]["use_repository_button"] = True
        cfg["launch_buttons"] = {
            "notebook_interface": "jupyterlab",
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
        }
    out = book_dir / "_build" / "_config.stamped.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def write_downloads(book_dir: Path) -> list[Path]:
    """The numbers behind the book as CSV files in ``<book_dir>/downloads`` (linked from the
    citing page): every stored run, one row per evaluation, with where and when it ran, and the
    claims table with the command that makes each claim's runs again."""
    from mkdlib.report.evidence.claims import claims_table
    from mkdlib.report.evidence.rerun import claim_commands
    from mkdlib.results import tidy_runs

    out = Path(book_dir) / "downloads"
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "runs.csv", out / "claims.csv"]
    tidy_runs().to_csv(files[0], index=False)
    claims_table().assign(command=claim_commands()).to_csv(files[1], index=False)
    return files


def build_html(book_dir: str | Path = BOOK_DIR, warnings_as_errors: bool = True) -> Path:
    """``jupyter-book build`` (notebooks are not re-executed: ``execute_notebooks: off``), with the
    build stamp in every page's footer (:func:`stamped_config`)."""
    book_dir = Path(book_dir)
    use_book_dirs(book_dir)
    copy_gpu_records(book_dir)
    write_downloads(book_dir)
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(book_dir)]
    cmd += ["--config", str(stamped_config(book_dir))]
    if warnings_as_errors:
        cmd += ["-W", "-n", "--keep-going"]
    print(f"[book] {' '.join(cmd)}", flush=True)
    # booktools.sphinx_ext (book/_config.yml) is imported by jupyter-book from the repository
    env = {**os.environ, "PYTHONPATH": pythonpath_with_repo()}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        log = (res.stdout + res.stderr)[-4000:]
        raise BookError(f"jupyter-book build failed (exit {res.returncode}); last output:\n{log}")
    html = book_dir / "_build" / "html"
    print(f"[book] built {html / 'index.html'}", flush=True)
    return html


def build(
    book_dir: str | Path = BOOK_DIR,
    recompute: bool = False,
    parameters: dict[str, dict] | None = None,
    common: dict | None = None,
    only: list[str] | None = None,
    html: bool = True,
) -> Path:
    """Execute every notebook into ``<book_dir>/chapters`` and build the HTML; returns its folder."""
    t0 = time.perf_counter()
    use_book_dirs(book_dir)
    parameters = {k: dict(v) for k, v in (parameters or {}).items()}
    if recompute:
        parameters.setdefault("04_tables", {})["run_missing"] = True
    if "03_train" not in parameters and not recompute:
        from mkdlib.results import is_done

        if not is_done(train_config().key()):  # the headline MKD run is not stored: a short one instead
            print(
                f"[book] the default MKD run ({train_config().iters} iterations) is not in the results store: "
                f"03_train trains a {DEMO_ITERS}-iteration demonstration (make book RECOMPUTE=1 trains it)",
                flush=True,
            )
            parameters["03_train"] = {"iters": DEMO_ITERS}
    execute_all(Path(book_dir) / "chapters", parameters, common, only)
    out = build_html(book_dir) if html else Path(book_dir) / "chapters"
    print(f"[book] total {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m booktools.build", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--recompute",
        action="store_true",
        help="train every experiment-grid config missing from the results store first (hours on CPU)",
    )
    p.add_argument("--only", nargs="*", choices=NOTEBOOKS, help="execute only these notebooks")
    p.add_argument("--no-html", action="store_true", help="execute the notebooks, skip jupyter-book")
    p.add_argument("--html-only", action="store_true", help="skip the notebooks: jupyter-book over book/chapters")
    p.add_argument("--book-dir", default=str(BOOK_DIR))
    args = p.parse_args(argv)
    try:
        if args.html_only:
            build_html(args.book_dir)
        else:
            build(args.book_dir, recompute=args.recompute, only=args.only, html=not args.no_html)
    except BookError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

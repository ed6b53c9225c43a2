"""``make lab``: JupyterLab on the book's notebooks, set up as the book needs it.

    python -m booktools.lab [--port 8888] [JupyterLab options ...]

* the kernels read the book's store: ``MKD_RESULTS_DIR``, ``MKD_RUNS_DIR``, ``MKD_DATA_DIR`` are
  set to the book's folders (:func:`booktools.use_book_dirs`) unless already set, so a kernel
  started in ``notebooks/`` never makes ``notebooks/results``;
* the explorer's short runs go to the user's own store (``$MKD_EXPLORER_DIR``, else
  ``~/.local/share/mkdlib/explorer``: :func:`mkdlib.explorer.user_store`), not the book's;
* the explorer's figures are drawn as widgets (``MKD_LIVE_FIGURES``), so that a short run redraws them;
* every save goes through :func:`strip_outputs` (JupyterLab's ``pre_save_hook``): outputs,
  execution counts, widget state and what a kernel adds to the metadata are dropped, so saving a
  notebook (autosave included) leaves ``git status`` clean and the file small.

Stop it with Ctrl-C (twice, or once and answer ``y``).
"""

from __future__ import annotations

import argparse
import os
import sys

from booktools import REPO, pythonpath_with_repo, use_book_dirs

#: cell metadata a frontend writes on its own (collapsed outputs, timings): never part of the source
TRANSIENT_CELL_METADATA = ("collapsed", "scrolled", "execution", "ExecuteTime", "heading_collapsed", "hidden")


def strip_notebook(nb: dict) -> dict:
    """``nb`` (a notebook as JSON) as it is committed: no outputs or execution counts, no widget
    state, the language named only (a kernel fills in its version), no transient cell metadata."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in TRANSIENT_CELL_METADATA:
            meta.pop(key, None)
    meta = nb.get("metadata", {})
    meta.pop("widgets", None)
    meta.pop("signature", None)
    if "language_info" in meta:
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    return nb


def strip_outputs(model: dict, **kwargs) -> None:
    """JupyterLab's ``ContentsManager.pre_save_hook``: a notebook is saved stripped (:func:`strip_notebook`)."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        strip_notebook(model["content"])


def lab_argv(port: int, root_dir: str, extra: list[str]) -> list[str]:
    """JupyterLab's command line: the notebooks folder, the port, the save hook."""
    return [
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the port asked for, or a clear error
        "--FileContentsManager.pre_save_hook=booktools.lab.strip_outputs",
        # JupyterLab refuses root, as in a container: there the container is the boundary
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        *extra,
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m booktools.lab", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8888))
    p.add_argument("--root-dir", default=str(REPO / "notebooks"))
    args, extra = p.parse_known_args(argv)
    use_book_dirs()
    os.environ["MKD_LIVE_FIGURES"] = "1"  # the explorer's figures as widgets: a short run redraws them
    if str(REPO) not in sys.path:  # the save hook is imported by name
        sys.path.insert(0, str(REPO))
    # and the kernels (other processes) import the book's own pieces (booktools.figure1) from the checkout
    os.environ["PYTHONPATH"] = pythonpath_with_repo()
    from jupyterlab.labapp import LabApp

    print(
        f"JupyterLab on http://localhost:{args.port}/lab (the book's notebooks; the explorer is explorer.ipynb). "
        "Stop it with Ctrl-C.",
        flush=True,
    )
    LabApp.launch_instance(argv=lab_argv(args.port, args.root_dir, extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())

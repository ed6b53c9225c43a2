"""The book's machinery, kept with the book and out of the library: ``pip install .`` ships
mkdlib only. These tools import mkdlib; mkdlib never imports them (tests/test_architecture.py).

- :mod:`booktools.build`: ``make book``: the notebooks executed with papermill, then jupyter-book;
- :mod:`booktools.publish`: ``make publish``: the built HTML to the gh-pages branch (ghp-import);
- :mod:`booktools.readme`: the README's results blocks, read from the book's store;
- :mod:`booktools.departures`: ``mkd``'s departures from its sources, each with its screen (README,
  paper-vs-code, the intro's caveat, the questions chapter);
- :mod:`booktools.sphinx_ext`: the Sphinx extension named in ``book/_config.yml``.

The browser check of the built pages is a test: ``tests/browser_check.py`` (``make browser-check``).

The book's folders are named by the book's configuration (``book/_config.yml``, ``mkd_dirs``):
the repository's ``results/`` is the book's results store. The library itself writes to the
current folder or to ``$MKD_RESULTS_DIR`` / ``$MKD_RUNS_DIR`` / ``$MKD_DATA_DIR``;
:func:`use_book_dirs` sets those variables for the book's kernels (unless already set).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO / "book"
#: the variable each entry of ``mkd_dirs`` in ``book/_config.yml`` sets
DIR_VARIABLES = {"results": "MKD_RESULTS_DIR", "runs": "MKD_RUNS_DIR", "data": "MKD_DATA_DIR"}


def book_dirs(book_dir: str | Path = BOOK_DIR) -> dict[str, Path]:
    """The book's folders (``results``, ``runs``, ``data``): ``mkd_dirs`` of ``<book_dir>/_config.yml``,
    relative to that file's folder."""
    import yaml

    cfg = yaml.safe_load((Path(book_dir) / "_config.yml").read_text()) or {}
    dirs = cfg.get("mkd_dirs") or {}
    missing = sorted(set(DIR_VARIABLES) - set(dirs))
    if missing:
        raise KeyError(f"{Path(book_dir) / '_config.yml'} names no folder for {', '.join(missing)} (mkd_dirs)")
    return {name: (Path(book_dir) / dirs[name]).resolve() for name in DIR_VARIABLES}


def book_store() -> Path:
    """The results store the book reads: ``$MKD_RESULTS_DIR`` when set (a test's private store),
    else the book's (the repository's ``results/``, ``book/_config.yml``)."""
    return Path(os.environ.get("MKD_RESULTS_DIR") or book_dirs()["results"])


def use_book_dirs(book_dir: str | Path = BOOK_DIR) -> dict[str, str]:
    """Set ``MKD_RESULTS_DIR``, ``MKD_RUNS_DIR`` and ``MKD_DATA_DIR`` to the book's folders where they
    are not set (a test's private store wins); the kernels papermill starts inherit them. Returns
    the values in force."""
    for name, path in book_dirs(book_dir).items():
        os.environ.setdefault(DIR_VARIABLES[name], str(path))
    return {v: os.environ[v] for v in DIR_VARIABLES.values()}


def pythonpath_with_repo(env: dict | None = None) -> str:
    """``PYTHONPATH`` of ``env`` (default: this process's) with the checkout first, once: what a child
    process (a notebook kernel, jupyter-book, nbval) needs to import the book's own pieces (booktools)."""
    paths = [p for p in (os.environ if env is None else env).get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([str(REPO), *(p for p in paths if p != str(REPO))])

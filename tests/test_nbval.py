"""The numbers the book prints are pinned by nbval: the chapters that the last book build executed
(``book/chapters/``, written by :func:`booktools.build.execute_all`) are executed again and every
text output compared with the stored one, after ``tests/nbval_sanitize.cfg`` has masked what
legitimately differs between two executions (plotly div ids, pandas Styler ids, dates, clock and
elapsed times, absolute paths, commit hashes, memory addresses, progress bars). A change to the
library, the notebooks or the results store that alters any number or table of the book therefore
fails here until the book is rebuilt (``make book``) and the change has been looked at.

All nine chapters are checked (about 1.5 minutes on two busy CPU cores: every chapter reads stored
results and trains nothing) with ``--nbval``, not ``--nbval-lax``: every cell's output is compared.
Two exceptions, each tagged in its notebook or detected here, not hidden: the explorer's widget
cell (``nbval-ignore-output``: a widget has no output to compare without a browser) and the
training chapter when the build trained a run in it (its second execution finds the run stored and
says so instead). The same command by hand::

    make nbval   # = in book/chapters, with the book's folders (book/_config.yml) in MKD_*_DIR:
                 #   python -m pytest --nbval --nbval-current-env --nbval-sanitize-with ... *.ipynb
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = REPO / "book" / "chapters"
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
#: the store and runs folders of the shell that runs the tests (read before the autouse fixtures
#: of conftest.py point them at a test's private folders): the ones the book was built from
STORE_ENV = {k: os.environ.get(k) for k in ("MKD_RESULTS_DIR", "MKD_RUNS_DIR", "MKD_DATA_DIR")}


def _patterns() -> list[tuple[str, str]]:
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns(SANITIZE.read_text())


def sanitize(text: str) -> str:
    """``text`` as nbval compares it: every pattern of the sanitize file applied, in order."""
    for regex, replace in _patterns():
        text = re.sub(regex, replace, text)
    return text


def code_cells(path: Path, injected: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """The code cells of a notebook as (source, tags) (the tags say what nbval compares); papermill's
    injected parameters (only in a chapter built with parameters) only when ``injected``, so that a
    chapter compares with its source notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [
        (c.source, tuple(c.metadata.get("tags", [])))
        for c in nb.cells
        if c.cell_type == "code" and (injected or "injected-parameters" not in c.metadata.get("tags", []))
    ]


def trained_during_build(path: Path) -> bool:
    """Whether the training chapter trained its run when the book was built (a fresh store): its
    re-execution then finds that run stored and prints so, which nbval would read as a change."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return re.search(r"^training \S+ for \d+ iterations", printed, re.M) is not None


def test_sanitizers_mask_what_varies_and_keep_every_number():
    varying = {
        '<div id="4fd4700f-b388-4e7b-84e7-090bb5cc5f0f" class="plotly-graph-div">': "UUID",
        '<table id="T_b6d83"><td id="T_b6d83_row0_col1">': "T_STYLER",
        "Built on 2025-03-14 09:26 UTC": "DATE",
        "started 09:26:53": "TIME",
        "done in 14 s": "DURATION",
        "executed copy: /tmp/pytest-of-root/book/chapters/03_train.ipynb": "PATH",
        "commit 87263d1 + local changes": "COMMIT",
        "<object at 0x7f3a2b1c9d00>": "ADDRESS",
        "Executing:  55%|█████▍    | 12/22 [00:12<00:07,  1.30cell/s]": "PROGRESS",
    }
    for text, mask in varying.items():
        assert mask in sanitize(text), f"{text!r} -> {sanitize(text)!r}"
    assert sanitize('<div id="4fd4700f-b388-4e7b-84e7-090bb5cc5f0f">') == sanitize(
        '<div id="0b176a1b-a7fd-4caf-bd06-5b6747c398d1">'
    )
    kept = [
        "val mIoU (%)  25.82  best 41.57",
        "synthetic-mkd-1_16-s0-c5a0eb3303",  # a results key: its hash names the config
        "MKD gain over CPS w/ CutMix, VOCAug: +1.20 to +2.31 points",
        "labeled at 1/16: 112 of 1,464 (split 1/16/seed 0)",
        'color: #0072B2; fill="#cc79a7"',
        "configs/synthetic/mkd.yaml and $MKD_RESULTS_DIR/synthetic-mkd/best.pt",
        "</table></div><br/> https://github.com/owner/repo/blob/main/README.md",
        "4,000 iterations, 694 ms per step, 1.2x CPS",
        "1234567 pixels",
    ]
    for text in kept:
        assert sanitize(text) == text, f"{text!r} -> {sanitize(text)!r}"


def test_trained_during_build_reads_the_training_chapter(tmp_path):
    import nbformat

    def chapter(text: str) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("run()", outputs=[nbformat.v4.new_output("stream", text=text)])]
        path = tmp_path / f"{len(text)}.ipynb"
        nbformat.write(nb, path)
        return path

    assert trained_during_build(chapter("training synthetic-mkd-1_16-s0-abc for 300 iterations ...\n"))
    assert not trained_during_build(chapter("stored result found for synthetic-mkd-1_16-s0-abc: showing it\n"))


@pytest.mark.slow
def test_executed_chapters_reproduce_every_printed_number():
    from booktools.build import NOTEBOOKS

    chapters = [CHAPTERS / f"{n}.ipynb" for n in NOTEBOOKS if (CHAPTERS / f"{n}.ipynb").is_file()]
    if not chapters:
        pytest.skip(f"the book has not been built here ({CHAPTERS} holds no executed chapter): `make book` first")
    stale = [p.stem for p in chapters if code_cells(p) != code_cells(REPO / "notebooks" / p.name)]
    assert not stale, f"chapters older than their notebooks: {stale}; rebuild the book (`make book`)"
    checked = [p for p in chapters if not (p.stem == "03_train" and trained_during_build(p))]
    from booktools import DIR_VARIABLES, book_dirs, pythonpath_with_repo

    env = {k: v for k, v in os.environ.items() if k not in STORE_ENV}
    book = {DIR_VARIABLES[name]: str(path) for name, path in book_dirs().items()}  # what `make book` used
    env.update({k: v or book[k] for k, v in STORE_ENV.items()})
    env.update({"HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
    # the chapters import the book's own pieces (booktools) from the checkout, as `make book` runs them
    env["PYTHONPATH"] = pythonpath_with_repo(env)
    cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE)]
    cmd += ["-p", "no:cacheprovider", "-q", "--color=no", *(p.name for p in checked)]
    res = subprocess.run(cmd, cwd=CHAPTERS, env=env, capture_output=True, text=True, timeout=1800)
    out = res.stdout + res.stderr
    assert res.returncode == 0, (
        "an executed chapter no longer reproduces what the book shows; look at the change, then "
        f"rebuild the book (`make book`):\n{out[-6000:]}"
    )
    cells = sum(len(code_cells(p, injected=True)) for p in checked)  # nbval: one test per code cell
    assert re.search(rf"\b{cells} passed", out), f"not every cell of {[p.stem for p in checked]} ran:\n{out[-2000:]}"

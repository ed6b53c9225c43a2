"""The ablation explorer as a researcher uses it (issue 37): ``make lab``'s JupyterLab
(booktools/lab.py: the book's folders, outputs stripped on save) in headless Chromium at 1,400 x
1,000, the explorer notebook run, and every button pressed: "find matching", "compare" ten times
while other widgets change, a match that finds nothing, and "train short run". Fails on any error
output, blank figure or console error; skips, saying why, where Chromium is absent.

Screenshots of each step go to ``$MKD_LAB_SHOTS`` when set (else the test's tmp folder)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import browser_check as bc
import pytest
from conftest import TINY_OVERRIDES, store_result

from mkdlib import experiments

REPO = Path(__file__).resolve().parents[1]
#: the window of issue 37's trials
WIDTH, HEIGHT = 1400, 1000
TOKEN = "mkd-lab-test"


def test_a_saved_notebook_is_the_committed_one():
    """The save hook turns a notebook a kernel has run (outputs, counts, widget state, the kernel's
    language_info, timings) back into its committed bytes: saving leaves git status clean."""
    import nbformat

    from booktools.lab import strip_outputs

    path = REPO / "notebooks" / "explorer.ipynb"
    committed = path.read_text()
    nb = json.loads(committed)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 3
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["x" * 1000]}]
            cell["metadata"]["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
            cell["metadata"]["scrolled"] = True
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python"}
    model = {"type": "notebook", "content": nbformat.from_dict(nb)}
    strip_outputs(model, path="explorer.ipynb", contents_manager=None)
    assert nbformat.writes(model["content"]) + "\n" == committed


def test_committed_notebooks_hold_no_outputs():
    """Outputs never reach git: a notebook saved outside ``make lab`` would carry them (and plotly.js)."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        assert "widgets" not in nb["metadata"], f"{path.name}: widget state committed"
        for cell in nb["cells"]:
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name}: outputs committed"


def test_environment_yml_installs_what_pyproject_does():
    """conda users get JupyterLab (and every other extra) too: environment.yml names each package of
    pyproject.toml's dependencies and its ``book`` and ``test`` extras."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = (
        project["dependencies"] + project["optional-dependencies"]["book"] + project["optional-dependencies"]["test"]
    )
    listed = {
        re.split(r"[<>=\[ ]", line.strip().removeprefix("- "))[0].lower()
        for line in (REPO / "environment.yml").read_text().splitlines()
        if line.strip().startswith("- ")
    }
    missing = sorted({re.split(r"[<>=\[ ]", w)[0].lower() for w in wanted} - listed)
    assert not missing, f"environment.yml lacks {missing}"


# --------------------------------------------------------------------------- the real thing
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, check, timeout: float, every: float = 0.25):
    """``check()``'s first truthy value within ``timeout`` seconds, else fail naming ``what`` (a
    string, or a function giving one: what was seen last)."""
    end = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")
        time.sleep(every)


@pytest.fixture
def lab(tiny_data_root, tmp_path):
    """``python -m booktools.lab`` (what ``make lab`` runs) on a copy of the explorer notebook, with a
    private book store of four stored runs, the user's folder in tmp, and nothing of the user's
    JupyterLab settings; yields (url, paths) and stops the server."""
    from mkdlib.config import resolve
    from mkdlib.experiments import grid, legacy

    bc_skip_without_browser()
    nb_dir, store, mine = tmp_path / "notebooks", tmp_path / "results", tmp_path / "mine"
    nb_dir.mkdir()
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / "explorer.ipynb", as_version=4)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(  # as papermill injects parameters
        f"data_root = {str(tiny_data_root)!r}\nshort_run_fields = {dict(TINY_OVERRIDES)!r}",
        metadata={"tags": ["injected-parameters"]},
    )
    nb.cells.insert(params + 1, injected)
    nbformat.write(nb, nb_dir / "explorer.ipynb")
    curves = [{"iter": i, "loss": 2.0 / i, "miou": 0.3 + 0.01 * i} for i in (10, 20, 30, 40)]
    for seed in (0, 1, 2):  # MKD's preset at 1/16: what "find matching" lists first
        store_result(store, resolve(legacy("mkd", split="1/16", seed=seed)), 0.5 + 0.01 * seed, curves=curves)
    store_result(store, grid("gamma")[0], 0.45, curves=curves)  # a variant: listed after the preset
    settings = tmp_path / "lab-settings"  # none of the user's; no news pop-up over the page
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = {
        **os.environ,
        "MKD_RESULTS_DIR": str(store),
        "MKD_RUNS_DIR": str(tmp_path / "runs"),
        "MKD_DATA_DIR": str(tmp_path / "data"),
        "MKD_EXPLORER_DIR": str(mine),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        # the kernels import this checkout's mkdlib, whatever the environment's install points to
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),  # none of the user's settings
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
    }
    port = _free_port()
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            sys.executable, "-m", "booktools.lab", "--port", str(port), "--root-dir", str(nb_dir), "--no-browser",
            f"--IdentityProvider.token={TOKEN}", "--ServerApp.ip=127.0.0.1", "--LabApp.expose_app_in_browser=True",
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(tmp_path / 'lab.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait("JupyterLab to start", up, 90)
        yield url, {"notebook": nb_dir / "explorer.ipynb", "store": store, "mine": mine, "log": tmp_path / "lab.log"}
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
            server.wait(20)
        except ProcessLookupError:  # exited already
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def bc_skip_without_browser() -> None:
    try:
        bc.find_browser()
    except bc.BrowserUnavailable as e:
        pytest.skip(str(e))


#: JS: the state of the explorer in the page (the widget found by the classes mkdlib/explorer/widget.py gives it)
STATE = r"""
const q = (s, root) => (root || document).querySelector(s);
const status = q('.mkd-status'), compare = q('.mkd-compare'), progress = q('.mkd-progress');
const plot = compare && q('.js-plotly-plot', compare);
const lines = plot ? [...plot.querySelectorAll('path.js-line')].filter(p => (p.getAttribute('d') || '').length > 10).length : 0;
const names = plot ? [...plot.querySelectorAll('.legendtext')].map(t => t.textContent) : [];
const rows = compare ? [...compare.querySelectorAll('table tbody tr th')].map(t => t.textContent.trim()) : [];
const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => /Error|Traceback|Exception/.test(t));
const select = q('.widget-select-multiple select');
const buttons = Object.fromEntries([...document.querySelectorAll('button.jupyter-button')].map(b => [b.textContent.trim(), b.disabled]));
const figures = [...document.querySelectorAll('.jp-Cell .js-plotly-plot')].filter(p => !p.closest('.mkd-compare'));
return {
  status: status ? status.textContent : null,
  lines, names, rows, errors, buttons,
  compare_text: compare ? compare.textContent.trim() : null,
  progress: progress ? progress.querySelectorAll('progress, .widget-hprogress, .progress').length : 0,
  options: select ? [...select.options].map(o => o.textContent.replace(/\u00a0/g, ' ')) : null,
  selected: select ? [...select.selectedOptions].map(o => o.textContent.replace(/\u00a0/g, ' ')) : [],
  titles: figures.map(f => { const t = f.querySelector('.gtitle'); return t ? t.textContent : ''; }),
  kernel_idle: !!q('.jp-Notebook') && !document.querySelector('.jp-Cell .jp-InputPrompt')?.textContent.includes('[*]'),
};
"""


def _click(drv, label: str) -> None:
    drv.execute_script(
        "const b = [...document.querySelectorAll('button.jupyter-button')].find(b => b.textContent.trim() === arguments[0]);"
        "b.scrollIntoView({block: 'center'}); b.click();",
        label,
    )


def _choose(drv, description: str, value: str) -> None:
    """Pick ``value`` in the dropdown described ``description``, as a user would (a change event)."""
    drv.execute_script(
        "const w = [...document.querySelectorAll('.widget-dropdown')].find(d => d.querySelector('label').textContent.trim() === arguments[0]);"
        "const s = w.querySelector('select'); s.value = [...s.options].find(o => o.textContent === arguments[1]).value;"
        "s.dispatchEvent(new Event('change', {bubbles: true}));",
        description,
        value,
    )


#: console messages of JupyterLab itself, not of the explorer: what each is
BENIGN_CONSOLE = (
    "favicon.ico",  # the browser asks for /favicon.ico first
)


@pytest.mark.slow
def test_the_explorer_in_jupyterlab_as_a_researcher_uses_it(lab, tmp_path):
    url, paths = lab
    shots = Path(os.environ.get("MKD_LAB_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    saved_before = paths["notebook"].read_bytes()
    t0 = time.perf_counter()
    drv = bc._driver(WIDTH, HEIGHT, allow_host="127.0.0.1")
    console: list[str] = []

    def state() -> dict:
        console.extend(
            e["message"]
            for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and not any(b in e["message"] for b in BENIGN_CONSOLE)
        )
        s = drv.execute_script(STATE)
        assert not s["errors"], f"error output in the notebook: {s['errors']}"
        assert not console, f"console errors: {console}"
        return s

    def shot(name: str) -> None:
        drv.save_screenshot(str(shots / f"{name}.png"))

    try:
        drv.get(f"{url}/lab/tree/explorer.ipynb?token={TOKEN}")
        _wait("the notebook and its kernel", lambda: drv.execute_script(
            "const a = window.jupyterapp; const w = a && a.shell.currentWidget;"
            "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.connectionStatus === 'connected' && w.content.widgets.length);"
        ), 90)  # fmt: skip
        drv.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait(
            "the explorer widget and its two figures", lambda: (s := state())["options"] and len(s["titles"]) >= 2, 60
        )
        s = state()
        assert [t.startswith("Methods at 1/16") for t in s["titles"]] == [True, True], s["titles"]
        # the stored runs by what sets them apart: MKD's preset first, seeds in order, three selected
        # (the preset as the grids stored it, before its departures' screens set it: labelled so)
        old = " (superseded preset)" if experiments.LEGACY_PRESETS.get("mkd") else ""
        want = [f"seed {i}, 4000 it, preset{old}: mIoU {50 + i:.1f}%" for i in range(3)]
        assert s["options"][:3] == want, s["options"]
        assert len(s["selected"]) == 3 and s["options"][3].startswith("seed 0, 4000 it, gamma=")
        drv.execute_script("document.querySelector('.mkd-status').scrollIntoView({block: 'start'})")
        shot("1-explorer")

        # compare, ten presses, while the other widgets change between them
        for i in range(10):
            _choose(drv, "split", "1/8" if i % 2 else "1/16")  # other widgets used meanwhile
            _click(drv, "compare")
            s = _wait(f"compare press {i + 1} to draw its figure", lambda: (x := state())["lines"] >= 2 and x, 30)
            assert s["rows"] and set(s["names"]) == set(s["rows"]), (s["names"], s["rows"])  # the same labels
        _choose(drv, "split", "1/16")
        drv.execute_script("document.querySelector('.mkd-compare').scrollIntoView({block: 'start'})")
        shot("2-compare")

        # a selection nothing matches: said in words, old output cleared, no console error
        _choose(drv, "strong aug", "off")
        _choose(drv, "method", "cps")
        _click(drv, "find matching")
        s = _wait("the empty match said", lambda: "no stored run of cps" in ((x := state())["status"] or "") and x, 30)
        assert s["options"] == [] and s["compare_text"] == "" and s["lines"] == 0, s
        shot("3-no-match")

        # a short run: progress shown, buttons disabled meanwhile, then listed, compared and in the figures
        _choose(drv, "method", "mkd")
        _choose(drv, "strong aug", "preset")
        drv.execute_script(
            "const t = [...document.querySelectorAll('.widget-text')].find(d => d.querySelector('label').textContent.trim() === 'iterations').querySelector('input');"
            "t.value = '4'; t.dispatchEvent(new Event('input', {bubbles: true})); t.dispatchEvent(new Event('change', {bubbles: true}));"
        )  # fmt: skip
        _click(drv, "train short run")
        s = _wait("the training status and progress bar", lambda: (x := state())["progress"] and x, 60)
        assert "training mkd at 1/16" in s["status"]
        assert s["buttons"]["compare"] and s["buttons"]["train short run"], (
            f"buttons enabled while training: {s['buttons']}"
        )
        shot("4-training")
        s = _wait(
            "the short run to finish", lambda: "done" in ((x := state())["status"] or "") and x["lines"] and x, 180
        )
        assert not any(s["buttons"].values()), s["buttons"]
        assert s["progress"], "the progress bar went away"
        assert "final mIoU" in s["status"] and "your store" in s["status"], s["status"]
        yours = [o for o in s["options"] if "(yours)" in o]
        assert len(yours) == 1 and yours[0].startswith("seed 0, 4 it"), s["options"]
        assert any("(yours)" in r for r in s["rows"]) and set(s["names"]) == set(s["rows"])
        titles: list[str] = []
        _wait(
            lambda: f"the figures redrawn with the short run (their titles: {titles})",
            lambda: (
                (titles.clear(), titles.extend(state()["titles"]))
                and all(t.startswith("Your short runs") for t in titles)
            ),
            30,
        )
        drv.execute_script("document.querySelector('.mkd-status').scrollIntoView({block: 'start'})")
        shot("5-short-run-done")
        drv.execute_script("document.querySelector('.jp-Cell .js-plotly-plot').scrollIntoView({block: 'start'})")
        shot("6-figures-with-your-runs")
        assert list((paths["mine"] / "results").glob("*/result.json")), "the short run is not in the user's store"
        assert len(list(paths["store"].glob("*/result.json"))) == 4, "the short run went into the book's store"

        # saving (and autosave) writes the notebook as it was: outputs stripped
        drv.execute_script("window.jupyterapp.commands.execute('docmanager:save')")
        _wait(
            "the save",
            lambda: drv.execute_script("return !window.jupyterapp.shell.currentWidget.context.model.dirty"),
            30,
        )
        assert paths["notebook"].read_bytes() == saved_before, "saving changed the notebook's file"
        state()
    finally:
        shot("last")  # where it ended, also when it failed
        drv.quit()
        print(f"JupyterLab explorer test: {time.perf_counter() - t0:.0f} s; screenshots in {shots}")

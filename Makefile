# Two commands are the contract (see README):  make book   and   make test
# Both create .venv on first use (pip, with torch pinned by constraints.txt).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1

.PHONY: setup lab book main test test-fast bench clean-runs pretrain lint publish browser-check nbval

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade -q -c constraints.txt torch==2.14.1 torchvision==0.29.1 -e '.[book,test]'
	touch $@

setup: $(VENV)/.installed

# JupyterLab on notebooks/ at http://localhost:$(PORT)/lab (default 8888; stop it with Ctrl-C): the
# kernels read the book's folders (BOOK_DIRS), the explorer's short runs go to your own folder
# (~/.local/share/mkdlib/explorer, or $$MKD_EXPLORER_DIR), and every save strips the outputs (booktools/lab.py).
PORT ?= 8888
lab: setup
	$(BOOK_DIRS) $(PY) -m booktools.lab --port $(PORT)

# The main job on the built-in dataset: train MKD at 1/16 labels and evaluate it.
main: setup
	$(PY) -m mkdlib train --config configs/synthetic/mkd.yaml --split 1/16

# The book: execute every notebook with papermill (stored results: nothing stored is retrained), then
# jupyter-book build -W into book/_build/html. RECOMPUTE=1 first trains every experiment-grid config
# missing from results/ (hours on 2 CPU cores).
book: setup
	$(PY) -m booktools.build $(if $(RECOMPUTE),--recompute,)

# Push book/_build/html to the gh-pages branch of $(REMOTE) (default origin), from where GitHub Pages
# serves it (ghp-import). Build first with `make book`; .github/workflows/book.yml does both on main.
publish: setup
	$(PY) -m booktools.publish --remote $(or $(REMOTE),origin)

# Every page of book/_build/html in headless Chromium at 1,280 px (also part of `make test`).
browser-check: setup
	$(PY) tests/browser_check.py

# nbval: execute again the chapters the last `make book` wrote (book/chapters/) and compare every output,
# sanitized by tests/nbval_sanitize.cfg (ids, dates, times, paths, commits): fails on any number or table
# of the book that changed since the build (also tests/test_nbval.py, part of `make test`).
# The kernels run in book/chapters: the book's folders (book/_config.yml, mkd_dirs) are named for them.
BOOK_DIRS = MKD_RESULTS_DIR=$(or $(MKD_RESULTS_DIR),$(CURDIR)/results) MKD_RUNS_DIR=$(or $(MKD_RUNS_DIR),$(CURDIR)/runs) \
	MKD_DATA_DIR=$(or $(MKD_DATA_DIR),$(CURDIR)/data)
nbval: setup
	cd book/chapters && $(BOOK_DIRS) PYTHONPATH=$(CURDIR) $(abspath $(PY)) -m pytest --nbval --nbval-current-env \
		--nbval-sanitize-with $(abspath tests/nbval_sanitize.cfg) -p no:cacheprovider -q *.ipynb

# lint (ruff, configured in pyproject.toml), then the tests
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup lint
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# The committed stand-in for ImageNet weights (mkdlib/weights/): re-make it (CPU: about 40 minutes).
pretrain: setup
	$(PY) -m mkdlib pretrain --threads $(or $(THREADS),1) --out mkdlib/weights/synthetic-source-tu-regnetx_002.pt

bench: setup
	$(PY) -m bench.step_cost

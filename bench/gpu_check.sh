#!/usr/bin/env bash
# The GPU check (python -m bench.gpu_check): one command for a short GPU lease, <= 8 minutes on one
# H200, no network, installs nothing. See docs/performance.md, "The GPU check".
#
#   bash bench/gpu_check.sh                 # record -> bench/results/gpu_check-<date>-<device>.{json,txt}
#   bash bench/gpu_check.sh --out DIR       # the record elsewhere
#   bash bench/gpu_check.sh --dry-run       # CPU, tiny, ~30-60 s (a temporary --out)
#
# Python: $PYTHON, else the project's .venv, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m bench.gpu_check "$@"

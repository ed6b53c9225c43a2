#!/usr/bin/env bash
# Wheels of the packages a training run imports that the lent GPU machines' image lacks (it has
# torch, torchvision, timm, opencv, scikit-image, scipy, pyyaml, filelock, tqdm, but not these), for
# Python 3.12 on x86-64 Linux, at the versions this project's .venv holds. That machine reaches no
# package registry, so run this here first; then carry the folder (see docs/performance.md, "The GPU
# check"):
#
#   bash bench/gpu_wheels.sh            # -> .whl/ (git-ignored), about 10 MB
#   bash bench/gpu_wheels.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
DEST="${1:-.whl}"
PKGS="segmentation_models_pytorch albumentations albucore pydantic pydantic_core annotated_types typing_inspection typing_extensions stringzilla simsimd"
SPECS=$("$PY" -c "import sys; from importlib.metadata import version; print(' '.join(f'{p}=={version(p)}' for p in sys.argv[1:]))" $PKGS)
PLATFORMS=""
for p in manylinux_2_35_x86_64 manylinux_2_34_x86_64 manylinux_2_31_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 \
         manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS="$PLATFORMS --platform $p"
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS -d "$DEST" $SPECS
ls "$DEST"

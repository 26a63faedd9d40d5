#!/usr/bin/env bash
# Create .venv with everything the workflow and its tests need. Safe to re-run.
#  - torch: with a working NVIDIA driver, PyPI's default (CUDA) build of torch 2.13.0;
#    without one, the same version from TORCH_INDEX_URL if set (e.g.
#    https://download.pytorch.org/whl/cpu for the small CPU wheel), else from pip's
#    configured sources (a local CPU wheel where the machine provides one).
#  - inkscape (ROI outlines on flatmaps): installed with apt-get when running as root
#    and INSTALL_INKSCAPE is not 0; without it maps are drawn without outlines.
#  - chromium (the browser tests of the report and the WebGL viewer, driven by Playwright
#    without a browser download): installed the same way unless INSTALL_CHROMIUM is 0;
#    without it those tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "install: NVIDIA GPU found, installing CUDA torch==$TORCH_VERSION"
    .venv/bin/pip install "torch==$TORCH_VERSION"
  elif [ -n "${TORCH_INDEX_URL:-}" ]; then
    .venv/bin/pip install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
  else
    echo "install: no GPU, installing torch==$TORCH_VERSION from pip's configured sources"
    .venv/bin/pip install "torch==$TORCH_VERSION"
  fi
fi
.venv/bin/pip install -q -e ".[dev]"

if [ "${INSTALL_INKSCAPE:-1}" != 0 ] && ! command -v inkscape >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends inkscape) \
      || echo "install: inkscape could not be installed; flatmaps will have no ROI outlines"
  else
    echo "install: inkscape not found (needs root/apt); flatmaps will have no ROI outlines"
  fi
fi

if [ "${INSTALL_CHROMIUM:-1}" != 0 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
      || echo "install: chromium could not be installed; the browser tests will be skipped"
  else
    echo "install: /usr/bin/chromium not found (needs root/apt); the browser tests will be skipped"
  fi
fi

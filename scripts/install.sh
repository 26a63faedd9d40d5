#!/usr/bin/env bash
# Create .venv with what a set-up command needs. Safe to re-run. Usage:
#   bash scripts/install.sh [demo|features|test]
#  - demo (default; `make demo`): torch and the workflow's runtime dependencies only.
#  - features (`make features`): demo + torchvision and timm, for features extracted from
#    stimulus images (extractors: in the config; config/demo_images.yaml, config/nsd_networks.yaml).
#  - test (`make test`, CI): features + the dev extras (pytest, snakefmt, himalaya, playwright,
#    lxml), inkscape and chromium.
#  - torch: with a working NVIDIA driver, PyPI's default (CUDA) build of torch 2.13.0;
#    without one, the same version from TORCH_INDEX_URL if set (e.g.
#    https://download.pytorch.org/whl/cpu for the small CPU wheel), else from pip's
#    configured sources (a local CPU wheel where the machine provides one). torchvision
#    needs the torch build it was compiled against: when the installed torch cannot import
#    PyPI's torchvision (e.g. a local CPU wheel), PyPI's torch of the same version is
#    installed in its place (5.7 GB in .venv, 7.5 GB free needed while it downloads; it runs
#    on the CPU too).
#  - inkscape (ROI outlines on flatmaps) and chromium (the browser tests of the report and
#    the WebGL viewer, driven by Playwright without a browser download): test only,
#    installed with apt-get when running as root unless INSTALL_INKSCAPE / INSTALL_CHROMIUM
#    is 0; without them maps have no outlines and the browser tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:-demo}
case "$TARGET" in demo|features|test) ;; *) echo "usage: $0 [demo|features|test]" >&2; exit 2 ;; esac
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.28.0}
TIMM_VERSION=${TIMM_VERSION:-1.0.31}

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
if [ "$TARGET" = demo ]; then
  .venv/bin/pip install -q -e .
  exit 0
fi

# features and test: torchvision and timm, against a torch they can import
.venv/bin/pip install -q "torchvision==$TORCHVISION_VERSION" "timm==$TIMM_VERSION"
if ! .venv/bin/python -c "import torchvision" 2>/dev/null; then
  echo "install: this torch build cannot import torchvision; installing PyPI's torch==$TORCH_VERSION in its place"
  # Measured on x86_64: 5.7 GB in .venv, 2.9 GB more in the temporary folder while it
  # downloads (7.5 GB at the peak). Say so before pip fails with "No space left on device".
  for need in ".venv 5.7" "${TMPDIR:-/tmp} 2.9"; do
    set -- $need
    free_gb=$(df -Pk "$1" | awk 'NR == 2 {printf "%.1f", $4 / 1048576}')
    echo "install: $free_gb GB free for $1, about $2 GB needed there (7.5 GB if on one disk)"
  done
  # --isolated: PyPI only (a configured local wheel such as torch 2.13.0+cpu would win otherwise);
  # uninstall first and no pip cache: the CPU build's space is freed and the wheels are not kept
  .venv/bin/pip uninstall -q -y torch torchvision
  .venv/bin/pip install -q --isolated --no-cache-dir ${PIP_CERT:+--cert "$PIP_CERT"} \
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
  .venv/bin/python -c "import torchvision" || { echo "install: torchvision still cannot be imported" >&2; exit 1; }
fi
if [ "$TARGET" = features ]; then
  .venv/bin/pip install -q -e ".[features]"
  exit 0
fi
.venv/bin/pip install -q -e ".[features,dev]"

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

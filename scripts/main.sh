#!/usr/bin/env bash
# Builds and installs rustorch, then trains the 784-128-256-10 Adam MLP on Fashion-MNIST.
# The data: Debian's dataset-fashion-mnist package (installed here when apt-get can), else
# a download into ~/.cache/rustorch/fashion-mnist (torchvision's URLs, checksums verified).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "Building and installing rustorch (a release build with full LTO: several minutes the" \
     "first time; a prebuilt wheel installs in seconds: pip install rustorch-*.whl)" >&2
python3 -m pip install . tqdm
DEB_DATA=/usr/share/datasets/fashion-mnist
if [ ! -d "$DEB_DATA" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
    || echo "note: could not install dataset-fashion-mnist; downloading instead" >&2
fi
if [ -d "$DEB_DATA" ]; then
  DATA_ARGS=(--data "$DEB_DATA")
else
  DATA_ARGS=(--data "${HOME}/.cache/rustorch/fashion-mnist" --download)
fi
python3 examples/mlp_adam.py --epochs "${EPOCHS:-2}" "${DATA_ARGS[@]}" "$@"

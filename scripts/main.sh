#!/usr/bin/env bash
# Builds and installs rustorch, then trains the 784-128-256-10 Adam MLP on Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q . tqdm
python3 examples/mlp_adam.py --epochs "${EPOCHS:-2}" "$@"

#!/usr/bin/env bash
# Builds and installs rustorch, then runs the Rust and Python test suites.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q .
cargo test -q
python3 -m pytest tests -q -p no:cacheprovider

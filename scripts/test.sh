#!/usr/bin/env bash
# Builds and installs rustorch, then runs the Rust and Python test suites.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "Building and installing rustorch (release, full LTO: several minutes the first time)" >&2
python3 -m pip install -q .
# With the CUDA backend (it builds and its tests pass without a GPU: the kernels run on the
# CPU as C++ against the CPU backend; the NVRTC compile test needs NVRTC, see .ci/run, and
# skips without it unless RUSTORCH_REQUIRE_NVRTC=1).
cargo test -q --features cuda,distributed
python3 -m pytest tests -q -p no:cacheprovider

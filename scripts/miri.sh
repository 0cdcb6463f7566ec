#!/usr/bin/env bash
# The Rust unit tests that Miri can run, under its undefined-behaviour and data-race checks
# (issue 16): the fork-join team and the rayon sections (threads, spinning helpers, panics
# handed back), the strided walks, indexing, sorting, the element-wise and normalization
# kernels' scalar paths, the safetensors reader on hostile files, layouts and memory formats.
# Left out: the `gemm` products (hours under the interpreter), shared memory (`memfd_create`
# is not supported by Miri), the 10^7-element sum and the hostile-checkpoint test (a pickle
# of a million opcodes; the readers hold no unsafe code).
#
# Needs a nightly toolchain with Miri: `rustup toolchain install nightly --component miri`.
# Flags: crossbeam-epoch (under rayon) casts integers to pointers (permissive provenance)
# and trips Stacked Borrows' known false positive (Tree Borrows is used instead); the pool's
# threads live as long as the process (leaks ignored); the generators read the clock.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance -Zmiri-tree-borrows -Zmiri-ignore-leaks"
cargo +nightly miri test --lib -- \
    cpu::team cpu::elementwise cpu::index cpu::strided cpu::sort cpu::search cpu::norm \
    cpu::random backend::num backend::op nn::pytorch nn::safetensors tensor:: ops::search \
    ops::layer_norm --skip float32_sum_of_1e7 --skip hostile_checkpoints

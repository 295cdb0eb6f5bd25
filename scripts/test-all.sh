#!/usr/bin/env bash
# The whole test suite, as README.md's second command and CI (.ci/run) run it.
# Installs what it needs on a fresh machine of this kind (Debian 12, root, registries only).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install: nvcc for the cuda compile check"
bash .ci/install-cuda-toolkit.sh
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
# One feature set for every cargo step (hub on), so dependencies are compiled once.
cargo clippy --workspace --all-targets --features clinfer-core/hub -- -D warnings

step "cargo test --workspace (unit, integration and doc tests; hub test against a local server)"
# Property tests draw fixed cases here so that a CI result can be reproduced; a plain local
# `cargo test` draws new random cases every run (and saves any failure it finds to
# *.proptest-regressions, which every later run replays first).
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261126}"
cargo test --workspace --features clinfer-core/hub

step "cuda feature: compile and link without a GPU (GPU tests skip with a reason)"
# The same package selection in both commands keeps one feature set (one compile of candle).
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
CARGO_TARGET_DIR=target/cuda cargo build -p clinfer-core -p clinfer \
  --features clinfer-core/cuda --example classify
CARGO_TARGET_DIR=target/cuda cargo test -p clinfer-core -p clinfer \
  --features clinfer-core/cuda --test cuda

step "python: build the wheel (maturin), pytest, mypy --strict, stubtest"
bash scripts/python-tests.sh

step "all checks passed"

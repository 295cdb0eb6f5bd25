#!/usr/bin/env bash
# Every published crate compiles with no features, with each feature alone, and with all of
# them together (what `cargo hack --each-feature` checks, as an explicit loop so that CI
# needs no extra tool).
#
# Usage: scripts/check-features.sh [cpu|cuda|all]
#   cpu   the feature sets without `cuda` (target/) that the workspace clippy run of
#         scripts/test-all.sh does not already check
#   cuda  the feature sets with `cuda`, in target/cuda, the target directory of the CUDA
#         compile check: candle's CUDA kernels are compiled once for every CUDA step
#         (needs nvcc; CUDA_COMPUTE_CAP defaults to 80)
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-all}"

check() {
    echo "-- cargo check $*"
    cargo check --quiet --all-targets "$@"
}

if [ "$WHICH" = cpu ] || [ "$WHICH" = all ]; then
    for pkg in clinfer-phi clinfer-batcher; do
        check -p "$pkg"                      # no features of their own
    done
    for pkg in clinfer-core clinfer; do
        check -p "$pkg" --no-default-features
    done
    check -p clinfer-core --features hub
    # `clinfer` and `clinfer-python` with `hub` (every feature but `cuda`) are what the
    # workspace-wide clippy step of scripts/test-all.sh checks; `all` checks them here too
    if [ "$WHICH" = all ]; then
        check -p clinfer --features hub
        check -p clinfer-python
    fi
fi

if [ "$WHICH" = cuda ] || [ "$WHICH" = all ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cuda}"
    export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
    for pkg in clinfer-core clinfer; do
        check -p "$pkg" --features cuda
        check -p "$pkg" --all-features
    done
    check -p clinfer-python --features cuda
fi
echo "feature checks: ok"

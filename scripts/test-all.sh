#!/usr/bin/env bash
# The whole test suite, as README.md's second command and CI (.ci/run) run it.
# Installs what it needs on a fresh machine of this kind (Debian 12, root, registries only).
set -euo pipefail
cd "$(dirname "$0")/.."

START=$SECONDS
LAST=$SECONDS
TIMES=()
step() {
    if [ ${#TIMES[@]} -gt 0 ] || [ -n "${CURRENT:-}" ]; then
        TIMES+=("$(printf '%5ds  %s' $((SECONDS - LAST)) "$CURRENT")")
    fi
    CURRENT="$*"
    LAST=$SECONDS
    printf '\n==> [%dm%02ds] %s\n' $(((SECONDS - START) / 60)) $(((SECONDS - START) % 60)) "$*"
}

step "install: nvcc for the cuda compile check"
bash .ci/install-cuda-toolkit.sh
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# The CUDA steps run in the background from the start, in their own target directory: much
# of candle's CUDA kernel compile is one nvcc process on one core, and the CPU stages use the
# other. Their log is target/ci-cuda.log; the job is awaited (and its log shown) near the end.
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
mkdir -p target
cuda_steps() {
    set -euo pipefail
    local t0=$SECONDS
    # The same target directory for both CUDA steps. Every cargo invocation whose dependency
    # graph differs (dev-dependencies, features) builds candle's CUDA kernels again, about
    # 20 minutes here, so CI runs two: the test binaries with `cuda` (one invocation, the
    # example included) and the `clinfer-cuda` wheel (the bindings with `cuda`).
    # `scripts/check-features.sh cuda` (each crate with `cuda`, and with all features) is the
    # full CUDA matrix, for a machine with time to spare.
    echo "== cuda feature: compile and link clinfer-core, clinfer, examples/classify and the CUDA tests (GPU tests skip with a reason)"
    CARGO_TARGET_DIR=target/cuda cargo test -p clinfer-core -p clinfer \
      --features clinfer-core/cuda --test cuda --example classify
    echo "== [$((SECONDS - t0))s] clinfer-cuda wheel: build (dev profile, reusing the CUDA compile), twine check, auditwheel"
    bash scripts/build-wheel.sh --cuda --profile dev --no-smoke
    echo "== [$((SECONDS - t0))s] cuda steps done"
}
step "cuda steps: started in the background (target/ci-cuda.log)"
( cuda_steps ) > target/ci-cuda.log 2>&1 &
CUDA_PID=$!
kill_tree() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
    kill "$1" 2>/dev/null || true
}
trap 'kill_tree "$CUDA_PID"' EXIT

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
# One feature set for every cargo step (hub on), so dependencies are compiled once.
cargo clippy --workspace --all-targets --features clinfer-core/hub -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --features clinfer-core/hub

step "cargo test --workspace (unit, integration and doc tests, README code blocks; hub test against a local server)"
# Property tests draw fixed cases here so that a CI result can be reproduced; a plain local
# `cargo test` draws new random cases every run (and saves any failure it finds to
# *.proptest-regressions, which every later run replays first).
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261126}"
cargo test --workspace --features clinfer-core/hub

step "cargo package: each published crate builds alone from its .crate (data files included)"
cargo package --workspace --exclude clinfer-python --allow-dirty --quiet
for crate in target/package/*.crate; do
    size=$(stat -c %s "$crate")
    printf '  %-40s %8d bytes\n' "$(basename "$crate")" "$size"
    [ "$size" -lt 10000000 ] || { echo "$crate is over crates.io's 10 MB limit" >&2; exit 1; }
done

step "features: each alone and all together (without cuda)"
bash scripts/check-features.sh cpu

step "clinfer wheel: maturin build --release, twine check, auditwheel, fresh-venv smoke test"
bash scripts/build-wheel.sh

step "python: pytest on the release wheel (notebook and README blocks included), mypy --strict, stubtest, API docs"
CLINFER_WHEEL="$(ls target/wheels/clinfer-*.whl)" bash scripts/python-tests.sh

step "cuda steps: waiting for the background job"
cuda_rc=0
wait "$CUDA_PID" || cuda_rc=$?
trap - EXIT
cat target/ci-cuda.log
[ "$cuda_rc" = 0 ] || { echo "cuda steps failed (rc=$cuda_rc)" >&2; exit "$cuda_rc"; }

step "done"
echo
echo "stage times:"
printf '%s\n' "${TIMES[@]}"
printf '%5ds  total\n' $((SECONDS - START))
echo "all checks passed"

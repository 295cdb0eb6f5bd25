#!/usr/bin/env bash
# Installs nvcc (Debian's non-free nvidia-cuda-toolkit, CUDA 11.8) so that the `cuda` feature can be
# compiled and linked on a machine without a GPU. Idempotent; needs root (CI runs as root).
set -euo pipefail
if command -v nvcc >/dev/null 2>&1; then
  exit 0
fi
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ] && ! grep -q 'non-free' "$src"; then
  sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$src"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
nvcc --version | tail -n 2

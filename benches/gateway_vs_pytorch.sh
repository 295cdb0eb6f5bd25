#!/usr/bin/env bash
# The study's comparison on one machine, one server at a time, the same load for each:
#   1. FastAPI calling PyTorch one request at a time (benches/fastapi_pytorch_baseline.py),
#   2. the clinfer FastAPI gateway (clinfer.gateway: JWT auth, PHI scrub, batching, audit),
#   3. the Rust axum_server example (PHI scrub and batching, no auth).
# Usage: benches/gateway_vs_pytorch.sh [MODEL_DIR]
# Environment: PY_TORCH (a python with torch, transformers, fastapi, uvicorn),
#   PY_CLINFER (a python with the clinfer wheel, fastapi, uvicorn, httpx, PyJWT, prometheus_client),
#   REQUESTS (2000), CONCURRENCY (64). Prints one markdown row per server and, for the
#   clinfer servers, the mean batch size read from their /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="$(realpath "${1:-models/clinfer-demo-sst2}")"
PY_TORCH="${PY_TORCH:-python3}"
PY_CLINFER="${PY_CLINFER:-target/pyenv/bin/python}"
REQUESTS="${REQUESTS:-2000}"
CONCURRENCY="${CONCURRENCY:-64}"
KEY="bench-only-hs256-key-0123456789abcdef0123"
LOGDIR="$(mktemp -d)"
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap stop EXIT

wait_up() {
  for _ in $(seq 1 600); do
    if curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "server on port $1 did not come up; its log:" >&2; cat "$LOGDIR"/*.log >&2; exit 1
}

# mean rows per forward pass, from the server's /metrics (warm-up requests included)
mean_batch() {
  curl -fs "http://127.0.0.1:$1/metrics" | awk '
    /^clinfer_batcher_batch_size_sum / { s = $2 } /^clinfer_batcher_batch_size_count / { c = $2 }
    END { if (c > 0) printf "  (%s: mean batch size %.1f rows over %d batches)\n", name, s / c, c }' name="$2"
}

load() {
  "$PY_CLINFER" benches/http_load.py --url "http://127.0.0.1:$1" --requests "$REQUESTS" \
    --concurrency "$CONCURRENCY" --row "$2" "${@:3}"
}

cargo build --release -q --example axum_server
echo "model: $MODEL; $REQUESTS requests, $CONCURRENCY concurrent clients; $(nproc) CPUs"
echo "| server | throughput | p50 | p95 | p99 | 200 OK |"
echo "|---|---:|---:|---:|---:|---:|"

CLINFER_MODEL_DIR="$MODEL" "$PY_TORCH" -m uvicorn fastapi_pytorch_baseline:app --app-dir benches \
  --port 8101 --log-level warning --no-access-log >"$LOGDIR/baseline.log" 2>&1 &
PID=$!; wait_up 8101
load 8101 "FastAPI + PyTorch, one request at a time"
stop

CLINFER_MODEL_DIR="$MODEL" CLINFER_JWT_HS256_KEY="$KEY" CLINFER_AUDIT_LOG="$LOGDIR/audit.jsonl" \
  "$PY_CLINFER" -m clinfer.gateway --port 8102 --metrics-port 0 \
  --log-level warning >"$LOGDIR/gateway.log" 2>&1 &
PID=$!; wait_up 8102
load 8102 "clinfer FastAPI gateway (JWT, PHI scrub, batching, audit log)" --hs256-key "$KEY"
mean_batch 8102 gateway
stop

target/release/examples/axum_server --model "$MODEL" --addr 127.0.0.1:8103 \
  >"$LOGDIR/axum.log" 2>&1 &
PID=$!; wait_up 8103
load 8103 "clinfer axum_server (Rust; PHI scrub, batching)"
mean_batch 8103 axum_server
stop
rm -rf "$LOGDIR"

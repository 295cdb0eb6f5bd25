"""FastAPI + ``clinfer.Pipeline``: the serving benchmark's in-process contender.

The same endpoint as the baseline (``POST /v1/classify`` with ``{"text": ...}``, answering
``{"label", "score", "logits"}``), but every request goes through the Pipeline: PHI scrub,
tokenization off the event loop, the dynamic batcher (max batch 32, max wait
``CLINFER_MAX_WAIT_MS``, default 0: greedy) and the
model in ``CLINFER_DTYPE`` (``auto``, ``f32``, ``bf16`` or ``int8``). Run with uvicorn:

    CLINFER_MODEL_DIR=DIR CLINFER_DTYPE=int8 python -m uvicorn fastapi_clinfer:app \\
        --app-dir benches/serving --port 8111
"""

from __future__ import annotations

import os
from typing import Any, Dict

from fastapi import FastAPI
from pydantic import BaseModel

import clinfer

MODEL_DIR = os.environ["CLINFER_MODEL_DIR"]
DTYPE = os.environ.get("CLINFER_DTYPE", "auto")
# 0: greedy dispatch, a batch takes what queued while the model was busy (measured best on
# the CPU: at one client a wait only adds latency, under load batches form anyway)
MAX_WAIT_MS = float(os.environ.get("CLINFER_MAX_WAIT_MS", "0"))

pipe = clinfer.Pipeline(MODEL_DIR, dtype=DTYPE, max_batch_size=32, max_wait_ms=MAX_WAIT_MS)
app = FastAPI(title=f"FastAPI + clinfer.Pipeline ({DTYPE})")


class ClassifyRequest(BaseModel):
    text: str


@app.post("/v1/classify")
async def classify(req: ClassifyRequest) -> Dict[str, Any]:
    c = await pipe.classify(req.text)
    return {"label": c.label, "score": c.score, "logits": list(c.logits)}


@app.get("/healthz")
@app.get("/readyz")
async def healthz() -> Dict[str, str]:
    return {"status": "ok", "dtype": pipe.dtype, "kernel": pipe.kernel}

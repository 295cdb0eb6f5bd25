"""The study's baseline for benches/README.md: FastAPI calling PyTorch one request at a time.

The same HF model directory clinfer serves, loaded with transformers in float32; each
``POST /v1/classify`` ``{"text": ...}`` tokenizes and runs one forward pass inside the async
handler, so requests are served one after another (no batching, no PHI scrubbing, no auth):

    python -m uvicorn fastapi_pytorch_baseline:app --app-dir benches --port 8001
    # model directory: CLINFER_MODEL_DIR (default: the bundled models/clinfer-demo-sst2)

Needs torch, transformers, fastapi and uvicorn (not installed by CI; benchmarks never run there).
"""

import os
from pathlib import Path
from typing import Any, Dict

import torch
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = os.environ.get("CLINFER_MODEL_DIR", str(ROOT / "models" / "clinfer-demo-sst2"))

torch.set_grad_enabled(False)
tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, dtype=torch.float32).eval()
labels = model.config.id2label

app = FastAPI(title="FastAPI + PyTorch baseline")


class ClassifyRequest(BaseModel):
    text: str


@app.post("/v1/classify")
async def classify(req: ClassifyRequest) -> Dict[str, Any]:
    enc = tokenizer(req.text, truncation=True, max_length=512, return_tensors="pt")
    logits = model(**enc).logits[0]
    probs = torch.softmax(logits, dim=-1)
    k = int(torch.argmax(probs))
    return {"label": labels[k], "score": float(probs[k]), "logits": logits.tolist()}


@app.get("/healthz")
@app.get("/readyz")
async def healthz() -> Dict[str, str]:
    return {"status": "ok"}

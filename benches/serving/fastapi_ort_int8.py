"""FastAPI + ONNX Runtime int8, one request per call: what a CPU user picks instead.

At start-up the model directory is exported to ONNX (``torch.onnx.export``, dynamic batch and
sequence axes) and quantized with ``onnxruntime.quantization.quantize_dynamic`` (QInt8
weights), cached under ``$CLINFER_ORT_CACHE`` (default: a ``.ort-cache`` folder next to the
model); then each request is tokenized and run on its own, inline, with
``intra_op_num_threads`` = the CPU count. Same endpoint and answer as the baseline:

    CLINFER_MODEL_DIR=DIR python -m uvicorn fastapi_ort_int8:app --app-dir benches/serving --port 8112
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import AutoTokenizer

MODEL_DIR = Path(os.environ["CLINFER_MODEL_DIR"])
CACHE = Path(os.environ.get("CLINFER_ORT_CACHE", str(MODEL_DIR / ".ort-cache")))


def quantized_model() -> Path:
    fp32, int8 = CACHE / "model.onnx", CACHE / "model.int8.onnx"
    if int8.exists():
        return int8
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification

    CACHE.mkdir(parents=True, exist_ok=True)
    model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, dtype=torch.float32).eval()
    ids = torch.ones((1, 8), dtype=torch.long)
    mask = torch.ones((1, 8), dtype=torch.long)
    torch.onnx.export(
        model,
        (ids, mask),
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "logits": {0: "b"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8


tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
options = ort.SessionOptions()
options.intra_op_num_threads = os.cpu_count() or 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(str(quantized_model()), options, providers=["CPUExecutionProvider"])
labels: Dict[int, str] = {0: "NEGATIVE", 1: "POSITIVE"}
try:
    import json

    labels = {int(k): v for k, v in json.loads((MODEL_DIR / "config.json").read_text())["id2label"].items()}
except (OSError, KeyError, ValueError):
    pass

app = FastAPI(title="FastAPI + ONNX Runtime int8")


class ClassifyRequest(BaseModel):
    text: str


@app.post("/v1/classify")
async def classify(req: ClassifyRequest) -> Dict[str, Any]:
    enc = tokenizer(req.text, truncation=True, max_length=512, return_tensors="np")
    (logits,) = session.run(
        ["logits"],
        {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)},
    )
    row = logits[0]
    e = np.exp(row - row.max())
    probs = e / e.sum()
    k = int(np.argmax(probs))
    return {"label": labels.get(k, str(k)), "score": float(probs[k]), "logits": row.tolist()}


@app.get("/healthz")
@app.get("/readyz")
async def healthz() -> Dict[str, str]:
    return {"status": "ok"}

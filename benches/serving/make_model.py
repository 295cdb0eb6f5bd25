"""Writes the serving benchmark's model: transformers' full-size DistilBERT shape
(``DistilBertForSequenceClassification(DistilBertConfig())``, 6 layers × 768, random weights,
seed 0) with the teacher model's ``tokenizer.json`` (the bert-base-uncased vocabulary).

    python benches/serving/make_model.py OUT_DIR   # in a venv with torch + transformers
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification

ROOT = Path(__file__).resolve().parents[2]
TEACHER = ROOT.parent / "shared" / "models" / "teacher-minilm-sst2"

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
config = DistilBertConfig(id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
DistilBertForSequenceClassification(config).eval().save_pretrained(out)
for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
    if (TEACHER / name).exists():
        shutil.copy(TEACHER / name, out / name)
print(out)

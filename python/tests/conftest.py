"""Shared fixtures: the SST-2 model and sentences from ../shared (skipped when absent, except
under CI, where the shared data is required and a missing file fails the test)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CANDIDATES = [ROOT / "models" / "clinfer-demo-sst2", SHARED / "models" / "teacher-minilm-sst2"]
IN_CI = os.environ.get("CI") in ("true", "1")


def _missing(reason: str) -> NoReturn:
    """Skips the test, or fails it under CI."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def _model_dir() -> Path | None:
    for c in CANDIDATES:
        if (c / "model.safetensors").exists() and (c / "tokenizer.json").exists():
            return c
    return None


@pytest.fixture(scope="session")
def model_dir() -> str:
    d = _model_dir()
    if d is None:
        _missing(f"no model found in {[str(c) for c in CANDIDATES]}")
    return str(d)


@pytest.fixture(scope="session")
def teacher() -> tuple[str, list[tuple[str, str, float, float]]]:
    """The teacher model's directory and (sentence, label, logit_0, logit_1) for dev sentences
    it is confident about."""
    model = SHARED / "models" / "teacher-minilm-sst2"
    dev = SHARED / "data" / "sst2" / "dev.tsv"
    preds = model / "sst2_dev_predictions.tsv"
    if not (model / "model.safetensors").exists() or not dev.exists() or not preds.exists():
        _missing("teacher model, its predictions or the SST-2 dev set are absent")
    with dev.open(newline="") as f:
        sentences = [r["sentence"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    out = []
    with preds.open(newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            l0, l1 = float(r["logit_0"]), float(r["logit_1"])
            if abs(l0 - l1) > 0.5:
                out.append((sentences[int(r["index"])], r["pred_label"], l0, l1))
            if len(out) == 12:
                break
    return str(model), out


@pytest.fixture(scope="session")
def classifier(model_dir: str) -> "object":
    import clinfer

    return clinfer.Classifier(model_dir)


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def expected_kernel(dtype: str) -> str:
    """The kernel a CPU model in ``dtype`` must report on this machine (the same run-time
    choice the Rust side makes from CPUID)."""
    flags = _cpu_flags()
    if dtype == "int8":
        if {"amx_int8", "amx_tile"} <= flags and "CLINFER_NO_AMX" not in os.environ:
            return "amx-int8"
        if {"avx512_vnni", "avx512bw", "avx512f"} <= flags:
            return "avx512-vnni"
        return "avx2" if {"avx2", "fma"} <= flags else "portable"
    if dtype == "bf16":
        return "avx512-bf16" if {"avx512_bf16", "avx512f"} <= flags else "bf16-emulated"
    if dtype == "f32":
        return "avx512-f32" if "avx512f" in flags else "gemm-f32"
    return "candle-cpu"

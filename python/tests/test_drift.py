"""Drift monitoring through the Python API: the contract other tools rely on, statistical
behaviour with fixed seeds, snapshots, and no PHI in any of it."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest

import clinfer

from conftest import SHARED, _missing

SIGNALS = {"label", "score", "length", "truncation", "unk", "embedding"}
CANARY = "Quillfeather"


def _sst2() -> list[str]:
    dev = SHARED / "data" / "sst2" / "dev.tsv"
    if not dev.exists():
        _missing(f"{dev} is absent")
    with dev.open(newline="") as f:
        return [r["sentence"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def _notes(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    first = ["Maria", "John", "Aisha", "Peter", CANARY]
    return [
        f"Pt {rng.choice(first)} {CANARY} admitted {rng.randint(1, 12)}/{rng.randint(1, 28)}/2023 "
        f"from Mercy General; daughter called at 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}. "
        f"BP {rng.randint(100, 160)}/{rng.randint(60, 95)}, HR {rng.randint(60, 110)}. "
        "Plan: continue current regimen, reassess in AM."
        for _ in range(n)
    ]


def test_contract_defaults_and_off(model_dir: str) -> None:
    with clinfer.Pipeline(model_dir, drift_reference_size=20, drift_window=20) as pipe:
        r = pipe.drift()
        assert isinstance(r, clinfer.DriftReport)
        assert r.state == "warming_up" and r.requests == 0
        assert SIGNALS <= set(r.signals) and "phi_NAME" in r.signals
        s = r.signals["label"]
        assert isinstance(s, clinfer.DriftSignal)
        assert (s.warn, s.alert) == (0.1, 0.25) and s.state == "warming_up" and math.isnan(s.value)
        with pytest.raises(clinfer.ConfigError):
            pipe.save_drift_reference("/nonexistent/never.json")
    with clinfer.Pipeline(model_dir, drift=False) as pipe:
        assert pipe.drift() is None
        assert "clinfer_drift_" not in pipe.metrics()
    with pytest.raises(clinfer.ConfigError):
        clinfer.Pipeline(model_dir, drift_window=3)


def test_disjoint_sst2_samples_stay_below_alert(model_dir: str) -> None:
    sentences = _sst2()
    random.Random(7).shuffle(sentences)
    ref, cur = sentences[:400], sentences[400:800]
    with clinfer.Pipeline(model_dir, drift_reference_size=400, drift_window=400) as pipe:
        for t in ref + cur:
            pipe.classify_blocking(t)
        r = pipe.drift()
        assert r is not None and r.reference_source == "frozen" and r.reference_requests == 400
        assert 360 <= r.requests <= 400
        for name, s in r.signals.items():
            assert s.state != "alert", (name, s.value)
        assert r.state in ("ok", "warn")


def test_clinical_notes_against_sst2_alert_where_they_should(model_dir: str, tmp_path: Path) -> None:
    sentences = _sst2()
    random.Random(11).shuffle(sentences)
    with clinfer.Pipeline(model_dir, drift_window=200) as pipe:
        assert pipe.fit_drift_reference(sentences[:400]) == 400
        for t in _notes(200, seed=3):
            pipe.classify_blocking(t)
        r = pipe.drift()
        assert r is not None and r.reference_source == "sample" and r.state == "alert"
        for moved in ("phi_NAME", "phi_DATE", "phi_PHONE", "length"):
            assert r.signals[moved].state == "alert", (moved, r.signals[moved].value)
        # inputs of a few dozen tokens are not truncated in either sample
        assert r.signals["truncation"].state == "ok"
        path = tmp_path / "drift_reference.json"
        pipe.save_drift_reference(path)
        snap = json.loads(path.read_text())
        assert snap["format"] == "clinfer-drift-reference" and snap["format_version"] == 1
        texts = [path.read_text(), pipe.metrics(), repr(r), repr(list(r.signals.items()))]
        for text in texts:
            assert CANARY not in text and "555-" not in text
    # the snapshot gives a new pipeline the same reference
    with clinfer.Pipeline(model_dir, drift_window=200, drift_reference=path) as again:
        r = again.drift()
        assert r is not None and r.reference_source == "snapshot" and r.reference_requests == 400
        for t in _notes(200, seed=4):
            again.classify_blocking(t)
        assert again.drift().signals["phi_NAME"].state == "alert"  # type: ignore[union-attr]
    path.write_text('{"format": "clinfer-drift-reference", "format_version": 99}')
    with pytest.raises(clinfer.ConfigError):
        clinfer.Pipeline(model_dir, drift_reference=path)

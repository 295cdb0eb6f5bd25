"""clinfer.Classifier against the teacher's own predictions on SST-2."""

from __future__ import annotations

import math

import pytest

import clinfer
from conftest import expected_kernel


def test_predictions_match_teacher(teacher: tuple[str, list[tuple[str, str, float, float]]]) -> None:
    model, rows = teacher
    preds = clinfer.Classifier(model).predict([t[0] for t in rows])
    assert len(preds) == len(rows) == 12
    for p, (_, label, l0, l1) in zip(preds, rows):
        assert p.label == label
        assert p.logits == pytest.approx([l0, l1], abs=1e-3)
        expected = 1.0 / (1.0 + math.exp(-abs(l0 - l1)))
        assert p.score == pytest.approx(expected, abs=1e-3)


def test_labels_and_order(classifier: clinfer.Classifier) -> None:
    assert classifier.labels == ["NEGATIVE", "POSITIVE"]
    texts = ["a warm , funny and moving film", "a tedious , joyless mess"]
    one_by_one = [classifier.predict([t])[0].label for t in texts]
    assert [p.label for p in classifier.predict(texts)] == one_by_one
    assert classifier.predict(()) == []


def test_missing_model_raises_model_load_error(tmp_path: object) -> None:
    with pytest.raises(clinfer.ModelLoadError):
        clinfer.Classifier(str(tmp_path))
    with pytest.raises(clinfer.ClinferError):
        clinfer.Classifier("/nonexistent/clinfer-model")


def test_bad_device(model_dir: str) -> None:
    with pytest.raises(clinfer.ClinferError):
        clinfer.Classifier(model_dir, device="tpu")


@pytest.mark.parametrize("dtype", ["auto", "f32", "f16", "bf16", "int8"])
def test_every_dtype_runs_and_says_what_ran(model_dir: str, dtype: str) -> None:
    c = clinfer.Classifier(model_dir, dtype=dtype)
    assert c.dtype == ("f32" if dtype == "auto" else dtype)
    assert c.kernel == expected_kernel(c.dtype)
    base = clinfer.Classifier(model_dir).predict(["a warm , funny and moving film"])[0]
    got = c.predict(["a warm , funny and moving film"])[0]
    assert got.label == base.label
    assert got.logits == pytest.approx(base.logits, abs=0.5)


def test_unknown_dtype_is_a_clear_error(model_dir: str) -> None:
    with pytest.raises(clinfer.ClinferError, match="int8"):
        clinfer.Classifier(model_dir, dtype="int4")
    with pytest.raises(clinfer.ClinferError, match="int8"):
        clinfer.Pipeline(model_dir, dtype="fp8")

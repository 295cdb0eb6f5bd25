"""Bad input from Python raises InvalidInput or TypeError, never crashes."""

from __future__ import annotations

from typing import Any

import pytest

import clinfer

LONE_SURROGATE = "abc \ud800 def"


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a list"]])
def test_non_str_text_is_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="must be str"):
        clinfer.Scrubber().analyze(bad)
    with pytest.raises(TypeError, match="must be str"):
        clinfer.Scrubber().redact(bad)


def test_lone_surrogate_is_invalid_input() -> None:
    with pytest.raises(clinfer.InvalidInput, match="surrogate"):
        clinfer.Scrubber().analyze(LONE_SURROGATE)


def test_huge_text_is_invalid_input() -> None:
    with pytest.raises(clinfer.InvalidInput):
        clinfer.Scrubber().analyze("a" * (11 << 20))


def test_classifier_bad_inputs(classifier: clinfer.Classifier) -> None:
    with pytest.raises(TypeError, match="single str"):
        classifier.predict("not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        classifier.predict(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
        classifier.predict(["ok", 5])  # type: ignore[list-item]
    with pytest.raises(clinfer.InvalidInput, match="surrogate"):
        classifier.predict([LONE_SURROGATE])
    with pytest.raises(clinfer.InvalidInput):
        classifier.predict(["a" * (5 << 20)])
    with pytest.raises(clinfer.InvalidInput):
        classifier.predict([""])


def test_wrong_option_types(model_dir: str) -> None:
    with pytest.raises(TypeError):
        clinfer.Classifier(model_dir, max_length="long")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        clinfer.Classifier(model_dir, device=0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        clinfer.Classifier(model_dir, max_length=-1)


def test_exception_hierarchy() -> None:
    for exc in (
        clinfer.Overloaded,
        clinfer.DeadlineExceeded,
        clinfer.ShuttingDown,
        clinfer.InvalidInput,
        clinfer.ModelLoadError,
    ):
        assert issubclass(exc, clinfer.ClinferError)
    assert issubclass(clinfer.ClinferError, Exception)


def test_messages_hold_no_text() -> None:
    canary = "Zebediah Quartermaine MRN 99887766 "
    with pytest.raises(clinfer.InvalidInput) as info:
        clinfer.Scrubber().analyze(canary * ((11 << 20) // len(canary)))
    assert "Zebediah" not in str(info.value) and "99887766" not in str(info.value)

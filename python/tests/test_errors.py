"""Bad input from Python raises InvalidInput, ConfigError, ValueError or TypeError, never
crashes; exceptions carry their kind and status and survive pickling."""

from __future__ import annotations

import asyncio
import pickle
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
        clinfer.ConfigError,
        clinfer.ModelLoadError,
    ):
        assert issubclass(exc, clinfer.ClinferError)
        assert exc.__module__ == "clinfer", "pickle finds the class by its module"
    assert issubclass(clinfer.ClinferError, Exception)


# The facade's one table (clinfer::ErrorKind::http_status), seen from Python.
TABLE = [
    (clinfer.Overloaded, "overloaded", 429, 429),
    (clinfer.DeadlineExceeded, "deadline_exceeded", 504, 504),
    (clinfer.ShuttingDown, "shutting_down", 503, 503),
    (clinfer.InvalidInput, "invalid_input", 422, 400),
    (clinfer.ConfigError, "config", 500, 500),
    (clinfer.ModelLoadError, "model_load", 500, 500),
    (clinfer.ClinferError, "internal", 500, 500),
]


@pytest.mark.parametrize("exc,kind,v1,oip", TABLE)
def test_every_class_carries_its_kind_and_statuses(
    exc: type[clinfer.ClinferError], kind: str, v1: int, oip: int
) -> None:
    assert (exc.kind, exc.http_status, exc.oip_status) == (kind, v1, oip)
    e = exc("a message")
    assert (e.kind, e.http_status) == (kind, v1), "instances made in Python get the defaults"
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is exc and str(back) == "a message"


def test_raised_errors_carry_attributes_and_pickle() -> None:
    with pytest.raises(clinfer.InvalidInput) as info:
        clinfer.Scrubber().analyze("a" * (11 << 20))
    e = info.value
    assert (e.kind, e.http_status, e.oip_status, e.index) == ("invalid_input", 422, 400, None)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is clinfer.InvalidInput
    assert (back.kind, back.http_status, str(back)) == (e.kind, e.http_status, str(e))
    with pytest.raises(clinfer.ConfigError) as cinfo:
        clinfer.Scrubber().redact("x", {"NAME": "shred"})
    assert (cinfo.value.kind, cinfo.value.http_status) == ("config", 500)


def test_many_text_errors_name_the_index(model_dir: str) -> None:
    p = clinfer.Pipeline(model_dir, scrub=False)
    try:
        with pytest.raises(clinfer.InvalidInput) as info:
            asyncio.run(p.classify_many(["a fine film", "   "]))
        assert info.value.index == 1
        assert "text 1" in str(info.value) and "input 0" not in str(info.value)
        assert pickle.loads(pickle.dumps(info.value)).index == 1
    finally:
        p.close()


@pytest.mark.parametrize(
    "option,value",
    [
        ("max_batch_size", 0),
        ("queue_capacity", 0),
        ("max_wait_ms", 1e300),
        ("max_wait_ms", -1.0),
        ("max_wait_ms", float("nan")),
    ],
)
def test_pipeline_options_out_of_range_are_value_errors(
    model_dir: str, option: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=option):
        clinfer.Pipeline(model_dir, **{option: value})


def test_call_options_out_of_range_are_value_errors(model_dir: str) -> None:
    p = clinfer.Pipeline(model_dir, scrub=False)
    try:
        for priority in (3, 255, -1, 2**70):
            with pytest.raises((ValueError, OverflowError), match="priority|int"):
                p.classify_blocking("a fine film", priority=priority)
        with pytest.raises(ValueError, match="priority"):
            p.classify_blocking("a fine film", priority=3)
        with pytest.raises(ValueError, match="deadline_ms"):
            p.classify_blocking("a fine film", deadline_ms=float("inf"))
        assert p.classify_blocking("a fine film", deadline_ms=1e300, priority=2).label
        with pytest.raises(TypeError, match="callable"):
            p._native.submit("hi", 42)  # type: ignore[attr-defined]
    finally:
        p.close()


def test_text_lists_must_be_sequences_of_str(classifier: clinfer.Classifier) -> None:
    with pytest.raises(TypeError, match="single bytes"):
        classifier.predict(b"abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not dict"):
        classifier.predict({"a fine film": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not set"):
        classifier.predict({"a fine film"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not generator"):
        classifier.predict(t for t in ["a fine film"])  # type: ignore[arg-type]
    assert len(classifier.predict(("a fine film", "a dull film"))) == 2


def test_messages_hold_no_text() -> None:
    canary = "Zebediah Quartermaine MRN 99887766 "
    with pytest.raises(clinfer.InvalidInput) as info:
        clinfer.Scrubber().analyze(canary * ((11 << 20) // len(canary)))
    assert "Zebediah" not in str(info.value) and "99887766" not in str(info.value)

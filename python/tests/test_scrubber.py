"""clinfer.Scrubber: spans in Python string offsets, redaction, options."""

from __future__ import annotations

import pytest

import clinfer


def test_offsets_are_code_points_on_non_ascii_text() -> None:
    text = "Ünïcødé 🩺 naïve café — call 555-201-3344 or mail jose@example.org, ñandú today."
    spans = clinfer.Scrubber().analyze(text)
    by_kind = {s.kind: text[s.start : s.end] for s in spans}
    assert by_kind["PHONE"] == "555-201-3344"
    assert by_kind["EMAIL"] == "jose@example.org"
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert 0.0 <= s.score <= 1.0


def test_redact_default_and_operators() -> None:
    s = clinfer.Scrubber()
    note = "Seen by Dr. Alvarez on 03/14/2023. Call 555-201-3344."
    out = s.redact(note)
    assert "555-201-3344" not in out.text and "[PHONE]" in out.text
    assert "Alvarez" not in out.text
    assert {sp.kind for sp in out.spans} >= {"NAME", "DATE", "PHONE"}
    kept = s.redact(note, {"default": "keep"})
    assert kept.text == note
    masked = s.redact(note, {"PHONE": "mask", "default": "tag"})
    assert "************" in masked.text


def test_allow_and_deny() -> None:
    text = "Patient reports Zorblax helped."
    assert not any(sp.kind == "NAME" for sp in clinfer.Scrubber().analyze(text))
    denied = clinfer.Scrubber(deny={"NAME": ["Zorblax"]}).analyze(text)
    assert [(text[d.start : d.end], d.kind) for d in denied] == [("Zorblax", "NAME")]
    note = "Seen by Dr. Alvarez."
    assert not clinfer.Scrubber(allow=["Alvarez"]).analyze(note) or all(
        note[sp.start : sp.end] != "Alvarez" for sp in clinfer.Scrubber(allow=["Alvarez"]).analyze(note)
    )


def test_bad_options() -> None:
    with pytest.raises(clinfer.ConfigError):
        clinfer.Scrubber(deny={"PATIENT": ["x"]})
    with pytest.raises(clinfer.ConfigError):
        clinfer.Scrubber().redact("x", {"NAME": "shred"})
    with pytest.raises(clinfer.ConfigError, match="needs a key"):
        clinfer.Scrubber().redact("x", {"NAME": "surrogate"})


def test_mask_uses_its_character() -> None:
    s = clinfer.Scrubber()
    assert s.redact("Call 617-555-0143.", {"default": "mask:#"}).text == "Call ############."
    assert s.redact("Call 617-555-0143.", {"default": "mask"}).text == "Call ************."
    with pytest.raises(TypeError):
        clinfer.Scrubber(allow="Alvarez")
    with pytest.raises(TypeError):
        clinfer.Scrubber().redact("x", {"NAME": 3})  # type: ignore[dict-item]

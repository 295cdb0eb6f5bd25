//! Property tests: span invariants on arbitrary Unicode and on generated clinical notes,
//! redaction never leaks generated PHI, determinism across runs and threads.

#[path = "support/synth.rs"]
mod synth;

use std::sync::OnceLock;

use clinfer_phi::{char_offsets, Operator, Operators, Scrubber, Span};
use proptest::prelude::*;

fn scrubber() -> &'static Scrubber {
    static S: OnceLock<Scrubber> = OnceLock::new();
    S.get_or_init(|| {
        Scrubber::builder()
            .build()
            .expect("default scrubber builds")
    })
}

fn check_invariants(text: &str, spans: &[Span]) {
    let mut last_end = 0;
    for s in spans {
        assert!(s.start < s.end, "empty span");
        assert!(s.end <= text.len(), "span out of bounds");
        assert!(s.start >= last_end, "spans overlap or are unsorted");
        assert!(
            text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
            "not on char boundary"
        );
        last_end = s.end;
    }
    // char offsets agree with a naive conversion
    let chars = char_offsets(text, spans);
    for (s, c) in spans.iter().zip(&chars) {
        assert_eq!(c.start, text[..s.start].chars().count());
        assert_eq!(c.end, text[..s.end].chars().count());
        assert_eq!(&s.char_range(text), c);
    }
}

fn clinical_fragment() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "Dr. ",
        "Smith",
        "John",
        "Hope",
        "01/02/2023",
        "Jan 3rd",
        "120/80",
        "MRN: ",
        "123-45-6789",
        "555-123-4567",
        " ",
        "\n",
        ", ",
        ". ",
        "é",
        "👩‍⚕️",
        "\u{0301}",
        "\u{202E}",
        "\0",
        "ß",
        "Parkinson's",
        "St. ",
        "Mt. ",
        "#",
        "@",
        "x",
        "1",
        "/",
        "-",
        "'",
        "’",
        ":",
        "Hospital",
        "Medical Center",
        "MD",
        "RN",
        "92 yo",
        "P.O. Box ",
        "fe80::1",
        "www.",
        ".com",
        "日本語",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>()) {
        let spans = scrubber().analyze(&text).expect("small input");
        check_invariants(&text, &spans);
        let r = scrubber().redact(&text, &Operators::tag()).expect("small input");
        prop_assert_eq!(r.spans.len(), r.replaced.len());
    }

    #[test]
    fn clinical_fragments_keep_invariants(text in clinical_fragment()) {
        let spans = scrubber().analyze(&text).expect("small input");
        check_invariants(&text, &spans);
        let ops = Operators::builder()
            .key("property-test-key-0123456789")
            .default_operator(Operator::Surrogate)
            .kind(clinfer_phi::Kind::Name, Operator::Mask('*'))
            .build()
            .expect("valid operators");
        let r = scrubber().redact(&text, &ops).expect("small input");
        for (s, out) in r.spans.iter().zip(&r.replaced) {
            prop_assert!(out.end <= r.text.len());
            if s.kind == clinfer_phi::Kind::Name {
                prop_assert_eq!(r.text[out.clone()].chars().count(), text[s.start..s.end].chars().count());
            }
        }
    }

    #[test]
    fn generated_notes_never_leak(seed in any::<u64>()) {
        let note = synth::note(seed);
        let spans = scrubber().analyze(&note.text).expect("small input");
        check_invariants(&note.text, &spans);
        let r = scrubber().redact(&note.text, &Operators::tag()).expect("small input");
        for g in &note.gold {
            let v = &note.text[g.start..g.end];
            // every gold value is touched by a span...
            prop_assert!(spans.iter().any(|s| s.start < g.end && g.start < s.end), "missed {:?} ({})", g.kind, v.len());
            // ...and longer values never survive verbatim in the output
            if v.len() >= 6 {
                prop_assert!(!r.text.contains(v), "{} value survived redaction", g.kind);
            }
        }
    }
}

#[test]
fn deterministic_across_threads() {
    let notes = synth::notes(7, 64);
    let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
    let serial: Vec<Vec<Span>> = texts
        .iter()
        .map(|t| scrubber().analyze(t).expect("small"))
        .collect();
    let parallel: Vec<Vec<Span>> = scrubber()
        .analyze_batch(&texts)
        .into_iter()
        .map(|r| r.expect("small"))
        .collect();
    assert_eq!(serial, parallel);
    let fresh = Scrubber::builder().build().expect("builds");
    let again: Vec<Vec<Span>> = texts
        .iter()
        .map(|t| fresh.analyze(t).expect("small"))
        .collect();
    assert_eq!(serial, again);
}

/// A fixed sweep over many more generated notes than the property runs, so that a rare
/// note shape (a surname that only the document context marks as a name) is found in every run.
#[test]
fn generated_notes_never_leak_sweep() {
    let mut failures = Vec::new();
    // seeds that once leaked (a surname tagged after "Dr." but missed in "Lindqvist, Priya, MD")
    let known = [
        9_209_452_841_320_934_821,
        8_173_864_766_719_875_210,
        2_520_231_623_234_906_395,
        16_592_380_967_339_405_015,
        15_449_801_998_158_210_847,
    ];
    let swept = (0..3000u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for seed in known.into_iter().chain(swept) {
        let note = synth::note(seed);
        let spans = scrubber().analyze(&note.text).expect("small input");
        let r = scrubber()
            .redact(&note.text, &Operators::tag())
            .expect("small input");
        for g in &note.gold {
            let v = &note.text[g.start..g.end];
            let touched = spans.iter().any(|s| s.start < g.end && g.start < s.end);
            if !touched || (v.len() >= 6 && r.text.contains(v)) {
                failures.push((seed, g.kind));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} leaks: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

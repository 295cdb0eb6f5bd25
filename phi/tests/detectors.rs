//! Table-driven detector tests: every file in `tests/cases/*.json` is a list of cases
//! `{name, input, expected: [[text, KIND]], absent: [text], note}`. An expected text (its
//! first occurrence in the input) must be exactly one span of that kind: same kind, same start,
//! same end; an absent text must be in the input and not overlapped by any span. A text that
//! is not in its input is an error in the case file. `regressions.json` grows with every bug.

use std::path::Path;

use clinfer_phi::{Kind, Scrubber};

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    input: String,
    expected: Vec<(String, String)>,
    absent: Vec<String>,
    note: String,
}

fn run_file(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(file);
    let raw = std::fs::read_to_string(&path).expect("case file exists");
    let cases: Vec<Case> = serde_json::from_str(&raw).expect("case file is valid JSON");
    let s = Scrubber::builder()
        .build()
        .expect("default scrubber builds");
    let mut failures = Vec::new();
    for c in &cases {
        let spans = s.analyze(&c.input).expect("small input");
        for (text, kind) in &c.expected {
            let kind: Kind = kind.parse().expect("valid kind name in case file");
            let Some(at) = c.input.find(text.as_str()) else {
                failures.push(format!("{}: expected text {text:?} not in input", c.name));
                continue;
            };
            let end = at + text.len();
            let ok = spans
                .iter()
                .any(|sp| sp.start == at && sp.end == end && sp.kind == kind);
            if !ok {
                let got: Vec<String> = spans
                    .iter()
                    .map(|sp| format!("{}={:?}", sp.kind, &c.input[sp.start..sp.end]))
                    .collect();
                failures.push(format!(
                    "{}: missing {kind} {text:?}; got {got:?} ({})",
                    c.name, c.note
                ));
            }
        }
        for text in &c.absent {
            let Some(at) = c.input.find(text.as_str()) else {
                failures.push(format!("{}: absent text {text:?} not in input", c.name));
                continue;
            };
            let end = at + text.len();
            if let Some(sp) = spans.iter().find(|sp| sp.start < end && at < sp.end) {
                failures.push(format!(
                    "{}: {text:?} flagged as {} ({})",
                    c.name, sp.kind, c.note
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing case checks in {file}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn names() {
    run_file("names.json");
}

#[test]
fn dates() {
    run_file("dates.json");
}

#[test]
fn contact_and_ids() {
    run_file("contact_ids.json");
}

#[test]
fn places() {
    run_file("places.json");
}

#[test]
fn regressions() {
    run_file("regressions.json");
}

/// Years in a history list are reported only with `bare_years(true)`; heights, lengths and
/// clock times that share their shape never are.
#[test]
fn history_years_only_when_asked() {
    let text = "PMH: CVA 81', S/P MI 1994; CABG '97, HTN.\nHt 5'10\", line 12'6\" long, \
                meds given at 1900.";
    let years = ["81", "1994", "'97"];
    let not_years = ["5'10", "12'6", "1900"];
    let with = Scrubber::builder()
        .bare_years(true)
        .build()
        .expect("scrubber builds");
    let spans = with.analyze(text).expect("small input");
    let dated: Vec<&str> = spans
        .iter()
        .filter(|s| s.kind == Kind::Date)
        .map(|s| &text[s.start..s.end])
        .collect();
    for y in years {
        assert!(dated.contains(&y), "{y} not reported as a year: {dated:?}");
    }
    for n in not_years {
        let at = text.find(n).expect("in text");
        assert!(
            !spans.iter().any(|s| s.start < at + n.len() && at < s.end),
            "{n} reported: {dated:?}"
        );
    }
    let default = Scrubber::builder().build().expect("scrubber builds");
    let spans = default.analyze(text).expect("small input");
    assert!(
        spans.iter().all(|s| s.kind != Kind::Date),
        "the default reports no bare year"
    );
}

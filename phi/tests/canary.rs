//! PHI canaries: values given to the scrubber never appear in errors, `Debug` output or
//! audits.

use clinfer_phi::{Error, Kind, Operator, Operators, Scrubber};

const CANARY_NAME: &str = "Canaryfirst Canarylast";
const CANARY_MRN: &str = "CANARY-998877";
const CANARY_KEY: &str = "canary-secret-key-0123456789";

fn assert_clean(s: &str) {
    for c in [
        CANARY_NAME,
        "Canaryfirst",
        "Canarylast",
        CANARY_MRN,
        CANARY_KEY,
        "canary-patient",
    ] {
        assert!(!s.contains(c), "canary {c:?} leaked into {s:?}");
    }
}

#[test]
fn builder_and_scrubber_debug_hide_identifiers() {
    let b = Scrubber::builder()
        .known(CANARY_NAME, Kind::Name)
        .known(CANARY_MRN, Kind::Mrn)
        .deny([CANARY_NAME], Kind::Name)
        .allow([CANARY_MRN])
        .pattern(CANARY_MRN, Kind::Mrn);
    assert_clean(&format!("{b:?}"));
    let s = b.build().unwrap();
    assert_clean(&format!("{s:?}"));
}

#[test]
fn operators_debug_hides_key_and_patient() {
    let ops = Operators::builder()
        .key(CANARY_KEY)
        .patient("canary-patient")
        .default_operator(Operator::Pseudonym)
        .build()
        .unwrap();
    assert_clean(&format!("{ops:?}"));
}

#[test]
fn errors_never_echo_input() {
    let s = Scrubber::builder().max_input_bytes(8).build().unwrap();
    let text = format!("{CANARY_NAME} {CANARY_MRN}");
    let e = s.analyze(&text).unwrap_err();
    assert_clean(&e.to_string());
    assert_clean(&format!("{e:?}"));
    let e = Scrubber::builder()
        .pattern(format!("({CANARY_MRN}"), Kind::Mrn)
        .build()
        .unwrap_err();
    assert_clean(&e.to_string());
    assert_clean(&format!("{e:?}"));
    let e = Scrubber::builder()
        .allow([CANARY_NAME.repeat(100)])
        .build()
        .unwrap_err();
    assert_clean(&e.to_string());
    let e: Error = CANARY_NAME.parse::<Kind>().unwrap_err();
    assert_clean(&e.to_string());
}

#[test]
fn spans_and_audits_hold_no_text() {
    let s = Scrubber::builder()
        .known(CANARY_NAME, Kind::Name)
        .build()
        .unwrap();
    let text = format!("Patient {CANARY_NAME}, MRN {CANARY_MRN}.");
    let r = s.redact(&text, &Operators::tag()).unwrap();
    assert_clean(&r.text);
    assert_clean(&format!("{:?}", r.spans));
    assert_clean(&format!("{:?}", r.audit));
}

//! Operator behaviour: tags, masks, pseudonyms, surrogates, date shifts, year-only, audit.

use clinfer_phi::{Error, Kind, Operator, Operators, Scrubber};

const KEY: &str = "0123456789abcdef-test-key";

fn scrubber() -> Scrubber {
    Scrubber::builder()
        .build()
        .expect("default scrubber builds")
}

#[test]
fn tag_remove_mask() {
    let s = scrubber();
    let text = "Call 617-555-0143 on 03/14/2023.";
    assert_eq!(
        s.redact(text, &Operators::tag()).unwrap().text,
        "Call [PHONE] on [DATE]."
    );
    let ops = Operators::builder()
        .default_operator(Operator::Remove)
        .build()
        .unwrap();
    assert_eq!(s.redact(text, &ops).unwrap().text, "Call  on .");
    let ops = Operators::builder()
        .default_operator(Operator::Mask('#'))
        .build()
        .unwrap();
    assert_eq!(
        s.redact(text, &ops).unwrap().text,
        "Call ############ on ##########."
    );
}

#[test]
fn pseudonyms_are_stable_and_keyed() {
    let s = scrubber();
    let ops = Operators::builder()
        .key(KEY)
        .default_operator(Operator::Pseudonym)
        .build()
        .unwrap();
    let a = s.redact("Seen by Dr. Okafor.", &ops).unwrap().text;
    let b = s.redact("Dr. Okafor called back.", &ops).unwrap().text;
    let token = a
        .split_whitespace()
        .find(|w| w.starts_with("NAME_"))
        .unwrap()
        .trim_end_matches('.');
    assert!(b.contains(token), "same value, same key, same token");
    let other = Operators::builder()
        .key("another-key-0123456789")
        .default_operator(Operator::Pseudonym)
        .build()
        .unwrap();
    let c = s.redact("Seen by Dr. Okafor.", &other).unwrap().text;
    assert_ne!(a, c, "a different key gives a different token");
}

#[test]
fn surrogates_are_consistent() {
    let s = scrubber();
    let ops = Operators::builder()
        .key(KEY)
        .default_operator(Operator::Surrogate)
        .build()
        .unwrap();
    let text = "Dr. Okafor saw the patient. Dr. Okafor called 617-555-0143.";
    let r = s.redact(text, &ops).unwrap();
    assert!(!r.text.contains("Okafor") && !r.text.contains("617-555-0143"));
    let names: Vec<&str> = r
        .spans
        .iter()
        .zip(&r.replaced)
        .filter(|(sp, _)| sp.kind == Kind::Name)
        .map(|(_, o)| &r.text[o.clone()])
        .collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], names[1]);
}

#[test]
fn date_shift_keeps_intervals() {
    let s = scrubber();
    let ops = Operators::builder()
        .key(KEY)
        .kind(Kind::Date, Operator::DateShift)
        .patient("p-1")
        .build()
        .unwrap();
    let r = s
        .redact("Admitted 03/01/2021, discharged 03/11/2021.", &ops)
        .unwrap();
    let dates: Vec<&str> = r.replaced.iter().map(|o| &r.text[o.clone()]).collect();
    assert_eq!(dates.len(), 2);
    let parse = |d: &str| {
        let p: Vec<i64> = d.split('/').map(|x| x.parse().unwrap()).collect();
        (p[2], p[0], p[1])
    };
    let (a, b) = (parse(dates[0]), parse(dates[1]));
    let days = |(y, m, d): (i64, i64, i64)| y * 372 + m * 31 + d; // monotone, exact within a month span
    assert!(days(b) > days(a));
    assert_ne!(dates[0], "03/01/2021");
    let shift = ops.shift_days();
    assert!(shift != 0 && shift.abs() <= 365);
    assert_eq!(ops.for_patient("p-1").shift_days(), shift);
    // another patient usually gets another offset; same patient always the same
    assert_eq!(
        ops.for_patient("p-2").shift_days(),
        ops.for_patient("p-2").shift_days()
    );
}

#[test]
fn year_only() {
    let s = scrubber();
    let ops = Operators::builder()
        .kind(Kind::Date, Operator::YearOnly)
        .build()
        .unwrap();
    let r = s
        .redact("Seen March 5th, 2021 and on Christmas Eve.", &ops)
        .unwrap();
    assert_eq!(r.text, "Seen 2021 and on [DATE].");
}

#[test]
fn audit_counts_without_values() {
    let s = scrubber();
    let r = s
        .redact("Dr. Okafor and Dr. Ng on 01/02/2020.", &Operators::tag())
        .unwrap();
    assert_eq!(r.audit.counts.get(&Kind::Name), Some(&2));
    assert_eq!(r.audit.counts.get(&Kind::Date), Some(&1));
    assert_eq!(r.audit.total, 3);
    let json = serde_json::to_string(&r.audit).unwrap();
    assert!(!json.contains("Okafor") && !json.contains("2020"));
}

#[test]
fn keyed_operators_need_a_key() {
    let e = Operators::builder()
        .default_operator(Operator::Pseudonym)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::MissingKey { .. }));
    let e = Operators::builder()
        .key("short")
        .default_operator(Operator::Pseudonym)
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
}

#[test]
fn caller_lists_and_known_identifiers() {
    let s = Scrubber::builder()
        .known("Zyxwv Qrstu", Kind::Name)
        .known("A-77-B", Kind::Mrn)
        .deny(["Project Nightingale"], Kind::Organization)
        .allow(["Okafor"])
        .build()
        .unwrap();
    let r = s
        .redact(
            "zyxwv qrstu (A-77-B) joined Project Nightingale; Mr. Qrstu agreed. Dr. Okafor.",
            &Operators::tag(),
        )
        .unwrap();
    assert_eq!(
        r.text,
        "[NAME] ([MRN]) joined [ORGANIZATION]; Mr. [NAME] agreed. Dr. Okafor."
    );
}

#[test]
fn size_limit_is_an_error() {
    let s = Scrubber::builder().max_input_bytes(16).build().unwrap();
    let e = s
        .analyze("this text is longer than sixteen bytes")
        .unwrap_err();
    assert_eq!(e, Error::InputTooLarge { len: 38, limit: 16 });
    assert!(s.analyze("short").is_ok());
    assert!(Scrubber::builder().max_input_bytes(0).build().is_err());
    assert!(matches!(
        Scrubber::builder().pattern("(unclosed", Kind::Id).build(),
        Err(Error::BadPattern { index: 0 })
    ));
    assert!(matches!(
        Scrubber::builder().allow([""]).build(),
        Err(Error::BadTerm { .. })
    ));
}

#[test]
fn custom_pattern() {
    let s = Scrubber::builder()
        .pattern(r"\bSTUDY-\d{3}\b", Kind::Id)
        .build()
        .unwrap();
    let r = s
        .redact("Enrolled as STUDY-042.", &Operators::tag())
        .unwrap();
    assert_eq!(r.text, "Enrolled as [ID].");
}

#[test]
fn large_and_odd_inputs() {
    let s = scrubber();
    let mut big = String::new();
    while big.len() < 10 * 1024 * 1024 - 200 {
        big.push_str("Pt seen by Dr. Okafor on 01/02/2020. 👩‍⚕️ e\u{0301} \u{202E}עברית\0 ");
    }
    let spans = s.analyze(&big).unwrap();
    assert!(spans.len() > 1000);
    big.push_str(&"x".repeat(400));
    assert!(matches!(s.analyze(&big), Err(Error::InputTooLarge { .. })));
}

#[test]
fn operator_names_parse_and_print_back() {
    for (name, op) in [
        ("tag", Operator::Tag),
        ("REMOVE", Operator::Remove),
        ("mask", Operator::Mask('*')),
        ("mask:#", Operator::Mask('#')),
        ("Mask:é", Operator::Mask('é')),
        ("pseudonym", Operator::Pseudonym),
        ("surrogate", Operator::Surrogate),
        ("date_shift", Operator::DateShift),
        (" year_only ", Operator::YearOnly),
        ("keep", Operator::Keep),
    ] {
        let parsed: Operator = name.parse().expect(name);
        assert_eq!(parsed, op, "{name}");
        assert_eq!(op.to_string().parse::<Operator>().expect("round trip"), op);
    }
    assert_eq!(Operator::Mask('#').to_string(), "mask:#");
    for bad in ["", "tags", "mask:", "mask:ab", "mask:\n", "Canarysmith"] {
        let err = bad.parse::<Operator>().expect_err(bad);
        assert_eq!(err, Error::UnknownOperator { len: bad.len() });
        assert!(!err.to_string().contains("Canarysmith"), "{err}");
    }
}

#[test]
fn the_mask_character_is_used() {
    let s = scrubber();
    let ops = Operators::builder()
        .default_operator("mask:#".parse().expect("mask:#"))
        .build()
        .expect("operators");
    let out = s.redact("Call 617-555-0143.", &ops).expect("redacts");
    assert_eq!(out.text, "Call ############.");
}

#[test]
fn age_surrogates_follow_min_age() {
    let s = Scrubber::builder().min_age(40).build().expect("min_age 40");
    let ops = Operators::builder()
        .default_operator(Operator::Surrogate)
        .key(KEY)
        .build()
        .expect("operators");
    let old = s
        .redact("The patient is a 93 year old man.", &ops)
        .expect("redacts");
    assert!(old.text.contains("90+"), "{}", old.text);
    let text = "The patient is a 52 year old man.";
    let spans = s.analyze(text).expect("analyze");
    assert!(spans.iter().any(|sp| sp.kind == Kind::Age), "{spans:?}");
    let out = s.redact(text, &ops).expect("redacts");
    assert!(
        !out.text.contains("90+"),
        "an age under 90 stays under 90: {}",
        out.text
    );
    assert!(!out.text.contains(" 52 "), "{}", out.text);
    let fake: u32 = out
        .text
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("a number in the surrogate");
    assert!((48..=56).contains(&fake), "{}", out.text);
    let again = s.redact(text, &ops).expect("redacts");
    assert_eq!(
        again.text, out.text,
        "keyed: the same age gets the same surrogate"
    );
}

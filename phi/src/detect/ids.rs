//! Identifiers: SSNs (with validity rules), keyword-cued numbers (MRN, account, health plan,
//! licence, vehicle, device, generic ID), payment cards (Luhn), IBANs (mod 97), VINs and long
//! digit runs.

use super::Captures;

use super::{Env, RuleDef};
use crate::kind::Kind;
use crate::span::Span;

/// Filler allowed between a cue and its value: "MRN is 123", "account number: 456".
const FILL: &str = r"(?:[\s:=\-\#.]*(?:numbers?|num|nbr|no|ids?|code|is|was|of|for|the|patient'?s?|ending\s+in|on\s+file)\b)*[\s:=\-\#.]*";
/// A value: alphanumerics with inner dashes, slashes or dots.
const VALUE: &str = r"(\#?[A-Za-z]{0,6}[\-/.]?[A-Za-z0-9]*\d[A-Za-z0-9]*(?:[\-/.][A-Za-z0-9]+)*)";

const SSN_CUES: &str = r"ssn|ss\#|ss\s+no|soc(?:ial)?\s+sec(?:urity)?(?:\s+(?:number|no|\#))?";
const MRN_CUES: &str = r"mrn|mr\s*\#|mr\s+(?:no|number)|medical\s+record(?:\s+(?:number|no|\#))?|med\s+rec(?:ord)?|record\s+(?:number|no|\#)|chart\s*(?:number|no|\#)|hospital\s+(?:number|no|\#)|unit\s+(?:number|no)|patient\s+(?:number|no|\#)|pt\s*\#";
const ACCOUNT_CUES: &str = r"account|acct|a/c|billing|invoice|bank|routing|credit\s+card|debit\s+card|card\s+(?:number|no)|iban|claim";
const PLAN_CUES: &str = r"health\s+plan(?:\s+beneficiary)?|beneficiary|insurance|insurer|member(?:ship)?|policy|subscriber|medicaid|medicare|hicn|mbi|group\s+(?:number|no|\#)|plan\s+(?:id|number|no)|payer|hmo|ppo|coverage";
const LICENSE_CUES: &str = r"licen[cs]e|lic\.?|certificate|cert\.?|dea|npi|driver'?s?\s+licen[cs]e|dl|registration|permit|passport|certification";
const VEHICLE_CUES: &str =
    r"vin|vehicle(?:\s+identification)?|licen[cs]e\s+plate|plate|tag\s+(?:number|no)";
const DEVICE_CUES: &str = r"serial|s/n|sn|device|implant|pacemaker|defibrillator|aicd|pump|model|udi|catalog|hearing\s+aid";
const ID_CUES: &str = r"id|identifier|identification|case|encounter|visit|accession|specimen|sample|requisition|order|reference|ref|rx|prescription|ticket|file|employee|badge|study|subject|trial|enrollment|protocol|fin|csn|har|lab\s+no";

fn cued(cues: &str) -> String {
    format!(r"(?i)\b(?:{cues})\b\.?{FILL}{VALUE}")
}

macro_rules! cued_handler {
    ($name:ident, $kind:expr) => {
        fn $name(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
            push_value(c, env, $kind, out);
        }
    };
}

cued_handler!(mrn, Kind::Mrn);

/// "A/C" is also the assist-control ventilator mode ("A/C 700 x 12", "a/c 550x16"): after
/// that cue only a long number is an account.
fn account(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let whole = c.get(0).expect("group 0. This is a bug.").as_str();
    if whole.len() >= 3 && whole.as_bytes()[..3].eq_ignore_ascii_case(b"a/c") {
        let Some(v) = c.get(1) else { return };
        let v = v.as_str();
        let digits = v.bytes().filter(u8::is_ascii_digit).count();
        if digits < 6 || v.bytes().any(|b| b == b'x' || b == b'X') {
            return;
        }
    }
    push_value(c, env, Kind::Account, out);
}
cued_handler!(plan, Kind::HealthPlan);
cued_handler!(license, Kind::License);
cued_handler!(vehicle, Kind::Vehicle);
cued_handler!(device, Kind::Device);
cued_handler!(generic, Kind::Id);
cued_handler!(ssn_cued, Kind::Ssn);

pub(crate) fn rules() -> Vec<RuleDef> {
    vec![
        RuleDef::new(
            format!(r"(?i)\b(?:{SSN_CUES}){FILL}(\d{{3}}[\s\-]?\d{{2}}[\s\-]?\d{{4}})\b"),
            ssn_cued,
        ),
        RuleDef::new(cued(MRN_CUES), mrn),
        RuleDef::new(cued(ACCOUNT_CUES), account),
        RuleDef::new(cued(PLAN_CUES), plan),
        RuleDef::new(cued(LICENSE_CUES), license),
        RuleDef::new(cued(VEHICLE_CUES), vehicle),
        RuleDef::new(cued(DEVICE_CUES), device),
        RuleDef::new(cued(ID_CUES), generic),
        RuleDef::new(r"\#\s?(\d[\dA-Za-z\-]{3,})\b", hash_number),
        RuleDef::new(r"\b(\d{3})-(\d{2})-(\d{4})\b", ssn),
        RuleDef::new(r"\b(?:\d[ \-]?){12,18}\d\b", card),
        RuleDef::new(
            r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?\b",
            iban,
        ),
        RuleDef::new(r"\b[A-HJ-NPR-Z0-9]{17}\b", vin),
        RuleDef::new(
            r"\b[A-Z]{1,5}-?\d{4,12}[A-Z]?\b|\b\d{4,12}-[A-Z]{2,5}\b",
            code,
        ),
        RuleDef::new(r"\b\d{7,}\b", digits),
    ]
}

fn push_value(c: &Captures<'_>, env: &Env<'_>, kind: Kind, out: &mut Vec<Span>) {
    let Some(m) = c.get(1) else { return };
    let v = m.as_str();
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let alnum = v.bytes().filter(u8::is_ascii_alphanumeric).count();
    if digits == 0 || alnum < 3 || (kind != Kind::Ssn && digits < 3) {
        return;
    }
    // measurements and doses after a cue word ("model 3mg") are not identifiers
    let lower = v.to_ascii_lowercase();
    if [
        "mg", "ml", "mcg", "kg", "cm", "mm", "%", "yo", "yr", "yrs", "mo", "wk", "wks", "hr",
        "hrs", "min",
    ]
    .iter()
    .any(|u| lower.ends_with(u))
    {
        return;
    }
    // a date after a cue ("visit 01/02/2020") is the date rule's business
    if v.contains('/')
        && v.split('/')
            .all(|p| p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return;
    }
    let _ = env;
    out.push(Span::new(m.start(), m.end(), kind, 0.95));
}

fn hash_number(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(1).expect("group 1. This is a bug.");
    let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
    if digits >= 4 {
        out.push(Span::new(m.start(), m.end(), Kind::Id, 0.6));
    }
}

fn ssn(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let t = env.text.as_bytes();
    if (m.start() > 0 && matches!(t[m.start() - 1], b'-' | b'/' | b'.'))
        || (m.end() + 1 < t.len()
            && matches!(t[m.end()], b'-' | b'/')
            && t[m.end() + 1].is_ascii_digit())
    {
        return;
    }
    let (area, group, serial) = (&c[1], &c[2], &c[3]);
    let valid = area != "000" && area != "666" && group != "00" && serial != "0000";
    if !valid {
        out.push(Span::new(m.start(), m.end(), Kind::Id, 0.5));
    } else if area.starts_with('9') {
        // 9xx areas are ITINs or test numbers, still formatted like an SSN
        out.push(Span::new(m.start(), m.end(), Kind::Ssn, 0.7));
    } else {
        out.push(Span::new(m.start(), m.end(), Kind::Ssn, 0.9));
    }
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn card(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let d: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).collect();
    if (13..=19).contains(&d.len()) && luhn(&d) && d.iter().any(|&x| x != d[0]) {
        out.push(Span::new(m.start(), m.end(), Kind::Account, 0.85));
    }
}

fn iban(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let s: Vec<u8> = m
        .as_str()
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !(15..=34).contains(&s.len()) {
        return;
    }
    let mut rem = 0u32;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    if rem == 1 {
        out.push(Span::new(m.start(), m.end(), Kind::Account, 0.9));
    }
}

fn vin(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let s = m.as_str();
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    if digits >= 3 && s.len() - digits >= 3 {
        out.push(Span::new(m.start(), m.end(), Kind::Vehicle, 0.8));
    }
}

fn code(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    out.push(Span::new(m.start(), m.end(), Kind::Id, 0.6));
}

fn digits(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let t = env.text.as_bytes();
    if (m.start() > 0 && matches!(t[m.start() - 1], b'.' | b','))
        || (m.end() + 1 < t.len()
            && matches!(t[m.end()], b'.' | b',')
            && t[m.end() + 1].is_ascii_digit())
    {
        return;
    }
    out.push(Span::new(m.start(), m.end(), Kind::Id, 0.5));
}

#[cfg(test)]
mod tests {
    use super::luhn;

    #[test]
    fn luhn_examples() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
    }
}

//! Phone, fax and pager numbers, e-mail addresses, URLs and IP addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Captures;

use super::{before, boundary_after, boundary_before, Env, RuleDef};
use crate::kind::Kind;
use crate::span::Span;

pub(crate) fn rules() -> Vec<RuleDef> {
    vec![
        RuleDef::new(
            r"\b[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
            email,
        ),
        RuleDef::new(
            r#"(?i)\b(?:https?://|ftp://|www\.)[^\s<>"'\]\[{}|\\^`]+"#,
            url,
        ),
        RuleDef::new(
            r"(?i)\b(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:com|org|net|edu|gov|mil|int|io|info|biz|us|uk|ca|de|fr|au|nl|es|it|jp|cn|in|br|ru|ch|se|no|health|care|clinic|hospital|med|app|ai)\b(?:/[^\s<>]*)?",
            domain,
        ),
        // North-American numbers: (555) 123-4567, 555-123-4567, +1 555.123.4567 x123
        RuleDef::new(
            r"(?i)(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s*|\b\d{3}[\s.\-]|\b\d{3})\d{3}[\s.\-]?\d{4}(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?\b",
            phone,
        ),
        // a number of phone shape in parentheses, its last group one digit long:
        // "(401 555 12345)" (a mistyped number is still an identifier)
        RuleDef::new(r"\((\d{3}[ .\-]\d{3}[ .\-]\d{4,5})\)", bracketed_phone),
        // International: +44 20 7946 0958, +49-89-636-48018
        RuleDef::new(
            r"\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{1,4}(?:[\s.\-]\d{2,4}){1,4}\b",
            intl_phone,
        ),
        // 7-digit local numbers and pagers, with a cue
        RuleDef::new(r"\b\d{3}[\-.]\d{4}\b", local_phone),
        // any number after a phone cue: "Mobile: 03.93.92.16.85", "call me at 0494 92 82 32"
        RuleDef::new(
            r"(?i)\b(?:phone|tel(?:ephone)?|mobile|cell(?:phone)?|fax|desk|pager|beeper|pgr|pg|call\s+(?:me\s+)?(?:at|on)|text\s+(?:me\s+)?(?:at|on)|reach\s+(?:me\s+)?(?:at|on)|messages\s+to|answering\s+at|number\s+is)\s*[:#]?\s*(\+?\(?\d[\d\s().\-]{4,20}\d)",
            cued_phone,
        ),
        // short pager numbers and extensions: "pager 12345", "ext. 4021"
        RuleDef::new(
            r"(?i)\b(?:pager|beeper|pgr|pg|ext\.?|extension)\s*(?:#|no\.?|number)?\s*:?\s*(\d{3,6})\b",
            pager,
        ),
        RuleDef::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", ipv4),
        RuleDef::new(
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})",
            ipv6,
        ),
    ]
}

fn email(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    out.push(Span::new(m.start(), m.end(), Kind::Email, 0.99));
}

fn trim_url_end(s: &str) -> usize {
    let mut end = s.len();
    while end > 0 {
        let ch = s[..end]
            .chars()
            .next_back()
            .expect("non-empty. This is a bug.");
        if matches!(ch, '.' | ',' | ';' | ':' | '!' | '?' | ')' | '\'' | '"') {
            end -= ch.len_utf8();
        } else {
            break;
        }
    }
    end
}

fn url(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let end = m.start() + trim_url_end(m.as_str());
    if end > m.start() + 4 {
        out.push(Span::new(m.start(), end, Kind::Url, 0.95));
    }
}

fn domain(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    // part of an e-mail address: the e-mail rule reports it
    if m.start() > 0 && env.text.as_bytes()[m.start() - 1] == b'@' {
        return;
    }
    let s = m.as_str();
    // abbreviations such as "e.g" never reach here (TLD list); "St.Louis" style typos do:
    // require a label of two or more characters before the TLD
    let labels: Vec<&str> = s.split('/').next().unwrap_or("").split('.').collect();
    if labels.len() < 2 || labels[labels.len() - 2].len() < 2 {
        return;
    }
    // a missing space after a full stop: "sent.no residuals", "cc.No output", "drng.in": a
    // bare two-label "domain" whose TLD is an English word and whose first label is a word
    let tld = labels[labels.len() - 1].to_ascii_lowercase();
    let sentence_start = matches!(
        tld.as_str(),
        "no" | "in"
            | "is"
            | "it"
            | "to"
            | "me"
            | "at"
            | "so"
            | "be"
            | "us"
            | "do"
            | "go"
            | "am"
            | "pm"
            | "as"
            | "by"
            | "my"
            | "an"
            | "he"
            | "we"
            | "on"
            | "or"
            | "if"
    );
    if labels.len() == 2 && !s.contains('/') && sentence_start {
        let first = labels[0].to_ascii_lowercase();
        let word_follows = env.text[m.end()..]
            .strip_prefix(' ')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic()));
        if word_follows || env.dicts.is_word(&first) || env.dicts.is_medical(&first) {
            return;
        }
    }
    let end = m.start() + trim_url_end(s);
    out.push(Span::new(m.start(), end, Kind::Url, 0.85));
}

fn is_fax(env: &Env<'_>, start: usize) -> bool {
    let b = before(env.text, start, 30);
    match (
        b.rfind("fax"),
        b.rfind("ph").max(b.rfind("tel")).max(b.rfind("call")),
    ) {
        (Some(f), Some(p)) => f > p,
        (Some(_), None) => true,
        _ => false,
    }
}

fn bracketed_phone(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    if let Some(m) = c.get(1) {
        let kind = if is_fax(env, m.start()) {
            Kind::Fax
        } else {
            Kind::Phone
        };
        out.push(Span::new(m.start(), m.end(), kind, 0.85));
    }
}

fn phone(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let t = env.text.as_bytes();
    // embedded in a longer number or a dotted/dashed code (dates, IDs, IPs)
    // (a separator run before it, "DAUGHTER---301 944-5032", is not a longer number)
    if m.start() > 1
        && matches!(t[m.start() - 1], b'-' | b'/' | b'.')
        && t[m.start() - 2].is_ascii_digit()
        && t[m.start()] != b'('
    {
        return;
    }
    if m.end() < t.len()
        && matches!(t[m.end()], b'-' | b'/')
        && t.get(m.end() + 1).is_some_and(u8::is_ascii_digit)
    {
        return;
    }
    let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
    let bare = digits.len() == m.as_str().len();
    let kind = if is_fax(env, m.start()) {
        Kind::Fax
    } else {
        Kind::Phone
    };
    if bare {
        // ten bare digits: a phone only with a cue, otherwise the ID rules decide
        let b = before(env.text, m.start(), 30);
        if !PHONE_CUES.iter().any(|c| b.contains(c)) {
            return;
        }
    }
    out.push(Span::new(
        m.start(),
        m.end(),
        kind,
        if bare { 0.8 } else { 0.9 },
    ));
}

fn intl_phone(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let n = m.as_str().chars().filter(char::is_ascii_digit).count();
    if (8..=15).contains(&n) {
        let kind = if is_fax(env, m.start()) {
            Kind::Fax
        } else {
            Kind::Phone
        };
        out.push(Span::new(m.start(), m.end(), kind, 0.9));
    }
}

const PHONE_CUES: &[&str] = &[
    "phone", "tel", "pager", "page", "beeper", "beep", "call", "cell", "mobile", "fax", "ext",
    "contact", "number", "reach", "pgr", "ph:", "ph ", "c:", "h:", "w:",
];

fn local_phone(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let t = env.text.as_bytes();
    if (m.start() > 0 && matches!(t[m.start() - 1], b'-' | b'/' | b'.' | b'(' | b')'))
        || (m.end() < t.len() && matches!(t[m.end()], b'-' | b'/'))
    {
        return;
    }
    let b = before(env.text, m.start(), 30);
    if PHONE_CUES.iter().any(|c| b.contains(c)) {
        let kind = if is_fax(env, m.start()) {
            Kind::Fax
        } else {
            Kind::Phone
        };
        out.push(Span::new(m.start(), m.end(), kind, 0.8));
    }
}

fn cued_phone(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(1).expect("group 1. This is a bug.");
    // stop at a line break: the next line is something else
    let v = m.as_str();
    let v = v.split('\n').next().unwrap_or(v).trim_end();
    let n = v.bytes().filter(u8::is_ascii_digit).count();
    if (7..=15).contains(&n) {
        let kind = if is_fax(env, m.start()) {
            Kind::Fax
        } else {
            Kind::Phone
        };
        out.push(Span::new(m.start(), m.start() + v.len(), kind, 0.85));
    }
}

fn pager(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(1).expect("group 1. This is a bug.");
    out.push(Span::new(m.start(), m.end(), Kind::Phone, 0.8));
}

fn ipv4(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let t = env.text.as_bytes();
    if m.end() + 1 < t.len() && t[m.end()] == b'.' && t[m.end() + 1].is_ascii_digit() {
        return;
    }
    if m.start() > 0 && t[m.start() - 1] == b'.' {
        return;
    }
    if m.as_str().parse::<Ipv4Addr>().is_ok() {
        out.push(Span::new(m.start(), m.end(), Kind::Ip, 0.9));
    }
}

fn ipv6(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let s = m.as_str();
    if !boundary_before(env.text, m.start()) || !boundary_after(env.text, m.end()) {
        return;
    }
    // times (10:30:00) have no "::" and fewer than 7 colons
    let colons = s.matches(':').count();
    if !s.contains("::") && colons < 7 {
        return;
    }
    if s.parse::<Ipv6Addr>().is_ok() && s.len() > 3 {
        out.push(Span::new(m.start(), m.end(), Kind::Ip, 0.9));
    }
}

//! Detector families and the engine that runs them in one prefiltered pass.
//!
//! Regex detectors register [`RuleDef`]s; the engine compiles them once into a
//! [`regex::RegexSet`] (one pass over the text tells which rules can match at all) plus
//! the individual regexes, which run only when the set says so. Names are found by a
//! token scanner with dictionary lookups, places and organisations by one Aho-Corasick
//! pass over the built-in gazetteer.

pub(crate) mod contact;
pub(crate) mod dates;
pub(crate) mod ids;
pub(crate) mod names;
pub(crate) mod places;

use regex::{Captures, Regex, RegexSet};

use crate::dict::Dicts;
use crate::span::Span;

/// What a rule's handler sees.
pub(crate) struct Env<'a> {
    pub text: &'a str,
    /// `text.to_ascii_lowercase()`.
    pub lower: &'a str,
    pub dicts: &'a Dicts,
    pub policy: &'a Policy,
}

/// Detection switches derived from the scrubber configuration.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Report bare years ("in 2019") as dates.
    pub bare_years: bool,
    /// Report states and countries (not only cities and smaller places).
    pub states_and_countries: bool,
    /// Minimum age reported as AGE.
    pub min_age: u32,
}

/// A handler turns one regex match into zero or more candidate spans.
pub(crate) type Handler = fn(&Captures<'_>, &Env<'_>, &mut Vec<Span>);

/// A regex rule as declared by a detector family.
pub(crate) struct RuleDef {
    pub pattern: String,
    pub handler: Handler,
}

impl RuleDef {
    pub(crate) fn new(pattern: impl Into<String>, handler: Handler) -> Self {
        RuleDef {
            pattern: pattern.into(),
            handler,
        }
    }
}

/// The compiled regex rules.
pub(crate) struct Engine {
    set: RegexSet,
    rules: Vec<(Regex, Handler)>,
}

impl Engine {
    /// Compiles every built-in rule.
    pub(crate) fn new() -> Engine {
        let mut defs: Vec<RuleDef> = Vec::new();
        defs.extend(dates::rules());
        defs.extend(contact::rules());
        defs.extend(ids::rules());
        defs.extend(places::rules());
        // ASCII word boundaries and digits keep every rule inside the fast DFA engines
        // (Unicode \b forces the slower NFA engines on non-ASCII text).
        for d in &mut defs {
            d.pattern = d
                .pattern
                .replace(r"\b", r"(?-u:\b)")
                .replace(r"\d", "[0-9]");
        }
        let set = RegexSet::new(defs.iter().map(|d| d.pattern.as_str()))
            .expect("built-in rules compile. This is a bug.");
        let rules = defs
            .into_iter()
            .map(|d| {
                let re = Regex::new(&d.pattern).expect("built-in rule compiles. This is a bug.");
                (re, d.handler)
            })
            .collect();
        Engine { set, rules }
    }

    /// Runs every rule that can match `env.text`, then the dictionary detectors.
    pub(crate) fn run(&self, env: &Env<'_>, out: &mut Vec<Span>) {
        for i in self.set.matches(env.text).iter() {
            let (re, handler) = &self.rules[i];
            for caps in re.captures_iter(env.text) {
                handler(&caps, env, out);
            }
        }
        let toks = names::tokenize(env.text, env.lower);
        places::gazetteer(env, &toks, out);
        names::detect(env, &toks, out);
    }
}

/// The largest char boundary `<= i`.
pub(crate) fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary `>= i`.
pub(crate) fn ceil_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Up to `n` bytes of text before `pos`, lower-cased (ASCII).
pub(crate) fn before(text: &str, pos: usize, n: usize) -> String {
    let start = floor_boundary(text, pos.saturating_sub(n));
    text[start..floor_boundary(text, pos)].to_ascii_lowercase()
}

/// Up to `n` bytes of text after `pos`, lower-cased (ASCII).
pub(crate) fn after(text: &str, pos: usize, n: usize) -> String {
    let pos = ceil_boundary(text, pos);
    let end = ceil_boundary(text, pos.saturating_add(n));
    text[pos..end].to_ascii_lowercase()
}

/// The last word (ASCII letters, digits and apostrophes) in the 60 bytes before `pos`,
/// lower-cased: `words_before(text, pos, 1)` without the intermediate allocations.
pub(crate) fn word_before(text: &str, pos: usize) -> Option<String> {
    let start = floor_boundary(text, pos.saturating_sub(60));
    let window = &text.as_bytes()[start..floor_boundary(text, pos)];
    // non-ASCII chars are separators, and all their bytes are >= 0x80: byte-wise is exact
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'\'';
    let end = window.iter().rposition(|&c| is_word(c))? + 1;
    let begin = window[..end]
        .iter()
        .rposition(|&c| !is_word(c))
        .map_or(0, |k| k + 1);
    let w = std::str::from_utf8(&window[begin..end]).expect("ASCII. This is a bug.");
    Some(w.to_ascii_lowercase())
}

/// The last `n` words (ASCII letters) before `pos`, lower-cased, nearest last.
#[cfg(test)]
pub(crate) fn words_before(text: &str, pos: usize, n: usize) -> Vec<String> {
    let b = before(text, pos, 60);
    let mut w: Vec<String> = b
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '\'')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let k = w.len().saturating_sub(n);
    w.drain(..k);
    w
}

/// Whether the byte before `pos` (if any) is not an ASCII alphanumeric: a word boundary.
pub(crate) fn boundary_before(text: &str, pos: usize) -> bool {
    pos == 0 || !text.as_bytes()[pos - 1].is_ascii_alphanumeric()
}

/// Whether the byte at `pos` (if any) is not an ASCII alphanumeric.
pub(crate) fn boundary_after(text: &str, pos: usize) -> bool {
    pos >= text.len() || !text.as_bytes()[pos].is_ascii_alphanumeric()
}

#[cfg(test)]
mod word_before_equivalence {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_as_words_before(s in "[a-zA-Z0-9' .,\\-é’\n]{0,90}", k in 0usize..100) {
            let pos = floor_boundary(&s, k);
            prop_assert_eq!(word_before(&s, pos), words_before(&s, pos, 1).pop());
        }
    }
}

#[cfg(test)]
mod profile {
    use super::*;
    use std::time::Instant;

    /// Per-rule timing on clinical prose: `cargo test --release -p clinfer-phi profile -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing aid, not a test"]
    fn profile_rules() {
        let para = "Patient: Maria Okonkwo\nMRN: 00482913\nDOB: 03/14/1952\nAttending: Dr. Whitfield\n\nHPI: 71 yo F with HTN, DM2 and CAD s/p CABG presented to Riverside Medical Center on 01/02/2023 c/o SOB x3d, denies CP/palp. Pt's husband James (617-555-0143) at bedside. Vitals: T 98.6 HR 88 BP 132/84 RR 18 SpO2 97% on RA. Meds: lisinopril 10 mg PO daily, metformin 500 mg BID, ASA 81 mg qd, Lasix 40 mg IV. Labs: Na 138, K 4.1, Cr 1.2, WBC 7.5, Hgb 12.1. Exam: Babinski sign negative, Foley catheter in place, Wells score 2. Lives at 1234 Elm Street, Springfield, IL 62704. F/u with Dr. Chen on Jan 3rd. Electronically signed by Anna S. Whitfield, MD 01/03/2023 14:32\n";
        let text = std::env::var("PHI_PROFILE_TEXT")
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_else(|| para.repeat(2000));
        let mb = text.len() as f64 / 1e6;
        let engine = Engine::new();
        let policy = Policy {
            bare_years: false,
            states_and_countries: true,
            min_age: 90,
        };
        let lower = text.to_ascii_lowercase();
        let env = Env {
            text: &text,
            lower: &lower,
            dicts: Dicts::get(),
            policy: &policy,
        };
        let short = "Can I prescribe lisinopril to a hypertensive patient with a creatinine level of 2.1, David S., evaluated at Elm Clinic on Jan 15th, 2023 (MRN: 998877)?";
        let short_lower = short.to_ascii_lowercase();
        let senv = Env {
            text: short,
            lower: &short_lower,
            dicts: Dicts::get(),
            policy: &policy,
        };
        let iters = 5000;
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(engine.set.matches(short));
        }
        println!(
            "short set: {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        );
        let t = Instant::now();
        for _ in 0..iters {
            let mut out = Vec::new();
            for i in engine.set.matches(short).iter() {
                let (re, h) = &engine.rules[i];
                for c in re.captures_iter(short) {
                    h(&c, &senv, &mut out);
                }
            }
        }
        println!(
            "short set+rules: {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        );
        let t = Instant::now();
        for _ in 0..iters {
            let toks = names::tokenize(short, &short_lower);
            let mut out = Vec::new();
            places::gazetteer(&senv, &toks, &mut out);
            names::detect(&senv, &toks, &mut out);
        }
        println!(
            "short tokens+gaz+names: {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        );
        let sc = crate::Scrubber::builder().build().expect("builds");
        let t = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(sc.analyze(short).expect("small"));
        }
        println!(
            "short analyze: {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        );
        let t = Instant::now();
        let m = engine.set.matches(&text);
        println!(
            "regexset: {:.1} MB/s ({} rules match)",
            mb / t.elapsed().as_secs_f64(),
            m.iter().count()
        );
        for (i, (re, h)) in engine.rules.iter().enumerate() {
            let t = Instant::now();
            let mut out = Vec::new();
            for c in re.captures_iter(&text) {
                h(&c, &env, &mut out);
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "rule {i:2}: {:8.1} MB/s {:6} spans  {}",
                mb / s,
                out.len(),
                &re.as_str()[..re.as_str().len().min(60)]
            );
        }
        let t = Instant::now();
        let mut out = Vec::new();
        let toks = names::tokenize(&text, &lower);
        println!("tokenize: {:.1} MB/s", mb / t.elapsed().as_secs_f64());
        let t = Instant::now();
        places::gazetteer(&env, &toks, &mut out);
        println!("gazetteer: {:.1} MB/s", mb / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut out = Vec::new();
        names::detect(&env, &toks, &mut out);
        println!("names: {:.1} MB/s", mb / t.elapsed().as_secs_f64());
    }
}

//! Street addresses, ZIP codes, cities/states/countries (gazetteer) and organisations.

use std::sync::OnceLock;

use regex::Regex;

use super::{boundary_after, boundary_before, word_before, Captures, Env, RuleDef};
use crate::dict::Place;
use crate::kind::Kind;
use crate::span::Span;

const STREET: &str = r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Loop|Row|Path|Alley|Plaza|Crescent|Close|Broadway|Turnpike|Tpke|Pike|Expressway|Route|Rte|Run|Ridge|Heights|Hts|Point|Pt|Crossing|Xing|Walk|Commons|Green|Park|Gardens|Mews|Esplanade)";
const UNIT: &str = r"(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Floor|Fl|Room|Rm|\#)";
const ORG_STRONG: &str = r"(?:Hospitals?|Hosp\.|Med\.?\s+Ctr\.?|Med\s+Center|Medical(?:\s+Cent(?:er|re))?|Medical\s+Cent(?:er|re)|Health\s+Cent(?:er|re)|Health\s+System|Health\s+Sciences\s+Cent(?:er|re)|Cancer\s+Cent(?:er|re)|Heart\s+Institute|Surgery\s+Cent(?:er|re)|Surgical\s+Cent(?:er|re)|Clinics?|Infirmary|Hospice|Nursing\s+Home|Nursing\s+Facility|Rehabilitation\s+(?:Cent(?:er|re)|Hospital|Facility)|Rehab\s+Cent(?:er|re)|Care\s+Cent(?:er|re)|Urgent\s+Care|Medical\s+Group|Medical\s+Associates|Medical\s+Office|Family\s+Practice|Pediatrics|Healthcare|Health\s+Care|Sanatorium|Sanitarium|Dialysis\s+Cent(?:er|re)|Imaging\s+Cent(?:er|re)|Pharmacy)";
/// Each alternative ends at a word boundary ("Inc" is not the start of "Increased").
const ORG_WEAK: &str = r"(?:(?:Health|Cent(?:er|re)|Institute|University|College|School|Laboratories|Laboratory|Labs|Foundation|Associates|Partners|Physicians|Specialists|Group|Memorial|LLC|Corporation|Company|Bank|Insurance)\b|(?:Inc|Ltd|Corp)\b\.?|Co\.)";
const CAPWORD: &str = r"(?:[A-Z][A-Za-z'’.&\-]*|[A-Z]{2,})";

pub(crate) fn rules() -> Vec<RuleDef> {
    vec![
        RuleDef::new(
            format!(
                r"\b\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?\s+(?:[NSEW]\.?\s+|(?:North|South|East|West)\s+)?(?:[A-Z0-9][A-Za-z0-9'\-]*\.?\s+){{1,4}}{STREET}\b\.?(?:\s*,?\s*{UNIT}\.?\s*\#?\s*[A-Za-z0-9\-]+)?"
            ),
            address,
        ),
        // "6750 Koskikatu 25 Apt. 864": number, name, number, unit
        RuleDef::new(
            format!(
                r"\b\d{{1,6}}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\s+\d{{1,5}}\s*,?\s*{UNIT}\.?\s*\#?\s*[A-Za-z0-9\-]+"
            ),
            address,
        ),
        RuleDef::new(r"(?i)\bP\.?\s?O\.?\s*Box\s+\d+\b", address),
        // a named street without a house number: "from Elm Street, Denver"
        RuleDef::new(
            r"\b(?:[A-Z][a-z]+\s+){1,2}(?:Street|Avenue|Boulevard|Road|Lane|Drive|Parkway)\b",
            street_name,
        ),
        RuleDef::new(r"\b([A-Z]{2})\s*,?\s+(\d{5}(?:-\d{4})?)\b", zip_after_state),
        RuleDef::new(
            // after an explicit cue any postal-code shape: "ZIP: 3520", "zip code is 394 13",
            // "ZIP: 7412 SL", "53-320"
            r"(?i)\b(?:zip(?:\s*code)?|post(?:al)?\s*code)\s*(?:is|:|\#)?\s*(\d{3,6}(?:[ \-]\d{2,4})?(?-i:\s[A-Z]{2})?)\b",
            zip_cued,
        ),
        RuleDef::new(
            r"\b(?:[A-Z][a-z]+\s+){1,2}(?:County|Parish|Township|Borough)\b",
            county,
        ),
        RuleDef::new(
            r"\b(?:St|Ste|Mt|Saint|Mount)\.?\s+[A-Z][a-z]+(?:['’]s|s['’])?(?:\s+(?:[A-Z][a-z]+\s+)?(?:Hospital|Medical\s+Cent(?:er|re)|Health(?:\s+Cent(?:er|re)|\s+System)?|Clinic|Infirmary|Church|School|University|College))?",
            saint,
        ),
        RuleDef::new(
            format!(r"\b(?:{CAPWORD}\s+(?:(?:of|and|for|&|the|at)\s+)?){{1,5}}(?:{ORG_STRONG})\b"),
            org_strong,
        ),
        RuleDef::new(
            format!(
                r"\b(?:{CAPWORD}\s+(?:(?:of|and|for|&)\s+)?){{1,4}}(?:{ORG_WEAK})(?:\s+(?:of|at)\s+(?:{CAPWORD}\s+){{0,2}}{CAPWORD})?"
            ),
            org_weak,
        ),
        RuleDef::new(
            r"\b(?:University|College|Institute)\s+of\s+(?:[A-Z][A-Za-z]+\s+){0,3}[A-Z][A-Za-z]+",
            org_plain,
        ),
    ]
}

fn city_state_tail() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\s*,?\s*(?:[A-Z][a-z]+\.?\s?){1,3},\s*[A-Z]{2}\b(?:\s+\d{5}(?:-\d{4})?)?|^\s*,?\s*(?:[A-Z][a-z]+\.?\s?){1,3},?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")
            .expect("tail regex compiles. This is a bug.")
    })
}

fn address(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let mut end = m.end();
    if let Some(t) = city_state_tail().find(&env.text[end..]) {
        end += t.end();
    }
    out.push(Span::new(m.start(), end, Kind::Address, 0.85));
}

fn street_name(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let Some((start, head)) = trim_generic(env, m.start(), m.end()) else {
        return;
    };
    if head.len() >= 2 {
        let mut end = m.end();
        if let Some(t) = city_state_tail().find(&env.text[end..]) {
            end += t.end();
        }
        out.push(Span::new(start, end, Kind::Address, 0.6));
    }
}

fn zip_after_state(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    if env.dicts.state_codes.contains(&c[1]) {
        let m = c.get(2).expect("group 2. This is a bug.");
        out.push(Span::new(m.start(), m.end(), Kind::Zip, 0.9));
    }
}

fn zip_cued(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(1).expect("group 1. This is a bug.");
    out.push(Span::new(m.start(), m.end(), Kind::Zip, 0.95));
}

fn county(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let first = m.as_str().split_whitespace().next().unwrap_or("");
    if env
        .dicts
        .clinical_caps
        .contains(first.to_ascii_lowercase().as_str())
    {
        return;
    }
    out.push(Span::new(m.start(), m.end(), Kind::Location, 0.85));
}

fn saint(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let a = super::after(env.text, m.end(), 8);
    // St. John's wort is a herb
    if a.trim_start().starts_with("wort") {
        return;
    }
    out.push(Span::new(m.start(), m.end(), Kind::Organization, 0.8));
}

/// Generic words that still name an institution before a strong suffix ("City Hospital",
/// "County General Hospital"), unlike service words ("Mental Health Clinic").
const INSTITUTION: &[&str] = &[
    "city",
    "county",
    "general",
    "regional",
    "community",
    "memorial",
    "university",
    "state",
    "children's",
    "women's",
    "veterans",
    "teaching",
    "academic",
    "public",
    "rural",
    "free",
    "private",
    "local",
];

/// Words that never name an organisation by themselves (determiners, verbs, pronouns).
const TRIM: &[&str] = &[
    "the",
    "a",
    "an",
    "at",
    "in",
    "to",
    "from",
    "our",
    "his",
    "her",
    "their",
    "this",
    "that",
    "patient",
    "pt",
    "seen",
    "admitted",
    "transferred",
    "discharged",
    "referred",
    "visited",
    "and",
    "of",
    "for",
    "with",
    "he",
    "she",
    "they",
    "we",
    "i",
    "was",
    "is",
    "it",
    "if",
    "when",
    "after",
    "before",
    "what",
    "which",
    "who",
    "how",
    "why",
    "can",
    "should",
    "does",
    "do",
    "are",
    "urgent",
    "primary",
    "care",
    "medical",
    "health",
    "hospital",
    "clinic",
    "&",
];

/// Capitalised words that begin sentences or describe a service, not a named organisation.
const GENERIC: &[&str] = &[
    "the",
    "a",
    "an",
    "at",
    "in",
    "to",
    "from",
    "our",
    "his",
    "her",
    "their",
    "this",
    "that",
    "patient",
    "pt",
    "seen",
    "admitted",
    "transferred",
    "discharged",
    "referred",
    "visited",
    "mental",
    "behavioral",
    "behavioural",
    "primary",
    "urgent",
    "public",
    "home",
    "family",
    "internal",
    "emergency",
    "pediatric",
    "outpatient",
    "inpatient",
    "specialty",
    "sleep",
    "pain",
    "diabetes",
    "heart",
    "eye",
    "dental",
    "medical",
    "health",
    "women's",
    "men's",
    "children's",
    "community",
    "local",
    "state",
    "county",
    "city",
    "general",
    "regional",
    "rural",
    "free",
    "private",
    "veterans",
    "cancer",
    "wound",
    "vascular",
    "cardiology",
    "oncology",
    "neurology",
    "psychiatric",
    "rehabilitation",
    "rehab",
    "surgical",
    "surgery",
    "day",
    "walk-in",
    "same",
    "occupational",
    "physical",
    "respiratory",
    "speech",
    "therapy",
    "hospital",
    "clinic",
    "hospice",
    "nursing",
    "care",
    "skilled",
    "assisted",
    "living",
    "long-term",
    "acute",
    "psych",
    "ed",
    "er",
    "icu",
    "ccu",
    "micu",
    "sicu",
    "or",
    "va",
    "and",
    "of",
    "for",
    "with",
    "follow",
    "follow-up",
    "old",
    "same-day",
    "teaching",
    "university",
    "academic",
    "he",
    "she",
    "they",
    "we",
    "i",
    "was",
    "is",
    "it",
    "if",
    "when",
    "after",
    "before",
    "what",
    "which",
    "who",
    "how",
    "why",
    "can",
    "should",
    "does",
    "do",
    "are",
    "is",
];

fn trim_generic(env: &Env<'_>, start: usize, end: usize) -> Option<(usize, Vec<String>)> {
    trim_words(env, start, end, GENERIC)
}

fn trim_words(
    env: &Env<'_>,
    start: usize,
    end: usize,
    list: &[&str],
) -> Option<(usize, Vec<String>)> {
    // drop leading generic words; return new start and the remaining head words
    let s = &env.text[start..end];
    let mut offset = 0;
    let mut words = Vec::new();
    for w in s.split_whitespace() {
        let lw = w.to_ascii_lowercase();
        words.push(lw);
    }
    let mut idx = 0;
    for w in s.split_whitespace() {
        let lw = w.to_ascii_lowercase();
        if list.contains(&lw.as_str())
            || (idx == 0
                && env.dicts.clinical_caps.contains(lw.as_str())
                && !INSTITUTION.contains(&lw.as_str()))
        {
            let pos = s[offset..].find(w).map_or(offset, |p| offset + p);
            offset = pos + w.len();
            idx += 1;
        } else {
            break;
        }
    }
    let rest = s[offset..].trim_start();
    let new_start = end - rest.len();
    let head: Vec<String> = words.into_iter().skip(idx).collect();
    if head.is_empty() {
        return None;
    }
    Some((new_start, head))
}

fn org_strong(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let Some((start, head)) = trim_words(env, m.start(), m.end(), TRIM) else {
        return;
    };
    // at least one head word before the suffix must remain and not be generic
    let suffix_words = suffix_len(&head);
    if head.len() <= suffix_words {
        return;
    }
    let named = head[..head.len() - suffix_words].iter().any(|w| {
        let w = w.as_str();
        !TRIM.contains(&w) && (!GENERIC.contains(&w) || INSTITUTION.contains(&w))
    });
    if named {
        out.push(Span::new(start, m.end(), Kind::Organization, 0.85));
    }
}

fn suffix_len(head: &[String]) -> usize {
    let last = head.last().map_or("", String::as_str);
    let prev = if head.len() >= 2 {
        head[head.len() - 2].as_str()
    } else {
        ""
    };
    match (prev, last) {
        (
            "medical" | "health" | "cancer" | "surgery" | "surgical" | "care" | "rehab"
            | "dialysis" | "imaging",
            "center" | "centre",
        ) => 2,
        ("heart", "institute")
        | ("health", "system" | "care")
        | ("nursing", "home" | "facility")
        | ("urgent", "care") => 2,
        ("medical", "group" | "associates" | "office") | ("family", "practice") => 2,
        ("rehabilitation", _) => 2,
        _ => 1,
    }
}

fn org_weak(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let Some((start, head)) = trim_generic(env, m.start(), m.end()) else {
        return;
    };
    if head.len() < 2 {
        return;
    }
    // a weak suffix needs a proper-noun head word (not an English word, or a known place)
    let proper = head[..head.len() - 1].iter().any(|w| {
        let w = w
            .trim_end_matches(['.', ',', '\'', '’'])
            .trim_end_matches("'s");
        !GENERIC.contains(&w)
            && (!env.dicts.is_word(w)
                || env.dicts.first.contains_key(w)
                || env.dicts.last.get(w) == Some(&false))
    });
    if proper {
        out.push(Span::new(start, m.end(), Kind::Organization, 0.7));
    }
}

fn org_plain(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    out.push(Span::new(m.start(), m.end(), Kind::Organization, 0.8));
}

/// Lower-case nouns after a place name that make it a place: "our Dallas clinic".
const FACILITY_NOUNS: &[&str] = &[
    "clinic", "hospital", "facility", "branch", "office", "campus", "area", "location", "site",
    "center", "centre", "practice", "unit", "county", "metro", "region",
];

const PLACE_CUES: &[&str] = &[
    "in",
    "from",
    "at",
    "to",
    "near",
    "outside",
    "visiting",
    "lives",
    "live",
    "living",
    "born",
    "moved",
    "traveled",
    "travelled",
    "returned",
    "resident",
    "city",
    "town",
    "of",
    "hometown",
];

/// Runs the gazetteer (cities, states, countries, well-known organisations).
pub(crate) fn gazetteer(env: &Env<'_>, toks: &[super::names::Tok<'_>], out: &mut Vec<Span>) {
    let text = env.text;
    let mut covered = 0;
    for t in toks {
        if t.start < covered || !(t.cap || t.upper) {
            continue;
        }
        // candidates keyed by their first token, longest first (leftmost-longest)
        let Some(cands) = env.dicts.gaz_map.get(&text[t.start..t.end]) else {
            continue;
        };
        let Some(&(ref pat, entry)) = cands.iter().find(|(p, _)| {
            text[t.start..].starts_with(p.as_str()) && boundary_after(text, t.start + p.len())
        }) else {
            continue;
        };
        let (s, e) = (t.start, t.start + pat.len());
        covered = e;
        if !boundary_before(text, s) || !boundary_after(text, e) {
            continue;
        }
        // "'s" and letters glued on (non-ASCII) are not boundaries
        if text[e..].starts_with(|c: char| c.is_alphabetic())
            || text[..s].ends_with(|c: char| c.is_alphabetic())
        {
            continue;
        }
        if !env.policy.states_and_countries && matches!(entry.place, Place::State | Place::Country)
        {
            continue;
        }
        let word = &text[s..e];
        let lower = word.to_ascii_lowercase();
        let medical = env.dicts.is_medical(&lower);
        let followed_by_state = {
            let a = &text[e..super::ceil_boundary(text, e + 6)];
            a.starts_with(", ")
                && a.get(2..4)
                    .is_some_and(|c| env.dicts.state_codes.contains(c))
                && super::boundary_after(text, e + 4)
        };
        let cue = word_before(text, s).is_some_and(|w| PLACE_CUES.contains(&w.as_str()));
        let ambiguous = entry.ambiguous
            || medical
            || (entry.place == Place::City && env.dicts.first.contains_key(lower.as_str()));
        let facility = {
            let a = super::after(text, e, 12);
            let w = a
                .trim_start()
                .split(|c: char| !c.is_ascii_alphabetic())
                .next()
                .unwrap_or("")
                .to_owned();
            FACILITY_NOUNS.contains(&w.as_str()) && a.starts_with(' ')
        };
        if ambiguous && !(followed_by_state || facility || (cue && !medical)) {
            continue;
        }
        if super::after(text, e, 8).trim_start().starts_with("wort") {
            continue;
        }
        // a place name used as an eponym: "Framingham risk score", "Lyme disease"
        if entry.place != Place::Org && super::names::medical_noun_follows(text, e) {
            continue;
        }
        let mut end = e;
        if followed_by_state {
            end = e + 4;
        }
        let score = if entry.place == Place::Org {
            0.9
        } else if ambiguous {
            0.6
        } else {
            0.75
        };
        out.push(Span::new(s, end, entry.kind(), score));
    }
}

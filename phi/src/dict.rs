//! Built-in dictionaries (names, places, organisations, English words, medical allow-list).
//!
//! The data files live in `phi/data/` (provenance in `phi/data/README.md`) and are
//! compiled into the binary; they are parsed once per process on first use.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::kind::Kind;

const FIRST: &str = include_str!("../data/first_names.tsv");
const LAST: &str = include_str!("../data/last_names.tsv");
const WORDS: &str = include_str!("../data/english_words.txt");
const CITIES: &str = include_str!("../data/cities.tsv");
const STATES: &str = include_str!("../data/us_states.tsv");
const COUNTRIES: &str = include_str!("../data/countries.tsv");
const ORGS: &str = include_str!("../data/organizations.txt");
const ALLOW: &str = include_str!("../data/medical_allow.txt");

/// First names that are ordinary words, months or places whatever their census frequency:
/// they count as names only with context (a surname, an initial, a title or a cue).
const AMBIGUOUS_FIRST: &[&str] = &[
    "will",
    "bill",
    "hope",
    "grant",
    "page",
    "rose",
    "may",
    "june",
    "april",
    "august",
    "mark",
    "frank",
    "art",
    "sue",
    "pat",
    "joy",
    "faith",
    "grace",
    "dawn",
    "ray",
    "guy",
    "rich",
    "sky",
    "summer",
    "autumn",
    "amber",
    "crystal",
    "holly",
    "ivy",
    "pearl",
    "penny",
    "candy",
    "sandy",
    "chase",
    "hunter",
    "cash",
    "dale",
    "glen",
    "wade",
    "lance",
    "miles",
    "sterling",
    "king",
    "earl",
    "major",
    "prince",
    "stone",
    "buck",
    "gay",
    "eve",
    "max",
    "don",
    "jay",
    "van",
    "val",
    "an",
    "al",
    "ed",
    "les",
    "del",
    "bo",
    "long",
    "young",
    "white",
    "brown",
    "green",
    "black",
    "gray",
    "sharp",
    "star",
    "storm",
    "rain",
    "river",
    "christian",
    "cliff",
    "drew",
    "jack",
    "virginia",
    "georgia",
    "carolina",
    "dakota",
    "florida",
    "indiana",
    "montana",
    "nevada",
    "china",
    "india",
    "paris",
    "london",
    "jordan",
    "israel",
    "austin",
    "houston",
    "dallas",
    "phoenix",
    "aurora",
    "orlando",
    "madison",
    "lincoln",
    "jackson",
    "troy",
    "sydney",
    "savannah",
    "charlotte",
    "cleveland",
    "denver",
    "tyler",
    "florence",
    "chelsea",
    "brooklyn",
    "kent",
    "vienna",
    "salem",
    "asia",
    "africa",
    "else",
    "sunny",
    "misty",
    "precious",
    "lane",
    "bear",
    "said",
    "see",
    "son",
    "tom",
    "ben",
    "job",
    "doctor",
    "nurse",
    "in",
    "is",
    "we",
    "us",
    "so",
    "or",
    "no",
    "my",
    "mo",
    "to",
    "do",
    "go",
    "he",
    "me",
    "ma",
    "pa",
    "la",
    "le",
    "lo",
    "ok",
    "ha",
    "hi",
    "ad",
    "am",
    "as",
    "at",
    "be",
    "by",
    "if",
    "it",
    "of",
    "on",
    "up",
];

/// Title-case words that start sentences and headers in clinical notes and also happen to be
/// census names; never the start of a name without context.
const CLINICAL_CAPS: &[&str] = &[
    "patient",
    "pt",
    "the",
    "and",
    "but",
    "for",
    "with",
    "per",
    "plan",
    "exam",
    "history",
    "denies",
    "reports",
    "states",
    "notes",
    "called",
    "paged",
    "seen",
    "admitted",
    "discharged",
    "allergies",
    "medications",
    "vitals",
    "labs",
    "assessment",
    "impression",
    "diagnosis",
    "general",
    "neuro",
    "cardiac",
    "lungs",
    "heent",
    "abd",
    "ext",
    "skin",
    "psych",
    "social",
    "family",
    "surgical",
    "past",
    "medical",
    "chief",
    "complaint",
    "review",
    "follow",
    "return",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "july",
    "september",
    "october",
    "november",
    "december",
    "christmas",
    "easter",
    "thanksgiving",
    "north",
    "south",
    "east",
    "west",
    "saint",
    "mount",
];

pub(crate) use crate::hash::{FMap, FSet};

/// Words collected from the text being scanned (surnames found with strong evidence, facility
/// heads), looked up once per token. The keys are untrusted, so they sit in a sorted list
/// (O(log n) per lookup whatever the keys) behind a 4096-bit filter on first byte, last byte
/// and length that rejects most tokens without a comparison.
pub(crate) struct TextWords<'a> {
    filter: Box<[u64; 64]>,
    words: Vec<&'a str>,
}

impl<'a> TextWords<'a> {
    fn slot(w: &str) -> usize {
        let b = w.as_bytes();
        let (f, l) = (b.first().copied(), b.last().copied());
        let (f, l) = (usize::from(f.unwrap_or(0)), usize::from(l.unwrap_or(0)));
        (f.wrapping_mul(131) ^ l.wrapping_mul(31) ^ b.len().wrapping_mul(7)) & 4095
    }

    /// The set of `words` (any order, duplicates allowed).
    pub(crate) fn new(mut words: Vec<&'a str>) -> Self {
        words.sort_unstable();
        words.dedup();
        let mut filter = Box::new([0u64; 64]);
        for w in &words {
            let k = Self::slot(w);
            filter[k / 64] |= 1 << (k % 64);
        }
        TextWords { filter, words }
    }

    /// Whether `w` is in the set.
    #[inline]
    pub(crate) fn contains(&self, w: &str) -> bool {
        let k = Self::slot(w);
        self.filter[k / 64] & (1 << (k % 64)) != 0 && self.words.binary_search(&w).is_ok()
    }
}

/// Which family a gazetteer entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    City,
    State,
    Country,
    Org,
}

impl Place {
    /// This place's bit in [`Dicts::gaz_lower`].
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// One gazetteer entry (pattern id = index).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GazEntry {
    pub place: Place,
    pub ambiguous: bool,
}

impl GazEntry {
    pub(crate) fn kind(self) -> Kind {
        match self.place {
            Place::Org => Kind::Organization,
            _ => Kind::Location,
        }
    }
}

/// Parsed dictionaries, shared by every scrubber in the process.
pub(crate) struct Dicts {
    /// lower-case first name -> ambiguous?
    pub first: FMap<&'static str, bool>,
    /// lower-case surname -> ambiguous?
    pub last: FMap<&'static str, bool>,
    /// lower-case English words.
    pub words: FSet<&'static str>,
    /// lower-case single-word medical terms.
    pub allow: FSet<&'static str>,
    /// lower-case multi-word medical terms.
    pub allow_phrases: Vec<&'static str>,
    /// Title-case words that never start a name by themselves.
    pub clinical_caps: FSet<&'static str>,
    /// USPS state codes.
    pub state_codes: HashSet<&'static str>,
    /// Unambiguous first names (lower case, by frequency) for surrogates.
    pub first_list: Vec<&'static str>,
    /// Unambiguous surnames (lower case, by frequency) for surrogates.
    pub last_list: Vec<&'static str>,
    /// Unambiguous city names for surrogates.
    pub city_list: Vec<&'static str>,
    /// Gazetteer (cities, states, countries, organisations), case-sensitive: first token of
    /// the entry -> (entry, metadata), longest entry first.
    pub gaz_map: FMap<String, Vec<(String, GazEntry)>>,
    /// The keys of `gaz_map` in lower case -> the places their entries hold (one bit per
    /// [`Place`]), so that a token's lookup in any case is rejected without building its
    /// title-case form.
    pub gaz_lower: FMap<String, u8>,
}

fn lines(data: &'static str) -> impl Iterator<Item = &'static str> {
    data.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn tsv(data: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    lines(data).filter_map(|l| l.split_once('\t'))
}

impl Dicts {
    /// The process-wide dictionaries (parsed on first use).
    pub(crate) fn get() -> &'static Dicts {
        static DICTS: OnceLock<Dicts> = OnceLock::new();
        DICTS.get_or_init(Dicts::load)
    }

    fn load() -> Dicts {
        let ambiguous: HashSet<&str> = AMBIGUOUS_FIRST.iter().copied().collect();
        let first = tsv(FIRST)
            .map(|(n, f)| (n, f == "a" || ambiguous.contains(n)))
            .collect();
        let last = tsv(LAST).map(|(n, f)| (n, f == "a")).collect();
        let words = lines(WORDS).collect();
        let (mut allow, mut allow_phrases) = (FSet::default(), Vec::new());
        for t in lines(ALLOW) {
            if t.contains(' ') {
                allow_phrases.push(t);
            } else {
                allow.insert(t);
            }
        }
        let state_codes = tsv(STATES).map(|(_, c)| c).collect();
        let mut pats: Vec<String> = Vec::new();
        let mut gaz = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |p: &str, place: Place, ambiguous: bool| {
            if seen.insert(p.to_owned()) {
                pats.push(p.to_owned());
                gaz.push(GazEntry { place, ambiguous });
            }
        };
        for o in lines(ORGS) {
            // typographic variants: curly apostrophe, "&" for "and"
            for v in [
                o.to_owned(),
                o.replace('\'', "’"),
                o.replace(" and ", " & "),
                o.replace(" and ", " & ").replace('\'', "’"),
            ] {
                add(&v, Place::Org, false);
            }
        }
        for extra in [
            "NYC",
            "Bronx",
            "Manhattan",
            "Brooklyn",
            "Staten Island",
            "Long Island",
        ] {
            add(extra, Place::City, false);
        }
        for (name, _) in tsv(STATES) {
            add(name, Place::State, false);
        }
        for (name, f) in tsv(COUNTRIES) {
            add(name, Place::Country, f == "a");
        }
        for (name, f) in tsv(CITIES) {
            add(name, Place::City, f == "a");
        }
        let mut gaz_map: FMap<String, Vec<(String, GazEntry)>> = FMap::default();
        for (p, e) in pats.into_iter().zip(gaz) {
            let lp = p.to_ascii_lowercase();
            if let Some(t) = crate::tokens::tokenize(&p, &lp).first() {
                let key = p[t.start..t.end].to_owned();
                gaz_map.entry(key).or_default().push((p, e));
            }
        }
        let mut gaz_lower: FMap<String, u8> = FMap::default();
        for (k, v) in gaz_map.iter_mut() {
            v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
            let bits = gaz_lower.entry(k.to_lowercase()).or_default();
            for (_, e) in v.iter() {
                *bits |= e.place.bit();
            }
        }
        let first_list = tsv(FIRST)
            .filter(|(_, f)| *f == "u")
            .map(|(n, _)| n)
            .take(2000)
            .collect();
        let last_list = tsv(LAST)
            .filter(|(_, f)| *f == "u")
            .map(|(n, _)| n)
            .take(5000)
            .collect();
        let city_list = tsv(CITIES)
            .filter(|(n, f)| *f == "u" && !n.contains(['.', '\'']))
            .map(|(n, _)| n)
            .take(2000)
            .collect();
        Dicts {
            first_list,
            last_list,
            city_list,
            first,
            last,
            words,
            allow,
            allow_phrases,
            clinical_caps: CLINICAL_CAPS.iter().copied().collect(),
            state_codes,
            gaz_map,
            gaz_lower,
        }
    }

    /// Whether `lower` is an English word, also trying simple inflections ("reports",
    /// "admitted", "walking", "quickly").
    pub(crate) fn is_word(&self, lower: &str) -> bool {
        if self.words.contains(lower) {
            return true;
        }
        let stems = [
            lower.strip_suffix('s'),
            lower.strip_suffix("es"),
            lower.strip_suffix("ies").map(|_| ""),
            lower.strip_suffix("ed"),
            lower.strip_suffix('d'),
            lower.strip_suffix("ing"),
            lower.strip_suffix("ly"),
        ];
        stems
            .iter()
            .flatten()
            .any(|s| s.len() >= 3 && self.words.contains(s))
            || lower
                .strip_suffix("ies")
                .is_some_and(|s| self.words.contains(format!("{s}y").as_str()))
            || lower
                .strip_suffix("ing")
                .is_some_and(|s| self.words.contains(format!("{s}e").as_str()))
    }

    /// Whether `lower` (a lower-case word) is medical vocabulary.
    pub(crate) fn is_medical(&self, lower: &str) -> bool {
        self.allow.contains(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_load() {
        let d = Dicts::get();
        assert_eq!(d.first.get("sarah"), Some(&false));
        assert_eq!(d.first.get("will"), Some(&true));
        assert_eq!(d.first.get("john"), Some(&false));
        assert!(d.last.contains_key("smith"));
        assert!(d.is_word("reports") && d.is_word("admitted") && !d.is_word("okonkwo"));
        assert!(d.allow.contains("parkinson"));
        assert!(d.state_codes.contains("MD"));
        assert!(d.gaz_map.len() > 5000);
        assert!(d.gaz_map["Mt"].iter().any(|(p, _)| p == "Mt. Sinai"));
    }
}

//! The [`Scrubber`]: configuration, analysis and batch entry points.

use std::collections::HashSet;
use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rayon::prelude::*;
use regex::{Regex, RegexBuilder};

use crate::detect::{Engine, Env, Policy};
use crate::dict::Dicts;
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::span::{resolve, Span};

/// Default maximum input size: 10 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;
/// Maximum number of terms in each caller list (allow, deny, known identifiers).
pub const MAX_TERMS: usize = 100_000;
/// Maximum length in bytes of one caller term.
pub const MAX_TERM_BYTES: usize = 1_000;
/// Maximum compiled size of one caller regex (bytes of the compiled program).
pub const MAX_PATTERN_SIZE: usize = 1 << 20;

/// Builder for a [`Scrubber`]. Start from [`Scrubber::builder`]; every setting has a
/// HIPAA Safe Harbor default, and [`ScrubberBuilder::build`] validates the whole
/// configuration.
///
/// `Debug` prints counts only: deny lists and known identifiers are PHI.
#[derive(Clone)]
#[must_use]
pub struct ScrubberBuilder {
    max_input_bytes: usize,
    bare_years: bool,
    states_and_countries: bool,
    min_age: u32,
    allow: Vec<String>,
    deny: Vec<(String, Kind)>,
    known: Vec<(String, Kind)>,
    patterns: Vec<(String, Kind)>,
    kinds: Option<HashSet<Kind>>,
}

impl Default for ScrubberBuilder {
    fn default() -> Self {
        ScrubberBuilder {
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            bare_years: false,
            states_and_countries: true,
            min_age: 90,
            allow: Vec::new(),
            deny: Vec::new(),
            known: Vec::new(),
            patterns: Vec::new(),
            kinds: None,
        }
    }
}

impl fmt::Debug for ScrubberBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrubberBuilder")
            .field("max_input_bytes", &self.max_input_bytes)
            .field("bare_years", &self.bare_years)
            .field("states_and_countries", &self.states_and_countries)
            .field("min_age", &self.min_age)
            .field("allow_terms", &self.allow.len())
            .field("deny_terms", &self.deny.len())
            .field("known_identifiers", &self.known.len())
            .field("patterns", &self.patterns.len())
            .field("kinds", &self.kinds)
            .finish()
    }
}

impl ScrubberBuilder {
    /// Inputs longer than this many bytes are rejected with [`Error::InputTooLarge`]
    /// (default 10 MiB). Must be at least 1.
    pub fn max_input_bytes(mut self, n: usize) -> Self {
        self.max_input_bytes = n;
        self
    }

    /// Also report bare years with a date cue ("since 2019") as `DATE`. Off by default:
    /// Safe Harbor lets years stay.
    pub fn bare_years(mut self, yes: bool) -> Self {
        self.bare_years = yes;
        self
    }

    /// Report US states and countries as `LOCATION` (default true, as i2b2 does). Safe Harbor
    /// only requires places smaller than a state; set false to keep them.
    pub fn states_and_countries(mut self, yes: bool) -> Self {
        self.states_and_countries = yes;
        self
    }

    /// Smallest age reported as `AGE` (default 90, the Safe Harbor rule). Must be 1..=125.
    pub fn min_age(mut self, age: u32) -> Self {
        self.min_age = age;
        self
    }

    /// Terms never reported (case-insensitive, whole words), e.g. a clinic's own drug or
    /// device names that collide with the dictionaries.
    pub fn allow<I, S>(mut self, terms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow.extend(terms.into_iter().map(Into::into));
        self
    }

    /// Terms always reported as `kind` wherever they occur (case-insensitive, whole words).
    pub fn deny<I, S>(mut self, terms: I, kind: Kind) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deny
            .extend(terms.into_iter().map(|t| (t.into(), kind)));
        self
    }

    /// A record's known identifier (the patient's name, MRN, date of birth...), found wherever
    /// it appears (case-insensitive, whole words). For `Kind::Name` each part of the name of
    /// two or more letters is also searched on its own ("John Smith" finds "Mr. Smith").
    pub fn known(mut self, value: impl Into<String>, kind: Kind) -> Self {
        self.known.push((value.into(), kind));
        self
    }

    /// An extra regular expression whose matches are reported as `kind`. Compiled with a size
    /// limit of [`MAX_PATTERN_SIZE`]; an invalid pattern fails [`ScrubberBuilder::build`].
    pub fn pattern(mut self, regex: impl Into<String>, kind: Kind) -> Self {
        self.patterns.push((regex.into(), kind));
        self
    }

    /// Report only these kinds (default: all). Useful for Safe Harbor variants, e.g. keeping
    /// organisations.
    pub fn only_kinds<I: IntoIterator<Item = Kind>>(mut self, kinds: I) -> Self {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }

    /// Validates the configuration and compiles the scrubber.
    ///
    /// # Errors
    /// [`Error::Config`] for out-of-range settings, [`Error::TooManyTerms`] and
    /// [`Error::BadTerm`] for oversized or empty caller terms, [`Error::BadPattern`] for a
    /// caller regex that does not compile within the size limit.
    pub fn build(self) -> Result<Scrubber> {
        if self.max_input_bytes == 0 {
            return Err(Error::Config("max_input_bytes must be at least 1"));
        }
        if !(1..=125).contains(&self.min_age) {
            return Err(Error::Config("min_age must be in 1..=125"));
        }
        check_terms("allow list", self.allow.iter().map(String::as_str))?;
        check_terms("deny list", self.deny.iter().map(|(t, _)| t.as_str()))?;
        check_terms(
            "known identifiers",
            self.known.iter().map(|(t, _)| t.as_str()),
        )?;
        if self.patterns.len() > MAX_TERMS {
            return Err(Error::TooManyTerms {
                list: "patterns",
                count: self.patterns.len(),
                limit: MAX_TERMS,
            });
        }
        let mut patterns = Vec::with_capacity(self.patterns.len());
        for (index, (p, kind)) in self.patterns.iter().enumerate() {
            let re = RegexBuilder::new(p)
                .size_limit(MAX_PATTERN_SIZE)
                .dfa_size_limit(MAX_PATTERN_SIZE)
                .build()
                .map_err(|_| Error::BadPattern { index })?;
            patterns.push((re, *kind));
        }
        let mut targets: Vec<(String, Kind)> = self.deny.clone();
        for (v, k) in &self.known {
            targets.push((v.clone(), *k));
            if *k == Kind::Name {
                for part in v.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-') {
                    if part.chars().count() >= 2 {
                        targets.push((part.to_owned(), *k));
                    }
                }
            }
        }
        let targets_ac = build_ac(targets.iter().map(|(t, _)| t.as_str()))?;
        let allow_ac = build_ac(self.allow.iter().map(String::as_str))?;
        let dicts = Dicts::get();
        let medical_ac = build_ac(dicts.allow_phrases.iter().copied())?;
        Ok(Scrubber {
            engine: Engine::new(),
            dicts,
            policy: Policy {
                bare_years: self.bare_years,
                states_and_countries: self.states_and_countries,
                min_age: self.min_age,
            },
            max_input_bytes: self.max_input_bytes,
            allow_words: self.allow.iter().map(|t| t.to_lowercase()).collect(),
            allow_ac,
            medical_ac,
            targets_ac,
            target_kinds: targets.into_iter().map(|(_, k)| k).collect(),
            patterns,
            kinds: self.kinds,
        })
    }
}

fn check_terms<'a>(
    list: &'static str,
    terms: impl ExactSizeIterator<Item = &'a str>,
) -> Result<()> {
    if terms.len() > MAX_TERMS {
        return Err(Error::TooManyTerms {
            list,
            count: terms.len(),
            limit: MAX_TERMS,
        });
    }
    for t in terms {
        if t.trim().is_empty() || t.len() > MAX_TERM_BYTES {
            return Err(Error::BadTerm {
                list,
                len: t.len(),
                limit: MAX_TERM_BYTES,
            });
        }
    }
    Ok(())
}

/// A case-insensitive (ASCII) whole-term automaton, built over ASCII-lower-cased terms and
/// searched over the ASCII-lower-cased text: the same matches as an `ascii_case_insensitive`
/// automaton (lower-casing ASCII keeps every byte offset), but case-sensitive automata keep
/// the fast SIMD prefilters.
fn build_ac<'a>(terms: impl Iterator<Item = &'a str>) -> Result<Option<AhoCorasick>> {
    let terms: Vec<String> = terms.map(str::to_ascii_lowercase).collect();
    if terms.is_empty() {
        return Ok(None);
    }
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&terms)
        .map(Some)
        .map_err(|_| Error::Config("term lists too large for the automaton"))
}

/// A compiled, immutable de-identifier. Cheap to share (`Send + Sync`); build once and reuse
/// across threads.
pub struct Scrubber {
    engine: Engine,
    dicts: &'static Dicts,
    policy: Policy,
    max_input_bytes: usize,
    allow_words: HashSet<String>,
    allow_ac: Option<AhoCorasick>,
    medical_ac: Option<AhoCorasick>,
    targets_ac: Option<AhoCorasick>,
    target_kinds: Vec<Kind>,
    patterns: Vec<(Regex, Kind)>,
    kinds: Option<HashSet<Kind>>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("max_input_bytes", &self.max_input_bytes)
            .field("policy", &self.policy)
            .field("allow_terms", &self.allow_words.len())
            .field("deny_and_known_terms", &self.target_kinds.len())
            .field("patterns", &self.patterns.len())
            .finish_non_exhaustive()
    }
}

fn word_match(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].chars().next_back();
    let after = text[e..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

impl Scrubber {
    /// A builder with the HIPAA Safe Harbor defaults.
    pub fn builder() -> ScrubberBuilder {
        ScrubberBuilder::default()
    }

    /// The configured maximum input size in bytes.
    pub fn max_input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// Finds the PHI in `text`: sorted, non-overlapping spans with byte offsets on char
    /// boundaries (the longer span wins an overlap; on equal length the higher score).
    ///
    /// # Errors
    /// [`Error::InputTooLarge`] when `text` is longer than the configured limit.
    pub fn analyze(&self, text: &str) -> Result<Vec<Span>> {
        if text.len() > self.max_input_bytes {
            return Err(Error::InputTooLarge {
                len: text.len(),
                limit: self.max_input_bytes,
            });
        }
        // the term automata match ASCII-lower-cased terms (see `build_ac`); the tokenizer
        // borrows lower-cased words from the same copy
        let lower = text.to_ascii_lowercase();
        let env = Env {
            text,
            lower: &lower,
            dicts: self.dicts,
            policy: &self.policy,
        };
        let mut cands = Vec::new();
        self.engine.run(&env, &mut cands);
        for (re, kind) in &self.patterns {
            for m in re.find_iter(text) {
                cands.push(Span::new(m.start(), m.end(), *kind, 0.97));
            }
        }
        self.filter_allowed(text, &lower, &mut cands);
        if let Some(ac) = &self.targets_ac {
            for m in ac.find_iter(lower.as_str()) {
                if word_match(text, m.start(), m.end()) {
                    let kind = self.target_kinds[m.pattern().as_usize()];
                    cands.push(Span::new(m.start(), m.end(), kind, 1.0));
                }
            }
        }
        if let Some(kinds) = &self.kinds {
            cands.retain(|s| kinds.contains(&s.kind));
        }
        // defensive: every span must lie on char boundaries inside the text
        cands.retain(|s| {
            s.end <= text.len() && text.is_char_boundary(s.start) && text.is_char_boundary(s.end)
        });
        Ok(resolve(cands))
    }

    fn filter_allowed(&self, text: &str, lower: &str, cands: &mut Vec<Span>) {
        let mut blocked: Vec<(usize, usize, bool)> = Vec::new();
        for (ac, caller) in [(&self.allow_ac, true), (&self.medical_ac, false)] {
            if let Some(ac) = ac {
                for m in ac.find_iter(lower) {
                    if word_match(text, m.start(), m.end()) {
                        blocked.push((m.start(), m.end(), caller));
                    }
                }
            }
        }
        // `inside` below asks whether a blocking match (a, b) with a <= start and end <= b
        // exists: per kind of block (the caller's allow list blocks every span, medical terms
        // only the weaker ones), the largest b among the blocks with a <= start answers it.
        blocked.sort_unstable();
        let mut max_end = [Vec::with_capacity(blocked.len()), Vec::new()];
        let mut starts = [Vec::with_capacity(blocked.len()), Vec::new()];
        for &(a, b, caller) in &blocked {
            let k = usize::from(caller);
            let m = max_end[k].last().map_or(b, |&p: &usize| p.max(b));
            max_end[k].push(m);
            starts[k].push(a);
        }
        let covered = |k: usize, s: &Span| {
            let n = starts[k].partition_point(|&a| a <= s.start);
            n > 0 && max_end[k][n - 1] >= s.end
        };
        let dicts = self.dicts;
        cands.retain(|s| {
            let inside = covered(1, s) || (s.score < 0.9 && covered(0, s));
            if inside {
                return false;
            }
            let word = &text[s.start..s.end];
            let lower = word.to_lowercase();
            if self.allow_words.contains(&lower) {
                return false;
            }
            let soft = matches!(s.kind, Kind::Name | Kind::Location | Kind::Organization);
            !(soft && s.score < 0.9 && dicts.is_medical(&lower))
        });
    }

    /// [`Scrubber::analyze`] over many texts in parallel (rayon); results keep input order.
    pub fn analyze_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Result<Vec<Span>>> {
        texts.par_iter().map(|t| self.analyze(t.as_ref())).collect()
    }
}

impl Scrubber {
    /// Finds the PHI in `text` and replaces it with `ops`.
    ///
    /// # Errors
    /// [`Error::InputTooLarge`] when `text` is longer than the configured limit.
    pub fn redact(&self, text: &str, ops: &crate::Operators) -> Result<crate::Redacted> {
        let spans = self.analyze(text)?;
        Ok(crate::operators::apply(text, spans, ops, self.dicts))
    }

    /// [`Scrubber::redact`] over many texts in parallel (rayon); results keep input order.
    pub fn redact_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        ops: &crate::Operators,
    ) -> Vec<Result<crate::Redacted>> {
        texts
            .par_iter()
            .map(|t| self.redact(t.as_ref(), ops))
            .collect()
    }
}

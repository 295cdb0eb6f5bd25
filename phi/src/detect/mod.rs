//! Detector families and the engine that runs them in one prefiltered pass.
//!
//! Regex detectors register [`RuleDef`]s; the engine compiles them once into one lazy DFA
//! over all rules (one overlapping pass tells where each rule's matches can end), a reverse
//! lazy DFA per rule (where those matches can start) and the individual regexes, which run
//! only inside the windows so found (see [`Engine`]). Names are found by a
//! token scanner with dictionary lookups, places and organisations by one Aho-Corasick
//! pass over the built-in gazetteer.

pub(crate) mod contact;
pub(crate) mod dates;
pub(crate) mod facilities;
pub(crate) mod ids;
pub(crate) mod names;
pub(crate) mod places;

use std::ops::Index;
use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, OverlappingState, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::captures::Captures as Slots;
use regex_automata::{meta, Anchored, Input, MatchKind};

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

/// One match of a rule with its capture groups, as a handler sees it.
pub(crate) struct Captures<'h> {
    text: &'h str,
    slots: &'h Slots,
}

/// A matched group: byte offsets into the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Match<'h> {
    text: &'h str,
    start: usize,
    end: usize,
}

impl<'h> Match<'h> {
    pub(crate) fn start(&self) -> usize {
        self.start
    }
    pub(crate) fn end(&self) -> usize {
        self.end
    }
    pub(crate) fn as_str(&self) -> &'h str {
        &self.text[self.start..self.end]
    }
}

impl<'h> Captures<'h> {
    /// Group `i` (0 is the whole match), if it took part in the match.
    pub(crate) fn get(&self, i: usize) -> Option<Match<'h>> {
        self.slots.get_group(i).map(|sp| Match {
            text: self.text,
            start: sp.start,
            end: sp.end,
        })
    }
}

impl Index<usize> for Captures<'_> {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        match self.slots.get_group(i) {
            Some(sp) => &self.text[sp.start..sp.end],
            None => panic!("no group {i} in this match. This is a bug."),
        }
    }
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

/// A compiled rule: the regex whose leftmost-first matches the handler sees, and a reverse
/// lazy DFA (all match kinds, anchored) that finds the earliest start of any match ending
/// at a given offset.
struct Rule {
    re: meta::Regex,
    rev: DFA,
    /// No match can be empty (the windows are built from non-empty matches).
    nonempty: bool,
    handler: Handler,
}

/// Per-thread search state of an [`Engine`].
struct Caches {
    fwd: Cache,
    rev: Vec<Cache>,
    re: Vec<meta::Cache>,
    slots: Vec<Slots>,
}

/// The compiled regex rules.
///
/// One overlapping pass of a lazy DFA over every rule at once reports, per rule, every
/// offset where some match of the rule ends (with any start). From each such end the rule's
/// reverse DFA finds the earliest start of a match ending there, so every match of the rule
/// lies inside one of these windows. Overlapping windows are merged, and the rule's regex
/// then runs only inside the merged windows (look-around still sees the text outside), which
/// gives exactly the matches of a search over the whole text: each match, and every
/// alternative the leftmost-first search weighs against it, lies inside one window.
pub(crate) struct Engine {
    fwd: DFA,
    rules: Vec<Rule>,
    caches: Mutex<Vec<Caches>>,
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
        // (Unicode \b forces the slower NFA engines on non-ASCII text, and the lazy DFAs
        // below cannot run it at all).
        for d in &mut defs {
            d.pattern = d
                .pattern
                .replace(r"\b", r"(?-u:\b)")
                .replace(r"\d", "[0-9]");
        }
        let fwd = DFA::builder()
            .configure(DFA::config().match_kind(MatchKind::All))
            .build_many(&defs.iter().map(|d| d.pattern.as_str()).collect::<Vec<_>>())
            .expect("built-in rules compile. This is a bug.");
        let rules = defs
            .into_iter()
            .map(|d| {
                let re =
                    meta::Regex::new(&d.pattern).expect("built-in rule compiles. This is a bug.");
                let rev = DFA::builder()
                    .configure(DFA::config().match_kind(MatchKind::All))
                    .thompson(thompson::Config::new().reverse(true))
                    .build(&d.pattern)
                    .expect("built-in rule compiles. This is a bug.");
                let nonempty = regex_automata::util::syntax::parse(&d.pattern)
                    .ok()
                    .and_then(|h| h.properties().minimum_len())
                    .is_some_and(|n| n > 0);
                Rule {
                    re,
                    rev,
                    nonempty,
                    handler: d.handler,
                }
            })
            .collect();
        Engine {
            fwd,
            rules,
            caches: Mutex::new(Vec::new()),
        }
    }

    fn caches(&self) -> Caches {
        let pooled = self
            .caches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        pooled.unwrap_or_else(|| Caches {
            fwd: self.fwd.create_cache(),
            rev: self.rules.iter().map(|r| r.rev.create_cache()).collect(),
            re: self.rules.iter().map(|r| r.re.create_cache()).collect(),
            slots: self.rules.iter().map(|r| r.re.create_captures()).collect(),
        })
    }

    /// Runs every rule over `env.text`, then the dictionary detectors; returns what the
    /// rules examined.
    pub(crate) fn run(&self, env: &Env<'_>, out: &mut Vec<Span>) -> Work {
        let mut caches = self.caches();
        let work = self.run_rules(env, &mut caches, out);
        self.caches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(caches);
        let toks = names::tokenize(env.text, env.lower);
        let caseless = names::caseless_lines(env.text, &toks);
        places::gazetteer(env, &toks, out);
        facilities::detect(env, &toks, &caseless, out);
        names::detect(env, &toks, &caseless, out);
        work
    }

    fn run_rules(&self, env: &Env<'_>, caches: &mut Caches, out: &mut Vec<Span>) -> Work {
        let text = env.text;
        let budget = reverse_budget(text.len());
        let mut work = Work::default();
        // every offset where a match of each rule ends; a rule with more ends than its
        // reverse-scan budget is searched whole (`None`) without recording them
        let mut ends: Vec<Option<Vec<usize>>> = vec![Some(Vec::new()); self.rules.len()];
        let input = Input::new(text);
        let mut state = OverlappingState::start();
        let complete = loop {
            if self
                .fwd
                .try_search_overlapping_fwd(&mut caches.fwd, &input, &mut state)
                .is_err()
            {
                break false;
            }
            let Some(hm) = state.get_match() else {
                break true;
            };
            let slot = &mut ends[hm.pattern().as_usize()];
            if let Some(e) = slot {
                if e.last() != Some(&hm.offset()) {
                    if e.len() >= budget {
                        *slot = None;
                    } else {
                        e.push(hm.offset());
                    }
                }
            }
        };
        work.forward_bytes = text.len();
        let mut windows: Vec<(usize, usize)> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            windows.clear();
            if let (true, true, Some(ends)) = (complete, rule.nonempty, &ends[i]) {
                if ends.is_empty() {
                    continue;
                }
                let mut left = budget;
                for &e in ends {
                    match rev_scan(&rule.rev, &mut caches.rev[i], text, e, &mut left) {
                        Ok(Some(s)) if s < e => windows.push((s, e)),
                        // an empty match, a scan over budget or an engine failure: search
                        // the whole text
                        _ => {
                            windows.clear();
                            break;
                        }
                    }
                }
                work.reverse_bytes += budget - left;
            }
            if windows.is_empty() {
                windows.push((0, text.len()));
            } else {
                windows.sort_unstable();
                let mut merged = 0;
                for k in 1..windows.len() {
                    let (s, e) = windows[k];
                    if s <= windows[merged].1 {
                        windows[merged].1 = windows[merged].1.max(e);
                    } else {
                        merged += 1;
                        windows[merged] = (s, e);
                    }
                }
                windows.truncate(merged + 1);
            }
            let cache = &mut caches.re[i];
            let slots = &mut caches.slots[i];
            if windows.len() == 1 && windows[0] == (0, text.len()) {
                work.whole_text_rules += 1;
                work.window_bytes += text.len();
                // the regex's own iteration (it handles empty matches)
                for caps in rule.re.captures_iter(text) {
                    (rule.handler)(&Captures { text, slots: &caps }, env, out);
                }
                continue;
            }
            for &(s, e) in windows.iter() {
                work.window_bytes += e - s;
                let mut at = s;
                while at < e {
                    rule.re
                        .search_captures_with(cache, &Input::new(text).range(at..e), slots);
                    let Some(m) = slots.get_match() else { break };
                    (rule.handler)(&Captures { text, slots }, env, out);
                    if m.end() == m.start() {
                        // cannot happen: windows come only from non-empty matches
                        break;
                    }
                    at = m.end();
                }
            }
        }
        work
    }
}

/// What one run of the rules examined, for the worst-case tests: every figure is at most a
/// constant times the input length.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    /// Bytes read by the one forward pass over all rules.
    pub forward_bytes: usize,
    /// Bytes stepped by the reverse scans (at most [`reverse_budget`] per rule).
    pub reverse_bytes: usize,
    /// Bytes of text the rules' regexes searched (windows, or the whole text).
    pub window_bytes: usize,
    /// Rules searched over the whole text.
    pub whole_text_rules: usize,
}

/// Bytes the reverse scans of one rule may step on a text of `len` bytes before the rule
/// falls back to one search of the whole text: linear in the text, so the window search
/// never costs more than a few whole-text passes.
pub(crate) fn reverse_budget(len: usize) -> usize {
    len.saturating_mul(4).saturating_add(4096)
}

/// Why a reverse scan stopped without an answer.
#[derive(Debug)]
enum RevStop {
    /// The rule's budget ran out.
    Budget,
    /// The lazy DFA gave up (its cache was cleared too often) or quit.
    Engine,
}

/// The earliest start of a match of the rule ending exactly at `e` (the reverse DFA is
/// anchored at `e`), found by stepping the reverse lazy DFA one byte at a time; every byte
/// stepped is taken from `budget`. `Ok(None)`: no match ends at `e`.
fn rev_scan(
    dfa: &DFA,
    cache: &mut Cache,
    text: &str,
    e: usize,
    budget: &mut usize,
) -> Result<Option<usize>, RevStop> {
    let bytes = text.as_bytes();
    let input = Input::new(text).range(..e).anchored(Anchored::Yes);
    let mut sid = dfa
        .start_state_reverse(cache, &input)
        .map_err(|_| RevStop::Engine)?;
    let mut found = None;
    let mut at = e;
    while at > 0 {
        if *budget == 0 {
            return Err(RevStop::Budget);
        }
        *budget -= 1;
        at -= 1;
        sid = dfa
            .next_state(cache, sid, bytes[at])
            .map_err(|_| RevStop::Engine)?;
        if sid.is_tagged() {
            if sid.is_match() {
                // matches are reported one byte late: this one starts after `at`
                found = Some(at + 1);
            } else if sid.is_dead() {
                return Ok(found);
            } else if sid.is_quit() {
                return Err(RevStop::Engine);
            }
        }
    }
    sid = dfa
        .next_eoi_state(cache, sid)
        .map_err(|_| RevStop::Engine)?;
    if sid.is_match() {
        found = Some(0);
    }
    Ok(found)
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
            let mut out = Vec::new();
            let mut caches = engine.caches();
            engine.run_rules(&senv, &mut caches, &mut out);
        }
        println!(
            "short rules: {:.1} us",
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        );
        let t = Instant::now();
        for _ in 0..iters {
            let toks = names::tokenize(short, &short_lower);
            let mut out = Vec::new();
            let caseless = names::caseless_lines(short, &toks);
            places::gazetteer(&senv, &toks, &mut out);
            names::detect(&senv, &toks, &caseless, &mut out);
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
        let mut out = Vec::new();
        let mut caches = engine.caches();
        engine.run_rules(&env, &mut caches, &mut out);
        println!(
            "rules: {:.1} MB/s ({} spans)",
            mb / t.elapsed().as_secs_f64(),
            out.len()
        );
        for (i, r) in engine.rules.iter().enumerate() {
            let t = Instant::now();
            let mut out = Vec::new();
            for c in r.re.captures_iter(&text) {
                (r.handler)(
                    &Captures {
                        text: &text,
                        slots: &c,
                    },
                    &env,
                    &mut out,
                );
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "rule {i:2}: {:8.1} MB/s {:6} spans (whole-text scan)",
                mb / s,
                out.len()
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
        let caseless = names::caseless_lines(&text, &toks);
        names::detect(&env, &toks, &caseless, &mut out);
        println!("names: {:.1} MB/s", mb / t.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod window_equivalence {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// The windowed search gives exactly the handler calls of whole-text scans.
    fn check(text: &str) {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        let engine = ENGINE.get_or_init(Engine::new);
        let (fast, slow) = with_test_env(text, |env| {
            let mut fast = Vec::new();
            let mut caches = engine.caches();
            engine.run_rules(env, &mut caches, &mut fast);
            let mut slow = Vec::new();
            for r in &engine.rules {
                for c in r.re.captures_iter(text) {
                    (r.handler)(&Captures { text, slots: &c }, env, &mut slow);
                }
            }
            (fast, slow)
        });
        assert_eq!(fast, slow, "{text:?}");
    }

    #[test]
    fn fixed_cases() {
        check("");
        check("MRN: 00482913, DOB 03/14/1952, seen at St. Mary's Hospital on Monday, Jan 3rd 2023; call 617-555-0143 or (617) 555 0199 ext. 12, SSN 123-45-6789.");
        check("Account number is 12345678 and acct 4111 1111 1111 1111; IBAN GB82 WEST 1234 5698 7654 32; VIN 1HGCM82633A004352");
        check("1234 Elm Street, Springfield, IL 62704\nP.O. Box 12\nUniversity of Chicago Medical Center");
    }

    proptest! {
        #[test]
        fn same_as_whole_text(
            s in "([A-Z][a-z]{0,8}|[A-Z]{1,3}|[0-9]{1,5}|[ \n,./:#()\\-@']|St|Dr|Hospital|Medical Center|of|the|MRN|ID|Jan|March|Monday|Street|\\+1|é|www\\.|com){0,60}"
        ) {
            check(&s);
        }
    }
}

/// Runs `f` with an [`Env`] over `text` under the test policy (every detector on).
#[cfg(test)]
fn with_test_env<R>(text: &str, f: impl FnOnce(&Env<'_>) -> R) -> R {
    let lower = text.to_ascii_lowercase();
    let policy = Policy {
        bare_years: true,
        states_and_countries: true,
        min_age: 90,
    };
    f(&Env {
        text,
        lower: &lower,
        dicts: Dicts::get(),
        policy: &policy,
    })
}

#[cfg(test)]
mod worst_case;

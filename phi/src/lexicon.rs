//! The name detector's cue words and exclusions (`data/name_cues.txt`, with its provenance
//! in `data/README.md`) and the one-probe lookup of a token's cue classes.

use std::sync::{LazyLock, OnceLock};

use crate::hash::FMap;

const NAME_CUES: &str = include_str!("../data/name_cues.txt");

/// The words of one `[section]` of `data/name_cues.txt` (comments and blank lines skipped).
fn section(name: &str) -> Vec<&'static str> {
    let header = format!("[{name}]");
    NAME_CUES
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The `[titles]` section of `data/name_cues.txt`.
pub(crate) static TITLES: LazyLock<Vec<&'static str>> = LazyLock::new(|| section("titles"));
/// The `[postnominals]` section of `data/name_cues.txt`.
pub(crate) static POSTNOMINALS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("postnominals"));
/// The `[strong_cues]` section of `data/name_cues.txt`.
pub(crate) static STRONG_CUES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("strong_cues"));
/// The `[weak_cues]` section of `data/name_cues.txt`.
pub(crate) static WEAK_CUES: LazyLock<Vec<&'static str>> = LazyLock::new(|| section("weak_cues"));
/// The `[medical_nouns]` section of `data/name_cues.txt`.
pub(crate) static MEDICAL_NOUNS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("medical_nouns"));
/// The `[identifier_cues]` section of `data/name_cues.txt`.
pub(crate) static IDENTIFIER_CUES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("identifier_cues"));
/// The `[not_a_name]` section of `data/name_cues.txt`.
pub(crate) static NOT_A_NAME: LazyLock<Vec<&'static str>> = LazyLock::new(|| section("not_a_name"));
/// The `[any_case_titles]` section of `data/name_cues.txt`.
pub(crate) static ANY_CASE_TITLES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("any_case_titles"));
/// The `[any_case_roles]` section of `data/name_cues.txt`.
pub(crate) static ANY_CASE_ROLES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("any_case_roles"));
/// The `[staff_roles]` section of `data/name_cues.txt`.
pub(crate) static STAFF_ROLES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("staff_roles"));
/// The `[relation_roles]` section of `data/name_cues.txt`.
pub(crate) static RELATION_ROLES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("relation_roles"));
/// The `[any_case_verbs]` section of `data/name_cues.txt`.
pub(crate) static ANY_CASE_VERBS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| section("any_case_verbs"));

pub(crate) const LEX_TITLE: u8 = 1;
pub(crate) const LEX_STRONG: u8 = 2;
pub(crate) const LEX_WEAK: u8 = 4;
pub(crate) const LEX_POSTNOMINAL: u8 = 8;
pub(crate) const LEX_MEDICAL_NOUN: u8 = 16;
pub(crate) const LEX_ANY_TITLE: u8 = 32;
pub(crate) const LEX_ROLE: u8 = 64;
pub(crate) const LEX_VERB: u8 = 128;

/// The cue lists as one hashed lookup (a token is classified with one probe instead
/// of a linear scan of every list).
pub(crate) fn lex(word: &str) -> u8 {
    /// The lookup, plus a 16384-bit filter on each listed word's first byte, last byte and
    /// length: most tokens are rejected without hashing.
    struct Lex {
        map: FMap<&'static str, u8>,
        filter: [u64; 256],
    }
    fn slot(w: &[u8]) -> usize {
        let f = usize::from(w.first().copied().unwrap_or(0));
        let l = usize::from(w.last().copied().unwrap_or(0));
        ((f << 6) ^ l.wrapping_mul(37) ^ w.len().wrapping_mul(977)) & 16383
    }
    static LEX: OnceLock<Lex> = OnceLock::new();
    let lx = LEX.get_or_init(|| {
        let mut m: FMap<&'static str, u8> = FMap::default();
        let mut filter = [0u64; 256];
        for (list, flag) in [
            (&*TITLES, LEX_TITLE),
            (&*STRONG_CUES, LEX_STRONG),
            (&*WEAK_CUES, LEX_WEAK),
            (&*POSTNOMINALS, LEX_POSTNOMINAL),
            (&*MEDICAL_NOUNS, LEX_MEDICAL_NOUN),
            (&*ANY_CASE_TITLES, LEX_ANY_TITLE),
            (&*ANY_CASE_ROLES, LEX_ROLE),
            (&*ANY_CASE_VERBS, LEX_VERB),
        ] {
            for &w in list.iter() {
                *m.entry(w).or_default() |= flag;
                let k = slot(w.as_bytes());
                filter[k / 64] |= 1 << (k % 64);
            }
        }
        Lex { map: m, filter }
    });
    let k = slot(word.as_bytes());
    if lx.filter[k / 64] & (1 << (k % 64)) == 0 {
        return 0;
    }
    lx.map.get(word).copied().unwrap_or(0)
}

pub(crate) fn is_title(lower: &str) -> bool {
    lex(lower) & LEX_TITLE != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_there_lower_case_and_without_duplicates() {
        for list in [
            &*TITLES,
            &*POSTNOMINALS,
            &*STRONG_CUES,
            &*WEAK_CUES,
            &*MEDICAL_NOUNS,
            &*IDENTIFIER_CUES,
            &*NOT_A_NAME,
            &*ANY_CASE_TITLES,
            &*ANY_CASE_ROLES,
            &*STAFF_ROLES,
            &*RELATION_ROLES,
            &*ANY_CASE_VERBS,
        ] {
            assert!(!list.is_empty());
            let mut seen = std::collections::HashSet::new();
            for w in list {
                assert_eq!(*w, w.to_lowercase(), "{w:?} is not lower case");
                assert!(seen.insert(*w), "{w:?} is listed twice");
            }
        }
        assert!(TITLES.contains(&"dr") && POSTNOMINALS.contains(&"rrt"));
        assert_eq!(lex("dr") & LEX_TITLE, LEX_TITLE);
        assert_eq!(lex("zebediah"), 0);
    }
}

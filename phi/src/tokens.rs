//! The word tokenizer shared by the name detector and the dictionaries: letters with inner
//! apostrophes and hyphens, their case, and their cue classes (looked up once here).

use std::borrow::Cow;

#[cfg(test)]
use crate::lexicon::TITLES;
use crate::lexicon::{is_title, lex};

/// A word token: letters with inner apostrophes and hyphens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok<'a> {
    pub start: usize,
    pub end: usize,
    /// Lower-cased text without a trailing possessive "'s" (borrowed when already lower case).
    pub lower: Cow<'a, str>,
    /// End of the name part (before "'s").
    pub name_end: usize,
    /// Starts with an upper-case letter.
    pub cap: bool,
    /// Has no lower-case letter.
    pub upper: bool,
    /// A single capital letter (an initial), possibly followed by '.'.
    pub initial: bool,
    /// Followed directly by '.'.
    pub dot: bool,
    /// Starts a sentence or a line.
    pub sent_start: bool,
    /// Holds an inner hyphen ("daughter-in-law").
    pub hyphen: bool,
    /// The word-list flags of `lower` (`LEX_*`), looked up once here for every pass.
    pub lex: u8,
}

const UPPER: u8 = 1;
const LOWER: u8 = 2;

/// Case class of each byte: `UPPER` or `LOWER` for ASCII letters, 0 otherwise.
static CASE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 26 {
        t[b'A' as usize + c] = UPPER;
        t[b'a' as usize + c] = LOWER;
        c += 1;
    }
    t
};

/// Splits `text` into word tokens; `lower` is `text.to_ascii_lowercase()` (the lower-cased
/// form of an ASCII token is borrowed from it).
pub(crate) fn tokenize<'a>(text: &'a str, lower: &'a str) -> Vec<Tok<'a>> {
    debug_assert_eq!(text.len(), lower.len());
    let mut toks = Vec::with_capacity(text.len() / 6);
    let b = text.as_bytes();
    let n = b.len();
    let mut last_sep_start = true; // start of text counts as sentence start
    let mut i = 0;
    while i < n {
        let c = b[i];
        let first_len = if c.is_ascii_alphabetic() {
            1
        } else if c < 0x80 {
            match c {
                b'.' | b'!' | b'?' | b'\n' | b':' | b';' | b'*' | b'|' => last_sep_start = true,
                b' ' | b'\t' | b'\r' | b'"' | b'(' | b'\'' | b'-' => {}
                _ => last_sep_start = false,
            }
            i += 1;
            continue;
        } else {
            let ch = text[i..]
                .chars()
                .next()
                .expect("char boundary. This is a bug.");
            if ch.is_alphabetic() {
                ch.len_utf8()
            } else {
                if ch == '•' {
                    last_sep_start = true;
                } else if !ch.is_whitespace() {
                    last_sep_start = false;
                }
                i += ch.len_utf8();
                continue;
            }
        };
        let start = i;
        let mut ascii = first_len == 1;
        let mut hyphen = false;
        i += first_len;
        // case bits of the ASCII letters seen (exact when the token is ASCII)
        let mut case = CASE[usize::from(c)];
        loop {
            while i < n && CASE[usize::from(b[i])] != 0 {
                case |= CASE[usize::from(b[i])];
                i += 1;
            }
            let Some(&c) = b.get(i) else { break };
            if c == b'\'' || c == b'-' {
                // keep inner apostrophes and hyphens when a letter follows
                if letter_at(text, i + 1).is_some() {
                    hyphen |= c == b'-';
                    i += 1;
                    continue;
                }
                break;
            }
            if c < 0x80 {
                break;
            }
            if let Some(l) = letter_at(text, i) {
                ascii = false;
                i += l;
            } else if b[i..].starts_with("’".as_bytes()) && letter_at(text, i + 3).is_some() {
                ascii = false;
                i += 3;
            } else {
                break;
            }
        }
        let end = i;
        let word = &text[start..end];
        let wb = word.as_bytes();
        let (name_end, base) = if wb.len() >= 2 && wb.ends_with(b"'s") {
            (end - 2, &word[..wb.len() - 2])
        } else if wb.len() >= 4 && wb.ends_with("’s".as_bytes()) {
            (end - 4, &word[..wb.len() - 4])
        } else {
            (end, word)
        };
        let (cap, upper, any_upper, single) = if ascii {
            let bb = base.as_bytes();
            if base.len() != word.len() {
                // the "'s" suffix was dropped: recount the case of the base alone
                case = bb.iter().fold(0, |a, &x| a | CASE[usize::from(x)]);
            }
            (
                bb[0].is_ascii_uppercase(),
                case & LOWER == 0,
                case & UPPER != 0,
                bb.len() == 1,
            )
        } else {
            let first = base
                .chars()
                .next()
                .expect("token is non-empty. This is a bug.");
            (
                first.is_uppercase(),
                base.chars().all(|c| !c.is_lowercase()),
                base.chars().any(char::is_uppercase),
                base.chars().count() == 1,
            )
        };
        let dot = b.get(end) == Some(&b'.');
        let low = if !any_upper {
            Cow::Borrowed(base)
        } else if ascii {
            Cow::Borrowed(&lower[start..name_end])
        } else {
            Cow::Owned(base.to_lowercase())
        };
        let lex = lex(&low);
        toks.push(Tok {
            start,
            end,
            lower: low,
            name_end,
            cap,
            upper,
            initial: single && cap,
            dot,
            sent_start: last_sep_start,
            hyphen,
            lex,
        });
        last_sep_start = false;
    }
    // a dot after an initial or a title is not a sentence end
    for k in 1..toks.len() {
        let prev = &toks[k - 1];
        if prev.dot
            && (prev.initial || is_title(&prev.lower) || prev.lower == "st" || prev.lower == "mt")
        {
            let gap = &text[prev.end..toks[k].start];
            if !gap.contains('\n') {
                toks[k].sent_start = false;
            }
        }
    }
    toks
}

/// The original tokenizer, kept as the reference for the fast one.
#[cfg(test)]
pub(crate) fn tokenize_reference(text: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::with_capacity(text.len() / 6);
    let b = text.as_bytes();
    let letter_at = |k: usize| -> Option<usize> {
        // length of the letter starting at byte k, if it is one
        let c = *b.get(k)?;
        if c.is_ascii_alphabetic() {
            Some(1)
        } else if c < 0x80 {
            None
        } else {
            let ch = text.get(k..)?.chars().next()?;
            ch.is_alphabetic().then(|| ch.len_utf8())
        }
    };
    let mut last_sep_start = true; // start of text counts as sentence start
    let mut i = 0;
    while i < b.len() {
        let Some(first_len) = letter_at(i) else {
            let c = b[i];
            if c < 0x80 {
                match c {
                    b'.' | b'!' | b'?' | b'\n' | b':' | b';' | b'*' | b'|' => last_sep_start = true,
                    b' ' | b'\t' | b'\r' | b'"' | b'(' | b'\'' | b'-' => {}
                    _ => last_sep_start = false,
                }
                i += 1;
            } else {
                let ch = text[i..]
                    .chars()
                    .next()
                    .expect("char boundary. This is a bug.");
                if ch == '•' {
                    last_sep_start = true;
                } else if !ch.is_whitespace() {
                    last_sep_start = false;
                }
                i += ch.len_utf8();
            }
            continue;
        };
        let start = i;
        let mut ascii = first_len == 1;
        i += first_len;
        loop {
            if let Some(l) = letter_at(i) {
                ascii &= l == 1;
                i += l;
            } else if b.get(i) == Some(&b'\'') || b.get(i) == Some(&b'-') {
                // keep inner apostrophes and hyphens when a letter follows
                if letter_at(i + 1).is_some() {
                    i += 1;
                } else {
                    break;
                }
            } else if b[i..].starts_with("’".as_bytes()) && letter_at(i + 3).is_some() {
                ascii = false;
                i += 3;
            } else {
                break;
            }
        }
        let end = i;
        let word = &text[start..end];
        let (name_end, base) =
            if let Some(w) = word.strip_suffix("'s").or_else(|| word.strip_suffix("’s")) {
                (start + w.len(), w)
            } else {
                (end, word)
            };
        let (cap, upper, any_upper, single) = if ascii {
            let bb = base.as_bytes();
            (
                bb[0].is_ascii_uppercase(),
                !bb.iter().any(u8::is_ascii_lowercase),
                bb.iter().any(u8::is_ascii_uppercase),
                bb.len() == 1,
            )
        } else {
            let first = base
                .chars()
                .next()
                .expect("token is non-empty. This is a bug.");
            (
                first.is_uppercase(),
                base.chars().all(|c| !c.is_lowercase()),
                base.chars().any(char::is_uppercase),
                base.chars().count() == 1,
            )
        };
        let dot = b.get(end) == Some(&b'.');
        toks.push(Tok {
            start,
            end,
            lower: if !any_upper {
                Cow::Borrowed(base)
            } else if ascii {
                Cow::Owned(base.to_ascii_lowercase())
            } else {
                Cow::Owned(base.to_lowercase())
            },
            name_end,
            cap,
            upper,
            initial: single && cap,
            dot,
            sent_start: last_sep_start,
            hyphen: false,
            lex: 0,
        });
        last_sep_start = false;
    }
    for t in &mut toks {
        t.hyphen = t.lower.contains('-');
        t.lex = lex(&t.lower);
    }
    // a dot after an initial or a title is not a sentence end
    for k in 1..toks.len() {
        let prev = &toks[k - 1];
        if prev.dot
            && (prev.initial
                || TITLES.contains(&prev.lower.as_ref())
                || prev.lower == "st"
                || prev.lower == "mt")
        {
            let gap = &text[prev.end..toks[k].start];
            if !gap.contains('\n') {
                toks[k].sent_start = false;
            }
        }
    }
    toks
}

/// Length of the letter starting at byte `k`, if there is one (`None` past the end or off a
/// char boundary).
#[inline]
pub(crate) fn letter_at(text: &str, k: usize) -> Option<usize> {
    let c = *text.as_bytes().get(k)?;
    if c.is_ascii_alphabetic() {
        Some(1)
    } else if c < 0x80 {
        None
    } else {
        let ch = text.get(k..)?.chars().next()?;
        ch.is_alphabetic().then(|| ch.len_utf8())
    }
}

#[cfg(test)]
mod tokenizer_equivalence {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str) {
        let lower = text.to_ascii_lowercase();
        assert_eq!(tokenize(text, &lower), tokenize_reference(text), "{text:?}");
    }

    #[test]
    fn fixed_cases() {
        for t in [
            "",
            "a",
            "A.",
            "Dr. O'Brien-Smith's pt's wife Anne-Marie’s J. Smith\n\nSt. John’s wort",
            "'s ’s -a a- a' a’ ’",
            "Zoë Ångström façade ÉCOLE naïve x’y d’Artagnan •Bullet ١٢ 𝔄𝔅",
            "Patient: JOHN SMITH, MD; RN | pt * x? y! z",
            "\u{0}\u{7f}\u{80}\u{2019}s\u{2019}",
        ] {
            check(t);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn same_tokens_on_arbitrary_text(s in "\\PC{0,200}") {
            check(&s);
        }

        #[test]
        fn same_tokens_on_wordy_text(s in "([A-Za-zéÉ’'\\-.:;,\n •]{0,12} ?){0,30}") {
            check(&s);
        }
    }
}

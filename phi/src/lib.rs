//! HIPAA Safe Harbor de-identification for clinical text, with regexes and dictionaries.
//!
//! `clinfer-phi` finds the 18 Safe Harbor identifiers and the i2b2-2014 categories (names,
//! dates, ages over 89, phone/fax, e-mail, URLs, IPs, SSNs, MRNs, account, health-plan,
//! licence, vehicle and device numbers, other IDs, addresses, ZIP codes, places and
//! organisations) and replaces them with an [`Operator`] per [`Kind`]. It is deterministic:
//! the same text and configuration always give the same output.
//!
//! ```
//! use clinfer_phi::{Kind, Operator, Operators, Scrubber};
//!
//! let scrubber = Scrubber::builder().build()?;
//! let note = "Seen by Dr. Alvarez on 03/14/2023. Pt's wife Maria (555-201-3344) at bedside.";
//!
//! let spans = scrubber.analyze(note)?;
//! assert!(spans.iter().any(|s| s.kind == Kind::Phone));
//!
//! let out = scrubber.redact(note, &Operators::tag())?;
//! assert_eq!(
//!     out.text,
//!     "Seen by Dr. [NAME] on [DATE]. Pt's wife [NAME] ([PHONE]) at bedside."
//! );
//! assert_eq!(out.audit.counts[&Kind::Name], 2);
//!
//! // keyed pseudonyms for names, dates shifted per patient
//! let ops = Operators::builder()
//!     .key(b"a secret of 16+ bytes")
//!     .kind(Kind::Name, Operator::Pseudonym)
//!     .kind(Kind::Date, Operator::DateShift)
//!     .patient("patient-42")
//!     .build()?;
//! let out = scrubber.redact(note, &ops)?;
//! assert!(out.text.contains("NAME_"));
//! # Ok::<(), clinfer_phi::Error>(())
//! ```
//!
//! # Untrusted input
//! Any `&str` is accepted: emoji, combining marks, right-to-left text and NUL never cause a
//! panic, and every span lies on char boundaries. Inputs longer than
//! [`ScrubberBuilder::max_input_bytes`] (10 MiB by default) are rejected with
//! [`Error::InputTooLarge`]. Caller term lists and regexes are bounded by [`MAX_TERMS`],
//! [`MAX_TERM_BYTES`] and [`MAX_PATTERN_SIZE`]. Errors, `Debug` output and [`Audit`] hold
//! sizes, offsets and counts, never input text or configured identifiers.
//!
//! # Worst-case time
//! For a fixed configuration, `analyze` and `redact` take time linear in the input on every
//! shape measured (long runs without spaces, runs of capitalised words, repeated cue words:
//! under 0.1 s per MB on the crate README's machine, against 862 s for 1 MB before this
//! bound). What is guaranteed by construction, for an `n`-byte text:
//!
//! - one forward pass of a lazy DFA over all rules finds where each rule's matches can end;
//! - from each such end a reverse lazy DFA finds where the matches can start, stepping at
//!   most `4n + 4096` bytes per rule in all; a rule whose ends would need more (a long run
//!   that every prefix of matches, such as `www.` followed by letters) is searched over the
//!   whole text once instead, which gives the same matches;
//! - each rule's regex then searches its windows (or the whole text once);
//! - names, places and the caller's terms come from one tokenizer pass and Aho-Corasick
//!   searches, and candidate spans are resolved by sorting (`O(k log k)` for `k` spans).
//!
//! The lazy DFAs use a bounded cache; if one gives up (its cache is cleared too often), the
//! affected rules run as whole-text `regex` searches. The regex searches themselves are
//! `regex`'s: its worst case for iterating over matches is `O(m · n²)` for a pattern of
//! size `m`, reached only by patterns whose search scans far beyond the match it reports;
//! the built-in rules are measured on hostile shapes to stay linear (the crate README's
//! worst-case table, and a test that counts the bytes each stage examines). Caller
//! patterns ([`ScrubberBuilder::pattern`]) get `regex`'s guarantee, no more: write them
//! without an unbounded tail after a possible match. Memory is linear in the input.
//!
//! # Offsets
//! [`Span`] offsets are bytes; [`Span::char_range`] and [`char_offsets`] convert them to
//! Unicode code-point offsets (what Python and the JSON-lines tools use).

mod detect;
mod dict;
mod error;
mod hash;
mod kind;
mod lexicon;
mod operators;
mod scrubber;
mod shift;
mod span;
mod tokens;

pub use error::{Error, Result};
pub use kind::Kind;
pub use operators::{Audit, Operator, Operators, OperatorsBuilder, Redacted};
pub use scrubber::{
    Scrubber, ScrubberBuilder, DEFAULT_MAX_INPUT_BYTES, MAX_PATTERN_SIZE, MAX_TERMS, MAX_TERM_BYTES,
};
pub use span::{char_offsets, Span};

/// The crate README's Rust code blocks, compiled and run as doc tests so that they cannot
/// drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

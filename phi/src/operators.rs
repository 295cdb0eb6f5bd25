//! Operators that replace detected PHI, the [`Redacted`] result and its [`Audit`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::dict::Dicts;
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::shift;
use crate::span::Span;

type HmacSha256 = Hmac<Sha256>;

/// What to do with one span of PHI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operator {
    /// Replace with `[KIND]`, e.g. `[NAME]` (the default).
    Tag,
    /// Remove the text.
    Remove,
    /// Replace every character with `ch` (same length in characters).
    Mask(char),
    /// Replace with a stable keyed token `KIND_<10 hex>`: HMAC-SHA256 of the normalised value
    /// under the operators' key. The same value and key always give the same token.
    Pseudonym,
    /// Replace with a realistic fake value of the same kind, chosen by HMAC of the value under
    /// the key: the same value gets the same fake value in every document under one key.
    /// Dates are shifted like [`Operator::DateShift`].
    Surrogate,
    /// Shift dates by a keyed per-patient offset (intervals between a patient's dates are
    /// kept), written in the original style. Spans of other kinds, and dates that cannot be
    /// parsed (holidays, weekdays), are tagged.
    DateShift,
    /// Keep only the year of a date ("2021"); dates without a year are tagged.
    YearOnly,
    /// Leave the text as it is (the span is still reported and counted).
    Keep,
}

impl Operator {
    const fn needs_key(self) -> bool {
        matches!(
            self,
            Operator::Pseudonym | Operator::Surrogate | Operator::DateShift
        )
    }

    const fn name(self) -> &'static str {
        match self {
            Operator::Tag => "tag",
            Operator::Remove => "remove",
            Operator::Mask(_) => "mask",
            Operator::Pseudonym => "pseudonym",
            Operator::Surrogate => "surrogate",
            Operator::DateShift => "date_shift",
            Operator::YearOnly => "year_only",
            Operator::Keep => "keep",
        }
    }
}

impl fmt::Display for Operator {
    /// The name [`FromStr`](std::str::FromStr) reads back (`mask:C` for a mask).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Mask(ch) => write!(f, "mask:{ch}"),
            other => f.write_str(other.name()),
        }
    }
}

impl std::str::FromStr for Operator {
    type Err = Error;

    /// Parses an operator name, ignoring ASCII case: `tag`, `remove`, `mask` (with `*`),
    /// `mask:C` (with the one character `C`, e.g. `mask:#`), `pseudonym`, `surrogate`,
    /// `date_shift`, `year_only`, `keep`.
    ///
    /// # Errors
    /// [`Error::UnknownOperator`], which does not echo the name.
    fn from_str(s: &str) -> Result<Self> {
        let unknown = || Error::UnknownOperator { len: s.len() };
        let name = s.trim();
        if let Some(ch) = name
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("mask:"))
            .map(|_| &name[5..])
        {
            let mut chars = ch.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_control() => Ok(Operator::Mask(c)),
                _ => Err(unknown()),
            };
        }
        Ok(match name.to_ascii_lowercase().as_str() {
            "tag" => Operator::Tag,
            "remove" => Operator::Remove,
            "mask" => Operator::Mask('*'),
            "pseudonym" => Operator::Pseudonym,
            "surrogate" => Operator::Surrogate,
            "date_shift" => Operator::DateShift,
            "year_only" => Operator::YearOnly,
            "keep" => Operator::Keep,
            _ => return Err(unknown()),
        })
    }
}

/// The operator per kind plus the secret key and patient used by keyed operators.
///
/// `Debug` never prints the key or the patient id.
#[derive(Clone)]
pub struct Operators {
    default: Operator,
    per_kind: HashMap<Kind, Operator>,
    key: Option<Vec<u8>>,
    patient: Option<String>,
    max_shift_days: u32,
}

impl fmt::Debug for Operators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operators")
            .field("default", &self.default)
            .field("per_kind", &self.per_kind)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("patient", &self.patient.as_ref().map(|_| "<set>"))
            .field("max_shift_days", &self.max_shift_days)
            .finish()
    }
}

impl Default for Operators {
    /// Tag every kind.
    fn default() -> Self {
        Operators::tag()
    }
}

impl Operators {
    /// Tag every kind: `[NAME]`, `[DATE]`, ...
    pub fn tag() -> Operators {
        Operators {
            default: Operator::Tag,
            per_kind: HashMap::new(),
            key: None,
            patient: None,
            max_shift_days: 365,
        }
    }

    /// A builder starting from "tag everything".
    pub fn builder() -> OperatorsBuilder {
        OperatorsBuilder {
            ops: Operators::tag(),
        }
    }

    /// The operator for `kind`.
    pub fn get(&self, kind: Kind) -> Operator {
        self.per_kind.get(&kind).copied().unwrap_or(self.default)
    }

    /// A copy of these operators for another patient (the date-shift offset depends on it).
    pub fn for_patient(&self, patient_id: impl Into<String>) -> Operators {
        let mut o = self.clone();
        o.patient = Some(patient_id.into());
        o
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let key = self.key.as_deref().unwrap_or(&[]);
        let mut mac =
            HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length. This is a bug.");
        for p in parts {
            mac.update(&(p.len() as u64).to_le_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The date-shift offset in days for the configured patient (never 0).
    pub fn shift_days(&self) -> i64 {
        let patient = self.patient.as_deref().unwrap_or("");
        let h = self.mac(&[b"date-shift", patient.as_bytes()]);
        let v = u64::from_le_bytes(h[..8].try_into().expect("8 bytes. This is a bug."));
        let max = u64::from(self.max_shift_days.max(1));
        let k = (v % (2 * max)) as i64; // 0..2max
        if k < max as i64 {
            k - max as i64
        } else {
            k - max as i64 + 1
        }
    }
}

/// Builder for [`Operators`].
#[derive(Debug, Clone)]
#[must_use]
pub struct OperatorsBuilder {
    ops: Operators,
}

impl OperatorsBuilder {
    /// Operator for every kind without its own setting.
    pub fn default_operator(mut self, op: Operator) -> Self {
        self.ops.default = op;
        self
    }

    /// Operator for one kind.
    pub fn kind(mut self, kind: Kind, op: Operator) -> Self {
        self.ops.per_kind.insert(kind, op);
        self
    }

    /// Secret key for pseudonyms, surrogates and date shifts (at least 16 bytes).
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.ops.key = Some(key.as_ref().to_vec());
        self
    }

    /// Patient whose date-shift offset is used (see [`Operators::for_patient`]).
    pub fn patient(mut self, patient_id: impl Into<String>) -> Self {
        self.ops.patient = Some(patient_id.into());
        self
    }

    /// Largest date shift in days, either direction (default 365, 1..=3650).
    pub fn max_shift_days(mut self, days: u32) -> Self {
        self.ops.max_shift_days = days;
        self
    }

    /// Validates and returns the operators.
    ///
    /// # Errors
    /// [`Error::MissingKey`] when a keyed operator is used without a key,
    /// [`Error::Config`] for a key shorter than 16 bytes or a shift range out of 1..=3650.
    pub fn build(self) -> Result<Operators> {
        let ops = self.ops;
        let all = std::iter::once(ops.default).chain(ops.per_kind.values().copied());
        for op in all {
            if op.needs_key() && ops.key.is_none() {
                return Err(Error::MissingKey {
                    operator: op.name(),
                });
            }
        }
        if ops.key.as_ref().is_some_and(|k| k.len() < 16) {
            return Err(Error::Config("key must be at least 16 bytes"));
        }
        if !(1..=3650).contains(&ops.max_shift_days) {
            return Err(Error::Config("max_shift_days must be in 1..=3650"));
        }
        Ok(ops)
    }
}

/// Counts of PHI per kind for one or more calls. Holds no values, so it may be logged or
/// exported as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Audit {
    /// Spans per kind.
    pub counts: BTreeMap<Kind, usize>,
    /// Total spans.
    pub total: usize,
    /// Input size in bytes.
    pub input_bytes: usize,
}

impl Audit {
    /// Counts the spans of one text.
    pub fn from_spans(spans: &[Span], input_bytes: usize) -> Audit {
        let mut counts = BTreeMap::new();
        for s in spans {
            *counts.entry(s.kind).or_insert(0) += 1;
        }
        Audit {
            counts,
            total: spans.len(),
            input_bytes,
        }
    }

    /// Adds another audit (for batch totals).
    pub fn merge(&mut self, other: &Audit) {
        for (k, v) in &other.counts {
            *self.counts.entry(*k).or_insert(0) += v;
        }
        self.total += other.total;
        self.input_bytes += other.input_bytes;
    }
}

/// The result of [`crate::Scrubber::redact`].
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    /// The text with every span replaced by its operator's output.
    pub text: String,
    /// The spans found, with byte offsets into the **input**.
    pub spans: Vec<Span>,
    /// For each span, the byte range of its replacement in [`Redacted::text`].
    pub replaced: Vec<Range<usize>>,
    /// Counts per kind.
    pub audit: Audit,
}

/// A fake age for an age span: ages of 90 and over become the Safe Harbor aggregate "90+";
/// a lower age (reported when `min_age` is below 90) becomes a keyed age within 4 years of
/// it, never 90 or over, with the text around the number kept ("45 yo" -> "47 yo").
fn age_surrogate(value: &str, r: u64) -> String {
    let Some(start) = value.find(|c: char| c.is_ascii_digit()) else {
        return "90+".to_owned();
    };
    let len = value[start..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len() - start);
    let n: u64 = match value[start..start + len].parse() {
        Ok(n) if n < 90 => n,
        _ => return "90+".to_owned(),
    };
    let lo = n.saturating_sub(4).max(1);
    let hi = (n + 4).min(89);
    let fake = lo + r % (hi - lo + 1);
    format!("{}{fake}{}", &value[..start], &value[start + len..])
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Operators {
    /// Renders the replacement for `value` of `kind`.
    pub(crate) fn render(&self, kind: Kind, value: &str, dicts: &Dicts) -> String {
        match self.get(kind) {
            Operator::Tag => format!("[{kind}]"),
            Operator::Remove => String::new(),
            Operator::Mask(ch) => std::iter::repeat_n(ch, value.chars().count()).collect(),
            Operator::Keep => value.to_owned(),
            Operator::Pseudonym => {
                let norm = normalise(value);
                let h = self.mac(&[b"pseudonym", kind.as_str().as_bytes(), norm.as_bytes()]);
                format!("{kind}_{}", &hex::encode(h)[..10])
            }
            Operator::YearOnly if kind == Kind::Date => {
                match shift::parse(value).and_then(|p| p.year) {
                    Some(y) => y.to_string(),
                    None => format!("[{kind}]"),
                }
            }
            Operator::DateShift | Operator::Surrogate if kind == Kind::Date => {
                match shift::parse(value) {
                    Some(p) => shift::shift(p, self.shift_days()),
                    None => format!("[{kind}]"),
                }
            }
            Operator::Surrogate => self.surrogate(kind, value, dicts),
            Operator::YearOnly | Operator::DateShift => format!("[{kind}]"),
        }
    }

    fn surrogate(&self, kind: Kind, value: &str, dicts: &Dicts) -> String {
        let norm = normalise(value);
        let h = self.mac(&[b"surrogate", kind.as_str().as_bytes(), norm.as_bytes()]);
        let r = |i: usize| {
            u64::from_le_bytes(
                h[i * 8..i * 8 + 8]
                    .try_into()
                    .expect("8 bytes. This is a bug."),
            )
        };
        let pick = |list: &[&'static str], i: usize| -> String {
            if list.is_empty() {
                return format!("[{kind}]");
            }
            title_case(list[(r(i) % list.len() as u64) as usize])
        };
        match kind {
            Kind::Name => {
                let parts = value.split_whitespace().count();
                if parts <= 1 {
                    pick(&dicts.last_list, 0)
                } else {
                    format!(
                        "{} {}",
                        pick(&dicts.first_list, 0),
                        pick(&dicts.last_list, 1)
                    )
                }
            }
            Kind::Phone | Kind::Fax => format!("555-555-01{:02}", r(0) % 100),
            Kind::Email => format!("user{:06x}@example.com", r(0) & 0xFF_FFFF),
            Kind::Url => format!("https://example.org/{:06x}", r(0) & 0xFF_FFFF),
            Kind::Ip => {
                if value.contains(':') {
                    format!("2001:db8::{:x}", r(0) & 0xFFFF)
                } else {
                    format!("192.0.2.{}", r(0) % 254 + 1)
                }
            }
            Kind::Ssn => format!("000-{:02}-{:04}", r(0) % 100, r(1) % 10_000),
            Kind::Age => age_surrogate(value, r(0)),
            Kind::Location => pick(&dicts.city_list, 0),
            Kind::Organization => format!("{} Medical Center", pick(&dicts.last_list, 0)),
            Kind::Address => format!("{} {} Street", r(1) % 9000 + 100, pick(&dicts.last_list, 0)),
            _ => shape_preserving(value, &h),
        }
    }
}

/// Replaces digits with digits and letters with letters (same case), keeping punctuation.
fn shape_preserving(value: &str, h: &[u8; 32]) -> String {
    value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let b = h[i % 32].wrapping_add((i / 32) as u8);
            if c.is_ascii_digit() {
                char::from(b'0' + b % 10)
            } else if c.is_ascii_uppercase() {
                char::from(b'A' + b % 26)
            } else if c.is_ascii_lowercase() {
                char::from(b'a' + b % 26)
            } else if c.is_alphanumeric() {
                'X'
            } else {
                c
            }
        })
        .collect()
}

fn normalise(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Applies `ops` to `spans` (sorted, non-overlapping byte spans of `text`).
pub(crate) fn apply(text: &str, spans: Vec<Span>, ops: &Operators, dicts: &Dicts) -> Redacted {
    let mut out = String::with_capacity(text.len());
    let mut replaced = Vec::with_capacity(spans.len());
    let mut last = 0;
    for s in &spans {
        out.push_str(&text[last..s.start]);
        let start = out.len();
        out.push_str(&ops.render(s.kind, &text[s.start..s.end], dicts));
        replaced.push(start..out.len());
        last = s.end;
    }
    out.push_str(&text[last..]);
    let audit = Audit::from_spans(&spans, text.len());
    Redacted {
        text: out,
        spans,
        replaced,
        audit,
    }
}

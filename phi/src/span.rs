//! Detected spans, overlap resolution and byte-to-char offset conversion.

use std::ops::Range;

use crate::kind::Kind;

/// One piece of PHI found in a text.
///
/// `start` and `end` are **byte** offsets into the analysed `&str` (end exclusive) and
/// always lie on char boundaries. Use [`Span::char_range`] or [`char_offsets`] for
/// Unicode code-point offsets (what Python and the `deidentify` example use).
///
/// The `Debug` output holds offsets and the kind only, never the text.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// What was found.
    pub kind: Kind,
    /// Confidence in `0.0..=1.0` (rule-based: higher for cued and validated matches).
    pub score: f32,
}

impl Span {
    /// Creates a span.
    pub const fn new(start: usize, end: usize, kind: Kind, score: f32) -> Self {
        Span {
            start,
            end,
            kind,
            score,
        }
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span is empty (never true for spans returned by the scrubber).
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The byte range.
    pub const fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The span's text in `text` (the string it was found in), or `None` when the offsets
    /// do not fit `text`.
    pub fn text<'a>(&self, text: &'a str) -> Option<&'a str> {
        text.get(self.start..self.end)
    }

    /// Code-point range of this span in `text`. O(len of text); for many spans use
    /// [`char_offsets`], which converts all of them in one pass.
    pub fn char_range(&self, text: &str) -> Range<usize> {
        let start = count_chars(text, self.start);
        let end = start + count_chars(text.get(self.start..).unwrap_or(""), self.len());
        start..end
    }

    /// Whether two spans share at least one byte.
    pub const fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

fn count_chars(text: &str, byte_end: usize) -> usize {
    let end = byte_end.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| (b as i8) >= -0x40)
        .count()
}

/// Converts the byte offsets of sorted spans into code-point ranges in one pass over `text`.
///
/// Spans must be sorted by `start` (as returned by [`crate::Scrubber::analyze`]); unsorted
/// input still gives correct results, only slower.
pub fn char_offsets(text: &str, spans: &[Span]) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(spans.len());
    let (mut pos, mut chars) = (0usize, 0usize);
    let to = |target: usize, pos: &mut usize, chars: &mut usize| {
        let target = target.min(bytes.len());
        if target < *pos {
            *pos = 0;
            *chars = 0;
        }
        *chars += bytes[*pos..target]
            .iter()
            .filter(|&&b| (b as i8) >= -0x40)
            .count();
        *pos = target;
        *chars
    };
    for s in spans {
        let a = to(s.start, &mut pos, &mut chars);
        let b = to(s.end, &mut pos, &mut chars);
        out.push(a..b);
    }
    out
}

/// Resolves overlapping candidates: the longer span wins, on equal length the higher score,
/// then the earlier start, then the lower kind. Returns sorted, non-overlapping spans.
pub(crate) fn resolve(mut cands: Vec<Span>) -> Vec<Span> {
    cands.retain(|s| !s.is_empty());
    // unstable is exact here: candidates equal under this order are identical
    cands.sort_unstable_by(|a, b| {
        b.len()
            .cmp(&a.len())
            .then(b.score.total_cmp(&a.score))
            .then(a.start.cmp(&b.start))
            .then(a.kind.cmp(&b.kind))
    });
    let mut taken: std::collections::BTreeMap<usize, Span> = std::collections::BTreeMap::new();
    for c in cands {
        let before = taken.range(..c.end).next_back();
        if let Some((_, p)) = before {
            if p.overlaps(&c) {
                continue;
            }
        }
        taken.insert(c.start, c);
    }
    taken.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longer_wins_then_score() {
        let c = vec![
            Span::new(0, 5, Kind::Name, 0.9),
            Span::new(3, 12, Kind::Date, 0.5),
            Span::new(12, 15, Kind::Id, 0.4),
            Span::new(12, 15, Kind::Mrn, 0.9),
        ];
        let r = resolve(c);
        assert_eq!(
            r,
            vec![
                Span::new(3, 12, Kind::Date, 0.5),
                Span::new(12, 15, Kind::Mrn, 0.9)
            ]
        );
    }

    #[test]
    fn char_offsets_multibyte() {
        let t = "é John ü Smith";
        let s1 = Span::new(
            t.find("John").unwrap(),
            t.find("John").unwrap() + 4,
            Kind::Name,
            1.0,
        );
        let s2 = Span::new(t.find("Smith").unwrap(), t.len(), Kind::Name, 1.0);
        assert_eq!(char_offsets(t, &[s1, s2]), vec![2..6, 9..14]);
        assert_eq!(s2.char_range(t), 9..14);
    }
}

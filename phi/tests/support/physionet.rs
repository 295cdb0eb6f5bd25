//! Loading and scoring of the PhysioNet deid dev set (`../shared/data/phi/physionet_dev`),
//! shared by the evaluation example and the floor test (included with `#[path]`).
//!
//! The figures are those of `../shared/tools/score_physionet.py score`, computed the same way:
//!
//! - offsets are Unicode code points into the note text, end exclusive;
//! - a gold span is found when any predicted span of its note overlaps it; gold `DateYear`
//!   spans are reported per kind but not counted in recall (Safe Harbor keeps years);
//! - a predicted span is correct when it overlaps any gold span of its note, `DateYear`
//!   included; the others are false positives, counted by their text;
//! - notes absent from the output count as notes without predictions;
//! - "no-PHI notes flagged" is the share of notes without gold spans that have any
//!   predicted span;
//! - ratios divide by `max(1, denominator)`; per-kind and false-positive lists are in the
//!   order of Python's `Counter.most_common` (count descending, ties in first-seen order).
//!
//! Errors name files, line numbers and note keys, never note text.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clinfer_phi::{char_offsets, Scrubber};

/// The gold kind that is reported but not counted in recall.
pub const UNCOUNTED_KIND: &str = "DateYear";

/// The dev set's directory: `../shared/data/phi/physionet_dev` from the workspace root.
pub fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/phi/physionet_dev")
}

/// One gold PHI span of a note (code-point offsets, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldSpan {
    /// First code point.
    pub start: usize,
    /// One past the last code point.
    pub end: usize,
    /// The corpus's type name (`HCPName`, `Date`, `DateYear`, ...).
    pub kind: String,
}

/// One note of `id.text` with its gold spans from `id-phi.phrase`.
#[derive(Debug, Clone)]
pub struct Note {
    /// `<patient>:<note>`, as the scorer and `score_physionet.py inputs` write it.
    pub key: String,
    /// The note text (after the record header's newline, up to `||||END_OF_RECORD`).
    pub text: String,
    /// Gold spans, in file order.
    pub gold: Vec<GoldSpan>,
}

/// Predicted spans of one note (code-point offsets, end exclusive), in output order.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The note's key, `<patient>:<note>`.
    pub key: String,
    /// `(start, end)` pairs.
    pub spans: Vec<(usize, usize)>,
}

/// Reads a file as Python's text mode does (UTF-8, `\r\n` and `\r` read as `\n`).
fn read_text(path: &Path) -> Result<String, String> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    Ok(if raw.contains('\r') {
        raw.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        raw
    })
}

fn parse_offset(field: &str, file: &str, line_no: usize) -> Result<usize, String> {
    field
        .trim()
        .parse()
        .map_err(|_| format!("{file} line {line_no}: offset is not a non-negative integer"))
}

/// Loads the notes of `dir/id.text` with their gold spans from `dir/id-phi.phrase`, in the
/// order of `id.text`. Gold lines of notes that `id.text` lacks are ignored, as the scorer
/// ignores them.
pub fn load_notes(dir: &Path) -> Result<Vec<Note>, String> {
    let mut gold: HashMap<String, Vec<GoldSpan>> = HashMap::new();
    let phrases = read_text(&dir.join("id-phi.phrase"))?;
    for (i, line) in phrases.lines().enumerate() {
        let p: Vec<&str> = line.splitn(6, ' ').collect();
        if p.len() < 5 {
            continue;
        }
        gold.entry(format!("{}:{}", p[0], p[1]))
            .or_default()
            .push(GoldSpan {
                start: parse_offset(p[2], "id-phi.phrase", i + 1)?,
                end: parse_offset(p[3], "id-phi.phrase", i + 1)?,
                kind: p[4].to_owned(),
            });
    }
    let text = read_text(&dir.join("id.text"))?;
    let record = regex::Regex::new(
        r"(?s)START_OF_RECORD=(\d+)\|\|\|\|(\d+)\|\|\|\|\n(.*?)\|\|\|\|END_OF_RECORD",
    )
    .map_err(|e| format!("record pattern: {e}"))?;
    let notes: Vec<Note> = record
        .captures_iter(&text)
        .map(|c| {
            let key = format!("{}:{}", &c[1], &c[2]);
            Note {
                gold: gold.get(&key).cloned().unwrap_or_default(),
                text: c[3].to_owned(),
                key,
            }
        })
        .collect();
    if notes.is_empty() {
        return Err(format!(
            "no records found in {}",
            dir.join("id.text").display()
        ));
    }
    Ok(notes)
}

/// Loads deid.pl's output, `dir/deidpl.phi`: a line `Patient <p>\tNote <n>`, then one
/// `<start> <start> <end>` line per span. Notes appear in file order; a note named twice
/// gathers the spans of both.
pub fn load_deidpl(dir: &Path) -> Result<Vec<Output>, String> {
    let raw = read_text(&dir.join("deidpl.phi"))?;
    let header =
        regex::Regex::new(r"^Patient (\d+)\tNote (\d+)").map_err(|e| format!("header: {e}"))?;
    let mut outs: Vec<Output> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    for (i, line) in raw.lines().enumerate() {
        if let Some(c) = header.captures(line) {
            let key = format!("{}:{}", &c[1], &c[2]);
            let at = *index.entry(key.clone()).or_insert_with(|| {
                outs.push(Output {
                    key,
                    spans: Vec::new(),
                });
                outs.len() - 1
            });
            current = Some(at);
            continue;
        }
        let p: Vec<&str> = line.split_whitespace().collect();
        if let (Some(at), 3) = (current, p.len()) {
            let span = (
                parse_offset(p[1], "deidpl.phi", i + 1)?,
                parse_offset(p[2], "deidpl.phi", i + 1)?,
            );
            outs[at].spans.push(span);
        }
    }
    Ok(outs)
}

/// Runs `scrubber.analyze` on every note and converts its byte offsets to code points.
/// Fails on the first note the scrubber rejects (naming the note's key).
pub fn predict(scrubber: &Scrubber, notes: &[Note]) -> Result<Vec<Output>, String> {
    notes
        .iter()
        .map(|n| {
            let spans = scrubber
                .analyze(&n.text)
                .map_err(|e| format!("note {}: {e}", n.key))?;
            Ok(Output {
                key: n.key.clone(),
                spans: char_offsets(&n.text, &spans)
                    .into_iter()
                    .map(|r| (r.start, r.end))
                    .collect(),
            })
        })
        .collect()
}

/// A counter that remembers the order in which keys were first seen, like Python's
/// `collections.Counter`.
#[derive(Debug, Clone, Default)]
struct Counter {
    order: Vec<(String, usize)>,
    index: HashMap<String, usize>,
}

impl Counter {
    fn add(&mut self, key: &str, n: usize) {
        match self.index.get(key) {
            Some(&i) => self.order[i].1 += n,
            None => {
                self.index.insert(key.to_owned(), self.order.len());
                self.order.push((key.to_owned(), n));
            }
        }
    }

    fn get(&self, key: &str) -> usize {
        self.index.get(key).map_or(0, |&i| self.order[i].1)
    }

    /// Count descending, ties in first-seen order (`Counter.most_common`).
    fn most_common(&self) -> Vec<(String, usize)> {
        let mut v = self.order.clone();
        v.sort_by_key(|e| std::cmp::Reverse(e.1)); // stable
        v
    }
}

/// Found and total gold spans of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindTally {
    /// The corpus's type name.
    pub kind: String,
    /// Gold spans overlapped by a prediction.
    pub found: usize,
    /// Gold spans.
    pub total: usize,
}

/// One gold span that no prediction overlaps (for verbose listings; holds note text).
#[derive(Debug, Clone)]
pub struct Miss {
    /// Index of the note in the notes given to [`score`].
    pub note: usize,
    /// The gold span.
    pub gold: GoldSpan,
}

/// The scorer's figures for one output.
#[derive(Debug, Clone)]
pub struct Report {
    /// Counted gold spans found (all kinds but [`UNCOUNTED_KIND`]).
    pub found: usize,
    /// Counted gold spans.
    pub total: usize,
    /// Predicted spans that overlap a gold span.
    pub correct_pred: usize,
    /// Predicted spans.
    pub predicted: usize,
    /// Notes without gold spans.
    pub negatives: usize,
    /// Notes without gold spans that have any predicted span.
    pub negatives_flagged: usize,
    /// Per gold kind, most common first (ties in first-seen order).
    pub kinds: Vec<KindTally>,
    /// Every false-positive text with its count, most common first.
    pub false_positives: Vec<(String, usize)>,
    /// Gold spans not found (every kind, [`UNCOUNTED_KIND`] included), in scoring order.
    pub misses: Vec<Miss>,
}

impl Report {
    /// Counted recall, `found / max(1, total)`.
    pub fn recall(&self) -> f64 {
        self.found as f64 / self.total.max(1) as f64
    }

    /// Precision, `correct / max(1, predicted)`.
    pub fn precision(&self) -> f64 {
        self.correct_pred as f64 / self.predicted.max(1) as f64
    }

    /// Share of notes without gold spans that have any predicted span.
    pub fn no_phi_flagged(&self) -> f64 {
        self.negatives_flagged as f64 / self.negatives.max(1) as f64
    }

    /// The tally of one gold kind, if the set has it.
    pub fn kind(&self, kind: &str) -> Option<&KindTally> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// Recall of one gold kind, `found / max(1, total)` (0 when the set lacks the kind).
    pub fn kind_recall(&self, kind: &str) -> f64 {
        self.kind(kind)
            .map_or(0.0, |k| k.found as f64 / k.total.max(1) as f64)
    }

    /// The first `n` false-positive texts with their counts.
    pub fn top_false_positives(&self, n: usize) -> &[(String, usize)] {
        &self.false_positives[..n.min(self.false_positives.len())]
    }

    /// The three lines `score_physionet.py score` prints, character for character. The
    /// last line quotes note text (false positives).
    pub fn scorer_lines(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "recall {:.4}  precision {:.4}  no-PHI notes flagged {:.2}%",
            self.recall(),
            self.precision(),
            self.no_phi_flagged() * 100.0
        );
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|k| format!("{} {}/{}", k.kind, k.found, k.total))
            .collect();
        let _ = writeln!(s, "per kind: {}", kinds.join(", "));
        let fps: Vec<String> = self
            .top_false_positives(20)
            .iter()
            .map(|(t, n)| format!("{}×{n}", py_repr(t)))
            .collect();
        let _ = writeln!(s, "top false positives: {}", fps.join(", "));
        s
    }
}

/// Python's `repr` of a string: single quotes unless the text has `'` and no `"`;
/// backslash, the quote, `\t`, `\n`, `\r` escaped; other control and non-space white-space
/// characters as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                let v = c as u32;
                let _ = if v < 0x100 {
                    write!(out, "\\x{v:02x}")
                } else if v < 0x10000 {
                    write!(out, "\\u{v:04x}")
                } else {
                    write!(out, "\\U{v:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `text[start..end]` in code points, clamped like a Python slice.
fn char_slice(text: &str, start: usize, end: usize) -> &str {
    let byte = |c: usize| text.char_indices().nth(c).map_or(text.len(), |(b, _)| b);
    let (a, b) = (byte(start), byte(end));
    if a < b {
        &text[a..b]
    } else {
        ""
    }
}

/// Scores `outputs` against `notes` as `score_physionet.py score` does: outputs in their
/// order, then the notes no output names, without predictions. An output naming a note
/// that `notes` lacks is an error (the scorer fails on it too). When `notes` names a key
/// twice, the last note of that key is its text and gold, as in the scorer.
pub fn score(notes: &[Note], outputs: &[Output]) -> Result<Report, String> {
    // key -> index of the last note with that key; keys in first-seen order
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut keys: Vec<&str> = Vec::new();
    for (i, n) in notes.iter().enumerate() {
        if by_key.insert(n.key.as_str(), i).is_none() {
            keys.push(n.key.as_str());
        }
    }
    let mut order: Vec<(usize, &[(usize, usize)])> = Vec::with_capacity(outputs.len());
    for o in outputs {
        let Some(&i) = by_key.get(o.key.as_str()) else {
            return Err(format!("output names note {} that the set lacks", o.key));
        };
        order.push((i, &o.spans));
    }
    let seen: std::collections::HashSet<&str> = outputs.iter().map(|o| o.key.as_str()).collect();
    for k in keys.iter().filter(|k| !seen.contains(*k)) {
        order.push((by_key[k], &[]));
    }

    let (mut found, mut total, mut fp) =
        (Counter::default(), Counter::default(), Counter::default());
    let (mut correct_pred, mut predicted, mut negatives, mut negatives_flagged) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for (i, pred) in order {
        let note = &notes[i];
        let gold = &note.gold;
        predicted += pred.len();
        for &(ps, pe) in pred {
            if gold.iter().any(|g| ps < g.end && g.start < pe) {
                correct_pred += 1;
            } else {
                fp.add(char_slice(&note.text, ps, pe), 1);
            }
        }
        for g in gold {
            total.add(&g.kind, 1);
            let hit = pred.iter().any(|&(ps, pe)| ps < g.end && g.start < pe);
            found.add(&g.kind, usize::from(hit));
            if !hit {
                misses.push(Miss {
                    note: i,
                    gold: g.clone(),
                });
            }
        }
        if gold.is_empty() {
            negatives += 1;
            negatives_flagged += usize::from(!pred.is_empty());
        }
    }
    let kinds: Vec<KindTally> = total
        .most_common()
        .into_iter()
        .map(|(kind, t)| KindTally {
            found: found.get(&kind),
            total: t,
            kind,
        })
        .collect();
    let counted = kinds.iter().filter(|k| k.kind != UNCOUNTED_KIND);
    Ok(Report {
        found: counted.clone().map(|k| k.found).sum(),
        total: counted.map(|k| k.total).sum(),
        correct_pred,
        predicted,
        negatives,
        negatives_flagged,
        kinds,
        false_positives: fp.most_common(),
        misses,
    })
}

/// Loads the set from `dir` and scores the scrubber on it.
pub fn score_scrubber(scrubber: &Scrubber, dir: &Path) -> Result<Report, String> {
    let notes = load_notes(dir)?;
    score(&notes, &predict(scrubber, &notes)?)
}

//! `clinfer.Scrubber`, `clinfer.Span` and `clinfer.Redaction`.

use std::collections::HashMap;
use std::sync::Arc;

use clinfer::phi::{self, Kind, Operator, Operators};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{guarded, owned_text, owned_texts, run_interruptibly, BindError};

/// Texts at least this long are scrubbed on a helper thread so that Ctrl-C can interrupt the
/// wait (shorter ones take well under a tenth of a second and run inline).
pub const INTERRUPTIBLE_BYTES: usize = 64 * 1024;

/// One span of PHI. `start` and `end` are Python string offsets (code points, end exclusive).
#[pyclass(module = "clinfer._native", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Span {
    /// Offset of the first character.
    pub start: usize,
    /// Offset one past the last character.
    pub end: usize,
    /// The kind of PHI, e.g. `"NAME"`.
    pub kind: String,
    /// Confidence in `[0, 1]`.
    pub score: f32,
}

#[pymethods]
impl Span {
    fn __repr__(&self) -> String {
        format!(
            "Span(start={}, end={}, kind={:?}, score={:.2})",
            self.start, self.end, self.kind, self.score
        )
    }
}

/// The result of `Scrubber.redact`.
#[pyclass(module = "clinfer._native", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Redaction {
    /// The de-identified text.
    pub text: String,
    /// The spans found, offsets into the original text.
    pub spans: Vec<Span>,
}

#[pymethods]
impl Redaction {
    fn __repr__(&self) -> String {
        format!("Redaction(spans={})", self.spans.len())
    }
}

/// Converts byte-offset spans to Python spans with code-point offsets.
pub fn py_spans(text: &str, spans: &[phi::Span]) -> Vec<Span> {
    phi::char_offsets(text, spans)
        .into_iter()
        .zip(spans)
        .map(|(r, s)| Span {
            start: r.start,
            end: r.end,
            kind: s.kind.as_str().to_owned(),
            score: s.score,
        })
        .collect()
}

fn parse_kind(name: &str) -> Result<Kind, BindError> {
    Ok(name.parse::<Kind>()?)
}

fn operators_from(map: &HashMap<String, String>) -> Result<Operators, BindError> {
    let mut b = Operators::builder();
    for (kind, op) in map {
        let op: Operator = op.parse()?;
        if kind.eq_ignore_ascii_case("default") {
            b = b.default_operator(op);
        } else {
            b = b.kind(parse_kind(kind)?, op);
        }
    }
    Ok(b.build()?)
}

/// A HIPAA Safe Harbor de-identifier (regexes and dictionaries, deterministic).
#[pyclass(module = "clinfer._native", frozen)]
pub struct Scrubber {
    inner: Arc<phi::Scrubber>,
}

#[pymethods]
impl Scrubber {
    #[new]
    #[pyo3(signature = (*, allow = None, deny = None))]
    fn new(
        py: Python<'_>,
        allow: Option<&Bound<'_, PyAny>>,
        deny: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let allow = allow.map(|a| owned_texts(a, "allow")).transpose()?;
        let mut deny_terms: Vec<(Kind, Vec<String>)> = Vec::new();
        if let Some(deny) = deny {
            for (k, v) in deny.iter() {
                let kind = parse_kind(&owned_text(&k, "deny key")?)?;
                deny_terms.push((kind, owned_texts(&v, "deny terms")?));
            }
        }
        let inner = py.detach(move || {
            guarded(|| {
                let mut b = phi::Scrubber::builder();
                if let Some(allow) = allow {
                    b = b.allow(allow);
                }
                for (kind, terms) in deny_terms {
                    b = b.deny(terms, kind);
                }
                Ok(b.build()?)
            })
        })?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Finds the PHI in `text`.
    fn analyze(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Vec<Span>> {
        let text = owned_text(text, "text")?;
        let inner = Arc::clone(&self.inner);
        let big = text.len() >= INTERRUPTIBLE_BYTES;
        run_interruptibly(py, big, move || {
            let spans = inner.analyze(&text)?;
            Ok(py_spans(&text, &spans))
        })
    }

    /// Replaces the PHI in `text`; `operators` maps a kind name (or `"default"`) to an
    /// operator name (`tag`, `remove`, `mask`, `mask:C`, `keep`, `year_only`).
    #[pyo3(signature = (text, operators = None))]
    fn redact(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        operators: Option<HashMap<String, String>>,
    ) -> PyResult<Redaction> {
        let text = owned_text(text, "text")?;
        let ops = match operators {
            Some(map) => operators_from(&map)?,
            None => Operators::tag(),
        };
        let inner = Arc::clone(&self.inner);
        let big = text.len() >= INTERRUPTIBLE_BYTES;
        run_interruptibly(py, big, move || {
            let out = inner.redact(&text, &ops)?;
            Ok(Redaction {
                spans: py_spans(&text, &out.spans),
                text: out.text,
            })
        })
    }
}

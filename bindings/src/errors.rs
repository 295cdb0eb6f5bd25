//! The Python exception hierarchy and the one mapping from Rust errors to it.
//!
//! Every message comes from the Rust error's `Display`, which never holds input text, so
//! exceptions are safe to log even when the input was a clinical note.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use clinfer::{batcher, core, phi};
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;

pyo3::create_exception!(
    _native,
    ClinferError,
    PyException,
    "Root of every error raised by clinfer."
);
pyo3::create_exception!(
    _native,
    Overloaded,
    ClinferError,
    "The queue is full; retry after `retry_after` seconds."
);
pyo3::create_exception!(
    _native,
    DeadlineExceeded,
    ClinferError,
    "The request's deadline passed before the model served it."
);
pyo3::create_exception!(
    _native,
    ShuttingDown,
    ClinferError,
    "The pipeline is closing or closed and accepts no more work."
);
pyo3::create_exception!(
    _native,
    InvalidInput,
    ClinferError,
    "An input or an option is unusable (too large, empty, not valid Unicode, ...)."
);
pyo3::create_exception!(
    _native,
    ModelLoadError,
    ClinferError,
    "The model could not be loaded (missing or malformed files, unavailable device)."
);

/// Every failure the bindings can report, before it becomes a Python exception.
#[derive(Debug)]
pub enum BindError {
    /// See [`Overloaded`].
    Overloaded(Duration),
    /// See [`DeadlineExceeded`].
    DeadlineExceeded,
    /// See [`ShuttingDown`].
    ShuttingDown,
    /// See [`InvalidInput`].
    InvalidInput(String),
    /// See [`ModelLoadError`].
    ModelLoad(String),
    /// Anything else, raised as [`ClinferError`].
    Internal(String),
}

impl From<BindError> for PyErr {
    fn from(e: BindError) -> PyErr {
        match e {
            BindError::Overloaded(retry_after) => Python::attach(|py| {
                let err = Overloaded::new_err(format!(
                    "the queue is full; retry after {:.3} s",
                    retry_after.as_secs_f64()
                ));
                // Setting an attribute on a fresh exception instance cannot fail in practice;
                // if it does, the exception is still raised, without the attribute.
                let _ = err
                    .value(py)
                    .setattr("retry_after", retry_after.as_secs_f64());
                err
            }),
            BindError::DeadlineExceeded => {
                DeadlineExceeded::new_err("the request deadline passed before it was served")
            }
            BindError::ShuttingDown => ShuttingDown::new_err("the pipeline is shutting down"),
            BindError::InvalidInput(m) => InvalidInput::new_err(m),
            BindError::ModelLoad(m) => ModelLoadError::new_err(m),
            BindError::Internal(m) => ClinferError::new_err(m),
        }
    }
}

impl From<core::Error> for BindError {
    fn from(e: core::Error) -> Self {
        use core::Error as E;
        let msg = e.to_string();
        match e {
            E::EmptyInput { .. }
            | E::InputTooLarge { .. }
            | E::TooManyTokens { .. }
            | E::Tokenize { .. }
            | E::InvalidIds(_) => BindError::InvalidInput(msg),
            E::MissingFile { .. }
            | E::Io { .. }
            | E::ConfigParse { .. }
            | E::InvalidConfig(_)
            | E::Weights { .. }
            | E::TokenizerLoad { .. }
            | E::Device(_) => BindError::ModelLoad(msg),
            _ => BindError::Internal(msg),
        }
    }
}

impl From<phi::Error> for BindError {
    fn from(e: phi::Error) -> Self {
        // Every phi error is about the caller's input or configuration.
        BindError::InvalidInput(e.to_string())
    }
}

impl From<batcher::Error> for BindError {
    fn from(e: batcher::Error) -> Self {
        use batcher::Error as E;
        let msg = e.to_string();
        match e {
            E::Overloaded { retry_after } => BindError::Overloaded(retry_after),
            E::DeadlineExceeded => BindError::DeadlineExceeded,
            E::ShuttingDown => BindError::ShuttingDown,
            E::TooLong { .. } | E::Config { .. } => BindError::InvalidInput(msg),
            E::Load { .. } => BindError::ModelLoad(msg),
            _ => BindError::Internal(msg),
        }
    }
}

/// Runs `f` and turns a panic into [`BindError::Internal`] (the payload is dropped: it could
/// hold input text).
pub fn guarded<T>(f: impl FnOnce() -> Result<T, BindError>) -> Result<T, BindError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(BindError::Internal(
            "internal error (a panic was caught); this is a bug".into(),
        ))
    })
}

/// Copies a Python `str` into an owned `String`.
///
/// Non-`str` objects raise `TypeError`; a `str` with lone surrogates raises `InvalidInput`.
pub fn owned_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let s = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        ))
    })?;
    s.to_cow().map(|c| c.into_owned()).map_err(|_| {
        InvalidInput::new_err(format!(
            "{what} is not valid Unicode (it contains a lone surrogate)"
        ))
    })
}

/// Copies a sequence of Python `str` (a `list` or `tuple`, not a bare `str`) into owned strings.
pub fn owned_texts(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of str, not a single str"
        )));
    }
    let iter = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a list of str")))?;
    let mut out = Vec::new();
    for (i, item) in iter.enumerate() {
        out.push(owned_text(&item?, &format!("{what}[{i}]"))?);
    }
    Ok(out)
}

//! The Python exception hierarchy and the one mapping from Rust errors to it.
//!
//! Every message comes from the Rust error's `Display`, which never holds input text, so
//! exceptions are safe to log even when the input was a clinical note.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clinfer::{ErrorKind, Protocol};
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PySequence, PyString, PyType};

// The exceptions live in the `clinfer` module (re-exported there from `_native`), so that
// `pickle` finds them by name and they cross process pools.
pyo3::create_exception!(
    clinfer,
    ClinferError,
    PyException,
    "Root of every error raised by clinfer; `.kind` names it, `.http_status` is its /v1 HTTP status."
);
pyo3::create_exception!(
    clinfer,
    Overloaded,
    ClinferError,
    "The queue is full; retry after `retry_after` seconds."
);
pyo3::create_exception!(
    clinfer,
    DeadlineExceeded,
    ClinferError,
    "The request's deadline passed before the model served it."
);
pyo3::create_exception!(
    clinfer,
    ShuttingDown,
    ClinferError,
    "The pipeline is closing or closed and accepts no more work."
);
pyo3::create_exception!(
    clinfer,
    InvalidInput,
    ClinferError,
    "An input is unusable (too large, empty, not valid Unicode, ...); `.index` names it in a many-text call."
);
pyo3::create_exception!(
    clinfer,
    ConfigError,
    ClinferError,
    "A setting is invalid (an unknown name, a value the model or the scrubber cannot use)."
);
pyo3::create_exception!(
    clinfer,
    ModelLoadError,
    ClinferError,
    "The model could not be loaded (missing or malformed files, unavailable device)."
);

/// The exception class of each kind.
fn class_of(py: Python<'_>, kind: ErrorKind) -> Bound<'_, PyType> {
    match kind {
        ErrorKind::Overloaded => py.get_type::<Overloaded>(),
        ErrorKind::DeadlineExceeded => py.get_type::<DeadlineExceeded>(),
        ErrorKind::ShuttingDown => py.get_type::<ShuttingDown>(),
        ErrorKind::InvalidInput => py.get_type::<InvalidInput>(),
        ErrorKind::Config => py.get_type::<ConfigError>(),
        ErrorKind::ModelLoad => py.get_type::<ModelLoadError>(),
        _ => py.get_type::<ClinferError>(),
    }
}

/// Sets `kind`, `http_status` (the `/v1` status) and `oip_status` (the Open Inference
/// Protocol's) on each class, from the facade's one table, so that `except
/// clinfer.InvalidInput as e: e.http_status` works on exceptions raised anywhere.
pub fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let root = py.get_type::<ClinferError>();
    root.setattr("kind", ErrorKind::Internal.as_str())?;
    root.setattr("http_status", ErrorKind::Internal.http_status(Protocol::V1))?;
    root.setattr(
        "oip_status",
        ErrorKind::Internal.http_status(Protocol::OpenInference),
    )?;
    root.setattr("index", py.None())?;
    m.add("ClinferError", root)?;
    for kind in ErrorKind::ALL {
        let class = class_of(py, kind);
        if class.is(py.get_type::<ClinferError>()) {
            continue;
        }
        class.setattr("kind", kind.as_str())?;
        class.setattr("http_status", kind.http_status(Protocol::V1))?;
        class.setattr("oip_status", kind.http_status(Protocol::OpenInference))?;
        let name = class.name()?.to_string();
        m.add(name.as_str(), class)?;
    }
    py.get_type::<Overloaded>().setattr("retry_after", 1.0)?;
    Ok(())
}

/// A facade error on its way to Python: every Rust error the bindings meet is first sorted
/// into a [`clinfer::Error`] (by the facade's `From` conversions, the one place that decides
/// kinds), then raised as the exception of its kind.
#[derive(Debug)]
pub struct BindError(pub clinfer::Error);

impl<E: Into<clinfer::Error>> From<E> for BindError {
    fn from(e: E) -> Self {
        BindError(e.into())
    }
}

impl From<BindError> for PyErr {
    fn from(BindError(e): BindError) -> PyErr {
        Python::attach(|py| {
            let kind = e.kind();
            let class = class_of(py, kind);
            let message = e.to_string();
            let err = PyErr::from_type(class, (message,));
            // Setting attributes on a fresh exception instance cannot fail in practice; if it
            // does, the exception is still raised, with its class's defaults.
            let value = err.value(py);
            let _ = value.setattr("kind", kind.as_str());
            let _ = value.setattr("http_status", kind.http_status(Protocol::V1));
            let _ = value.setattr("oip_status", kind.http_status(Protocol::OpenInference));
            if let Some(i) = e.index() {
                let _ = value.setattr("index", i);
            }
            if let Some(after) = e.retry_after() {
                let _ = value.setattr("retry_after", after.as_secs_f64());
            }
            err
        })
    }
}

/// Runs `f` and turns a panic into an internal error (the payload is dropped: it could hold
/// input text).
pub fn guarded<T>(f: impl FnOnce() -> Result<T, BindError>) -> Result<T, BindError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(BindError(clinfer::Error::internal(
            "a panic was caught; this is a bug",
        )))
    })
}

/// A `ValueError` naming an option whose value is out of range.
pub fn bad_option(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// A duration option given in milliseconds: finite, `>= 0`, at most `max_ms`.
pub fn millis(name: &str, ms: f64, max_ms: f64) -> PyResult<Duration> {
    if ms.is_finite() && (0.0..=max_ms).contains(&ms) {
        Ok(Duration::from_secs_f64(ms / 1000.0))
    } else {
        Err(bad_option(format!(
            "{name} must be a finite number of milliseconds in 0..={max_ms}"
        )))
    }
}

/// A count option: at least `min`.
pub fn at_least(name: &str, value: usize, min: usize) -> PyResult<usize> {
    if value >= min {
        Ok(value)
    } else {
        Err(bad_option(format!("{name} must be at least {min}")))
    }
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
        BindError(clinfer::Error::invalid_input(format!(
            "{what} is not valid Unicode (it contains a lone surrogate)"
        )))
        .into()
    })
}

/// Copies a sequence of Python `str` (a `list`, a `tuple` or another
/// `collections.abc.Sequence`; not a bare `str` or `bytes`, not a `dict`, `set` or
/// iterator) into owned strings.
pub fn owned_texts(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    let type_name = || {
        obj.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into())
    };
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of str, not a single {}",
            type_name()
        )));
    }
    // list and tuple take a fast path; other types must register as Sequence (dict, set and
    // iterators do not)
    let Ok(seq) = obj.cast::<PySequence>() else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of str, not {}",
            type_name()
        )));
    };
    let n = seq.len()?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(owned_text(&seq.get_item(i)?, &format!("{what}[{i}]"))?);
    }
    Ok(out)
}

/// Remembers the process that created an object whose threads (the batcher's workers, the
/// runtime, candle's thread pool) do not survive `os.fork()`: used in a child, it would wait
/// forever on threads that are not there, so it raises instead.
#[derive(Debug, Clone, Copy)]
pub struct ForkGuard {
    pid: u32,
}

impl ForkGuard {
    /// A guard for an object created now, in this process.
    pub fn new() -> Self {
        Self {
            pid: std::process::id(),
        }
    }

    /// `RuntimeError` when called in another process than the creator's (after a fork).
    pub fn check(&self, what: &str) -> PyResult<()> {
        if std::process::id() == self.pid {
            Ok(())
        } else {
            Err(PyRuntimeError::new_err(format!(
                "this {what} was created in process {} and cannot be used after os.fork(): \
                 its threads did not survive the fork; create a new {what} in the child \
                 (or use the 'spawn' or 'forkserver' start method)",
                self.pid
            )))
        }
    }
}

/// The process that started the model's thread pools (candle's and rayon's are global and
/// not rebuilt after a fork); 0 while no model was loaded.
static POOL_OWNER: AtomicU32 = AtomicU32::new(0);

impl ForkGuard {
    /// Called before a model is loaded: `RuntimeError` in a child whose parent had loaded
    /// one before forking (the global thread pools the model runs on were not copied into
    /// the child, so the model would wait on them forever). Records this process otherwise.
    pub fn before_model_load() -> PyResult<()> {
        let pid = std::process::id();
        match POOL_OWNER.compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(owner) if owner == pid => Ok(()),
            Err(owner) => Err(PyRuntimeError::new_err(format!(
                "a model was loaded in process {owner} before os.fork(): its thread pools did \
                 not survive the fork, so no model can run in this child; load models only \
                 after forking, or use the 'spawn' or 'forkserver' start method"
            ))),
        }
    }
}

impl Default for ForkGuard {
    fn default() -> Self {
        Self::new()
    }
}

/// How often a blocking wait wakes to let Python handle signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Waits for `rx` with the GIL released, checking for signals every 50 ms: a
/// `KeyboardInterrupt` (or any exception a signal handler raises) calls `on_interrupt` and
/// is raised.
pub fn wait_interruptibly<T: Send>(
    py: Python<'_>,
    rx: std::sync::mpsc::Receiver<T>,
    on_interrupt: impl FnOnce(),
) -> PyResult<T> {
    use std::sync::mpsc::RecvTimeoutError;
    let mut rx = rx;
    loop {
        // the receiver travels into the GIL-free closure and back (it is Send, not Sync)
        let (got, back) = py.detach(move || (rx.recv_timeout(SIGNAL_POLL), rx));
        rx = back;
        match got {
            Ok(v) => return Ok(v),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    on_interrupt();
                    return Err(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(BindError(clinfer::Error::internal(
                    "the worker ended without an answer; this is a bug",
                ))
                .into())
            }
        }
    }
}

/// Runs `f` on a helper thread when `big`, waiting interruptibly (Ctrl-C is honoured while a
/// long text is scrubbed or classified; the helper finishes in the background and its result
/// is dropped); runs it inline otherwise. Panics become internal errors either way.
pub fn run_interruptibly<T: Send + 'static>(
    py: Python<'_>,
    big: bool,
    f: impl FnOnce() -> Result<T, BindError> + Send + 'static,
) -> PyResult<T> {
    if !big {
        return Ok(py.detach(|| guarded(f))?);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("clinfer-call".into())
        .spawn(move || {
            let _ = tx.send(guarded(f));
        })
        .map_err(|e| {
            BindError(clinfer::Error::internal(format!(
                "cannot start a thread: {e}"
            )))
        })?;
    Ok(wait_interruptibly(py, rx, || ())??)
}

//! `clinfer._native.Pipeline`: the facade pipeline, driven from Python.
//!
//! Asynchronous calls spawn the request on a tokio runtime owned by the bindings; when it
//! finishes, a Python callback is called with the GIL held (the Python side resolves an
//! `asyncio.Future` through `loop.call_soon_threadsafe`). `Ticket.cancel` aborts the task,
//! which drops the request's future and so removes it from the batcher's queue.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clinfer::{ClassifyOptions, Error};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyInt;

use crate::classifier::{parse_device, parse_dtype};
use crate::errors::{
    at_least, bad_option, guarded, millis, owned_text, owned_texts, wait_interruptibly, BindError,
    ForkGuard,
};

/// The runtime that drives asynchronous requests (two small worker threads; the model runs
/// on the batcher's own threads). One per process: a child after `os.fork()` gets a new one
/// (the parent's threads are not in the child; its runtime is leaked there, never used).
fn runtime() -> Result<&'static tokio::runtime::Runtime, BindError> {
    static RT: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut current = RT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, rt)) = *current {
        if owner == pid {
            return Ok(rt);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("clinfer-py")
        .enable_all()
        .build()
        .map_err(|e| BindError(Error::internal(format!("cannot start the runtime: {e}"))))?;
    let rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(rt));
    *current = Some((pid, rt));
    Ok(rt)
}

/// The result of `Pipeline.classify`.
#[pyclass(module = "clinfer._native", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Classification {
    /// The predicted label name.
    pub label: String,
    /// The probability of the predicted label.
    pub score: f32,
    /// The raw logits, one per label.
    pub logits: Vec<f32>,
    /// The de-identified text the model saw (`None` when scrubbing is off).
    pub redacted: Option<String>,
    /// PHI entities replaced, per kind name.
    pub phi_counts: BTreeMap<String, usize>,
    /// Number of tokens the model saw.
    pub tokens: usize,
    /// Seconds from the call to the answer.
    pub total_s: f64,
}

#[pymethods]
impl Classification {
    fn __repr__(&self) -> String {
        format!(
            "Classification(label={:?}, score={:.4})",
            self.label, self.score
        )
    }
}

impl From<clinfer::Classification> for Classification {
    fn from(c: clinfer::Classification) -> Self {
        Self {
            label: c.label,
            score: c.score,
            logits: c.logits,
            redacted: c.redacted,
            phi_counts: c.phi_counts,
            tokens: c.tokens,
            total_s: c.timings.total.as_secs_f64(),
        }
    }
}

/// A handle on one asynchronous request; `cancel()` withdraws it.
#[pyclass(module = "clinfer._native", frozen)]
pub struct Ticket {
    abort: tokio::task::AbortHandle,
}

#[pymethods]
impl Ticket {
    /// Cancels the request: if it is still queued it never reaches the model, and the
    /// callback is not called.
    fn cancel(&self) {
        self.abort.abort();
    }
}

/// Longest `max_wait_ms` accepted (a minute: longer waits only add latency).
const MAX_WAIT_MS: f64 = 60_000.0;

fn options(
    deadline_ms: Option<f64>,
    priority: Option<&Bound<'_, PyAny>>,
) -> PyResult<ClassifyOptions> {
    let deadline = match deadline_ms {
        None => None,
        Some(ms) if ms.is_finite() && ms >= 0.0 => {
            // a deadline beyond about 30 years is no deadline: cap it instead of overflowing
            Some(Duration::from_secs_f64((ms / 1000.0).min(1e9)))
        }
        Some(_) => return Err(bad_option("deadline_ms must be a finite number >= 0")),
    };
    let priority = match priority {
        None => Ok(1),
        Some(p) if !p.is_instance_of::<PyInt>() => {
            return Err(PyTypeError::new_err("priority must be an int"))
        }
        Some(p) => p.extract::<u8>(),
    };
    let priority = match priority {
        Ok(p) if p <= ClassifyOptions::LOWEST_PRIORITY => p,
        _ => {
            return Err(bad_option(
                "priority must be 0 (high), 1 (normal) or 2 (low)",
            ))
        }
    };
    Ok(ClassifyOptions { deadline, priority })
}

/// `callback` must be callable: checked when the request is submitted, not when it ends.
fn callable(callback: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if callback.is_callable() {
        Ok(callback.clone().unbind())
    } else {
        Err(PyTypeError::new_err("callback must be callable"))
    }
}

thread_local! {
    /// Set on the delivery thread: callbacks run there.
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One finished request on its way to its Python callback.
type Delivery = (Py<PyAny>, Result<Vec<Classification>, BindError>, bool);

/// Hands a result to the delivery thread, which calls the callback under the GIL, so that
/// tokio's workers never wait for the GIL (a Python thread holding it would stall every
/// request behind them). Falls back to calling it here if the thread cannot start.
fn call_back(callback: Py<PyAny>, result: Result<Vec<Classification>, BindError>, many: bool) {
    match delivery() {
        Some(tx) => {
            if let Err(std::sync::mpsc::SendError(d)) = tx.send((callback, result, many)) {
                Python::attach(|py| deliver(py, d));
            }
        }
        None => Python::attach(|py| deliver(py, (callback, result, many))),
    }
}

/// The sender of this process's delivery thread, started on first use (and again in a
/// forked child, like [`runtime`]).
fn delivery() -> Option<std::sync::mpsc::Sender<Delivery>> {
    static TX: Mutex<Option<(u32, std::sync::mpsc::Sender<Delivery>)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut current = TX.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, tx)) = &*current {
        if *owner == pid {
            return Some(tx.clone());
        }
    }
    let (tx, rx) = std::sync::mpsc::channel::<Delivery>();
    std::thread::Builder::new()
        .name("clinfer-py-callbacks".into())
        .spawn(move || {
            IN_CALLBACK.with(|c| c.set(true));
            while let Ok(first) = rx.recv() {
                // one GIL acquisition for everything already waiting (at most 64)
                Python::attach(|py| {
                    deliver(py, first);
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Ok(d) => deliver(py, d),
                            Err(_) => break,
                        }
                    }
                });
            }
        })
        .ok()?;
    *current = Some((pid, tx.clone()));
    Some(tx)
}

fn deliver(py: Python<'_>, (callback, result, many): Delivery) {
    let outcome = match result {
        Ok(mut v) if !many => match v.pop() {
            Some(c) => Py::new(py, c).map(|c| c.into_any()),
            None => Err(BindError(Error::internal("empty answer; this is a bug")).into()),
        },
        Ok(v) => v
            .into_iter()
            .map(|c| Py::new(py, c))
            .collect::<PyResult<Vec<_>>>()
            .and_then(|v| v.into_pyobject(py).map(|l| l.into_any().unbind())),
        Err(e) => Err(PyErr::from(e)),
    };
    let called = match outcome {
        Ok(value) => callback.call1(py, (value, py.None())),
        Err(err) => callback.call1(py, (py.None(), err.into_value(py))),
    };
    if let Err(e) = called {
        // The callback is ours (clinfer/__init__.py) and only schedules work on the
        // event loop; if the loop is closed there is nobody left to tell.
        e.write_unraisable(py, None);
    }
}

/// The facade pipeline: optional PHI scrub, dynamic batching, classification.
#[pyclass(module = "clinfer._native", frozen)]
pub struct Pipeline {
    inner: clinfer::Pipeline,
    fork: ForkGuard,
}

#[pymethods]
impl Pipeline {
    #[new]
    #[pyo3(signature = (model, *, scrub = true, device = "cpu", max_batch_size = 32, max_wait_ms = 5.0, queue_capacity = 1024, dtype = "auto", name = None, version = None, drift = true, drift_reference_size = 1000, drift_window = 1000, drift_reference = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: String,
        scrub: bool,
        device: &str,
        max_batch_size: usize,
        max_wait_ms: f64,
        queue_capacity: usize,
        dtype: &str,
        name: Option<String>,
        version: Option<String>,
        drift: bool,
        drift_reference_size: usize,
        drift_window: usize,
        drift_reference: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let device = parse_device(device)?;
        let dtype = parse_dtype(dtype)?;
        let max_batch_size = at_least("max_batch_size", max_batch_size, 1)?;
        let queue_capacity = at_least("queue_capacity", queue_capacity, 1)?;
        let max_wait = millis("max_wait_ms", max_wait_ms, MAX_WAIT_MS)?;
        let drift = if drift {
            let mut config = clinfer::DriftConfig::default()
                .reference_size(drift_reference_size)
                .window(drift_window);
            if let Some(path) = drift_reference {
                let reference = clinfer::DriftReference::load(&path)
                    .map_err(|e| BindError(Error::Config(e)))?;
                config = config.reference(reference);
            }
            config
        } else {
            clinfer::DriftConfig::disabled()
        };
        ForkGuard::before_model_load()?;
        let rt = runtime()?;
        let inner = py.detach(move || {
            guarded(|| {
                let mut b = clinfer::Pipeline::builder()
                    .model_dir(model)
                    .device(device)
                    .dtype(dtype)
                    .scrub(scrub)
                    .max_batch_size(max_batch_size)
                    .max_wait(max_wait)
                    .queue_capacity(queue_capacity)
                    .drift(drift)
                    .runtime(rt.handle().clone());
                if let Some(name) = name {
                    b = b.name(name);
                }
                if let Some(version) = version {
                    b = b.version(version);
                }
                Ok(b.build()?)
            })
        })?;
        Ok(Self {
            inner,
            fork: ForkGuard::new(),
        })
    }

    /// Submits one text; `callback(result, error)` is called from another thread when done.
    #[pyo3(signature = (text, callback, *, deadline_ms = None, priority = None))]
    fn submit(
        &self,
        text: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        deadline_ms: Option<f64>,
        priority: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Ticket> {
        self.fork.check("Pipeline")?;
        let callback = callable(callback)?;
        let text = owned_text(text, "text")?;
        let opts = options(deadline_ms, priority)?;
        let pipe = self.inner.clone();
        let task = runtime()?.spawn(async move {
            let r = pipe.classify(&text, opts).await;
            call_back(
                callback,
                r.map(|c| vec![c.into()]).map_err(BindError::from),
                false,
            );
        });
        Ok(Ticket {
            abort: task.abort_handle(),
        })
    }

    /// Submits many texts as one call; the callback receives a list in input order.
    #[pyo3(signature = (texts, callback, *, deadline_ms = None, priority = None))]
    fn submit_many(
        &self,
        texts: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        deadline_ms: Option<f64>,
        priority: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Ticket> {
        self.fork.check("Pipeline")?;
        let callback = callable(callback)?;
        let texts = owned_texts(texts, "texts")?;
        let opts = options(deadline_ms, priority)?;
        let pipe = self.inner.clone();
        let task = runtime()?.spawn(async move {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let r = pipe.classify_many(&refs, opts).await;
            call_back(
                callback,
                r.map(|v| v.into_iter().map(Classification::from).collect())
                    .map_err(BindError::from),
                true,
            );
        });
        Ok(Ticket {
            abort: task.abort_handle(),
        })
    }

    /// Classifies one text, blocking the calling thread (the GIL is released meanwhile;
    /// Ctrl-C interrupts the wait and withdraws the request).
    #[pyo3(signature = (text, *, deadline_ms = None, priority = None))]
    fn classify_blocking(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        deadline_ms: Option<f64>,
        priority: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Classification> {
        self.fork.check("Pipeline")?;
        if tokio::runtime::Handle::try_current().is_ok() || IN_CALLBACK.with(|c| c.get()) {
            // a callback of submit() runs on the delivery thread: blocking it would stall
            // every other caller's answer (and a runtime thread could deadlock)
            return Err(PyRuntimeError::new_err(
                "classify_blocking cannot be called from a clinfer callback or an async \
                 runtime thread; use submit() or await Pipeline.classify() there",
            ));
        }
        let text = owned_text(text, "text")?;
        let opts = options(deadline_ms, priority)?;
        let pipe = self.inner.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let task = runtime()?.spawn(async move {
            let r = pipe.classify(&text, opts).await;
            let _ = tx.send(r);
        });
        let result = wait_interruptibly(py, rx, || task.abort())?;
        Ok(result.map(Classification::from).map_err(BindError::from)?)
    }

    /// The precision mode the model runs: `f32`, `f16`, `bf16` or `int8`.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.classifier().mode()
    }

    /// What computes the model's linear layers (see `Classifier.kernel`).
    #[getter]
    fn kernel(&self) -> &'static str {
        self.inner.classifier().kernel()
    }

    /// The name given at construction (the `model` label of its metrics), or None.
    #[getter]
    fn name(&self) -> Option<String> {
        self.inner.name().map(str::to_owned)
    }

    /// The version given at construction (the `version` label of its metrics), or None.
    #[getter]
    fn version(&self) -> Option<String> {
        self.inner.version().map(str::to_owned)
    }

    /// Metrics in the Prometheus text format.
    fn metrics(&self) -> String {
        self.inner.metrics()
    }

    /// The drift report (every signal evaluated now), or None when drift monitoring is off.
    fn drift(&self) -> Option<crate::drift::DriftReport> {
        self.inner.drift().map(Into::into)
    }

    /// Saves the drift reference (JSON with a format version) to `path`.
    fn save_drift_reference(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        self.fork.check("Pipeline")?;
        let pipe = self.inner.clone();
        Ok(py.detach(move || guarded(|| Ok(pipe.save_drift_reference(&path)?)))?)
    }

    /// Builds the drift reference from a sample of texts and installs it; returns how many.
    fn fit_drift_reference(&self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.fork.check("Pipeline")?;
        let texts = owned_texts(texts, "texts")?;
        let pipe = self.inner.clone();
        Ok(py.detach(move || {
            guarded(|| {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Ok(pipe.fit_drift_reference(&refs)?)
            })
        })?)
    }

    /// Whether the pipeline is warmed up and accepting work.
    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// Stops admission, serves what is queued for up to `drain_timeout_s` seconds, then fails
    /// the rest. Returns whether everything queued was served.
    #[pyo3(signature = (drain_timeout_s = 5.0))]
    fn close(&self, py: Python<'_>, drain_timeout_s: f64) -> PyResult<bool> {
        self.fork.check("Pipeline")?;
        if !(drain_timeout_s.is_finite() && drain_timeout_s >= 0.0) {
            return Err(bad_option("drain_timeout_s must be a finite number >= 0"));
        }
        let pipe = self.inner.clone();
        let drain = Duration::from_secs_f64(drain_timeout_s.min(1e9));
        Ok(py.detach(move || guarded(|| Ok(pipe.shutdown_blocking(drain))))?)
    }
}

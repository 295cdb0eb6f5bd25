//! `clinfer._native.Pipeline`: the facade pipeline, driven from Python.
//!
//! Asynchronous calls spawn the request on a tokio runtime owned by the bindings; when it
//! finishes, a Python callback is called with the GIL held (the Python side resolves an
//! `asyncio.Future` through `loop.call_soon_threadsafe`). [`Ticket::cancel`] aborts the task,
//! which drops the request's future and so removes it from the batcher's queue.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use clinfer::{ClassifyOptions, Error};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::classifier::{parse_device, parse_dtype};
use crate::errors::{guarded, owned_text, owned_texts, BindError};

impl From<Error> for BindError {
    fn from(e: Error) -> Self {
        match e {
            Error::Overloaded { retry_after } => BindError::Overloaded(retry_after),
            Error::DeadlineExceeded => BindError::DeadlineExceeded,
            Error::ShuttingDown => BindError::ShuttingDown,
            Error::InvalidInput(m) => BindError::InvalidInput(m),
            Error::ModelLoad(m) => BindError::ModelLoad(m),
            Error::Internal(m) => BindError::Internal(m),
            other => BindError::Internal(other.to_string()),
        }
    }
}

/// The runtime that drives asynchronous requests (two small worker threads; the model runs
/// on the batcher's own threads).
fn runtime() -> Result<&'static tokio::runtime::Runtime, BindError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("clinfer-py")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| BindError::Internal(format!("cannot start the runtime: {e}")))
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

fn options(deadline_ms: Option<f64>, priority: u8) -> PyResult<ClassifyOptions> {
    let deadline = match deadline_ms {
        None => None,
        Some(ms) if ms.is_finite() && ms >= 0.0 => {
            Some(Duration::from_secs_f64((ms / 1000.0).min(1e9)))
        }
        Some(_) => {
            return Err(PyValueError::new_err(
                "deadline_ms must be a finite number >= 0",
            ))
        }
    };
    Ok(ClassifyOptions { deadline, priority })
}

fn call_back(callback: Py<PyAny>, result: Result<Vec<Classification>, BindError>, many: bool) {
    Python::attach(|py| {
        let outcome = match result {
            Ok(mut v) if !many => match v.pop() {
                Some(c) => Py::new(py, c).map(|c| c.into_any()),
                None => Err(BindError::Internal("empty answer; this is a bug".into()).into()),
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
    });
}

/// The facade pipeline: optional PHI scrub, dynamic batching, classification.
#[pyclass(module = "clinfer._native", frozen)]
pub struct Pipeline {
    inner: clinfer::Pipeline,
}

#[pymethods]
impl Pipeline {
    #[new]
    #[pyo3(signature = (model, *, scrub = true, device = "cpu", max_batch_size = 32, max_wait_ms = 5.0, queue_capacity = 1024, dtype = "auto"))]
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
    ) -> PyResult<Self> {
        let device = parse_device(device)?;
        let dtype = parse_dtype(dtype)?;
        if !(max_wait_ms.is_finite() && max_wait_ms >= 0.0) {
            return Err(PyValueError::new_err(
                "max_wait_ms must be a finite number >= 0",
            ));
        }
        let rt = runtime()?;
        let inner = py.detach(move || {
            guarded(|| {
                Ok(clinfer::Pipeline::builder()
                    .model_dir(model)
                    .device(device)
                    .dtype(dtype)
                    .scrub(scrub)
                    .max_batch_size(max_batch_size)
                    .max_wait(Duration::from_secs_f64(max_wait_ms / 1000.0))
                    .queue_capacity(queue_capacity)
                    .runtime(rt.handle().clone())
                    .build()?)
            })
        })?;
        Ok(Self { inner })
    }

    /// Submits one text; `callback(result, error)` is called from another thread when done.
    #[pyo3(signature = (text, callback, *, deadline_ms = None, priority = 1))]
    fn submit(
        &self,
        text: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
        deadline_ms: Option<f64>,
        priority: u8,
    ) -> PyResult<Ticket> {
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
    #[pyo3(signature = (texts, callback, *, deadline_ms = None, priority = 1))]
    fn submit_many(
        &self,
        texts: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
        deadline_ms: Option<f64>,
        priority: u8,
    ) -> PyResult<Ticket> {
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

    /// Classifies one text, blocking the calling thread (the GIL is released meanwhile).
    #[pyo3(signature = (text, *, deadline_ms = None, priority = 1))]
    fn classify_blocking(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        deadline_ms: Option<f64>,
        priority: u8,
    ) -> PyResult<Classification> {
        let text = owned_text(text, "text")?;
        let opts = options(deadline_ms, priority)?;
        let pipe = self.inner.clone();
        Ok(py.detach(move || guarded(|| Ok(pipe.classify_blocking(&text, opts)?.into())))?)
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

    /// Metrics in the Prometheus text format.
    fn metrics(&self) -> String {
        self.inner.metrics()
    }

    /// Whether the pipeline is warmed up and accepting work.
    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// Stops admission, serves what is queued for up to `drain_timeout_s` seconds, then fails
    /// the rest. Returns whether everything queued was served.
    #[pyo3(signature = (drain_timeout_s = 5.0))]
    fn close(&self, py: Python<'_>, drain_timeout_s: f64) -> PyResult<bool> {
        if !(drain_timeout_s.is_finite() && drain_timeout_s >= 0.0) {
            return Err(PyValueError::new_err(
                "drain_timeout_s must be a finite number >= 0",
            ));
        }
        let pipe = self.inner.clone();
        let drain = Duration::from_secs_f64(drain_timeout_s.min(1e9));
        Ok(py.detach(move || guarded(|| Ok(pipe.shutdown_blocking(drain))))?)
    }
}

//! `clinfer.Classifier` and `clinfer.Prediction`.

use std::sync::Arc;

use clinfer::core::{self, DTypeSpec, DeviceSpec};
use pyo3::prelude::*;

use crate::errors::{guarded, owned_texts, run_interruptibly, BindError, ForkGuard};

/// One classification result.
#[pyclass(module = "clinfer._native", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The predicted label name.
    pub label: String,
    /// The probability of the predicted label.
    pub score: f32,
    /// The raw logits, one per label.
    pub logits: Vec<f32>,
}

#[pymethods]
impl Prediction {
    fn __repr__(&self) -> String {
        format!(
            "Prediction(label={:?}, score={:.4})",
            self.label, self.score
        )
    }
}

impl From<core::Prediction> for Prediction {
    fn from(p: core::Prediction) -> Self {
        Self {
            label: p.label,
            score: p.score,
            logits: p.logits,
        }
    }
}

/// Parses a device name (`cpu`, `cuda`, `cuda:N`, `auto`).
pub fn parse_device(device: &str) -> Result<DeviceSpec, BindError> {
    device.parse::<DeviceSpec>().map_err(BindError::from)
}

/// Parses a precision mode (`auto`, `f32`, `f16`, `bf16`, `int8`).
pub fn parse_dtype(dtype: &str) -> Result<DTypeSpec, BindError> {
    dtype.parse::<DTypeSpec>().map_err(BindError::from)
}

/// A DistilBERT sequence classifier loaded from a Hugging Face model directory.
#[pyclass(module = "clinfer._native", frozen)]
pub struct Classifier {
    inner: Arc<core::Classifier>,
    fork: ForkGuard,
}

#[pymethods]
impl Classifier {
    #[new]
    #[pyo3(signature = (model, *, device = "cpu", max_length = None, dtype = "auto"))]
    fn new(
        py: Python<'_>,
        model: String,
        device: &str,
        max_length: Option<usize>,
        dtype: &str,
    ) -> PyResult<Self> {
        let device = parse_device(device)?;
        let dtype = parse_dtype(dtype)?;
        ForkGuard::before_model_load()?;
        let inner = py.detach(move || {
            guarded(|| {
                let mut b = core::Classifier::builder()
                    .model_dir(&model)
                    .device(device)
                    .dtype(dtype);
                if let Some(n) = max_length {
                    b = b.max_length(n);
                }
                Ok(b.build()?)
            })
        })?;
        Ok(Self {
            inner: Arc::new(inner),
            fork: ForkGuard::new(),
        })
    }

    /// Classifies each text; returns one `Prediction` per text, in order.
    fn predict(&self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<Vec<Prediction>> {
        self.fork.check("Classifier")?;
        let texts = owned_texts(texts, "texts")?;
        let inner = Arc::clone(&self.inner);
        // many or long texts run on a helper thread so that Ctrl-C interrupts the wait
        let big = texts.len() > 64 || texts.iter().map(String::len).sum::<usize>() >= 64 * 1024;
        let out = run_interruptibly(py, big, move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(inner.predict(&refs)?)
        })?;
        Ok(out.into_iter().map(Prediction::from).collect())
    }

    /// The label names, in logit order.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    /// The precision mode that runs: `f32`, `f16`, `bf16` or `int8` (`auto` resolved).
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.mode()
    }

    /// What computes the linear layers, picked from the CPU at run time: `avx512-f32` or
    /// `gemm-f32` (f32), `avx512-bf16` or `bf16-emulated` (bf16), `amx-int8`, `avx512-vnni`,
    /// `avx2` or `portable` (int8), `candle-cpu` (f16 on the CPU) or `candle-cuda`.
    #[getter]
    fn kernel(&self) -> &'static str {
        self.inner.kernel()
    }
}

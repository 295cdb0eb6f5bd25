//! The user-facing classifier: a model directory in, labels and scores out.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::config::{Config, ProblemType};
use crate::device::{DTypeSpec, DeviceSpec};
use crate::error::{Error, Result};
use crate::int8::Kernel;
use crate::models::distilbert::DistilBertForSequenceClassification;
use crate::tokenizer::{Encoding, Tokenizer, Truncation, DEFAULT_MAX_INPUT_BYTES};
use crate::weights;

/// Default number of rows per forward pass in [`Classifier::predict`].
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// The result for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Name of the best class (from `id2label`).
    pub label: String,
    /// Index of the best class.
    pub label_id: usize,
    /// Score of the best class: a softmax probability (single-label), a sigmoid
    /// (multi-label) or the raw value (regression).
    pub score: f32,
    /// Scores of every class, in class-index order.
    pub scores: Vec<f32>,
    /// Raw logits, in class-index order.
    pub logits: Vec<f32>,
}

/// How a forward pass lays out rows of different lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BatchLayout {
    /// Packed on the CPU when some row is shorter than the longest, padded otherwise (the
    /// default).
    #[default]
    Auto,
    /// Pad every row to the longest and mask the padding with an additive attention bias
    /// (skipped when nothing is padded). One large matrix product per layer, which suits GPUs.
    Padded,
    /// Concatenate the rows' tokens for the linear layers and run attention row by row, so no
    /// padding is computed: on the CPU, where compute is the limit, this saves the padding
    /// share of the work (often a third or more of a batch of mixed lengths).
    Packed,
}

impl std::str::FromStr for BatchLayout {
    type Err = Error;

    /// Parses `auto`, `padded` or `packed`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "padded" => Ok(Self::Padded),
            "packed" => Ok(Self::Packed),
            _ => Err(Error::InvalidConfig(format!(
                "unknown batch layout {s:?} (expected auto, padded or packed)"
            ))),
        }
    }
}

/// A DistilBERT model with the configuration needed to batch and validate its inputs.
#[derive(Debug, Clone)]
pub struct Model {
    config: Config,
    network: DistilBertForSequenceClassification,
    layout: BatchLayout,
}

impl Model {
    /// Loads `config.json` and the weights of a model directory (no tokenizer needed).
    ///
    /// # Errors
    /// Missing or malformed files, or weights that do not fit the configuration.
    pub fn from_dir(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let config = Config::from_file(&dir.join("config.json"))?;
        let path = weights::find_weights(dir)?;
        let tensors = weights::load_tensors(&path)?;
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        let network =
            DistilBertForSequenceClassification::load(vb, &config).map_err(|e| match e {
                Error::Candle(source) => Error::Weights { path, source },
                other => other,
            })?;
        Ok(Self {
            config,
            network,
            layout: BatchLayout::Auto,
        })
    }

    /// Builds a model from an already-prepared [`VarBuilder`] (names as in a full
    /// `DistilBertForSequenceClassification` checkpoint), e.g. random weights for benchmarks.
    ///
    /// # Errors
    /// A missing tensor or a shape that does not match `config`.
    pub fn from_varbuilder(config: Config, vb: VarBuilder<'_>) -> Result<Self> {
        let network = DistilBertForSequenceClassification::load(vb, &config)?;
        Ok(Self {
            config,
            network,
            layout: BatchLayout::Auto,
        })
    }

    /// Quantizes the encoder's linear layers to int8, run by `kernel` (usually
    /// [`Kernel::detect`]); see [`DistilBertForSequenceClassification::quantize_int8`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] on a CUDA device or a model that is not f32.
    pub fn quantize_int8(&mut self, kernel: Kernel) -> Result<()> {
        self.network.quantize_int8(kernel)
    }

    /// The precision mode: `f32`, `f16`, `bf16` or `int8`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        if self.network.int8_kernel().is_some() {
            return "int8";
        }
        match self.network.dtype() {
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            _ => "f32",
        }
    }

    /// What computes the linear layers (see [`Classifier::kernel`]).
    #[must_use]
    pub fn kernel(&self) -> &'static str {
        match self.network.int8_kernel() {
            Some(k) => k.name(),
            None if self.network.device().is_cuda() => "candle-cuda",
            None => self.network.float_kernel().unwrap_or("candle-cpu"),
        }
    }

    /// Sets the layout [`Model::logits`] uses (default [`BatchLayout::Auto`]).
    #[must_use]
    pub fn with_layout(mut self, layout: BatchLayout) -> Self {
        self.layout = layout;
        self
    }

    /// The layout [`Model::logits`] uses.
    #[must_use]
    pub fn layout(&self) -> BatchLayout {
        self.layout
    }

    /// Whether a batch of rows of different lengths is computed padded to its longest row
    /// (so it costs `longest × rows` tokens) rather than packed (the sum of its rows):
    /// [`BatchLayout::Padded`], or `Auto` on a GPU.
    #[must_use]
    pub fn pads_batches(&self) -> bool {
        match self.layout {
            BatchLayout::Padded => true,
            BatchLayout::Packed => false,
            BatchLayout::Auto => !self.network.device().is_cpu(),
        }
    }

    /// The model configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The underlying network.
    #[must_use]
    pub fn network(&self) -> &DistilBertForSequenceClassification {
        &self.network
    }

    /// Runs one forward pass over rows of token ids, in the model's [`BatchLayout`].
    ///
    /// Returns one row of logits per input, in order. A row's logits do not depend on the
    /// other rows in the call (up to float rounding).
    ///
    /// # Errors
    /// [`Error::InvalidIds`] for an empty call, an empty row, a row longer than
    /// `max_position_embeddings`, or an id outside the vocabulary.
    pub fn logits(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        self.logits_in(rows, self.layout)
    }

    /// [`Model::logits`] in the given layout.
    ///
    /// # Errors
    /// As [`Model::logits`].
    pub fn logits_in(&self, rows: &[&[u32]], layout: BatchLayout) -> Result<Vec<Vec<f32>>> {
        let seq = self.validate(rows)?;
        let padded = rows.iter().any(|r| r.len() < seq);
        let packed = match layout {
            BatchLayout::Packed => true,
            BatchLayout::Padded => false,
            BatchLayout::Auto => padded && self.network.device().is_cpu(),
        };
        let logits = if packed {
            self.network.forward_packed(rows)?
        } else {
            self.padded_forward(rows, seq, padded)?
        };
        Ok(logits.to_vec2::<f32>()?)
    }

    /// [`Model::logits`] that also returns each row's pooled `[CLS]` representation (what
    /// the classification layer sees: `pre_classifier` → ReLU, `dim` floats), as
    /// `(logits, pooled)` per row, in order. Costs one extra device-to-host copy of
    /// `rows × dim` floats.
    ///
    /// # Errors
    /// As [`Model::logits`].
    pub fn logits_and_pooled(&self, rows: &[&[u32]]) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let seq = self.validate(rows)?;
        let padded = rows.iter().any(|r| r.len() < seq);
        let packed = match self.layout {
            BatchLayout::Packed => true,
            BatchLayout::Padded => false,
            BatchLayout::Auto => padded && self.network.device().is_cpu(),
        };
        let (logits, pooled) = if packed {
            self.network.forward_packed_with_pooled(rows)?
        } else {
            let (ids, mask) = self.padded_inputs(rows, seq, padded)?;
            self.network.forward_with_pooled(&ids, mask.as_ref())?
        };
        Ok(logits
            .to_vec2::<f32>()?
            .into_iter()
            .zip(pooled.to_vec2::<f32>()?)
            .collect())
    }

    fn padded_forward(&self, rows: &[&[u32]], seq: usize, padded: bool) -> Result<Tensor> {
        let (ids, mask) = self.padded_inputs(rows, seq, padded)?;
        self.network.forward(&ids, mask.as_ref())
    }

    fn padded_inputs(
        &self,
        rows: &[&[u32]],
        seq: usize,
        padded: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let batch = rows.len();
        let device = self.network.device();
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(if padded { batch * seq } else { 0 });
        for row in rows {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(
                self.config.pad_token_id,
                seq - row.len(),
            ));
            if padded {
                mask.extend(std::iter::repeat_n(1u8, row.len()));
                mask.extend(std::iter::repeat_n(0u8, seq - row.len()));
            }
        }
        let ids = Tensor::from_vec(ids, (batch, seq), device)?;
        let mask = if padded {
            Some(Tensor::from_vec(mask, (batch, seq), device)?)
        } else {
            None
        };
        Ok((ids, mask))
    }

    fn validate(&self, rows: &[&[u32]]) -> Result<usize> {
        if rows.is_empty() {
            return Err(Error::InvalidIds("no rows were given".into()));
        }
        let max_pos = self.config.max_position_embeddings;
        let vocab = self.config.vocab_size;
        let mut seq = 0;
        for (i, row) in rows.iter().enumerate() {
            if row.is_empty() {
                return Err(Error::InvalidIds(format!("row {i} is empty")));
            }
            if row.len() > max_pos {
                return Err(Error::InvalidIds(format!(
                    "row {i} has {} tokens; the model accepts at most {max_pos}",
                    row.len()
                )));
            }
            if let Some(bad) = row.iter().find(|&&id| id as usize >= vocab) {
                return Err(Error::InvalidIds(format!(
                    "row {i} holds id {bad}, outside the vocabulary of {vocab}"
                )));
            }
            seq = seq.max(row.len());
        }
        Ok(seq)
    }

    /// Turns logits into a [`Prediction`] according to the problem type.
    #[must_use]
    pub fn prediction(&self, logits: Vec<f32>) -> Prediction {
        let scores = match self.config.problem_type {
            ProblemType::SingleLabel => softmax(&logits),
            ProblemType::MultiLabel => logits.iter().map(|&x| sigmoid(x)).collect(),
            ProblemType::Regression => logits.clone(),
        };
        let (label_id, score) =
            scores
                .iter()
                .copied()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, s)| {
                    if s > best.1 {
                        (i, s)
                    } else {
                        best
                    }
                });
        Prediction {
            label: self.config.labels[label_id].clone(),
            label_id,
            score,
            scores,
            logits,
        }
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Where a classifier's files come from.
#[derive(Debug, Clone)]
enum Source {
    Dir(PathBuf),
    #[cfg(feature = "hub")]
    Hub {
        repo: String,
        revision: Option<String>,
    },
}

/// Builds a [`Classifier`]; start from [`Classifier::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClassifierBuilder {
    source: Option<Source>,
    device: DeviceSpec,
    dtype: DTypeSpec,
    max_length: Option<usize>,
    truncation: Truncation,
    batch_size: usize,
    max_input_bytes: usize,
    layout: BatchLayout,
}

impl Default for ClassifierBuilder {
    fn default() -> Self {
        Self {
            source: None,
            device: DeviceSpec::Cpu,
            dtype: DTypeSpec::Auto,
            max_length: None,
            truncation: Truncation::Truncate,
            batch_size: DEFAULT_BATCH_SIZE,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            layout: BatchLayout::Auto,
        }
    }
}

impl ClassifierBuilder {
    /// A Hugging Face model directory: `config.json`, weights, `tokenizer.json`.
    pub fn model_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.source = Some(Source::Dir(dir.as_ref().to_owned()));
        self
    }

    /// A Hugging Face Hub repository (downloaded into the standard cache; `HF_ENDPOINT` and
    /// `HF_HOME` are honoured). `revision` defaults to `main`.
    #[cfg(feature = "hub")]
    pub fn hub(mut self, repo: impl Into<String>, revision: Option<String>) -> Self {
        self.source = Some(Source::Hub {
            repo: repo.into(),
            revision,
        });
        self
    }

    /// The device (default: CPU).
    pub fn device(mut self, device: DeviceSpec) -> Self {
        self.device = device;
        self
    }

    /// The compute dtype (default: f32 on CPU, f16 on CUDA).
    pub fn dtype(mut self, dtype: DTypeSpec) -> Self {
        self.dtype = dtype;
        self
    }

    /// Longest encoding in tokens (default and upper bound: `max_position_embeddings`).
    pub fn max_length(mut self, max_length: usize) -> Self {
        self.max_length = Some(max_length);
        self
    }

    /// What to do with over-long inputs (default: truncate).
    pub fn truncation(mut self, truncation: Truncation) -> Self {
        self.truncation = truncation;
        self
    }

    /// Rows per forward pass in [`Classifier::predict`] (default 32).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Largest accepted input in bytes, checked before tokenization (default 4 MiB).
    pub fn max_input_bytes(mut self, limit: usize) -> Self {
        self.max_input_bytes = limit;
        self
    }

    /// How batches of rows of different lengths are laid out (default
    /// [`BatchLayout::Auto`]: packed on the CPU, padded on a GPU).
    pub fn batch_layout(mut self, layout: BatchLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Loads the model and tokenizer.
    ///
    /// # Errors
    /// No source given, invalid settings, missing or malformed files, weights that do not fit
    /// the configuration, or an unavailable device.
    pub fn build(self) -> Result<Classifier> {
        if self.batch_size == 0 {
            return Err(Error::InvalidConfig("batch_size must be positive".into()));
        }
        if self.max_input_bytes == 0 {
            return Err(Error::InvalidConfig(
                "max_input_bytes must be positive".into(),
            ));
        }
        let dir = match self.source.clone() {
            None => {
                return Err(Error::InvalidConfig(
                    "no model given: call model_dir() (or hub())".into(),
                ))
            }
            Some(Source::Dir(dir)) => dir,
            #[cfg(feature = "hub")]
            Some(Source::Hub { repo, revision }) => crate::hub::download(&repo, revision)?,
        };
        if !dir.is_dir() {
            return Err(Error::MissingFile {
                path: dir,
                what: "the model directory",
            });
        }
        let device = self.device.resolve()?;
        let dtype = self.dtype.resolve(&device);
        let mut model = Model::from_dir(&dir, &device, dtype)?.with_layout(self.layout);
        if self.dtype == DTypeSpec::Int8 {
            model.quantize_int8(Kernel::detect())?;
        }
        let max_pos = model.config().max_position_embeddings;
        let max_length = self.max_length.unwrap_or(max_pos);
        if max_length > max_pos {
            return Err(Error::InvalidConfig(format!(
                "max_length {max_length} exceeds the model's max_position_embeddings {max_pos}"
            )));
        }
        let tokenizer =
            Tokenizer::from_file(&dir.join("tokenizer.json"), max_length, self.truncation)?
                .with_max_input_bytes(self.max_input_bytes);
        if tokenizer.vocab_size() > model.config().vocab_size {
            return Err(Error::InvalidConfig(format!(
                "the tokenizer has {} tokens but the model's vocabulary is {}",
                tokenizer.vocab_size(),
                model.config().vocab_size
            )));
        }
        Ok(Classifier {
            model,
            tokenizer,
            batch_size: self.batch_size,
        })
    }
}

/// A text classifier: tokenizer plus DistilBERT, safe to share between threads.
///
/// ```no_run
/// use clinfer_core::Classifier;
/// let classifier = Classifier::builder().model_dir("models/clinfer-demo-sst2").build()?;
/// let predictions = classifier.predict(&["a gripping, beautifully acted film"])?;
/// println!("{} {:.3}", predictions[0].label, predictions[0].score);
/// # Ok::<(), clinfer_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Classifier {
    model: Model,
    tokenizer: Tokenizer,
    batch_size: usize,
}

impl Classifier {
    /// Starts a builder with the defaults (CPU, f32, truncation at `max_position_embeddings`).
    pub fn builder() -> ClassifierBuilder {
        ClassifierBuilder::default()
    }

    /// Classifies texts, in order.
    ///
    /// Inputs are sorted by length and run in chunks of `batch_size`, which keeps padding low;
    /// results come back in input order.
    ///
    /// # Errors
    /// The first bad input (empty, too large, too many tokens in strict mode), with its index;
    /// or a model failure.
    pub fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.tokenizer.encode_batch(texts)?;
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut results: Vec<Option<Prediction>> = vec![None; encodings.len()];
        for chunk in order.chunks(self.batch_size) {
            let rows: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            for (&i, prediction) in chunk.iter().zip(self.predict_encoded(&rows)?) {
                results[i] = Some(prediction);
            }
        }
        Ok(results
            .into_iter()
            .map(|p| p.expect("every input is predicted exactly once. This is a bug."))
            .collect())
    }

    /// Classifies pre-tokenized inputs in one forward pass (the batcher's entry point).
    ///
    /// # Errors
    /// [`Error::InvalidIds`] for unusable ids, or a model failure.
    pub fn predict_encoded(&self, batch: &[&Encoding]) -> Result<Vec<Prediction>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<&[u32]> = batch.iter().map(|e| e.ids()).collect();
        Ok(self
            .model
            .logits(&rows)?
            .into_iter()
            .map(|l| self.model.prediction(l))
            .collect())
    }

    /// [`Classifier::predict_encoded`] that also returns each input's pooled `[CLS]`
    /// representation (see [`Model::logits_and_pooled`]), for drift monitoring or
    /// similarity.
    ///
    /// # Errors
    /// As [`Classifier::predict_encoded`].
    pub fn predict_encoded_with_pooled(
        &self,
        batch: &[&Encoding],
    ) -> Result<Vec<(Prediction, Vec<f32>)>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<&[u32]> = batch.iter().map(|e| e.ids()).collect();
        Ok(self
            .model
            .logits_and_pooled(&rows)?
            .into_iter()
            .map(|(l, p)| (self.model.prediction(l), p))
            .collect())
    }

    /// The tokenizer, to encode off the model thread.
    #[must_use]
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model.
    #[must_use]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Label names by class index.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.model.config().labels
    }

    /// The device the model runs on.
    #[must_use]
    pub fn device(&self) -> &Device {
        self.model.network().device()
    }

    /// The compute dtype of the float parts (f32 in `int8` mode, whose linear layers are
    /// int8; see [`Classifier::mode`]).
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.model.network().dtype()
    }

    /// The precision mode that runs: `f32`, `f16`, `bf16` or `int8` (`auto` resolved).
    #[must_use]
    pub fn mode(&self) -> &'static str {
        self.model.mode()
    }

    /// What computes the linear layers, picked from the CPU at run time: `avx512-f32` or
    /// `gemm-f32` (f32), `avx512-bf16` or `bf16-emulated` (bf16), `amx-int8`, `avx512-vnni`,
    /// `avx2` or `portable` (int8), `candle-cpu` (f16 on the CPU) or `candle-cuda`.
    #[must_use]
    pub fn kernel(&self) -> &'static str {
        self.model.kernel()
    }

    /// Rows per forward pass in [`Classifier::predict`].
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_normalised() {
        let s = softmax(&[1000.0, 1000.0]);
        assert!((s[0] - 0.5).abs() < 1e-6 && (s[1] - 0.5).abs() < 1e-6);
        let s = softmax(&[0.0, 2.0_f32.ln()]);
        assert!((s[1] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn classifier_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Classifier>();
    }

    #[test]
    fn batch_layouts_parse() {
        assert_eq!(
            "packed".parse::<BatchLayout>().unwrap(),
            BatchLayout::Packed
        );
        assert_eq!(
            " Padded ".parse::<BatchLayout>().unwrap(),
            BatchLayout::Padded
        );
        assert_eq!("auto".parse::<BatchLayout>().unwrap(), BatchLayout::Auto);
        assert!(matches!(
            "ragged".parse::<BatchLayout>(),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn builder_without_source_is_an_error() {
        let err = Classifier::builder().build().unwrap_err();
        assert!(err.to_string().contains("no model given"));
        let err = Classifier::builder()
            .model_dir("x")
            .batch_size(0)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("batch_size"));
    }
}

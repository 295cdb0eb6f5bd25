//! The [`Pipeline`]: optional PHI scrub → tokenize → dynamic batcher → classifier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clinfer_batcher::prometheus_client::metrics::counter::Counter;
use clinfer_batcher::prometheus_client::metrics::family::Family;
use clinfer_batcher::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use clinfer_batcher::prometheus_client::registry::Registry;
use clinfer_batcher::{Batcher, Health, Pending, Priority, Response, SubmitOptions};
use clinfer_core::{Classifier, DTypeSpec, DeviceSpec, Encoding, Prediction, Truncation};
use clinfer_phi::{Operators, Scrubber};
use serde::Serialize;

use crate::backend::{ClassifierBackend, Scored};
use crate::drift::{
    phi_bit, DriftConfig, DriftMonitor, DriftReference, DriftReport, ModelShape, Observation,
};
use crate::error::{Error, Result};

/// Default largest accepted input, in bytes (checked before scrubbing and tokenizing).
pub const DEFAULT_MAX_INPUT_BYTES: usize = 1 << 20;

/// How much larger than its input a de-identified text may be when it reaches the
/// tokenizer: a tag such as `[NAME]` can replace a one-letter name. The tokenizer of a
/// pipeline that loads its own model accepts `max_input_bytes` times this.
pub const REDACTION_HEADROOM: usize = 8;

/// Texts (or a many-text call's texts together) at least this long are scrubbed and
/// tokenized on tokio's blocking pool rather than on the executor thread that awaits them.
const OFF_EXECUTOR_BYTES: usize = 16 * 1024;

/// Per-call options for [`Pipeline::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// Longest the call may take, counted from the call; capped by the pipeline's
    /// [`default_deadline`](PipelineBuilder::default_deadline). `None`: the default only.
    pub deadline: Option<Duration>,
    /// Urgency: 0 is high, 1 normal (the default), 2 low; any other value is
    /// [`Error::InvalidInput`]. Lower levels age upwards so they cannot starve.
    pub priority: u8,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        Self {
            deadline: None,
            priority: 1,
        }
    }
}

impl ClassifyOptions {
    /// The highest accepted [`priority`](Self::priority) value (low).
    pub const LOWEST_PRIORITY: u8 = 2;

    fn submit(&self, start: Instant) -> Result<SubmitOptions> {
        let priority = match self.priority {
            0 => Priority::High,
            1 => Priority::Normal,
            2 => Priority::Low,
            p => {
                return Err(Error::invalid_input(format!(
                    "priority {p} is not 0 (high), 1 (normal) or 2 (low)"
                )))
            }
        };
        let mut options = SubmitOptions::new().priority(priority);
        if let Some(d) = self.deadline {
            let at = start.checked_add(d).unwrap_or_else(far_future);
            options = options.deadline(clinfer_batcher::Instant::from_std(at));
        }
        Ok(options)
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Where the time of one call went. Serialized as seconds (floating point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct Timings {
    /// PHI scrubbing (zero when scrubbing is off).
    #[serde(serialize_with = "secs")]
    pub scrub: Duration,
    /// Tokenization.
    #[serde(serialize_with = "secs")]
    pub tokenize: Duration,
    /// Waiting in the batcher's queue.
    #[serde(serialize_with = "secs")]
    pub queue: Duration,
    /// The forward pass of the batch this request was part of.
    #[serde(serialize_with = "secs")]
    pub compute: Duration,
    /// The whole call.
    #[serde(serialize_with = "secs")]
    pub total: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The result of classifying one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Classification {
    /// The predicted label's name.
    pub label: String,
    /// The predicted label's index.
    pub label_id: usize,
    /// The predicted label's probability.
    pub score: f32,
    /// Probabilities of every label, by index.
    pub scores: Vec<f32>,
    /// Raw logits, by index.
    pub logits: Vec<f32>,
    /// The de-identified text the model saw, when scrubbing is on.
    pub redacted: Option<String>,
    /// Number of PHI entities replaced, per kind name (`NAME`, `DATE`, ...); empty when
    /// scrubbing is off.
    pub phi_counts: BTreeMap<String, usize>,
    /// Number of tokens the model saw.
    pub tokens: usize,
    /// Whether the input was truncated to `max_length` tokens.
    pub truncated: bool,
    /// Where the time went.
    pub timings: Timings,
}

/// A cheap, cloneable handle on a running pipeline: optional PHI scrubbing, tokenization on
/// the caller's thread, and a dynamic batcher feeding the classifier on worker threads.
///
/// Clones share one model and one queue. The batcher stops when the last clone is dropped
/// (queued requests then fail with [`Error::ShuttingDown`]) or on [`Pipeline::shutdown`].
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    batcher: Batcher<ClassifierBackend>,
    classifier: Arc<Classifier>,
    scrub: Option<(Scrubber, Operators)>,
    max_input_bytes: usize,
    metrics: PipelineMetrics,
    name: Option<String>,
    version: Option<String>,
    drift: Option<DriftMonitor>,
    unk_id: Option<u32>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("scrub", &self.inner.scrub.is_some())
            .field("max_input_bytes", &self.inner.max_input_bytes)
            .field("batcher", &self.inner.batcher.config())
            .field("drift", &self.inner.drift)
            .finish_non_exhaustive()
    }
}

/// What is known of a request after scrubbing and tokenization (its encoding goes to the
/// batcher).
struct Prepared {
    redacted: Option<String>,
    phi_counts: BTreeMap<String, usize>,
    scrub: Duration,
    tokenize: Duration,
    tokens: usize,
    truncated: bool,
    /// `[UNK]` tokens in the encoding (for the drift monitor).
    unk_tokens: usize,
    /// PHI kinds found, one bit each (see [`phi_bit`]).
    phi_kinds: u32,
}

impl Pipeline {
    /// Starts a builder with the defaults.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// Classifies one text: scrubs it (when on), tokenizes it on the calling task, and waits
    /// for the batcher to run it with other requests.
    ///
    /// Dropping the future cancels the request; if it is still queued it never reaches the
    /// model.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty, too large or unusable text; [`Error::Overloaded`]
    /// when the queue is full; [`Error::DeadlineExceeded`]; [`Error::ShuttingDown`];
    /// [`Error::Internal`] when the model fails.
    pub async fn classify(&self, text: &str, options: ClassifyOptions) -> Result<Classification> {
        let start = Instant::now();
        let result = async {
            options.submit(start)?;
            let prepared = self.prepare_off_executor(text).await?;
            let (pending, prepared) = self.submit(prepared, &options, start)?;
            let response = pending.await;
            self.finish(prepared, response, start)
        }
        .await;
        self.inner.metrics.outcome(&result);
        result
    }

    /// Classifies many texts: all are submitted before any is awaited, so they share batches.
    /// Results keep input order. The first failure fails the call and cancels the rest; its
    /// message names the text's index.
    ///
    /// # Errors
    /// As [`Pipeline::classify`].
    pub async fn classify_many(
        &self,
        texts: &[&str],
        options: ClassifyOptions,
    ) -> Result<Vec<Classification>> {
        let start = Instant::now();
        let prepared = match options.submit(start) {
            Err(e) => Err(e),
            Ok(_) => self.prepare_many_off_executor(texts).await,
        };
        let mut pendings = Vec::with_capacity(texts.len());
        let submitted = prepared.and_then(|prepared| {
            for (index, p) in prepared.into_iter().enumerate() {
                pendings.push(
                    self.submit(p, &options, start)
                        .map_err(|e| at_index(e, index))?,
                );
            }
            Ok(())
        });
        if let Err(e) = submitted {
            self.inner.metrics.outcome::<()>(&Err(e.clone()));
            return Err(e);
        }
        let mut out = Vec::with_capacity(texts.len());
        for (index, (pending, prepared)) in pendings.into_iter().enumerate() {
            let result = self
                .finish(prepared, pending.await, start)
                .map_err(|e| at_index(e, index));
            self.inner.metrics.outcome(&result);
            out.push(result?);
        }
        Ok(out)
    }

    /// Blocking twin of [`Pipeline::classify`] for synchronous callers (no tokio runtime is
    /// needed on the calling thread). It blocks the thread: do not call it from async code.
    ///
    /// # Errors
    /// As [`Pipeline::classify`].
    pub fn classify_blocking(
        &self,
        text: &str,
        options: ClassifyOptions,
    ) -> Result<Classification> {
        let start = Instant::now();
        let result = options
            .submit(start)
            .and_then(|_| self.prepare(text))
            .and_then(|p| self.submit(p, &options, start))
            .and_then(|(pending, prepared)| self.finish(prepared, pending.wait(), start));
        self.inner.metrics.outcome(&result);
        result
    }

    /// Blocking twin of [`Pipeline::classify_many`].
    ///
    /// # Errors
    /// As [`Pipeline::classify`].
    pub fn classify_many_blocking(
        &self,
        texts: &[&str],
        options: ClassifyOptions,
    ) -> Result<Vec<Classification>> {
        let start = Instant::now();
        if let Err(e) = options.submit(start) {
            self.inner.metrics.outcome::<()>(&Err(e.clone()));
            return Err(e);
        }
        let mut pendings = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let submitted = self
                .prepare(text)
                .and_then(|p| self.submit(p, &options, start))
                .map_err(|e| at_index(e, index));
            match submitted {
                Ok(p) => pendings.push(p),
                Err(e) => {
                    self.inner.metrics.outcome::<()>(&Err(e.clone()));
                    return Err(e);
                }
            }
        }
        let mut out = Vec::with_capacity(texts.len());
        for (index, (pending, prepared)) in pendings.into_iter().enumerate() {
            let result = self
                .finish(prepared, pending.wait(), start)
                .map_err(|e| at_index(e, index));
            self.inner.metrics.outcome(&result);
            out.push(result?);
        }
        Ok(out)
    }

    /// [`prepare`](Self::prepare) on tokio's blocking pool when the text is long enough for
    /// scrubbing and tokenizing to hold up an executor thread (health checks and other
    /// requests stay responsive meanwhile); inline otherwise, or outside a tokio runtime.
    async fn prepare_off_executor(&self, text: &str) -> Result<(Encoding, Prepared)> {
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h)
                if text.len() >= OFF_EXECUTOR_BYTES && text.len() <= self.inner.max_input_bytes =>
            {
                h
            }
            _ => return self.prepare(text),
        };
        self.inner.metrics.offloaded.inc();
        let this = self.clone();
        let text = text.to_owned();
        handle
            .spawn_blocking(move || this.prepare(&text))
            .await
            .unwrap_or_else(|_| Err(Error::internal("the scrub task panicked; this is a bug")))
    }

    /// Prepares every text of a many-text call, on the blocking pool when their total is
    /// long (see [`prepare_off_executor`](Self::prepare_off_executor)); the first failure
    /// carries its index.
    async fn prepare_many_off_executor(&self, texts: &[&str]) -> Result<Vec<(Encoding, Prepared)>> {
        let all = |this: &Self, texts: &[&str]| {
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| this.prepare(t).map_err(|e| at_index(e, i)))
                .collect::<Result<Vec<_>>>()
        };
        let total = texts
            .iter()
            .map(|t| t.len())
            .fold(0usize, usize::saturating_add);
        let limit = self.inner.max_input_bytes.saturating_mul(texts.len());
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) if total >= OFF_EXECUTOR_BYTES && total <= limit => h,
            _ => return all(self, texts),
        };
        self.inner.metrics.offloaded.inc_by(texts.len() as u64);
        let this = self.clone();
        let owned: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        handle
            .spawn_blocking(move || {
                let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
                all(&this, &refs)
            })
            .await
            .unwrap_or_else(|_| Err(Error::internal("the scrub task panicked; this is a bug")))
    }

    fn prepare(&self, text: &str) -> Result<(Encoding, Prepared)> {
        let limit = self.inner.max_input_bytes;
        if text.len() > limit {
            return Err(Error::invalid_input(format!(
                "input of {} bytes exceeds the limit of {limit} bytes",
                text.len()
            )));
        }
        let t = Instant::now();
        let (redacted, phi_counts, phi_kinds) = match &self.inner.scrub {
            None => (None, BTreeMap::new(), 0),
            Some((scrubber, operators)) => {
                let out = scrubber.redact(text, operators)?;
                let counts: BTreeMap<String, usize> = out
                    .audit
                    .counts
                    .iter()
                    .map(|(k, n)| (k.as_str().to_owned(), *n))
                    .collect();
                let kinds = out
                    .audit
                    .counts
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .fold(0u32, |bits, (k, _)| bits | phi_bit(*k));
                (Some(out.text), counts, kinds)
            }
        };
        let scrub = t.elapsed();
        let t = Instant::now();
        let encoding = self
            .inner
            .classifier
            .tokenizer()
            .encode(redacted.as_deref().unwrap_or(text))
            // the core numbers inputs within its own one-text call: drop that index (the
            // caller's index is added by `classify_many`)
            .map_err(|e| match Error::from(e) {
                Error::InvalidInput { reason, .. } => Error::InvalidInput {
                    index: None,
                    reason,
                },
                other => other,
            })?;
        let tokenize = t.elapsed();
        let unk_tokens = match (self.inner.unk_id, &self.inner.drift) {
            (Some(unk), Some(_)) => encoding.ids().iter().filter(|id| **id == unk).count(),
            _ => 0,
        };
        let prepared = Prepared {
            redacted,
            phi_counts,
            scrub,
            tokenize,
            tokens: encoding.len(),
            truncated: encoding.was_truncated(),
            unk_tokens,
            phi_kinds,
        };
        Ok((encoding, prepared))
    }

    fn submit(
        &self,
        (encoding, prepared): (Encoding, Prepared),
        options: &ClassifyOptions,
        start: Instant,
    ) -> Result<(Pending<ClassifierBackend>, Prepared)> {
        let pending = self
            .inner
            .batcher
            .try_submit(encoding, options.submit(start)?)?;
        Ok((pending, prepared))
    }

    fn finish(
        &self,
        prepared: Prepared,
        response: clinfer_batcher::Result<Response<Scored>>,
        start: Instant,
    ) -> Result<Classification> {
        let response = response?;
        let Scored { prediction, pooled } = response.output;
        let Prediction {
            label,
            label_id,
            score,
            scores,
            logits,
            ..
        } = prediction;
        self.inner.metrics.record_phi(&prepared.phi_counts);
        if let Some(monitor) = &self.inner.drift {
            monitor.observe(&Observation {
                label_id,
                score,
                tokens: prepared.tokens,
                truncated: prepared.truncated,
                unk_tokens: prepared.unk_tokens,
                phi_kinds: prepared.phi_kinds,
                embedding: pooled.as_deref(),
            });
        }
        let total = start.elapsed();
        self.inner
            .metrics
            .total_seconds
            .observe(total.as_secs_f64());
        Ok(Classification {
            label,
            label_id,
            score,
            scores,
            logits,
            redacted: prepared.redacted,
            phi_counts: prepared.phi_counts,
            tokens: prepared.tokens,
            truncated: prepared.truncated,
            timings: Timings {
                scrub: prepared.scrub,
                tokenize: prepared.tokenize,
                queue: response.queue_time,
                compute: response.compute_time,
                total,
            },
        })
    }

    /// Metrics in the Prometheus text format: the batcher's (`clinfer_batcher_*`: queue
    /// depth, queue and compute time, batch size, padding, failures by reason) followed by
    /// the pipeline's (`clinfer_pipeline_*`: requests by outcome, PHI entities replaced per
    /// kind). Counts only, never text.
    #[must_use]
    pub fn metrics(&self) -> String {
        // one registry: the batcher's, where the pipeline registered its own metrics
        self.inner.batcher.encode_metrics()
    }

    /// Whether the pipeline should receive traffic: warmed up, not draining.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.inner.batcher.is_ready()
    }

    /// Whether the pipeline is alive: not stopped, warm-up did not fail, a worker runs.
    #[must_use]
    pub fn is_live(&self) -> bool {
        self.inner.batcher.is_live()
    }

    /// Waits until warm-up is over; returns whether the pipeline is ready.
    pub async fn wait_ready(&self) -> bool {
        self.inner.batcher.wait_ready().await == Health::Ready
    }

    /// The name given with [`PipelineBuilder::name`], if any.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The version given with [`PipelineBuilder::version`], if any.
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }

    /// The classifier (for labels, or to call it directly).
    #[must_use]
    pub fn classifier(&self) -> &Arc<Classifier> {
        &self.inner.classifier
    }

    /// The drift report: every signal evaluated now against the reference (see
    /// [`crate::drift`]); `None` when drift monitoring is off.
    #[must_use]
    pub fn drift(&self) -> Option<DriftReport> {
        self.inner.drift.as_ref().map(DriftMonitor::report)
    }

    /// The drift monitor, when on (to read its signals, or to replace its reference).
    #[must_use]
    pub fn drift_monitor(&self) -> Option<&DriftMonitor> {
        self.inner.drift.as_ref()
    }

    /// The drift reference as a snapshot: `None` when monitoring is off or while the
    /// reference is still being frozen from the first requests.
    #[must_use]
    pub fn drift_reference(&self) -> Option<DriftReference> {
        self.inner.drift.as_ref().and_then(DriftMonitor::reference)
    }

    /// Saves the drift reference as JSON (written to a temporary file beside `path`, then
    /// renamed), so that a deployment can ship it with the model
    /// ([`DriftConfig::reference`], `drift_reference.json` in a gateway's version directory).
    ///
    /// # Errors
    /// [`Error::Config`] when monitoring is off or the reference is not complete yet;
    /// [`Error::InvalidInput`] when the file cannot be written.
    pub fn save_drift_reference(&self, path: impl AsRef<Path>) -> Result<()> {
        let Some(monitor) = &self.inner.drift else {
            return Err(Error::Config("drift monitoring is off".into()));
        };
        let Some(reference) = monitor.reference() else {
            let r = monitor.report();
            return Err(Error::Config(format!(
                "the drift reference is not complete yet ({} of {} requests)",
                r.reference_requests,
                monitor.reference_size()
            )));
        };
        reference.save(path).map_err(Error::invalid_input)
    }

    /// Replaces the drift reference with a saved snapshot (the window starts empty).
    ///
    /// # Errors
    /// [`Error::Config`] when monitoring is off or the snapshot does not fit the model.
    pub fn set_drift_reference(&self, reference: &DriftReference) -> Result<()> {
        let Some(monitor) = &self.inner.drift else {
            return Err(Error::Config("drift monitoring is off".into()));
        };
        monitor.set_reference(reference).map_err(Error::Config)
    }

    /// Builds the drift reference from a sample of texts the caller supplies (for example
    /// the validation set), scrubbed and classified as requests are but without the batcher
    /// and without counting them as traffic, and installs it. Returns the number of texts.
    ///
    /// # Errors
    /// [`Error::Config`] when monitoring is off; [`Error::InvalidInput`] (with the text's
    /// index) for an unusable text or an empty sample; [`Error::Internal`] when the model
    /// fails. The reference is unchanged on error.
    pub fn fit_drift_reference(&self, texts: &[&str]) -> Result<usize> {
        let Some(monitor) = &self.inner.drift else {
            return Err(Error::Config("drift monitoring is off".into()));
        };
        if texts.is_empty() {
            return Err(Error::invalid_input("the drift reference sample is empty"));
        }
        let chunk = self.inner.batcher.config().max_batch_size.max(1);
        let mut observed: Vec<(Prepared, Prediction, Vec<f32>)> = Vec::with_capacity(texts.len());
        for (c, group) in texts.chunks(chunk).enumerate() {
            let mut encodings = Vec::with_capacity(group.len());
            let mut prepared = Vec::with_capacity(group.len());
            for (i, text) in group.iter().enumerate() {
                let (e, p) = self.prepare(text).map_err(|e| at_index(e, c * chunk + i))?;
                encodings.push(e);
                prepared.push(p);
            }
            let rows: Vec<&Encoding> = encodings.iter().collect();
            let outputs = self
                .inner
                .classifier
                .predict_encoded_with_pooled(&rows)
                .map_err(Error::from)?;
            observed.extend(
                prepared
                    .into_iter()
                    .zip(outputs)
                    .map(|(p, (prediction, pooled))| (p, prediction, pooled)),
            );
        }
        let reference = monitor
            .reference_from(observed.iter().map(|(p, prediction, pooled)| Observation {
                label_id: prediction.label_id,
                score: prediction.score,
                tokens: p.tokens,
                truncated: p.truncated,
                unk_tokens: p.unk_tokens,
                phi_kinds: p.phi_kinds,
                embedding: Some(pooled),
            }))
            .ok_or_else(|| Error::invalid_input("the drift reference sample is empty"))?;
        monitor
            .set_sample_reference(&reference)
            .map_err(Error::Config)?;
        Ok(observed.len())
    }

    /// Stops admission ([`Error::ShuttingDown`]), serves what is queued for up to `drain`,
    /// then fails the rest. Returns whether everything queued was served.
    pub async fn shutdown(&self, drain: Duration) -> bool {
        self.inner.batcher.shutdown(drain).await.drained
    }

    /// Blocking twin of [`Pipeline::shutdown`]; usable with or without a runtime on the
    /// calling thread (it runs the wait on a helper thread).
    pub fn shutdown_blocking(&self, drain: Duration) -> bool {
        let this = self.clone();
        std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(this.shutdown(drain)),
                    Err(_) => false,
                }
            })
            .join()
            .unwrap_or(false)
        })
    }
}

fn at_index(e: Error, index: usize) -> Error {
    e.at_index(index)
}

type Labels = Vec<(&'static str, String)>;

/// The pipeline's own metrics, registered in the batcher's registry (one exposition).
struct PipelineMetrics {
    offloaded: Counter,
    requests: Family<Labels, Counter>,
    phi: Family<Labels, Counter>,
    total_seconds: Histogram,
}

impl PipelineMetrics {
    /// Creates the metrics and registers them in `root` under `clinfer_pipeline_`.
    fn new(root: &mut Registry) -> Self {
        let registry = root.sub_registry_with_prefix("clinfer_pipeline");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Classification requests by outcome (ok or the error kind)",
            requests.clone(),
        );
        let phi = Family::<Labels, Counter>::default();
        registry.register(
            "phi_entities",
            "PHI entities replaced before classification, by kind",
            phi.clone(),
        );
        let total_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "request_duration_seconds",
            "Time from call to answer of successful classifications",
            total_seconds.clone(),
        );
        let offloaded = Counter::default();
        registry.register(
            "offloaded_texts",
            "Texts scrubbed and tokenized on the blocking pool (long texts), off the executor",
            offloaded.clone(),
        );
        Self {
            offloaded,
            requests,
            phi,
            total_seconds,
        }
    }

    fn outcome<T>(&self, result: &Result<T>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.kind().as_str(),
        };
        self.requests
            .get_or_create(&vec![("outcome", outcome.to_owned())])
            .inc();
    }

    fn record_phi(&self, counts: &BTreeMap<String, usize>) {
        for (kind, n) in counts {
            self.phi
                .get_or_create(&vec![("kind", kind.clone())])
                .inc_by(*n as u64);
        }
    }
}

/// Builds a [`Pipeline`]; start from [`Pipeline::builder`].
///
/// Defaults: CPU, the model's `max_length`, truncation of over-long inputs, scrubbing on with
/// the default [`Scrubber`] and tag operators (`[NAME]`, ...), 32 rows per batch, a token
/// budget of 32 × `max_length`, `max_wait` 5 ms, a queue of 1,024 requests, one worker, no
/// default deadline, inputs up to 1 MiB.
#[must_use]
pub struct PipelineBuilder {
    model_dir: Option<PathBuf>,
    classifier: Option<Arc<Classifier>>,
    device: DeviceSpec,
    dtype: DTypeSpec,
    max_length: Option<usize>,
    scrub: bool,
    scrubber: Option<Scrubber>,
    operators: Option<Operators>,
    max_batch_size: usize,
    max_wait: Duration,
    queue_capacity: usize,
    max_batch_tokens: Option<usize>,
    workers: usize,
    default_deadline: Option<Duration>,
    max_input_bytes: usize,
    runtime: Option<tokio::runtime::Handle>,
    name: Option<String>,
    version: Option<String>,
    drift: DriftConfig,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self {
            model_dir: None,
            classifier: None,
            device: DeviceSpec::Cpu,
            dtype: DTypeSpec::Auto,
            max_length: None,
            scrub: true,
            scrubber: None,
            operators: None,
            max_batch_size: 32,
            max_wait: Duration::from_millis(5),
            queue_capacity: 1024,
            max_batch_tokens: None,
            workers: 1,
            default_deadline: None,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            runtime: None,
            name: None,
            version: None,
            drift: DriftConfig::default(),
        }
    }
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("model_dir", &self.model_dir)
            .field("classifier", &self.classifier.is_some())
            .field("scrub", &self.scrub)
            .field("max_batch_size", &self.max_batch_size)
            .field("max_wait", &self.max_wait)
            .field("queue_capacity", &self.queue_capacity)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// A Hugging Face model directory (`config.json`, weights, `tokenizer.json`).
    pub fn model_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.model_dir = Some(dir.into());
        self
    }

    /// An already-built classifier (takes precedence over [`model_dir`](Self::model_dir);
    /// `device`, `dtype` and `max_length` are then ignored).
    pub fn classifier(mut self, classifier: impl Into<Arc<Classifier>>) -> Self {
        self.classifier = Some(classifier.into());
        self
    }

    /// The device for a model loaded from a directory (default: CPU).
    pub fn device(mut self, device: DeviceSpec) -> Self {
        self.device = device;
        self
    }

    /// The precision mode for a model loaded from a directory (default [`DTypeSpec::Auto`]:
    /// f32 on the CPU, f16 on CUDA; `int8` quantizes the linear layers on the CPU).
    pub fn dtype(mut self, dtype: DTypeSpec) -> Self {
        self.dtype = dtype;
        self
    }

    /// Longest encoding in tokens; longer inputs are truncated (default: the model's limit).
    pub fn max_length(mut self, tokens: usize) -> Self {
        self.max_length = Some(tokens);
        self
    }

    /// Whether to de-identify texts before the model sees them (default: on).
    pub fn scrub(mut self, on: bool) -> Self {
        self.scrub = on;
        self
    }

    /// The de-identifier to use when scrubbing (default: `Scrubber::builder().build()`).
    pub fn scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = Some(scrubber);
        self
    }

    /// The replacement operators when scrubbing (default: tags such as `[NAME]`).
    pub fn operators(mut self, operators: Operators) -> Self {
        self.operators = Some(operators);
        self
    }

    /// Most rows per forward pass (default 32).
    pub fn max_batch_size(mut self, rows: usize) -> Self {
        self.max_batch_size = rows;
        self
    }

    /// Longest a batch waits for more requests after its oldest one arrived (default 5 ms;
    /// zero is greedy continuous batching).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Most queued requests; more get [`Error::Overloaded`] (default 1,024).
    pub fn queue_capacity(mut self, requests: usize) -> Self {
        self.queue_capacity = requests;
        self
    }

    /// Padded tokens per batch, `longest × rows` (default: `max_batch_size × max_length`, so
    /// that every input fits).
    pub fn max_batch_tokens(mut self, tokens: usize) -> Self {
        self.max_batch_tokens = Some(tokens);
        self
    }

    /// Worker threads running the model (default 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Deadline of every call; callers may only shorten it (default: none).
    pub fn default_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// Largest accepted text in bytes (default 1 MiB): the one input limit of the pipeline.
    ///
    /// It is checked first, before any work, and pushed down: the default scrubber gets the
    /// same limit, and the tokenizer of a model loaded by [`PipelineBuilder::model_dir`]
    /// accepts [`REDACTION_HEADROOM`] times it (the de-identified text it sees may be longer
    /// than the input). [`PipelineBuilder::build`] rejects a [`PipelineBuilder::scrubber`] or
    /// [`PipelineBuilder::classifier`] whose own limit is lower, so no input under this
    /// limit fails later on size. Every stage is linear in the input (see `clinfer-phi`'s
    /// worst-case section), so this limit bounds the time one request can take.
    pub fn max_input_bytes(mut self, bytes: usize) -> Self {
        self.max_input_bytes = bytes;
        self
    }

    /// The tokio runtime for the batcher's scheduler task (default: the current one, or a
    /// small dedicated one outside any runtime).
    pub fn runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// A name for the pipeline (e.g. the model's): every metric it exposes gets the label
    /// `model="<name>"`, so that several pipelines' metrics can share one exposition.
    /// 1 to 128 characters from `[A-Za-z0-9_.:/-]`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A version for the pipeline: every metric gets the label `version="<version>"`.
    /// 1 to 128 characters from `[A-Za-z0-9_.:/-]`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The drift monitor's settings (default: on, reference frozen from the first 1,000
    /// requests, window of 1,000 requests; see [`crate::drift`]);
    /// [`DriftConfig::disabled`] turns it off.
    pub fn drift(mut self, config: DriftConfig) -> Self {
        self.drift = config;
        self
    }

    /// Validates the settings, loads the model (unless one was given) and the de-identifier,
    /// and starts the batcher. The model warms up in the background: see
    /// [`Pipeline::is_ready`] and [`Pipeline::wait_ready`].
    ///
    /// # Errors
    /// [`Error::Config`] for invalid settings, [`Error::ModelLoad`] for a model that cannot be
    /// loaded.
    pub fn build(self) -> Result<Pipeline> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.max_batch_size == 0 {
            return bad("max_batch_size must be at least 1");
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity must be at least 1");
        }
        if self.workers == 0 {
            return bad("workers must be at least 1");
        }
        if self.max_input_bytes == 0 {
            return bad("max_input_bytes must be at least 1");
        }
        for (label, value) in [("model", &self.name), ("version", &self.version)] {
            if let Some(value) = value {
                clinfer_batcher::check_metrics_label(label, value).map_err(Error::Config)?;
            }
        }
        if self.max_length == Some(0) {
            return bad("max_length must be at least 1");
        }
        if self.max_batch_tokens == Some(0) {
            return bad("max_batch_tokens must be at least 1");
        }
        let classifier = match self.classifier {
            Some(c) => c,
            None => {
                let Some(dir) = self.model_dir else {
                    return bad("no model given: call model_dir() or classifier()");
                };
                let tokenizer_limit = if self.scrub {
                    self.max_input_bytes.saturating_mul(REDACTION_HEADROOM)
                } else {
                    self.max_input_bytes
                };
                let mut b = Classifier::builder()
                    .model_dir(dir)
                    .device(self.device)
                    .dtype(self.dtype)
                    .truncation(Truncation::Truncate)
                    .batch_size(self.max_batch_size)
                    .max_input_bytes(tokenizer_limit);
                if let Some(n) = self.max_length {
                    b = b.max_length(n);
                }
                Arc::new(b.build()?)
            }
        };
        let limit = self.max_input_bytes;
        if classifier.tokenizer().max_input_bytes() < limit {
            return bad(&format!(
                "the classifier's tokenizer accepts {} bytes, less than the pipeline's max_input_bytes ({limit}): set the limit once, on the pipeline",
                classifier.tokenizer().max_input_bytes()
            ));
        }
        let scrub = if self.scrub {
            let scrubber = match self.scrubber {
                Some(s) if s.max_input_bytes() < limit => {
                    return bad(&format!(
                        "the scrubber accepts {} bytes, less than the pipeline's max_input_bytes ({limit}): set the limit once, on the pipeline",
                        s.max_input_bytes()
                    ));
                }
                Some(s) => s,
                None => Scrubber::builder().max_input_bytes(limit).build()?,
            };
            Some((scrubber, self.operators.unwrap_or_default()))
        } else {
            None
        };
        let max_length = classifier.tokenizer().max_length().max(1);
        let max_batch_tokens = self
            .max_batch_tokens
            .unwrap_or(self.max_batch_size.saturating_mul(max_length));
        let queue_tokens = self
            .queue_capacity
            .saturating_mul(max_length)
            .max(max_batch_tokens);
        let mut batcher = Batcher::builder()
            .max_batch_size(self.max_batch_size)
            .max_batch_tokens(max_batch_tokens)
            .max_wait(self.max_wait)
            .workers(self.workers)
            .queue_requests(self.queue_capacity)
            .queue_tokens(queue_tokens)
            .default_deadline(self.default_deadline);
        if let Some(rt) = self.runtime {
            batcher = batcher.runtime(rt);
        }
        if let Some(name) = &self.name {
            batcher = batcher.metrics_label("model", name.clone());
        }
        if let Some(version) = &self.version {
            batcher = batcher.metrics_label("version", version.clone());
        }
        let drift_on = self.drift.is_enabled();
        let shape = ModelShape {
            labels: classifier.labels().to_vec(),
            max_length,
            embedding_dim: classifier.model().config().dim,
            scrubbed: scrub.is_some(),
        };
        // checked before the batcher starts, so that a bad setting starts nothing
        if drift_on {
            DriftMonitor::new(self.drift.clone(), shape.clone(), None).map_err(Error::Config)?;
        }
        let backend = ClassifierBackend::new(Arc::clone(&classifier)).with_pooled(drift_on);
        let batcher = batcher.build(backend)?;
        let metrics = batcher.register_metrics_unprefixed(PipelineMetrics::new);
        let drift = if drift_on {
            let config = self.drift;
            Some(
                batcher
                    .register_metrics_unprefixed(|r| DriftMonitor::new(config, shape, Some(r)))
                    .map_err(Error::Config)?,
            )
        } else {
            None
        };
        let unk_id = classifier.tokenizer().unk_id();
        Ok(Pipeline {
            inner: Arc::new(Inner {
                batcher,
                classifier,
                scrub,
                max_input_bytes: self.max_input_bytes,
                metrics,
                name: self.name,
                version: self.version,
                drift,
                unk_id,
            }),
        })
    }
}

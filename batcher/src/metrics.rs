//! Prometheus metrics of one batcher.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, linear_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Why a request failed, as the `reason` label of the failures counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Overloaded,
    Deadline,
    Cancelled,
    TooLong,
    Shutdown,
    Backend,
    Internal,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Overloaded => "overloaded",
            Reason::Deadline => "deadline",
            Reason::Cancelled => "cancelled",
            Reason::TooLong => "too_long",
            Reason::Shutdown => "shutdown",
            Reason::Backend => "backend",
            Reason::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The batcher's metrics and the registry that exposes them.
pub(crate) struct Metrics {
    /// The root registry (no prefix): the batcher's own metrics are in a sub-registry with
    /// its prefix, and an embedding application may add its own beside them.
    registry: Mutex<Registry>,
    prefix: String,
    queue_requests: Gauge,
    queue_tokens: Gauge,
    queue_time: Histogram,
    compute_time: Histogram,
    batch_size: Histogram,
    padding_ratio: Histogram,
    requests: Counter,
    batches: Counter,
    failures: Family<ReasonLabel, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new(prefix: &str, labels: &[(String, String)]) -> Self {
        let labels = labels
            .iter()
            .map(|(k, v)| (Cow::Owned(k.clone()), Cow::Owned(v.clone())));
        let m = Self {
            registry: Mutex::new(Registry::with_labels(labels)),
            prefix: prefix.to_owned(),
            queue_requests: Gauge::default(),
            queue_tokens: Gauge::default(),
            // 50 µs .. ~105 s
            queue_time: Histogram::new(exponential_buckets(0.000_05, 2.0, 22)),
            compute_time: Histogram::new(exponential_buckets(0.000_05, 2.0, 22)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            padding_ratio: Histogram::new(linear_buckets(0.1, 0.1, 9)),
            requests: Counter::default(),
            batches: Counter::default(),
            failures: Family::default(),
        };
        {
            let mut root = m.registry.lock();
            let r = root.sub_registry_with_prefix(prefix);
            r.register(
                "queue_requests",
                "Requests waiting in the queue",
                m.queue_requests.clone(),
            );
            r.register(
                "queue_tokens",
                "Tokens waiting in the queue",
                m.queue_tokens.clone(),
            );
            r.register(
                "queue_time_seconds",
                "Time from admission to dispatch to a worker",
                m.queue_time.clone(),
            );
            r.register(
                "compute_time_seconds",
                "Time a worker spent running one batch",
                m.compute_time.clone(),
            );
            r.register("batch_size", "Rows per batch", m.batch_size.clone());
            r.register(
                "padding_ratio",
                "Share of a batch's padded tokens that are padding",
                m.padding_ratio.clone(),
            );
            r.register(
                "requests",
                "Requests admitted to the queue",
                m.requests.clone(),
            );
            r.register("batches", "Batches run by the workers", m.batches.clone());
            r.register(
                "failures",
                "Requests that failed, by reason",
                m.failures.clone(),
            );
        }
        m
    }

    pub(crate) fn set_queue(&self, requests: usize, tokens: usize) {
        self.queue_requests
            .set(i64::try_from(requests).unwrap_or(i64::MAX));
        self.queue_tokens
            .set(i64::try_from(tokens).unwrap_or(i64::MAX));
    }

    pub(crate) fn admitted(&self) {
        self.requests.inc();
    }

    pub(crate) fn failed(&self, reason: Reason, n: usize) {
        if n > 0 {
            self.failures
                .get_or_create(&ReasonLabel {
                    reason: reason.as_str(),
                })
                .inc_by(n as u64);
        }
    }

    pub(crate) fn queue_time(&self, d: Duration) {
        self.queue_time.observe(d.as_secs_f64());
    }

    pub(crate) fn batch(&self, rows: usize, padding_ratio: f64, compute: Duration) {
        self.batches.inc();
        self.batch_size.observe(rows as f64);
        self.padding_ratio.observe(padding_ratio);
        self.compute_time.observe(compute.as_secs_f64());
    }

    /// `f` on a view of the registry whose names get the batcher's prefix.
    pub(crate) fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(self.registry.lock().sub_registry_with_prefix(&self.prefix))
    }

    /// `f` on the root registry (names as given).
    pub(crate) fn with_root_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.registry.lock())
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry.lock())
            .expect("writing metrics to a String cannot fail. This is a bug.");
        out
    }
}

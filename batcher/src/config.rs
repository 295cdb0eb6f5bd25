//! Batcher settings and per-request options.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};

/// How urgent a request is. Higher levels are served strictly first, except that a waiting
/// request is promoted one level per [`aging_step`](BatcherBuilder::aging_step) so that
/// [`Priority::Low`] cannot starve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// Served before everything else (interactive traffic).
    High,
    /// The default level.
    #[default]
    Normal,
    /// Served when nothing more urgent waits (bulk and background work).
    Low,
}

impl Priority {
    /// Rank used by the queue: 0 is the most urgent.
    pub(crate) fn rank(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Low => 2,
        }
    }
}

/// Per-request options for [`Handle::submit`](crate::Handle::submit).
///
/// The effective deadline is the earliest of `deadline`, now + `timeout` and now + the
/// batcher's [`default_deadline`](BatcherBuilder::default_deadline): callers can shorten the
/// configured default, never extend it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubmitOptions {
    /// An absolute deadline.
    pub deadline: Option<Instant>,
    /// A deadline relative to the moment of submission.
    pub timeout: Option<Duration>,
    /// The request's priority.
    pub priority: Priority,
}

impl SubmitOptions {
    /// Options with no deadline of their own and [`Priority::Normal`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an absolute deadline.
    #[must_use]
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets a deadline relative to submission.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the priority.
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }
}

/// Validated batcher settings; see [`BatcherBuilder`] for what each one means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most rows in one batch.
    pub max_batch_size: usize,
    /// Most tokens in one batch (padded cost for padded backends).
    pub max_batch_tokens: usize,
    /// Longest a batch waits to fill, counted from its oldest request.
    pub max_wait: Duration,
    /// Number of worker threads.
    pub workers: usize,
    /// Most queued requests.
    pub queue_requests: usize,
    /// Most queued tokens.
    pub queue_tokens: usize,
    /// Deadline applied to every request unless the caller asks for an earlier one.
    pub default_deadline: Option<Duration>,
    /// Whether batches are formed from rows of similar length.
    pub length_aware: bool,
    /// How many of the most urgent queued requests length-aware formation may choose from.
    pub length_window: usize,
    /// Waiting time after which a request is promoted one priority level.
    pub aging_step: Duration,
    /// Prefix of every metric name.
    pub metrics_prefix: String,
    /// Constant labels on every metric (e.g. `model` and `version`), in order.
    pub metrics_labels: Vec<(String, String)>,
}

/// Builds a [`Batcher`](crate::Batcher); start from [`Batcher::builder`](crate::Batcher::builder).
///
/// Defaults: 32 rows and 8,192 tokens per batch, `max_wait` 2 ms, one worker, a queue of
/// 1,024 requests and 262,144 tokens, no default deadline, length-aware formation over a
/// window of 4 × `max_batch_size`, aging step 100 ms, metric prefix `clinfer_batcher`.
#[derive(Debug, Clone)]
#[must_use]
pub struct BatcherBuilder {
    config: Config,
    length_window: Option<usize>,
    pub(crate) runtime: Option<tokio::runtime::Handle>,
}

impl Default for BatcherBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                max_batch_size: 32,
                max_batch_tokens: 8192,
                max_wait: Duration::from_millis(2),
                workers: 1,
                queue_requests: 1024,
                queue_tokens: 262_144,
                default_deadline: None,
                length_aware: true,
                length_window: 128,
                aging_step: Duration::from_millis(100),
                metrics_prefix: "clinfer_batcher".to_owned(),
                metrics_labels: Vec::new(),
            },
            length_window: None,
            runtime: None,
        }
    }
}

impl BatcherBuilder {
    /// Most rows in one batch (at least 1).
    pub fn max_batch_size(mut self, rows: usize) -> Self {
        self.config.max_batch_size = rows;
        self
    }

    /// Token budget of one batch: `longest × rows` for padded backends, the sum of the rows'
    /// costs otherwise. An input costing more is rejected at admission with
    /// [`Error::TooLong`].
    pub fn max_batch_tokens(mut self, tokens: usize) -> Self {
        self.config.max_batch_tokens = tokens;
        self
    }

    /// Longest a batch waits for more requests, counted from its oldest queued request.
    /// `Duration::ZERO` is greedy continuous batching: a free worker takes whatever is queued.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.config.max_wait = wait;
        self
    }

    /// Number of worker threads pulling batches from the one queue (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// Admission bound in queued requests (at least 1).
    pub fn queue_requests(mut self, requests: usize) -> Self {
        self.config.queue_requests = requests;
        self
    }

    /// Admission bound in queued tokens (at least `max_batch_tokens`).
    pub fn queue_tokens(mut self, tokens: usize) -> Self {
        self.config.queue_tokens = tokens;
        self
    }

    /// Deadline given to every request; callers may only shorten it. `None` means requests
    /// wait as long as their caller does.
    pub fn default_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.config.default_deadline = deadline;
        self
    }

    /// Whether to build batches from rows of similar length (default) or strictly first in,
    /// first out.
    pub fn length_aware(mut self, on: bool) -> Self {
        self.config.length_aware = on;
        self
    }

    /// How many of the most urgent queued requests length-aware formation looks at (at least
    /// `max_batch_size`; default 4 × `max_batch_size`).
    pub fn length_window(mut self, window: usize) -> Self {
        self.length_window = Some(window);
        self
    }

    /// Waiting time after which a request is promoted one priority level (non-zero).
    pub fn aging_step(mut self, step: Duration) -> Self {
        self.config.aging_step = step;
        self
    }

    /// Prefix of every metric name (default `clinfer_batcher`).
    pub fn metrics_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.metrics_prefix = prefix.into();
        self
    }

    /// Adds a constant label to every metric of this batcher (and to what is registered
    /// through [`Handle::register_metrics`](crate::Handle::register_metrics)), so that
    /// several batchers in one process can be told apart, e.g. `("model", "triage")`.
    /// Names are `[A-Za-z_][A-Za-z0-9_]*` (not `__`-prefixed, not repeated); values are 1 to
    /// 128 characters from `[A-Za-z0-9_.:/-]` (the exposition does not escape them).
    pub fn metrics_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.metrics_labels.push((name.into(), value.into()));
        self
    }

    /// The tokio runtime that runs the batcher's scheduler task. By default the current one
    /// is used, or, outside any runtime, a small dedicated one on its own thread.
    pub fn runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Checks the settings and returns them.
    pub(crate) fn validated(&self) -> Result<Config> {
        let mut c = self.config.clone();
        c.length_window = self
            .length_window
            .unwrap_or(c.max_batch_size.saturating_mul(4));
        let bad = |message: String| Err(Error::Config { message });
        if c.max_batch_size == 0 {
            return bad("max_batch_size must be at least 1".into());
        }
        if c.max_batch_tokens == 0 {
            return bad("max_batch_tokens must be at least 1".into());
        }
        if c.workers == 0 {
            return bad("workers must be at least 1".into());
        }
        if c.queue_requests == 0 {
            return bad("queue_requests must be at least 1".into());
        }
        if c.queue_tokens < c.max_batch_tokens {
            return bad(format!(
                "queue_tokens ({}) must be at least max_batch_tokens ({})",
                c.queue_tokens, c.max_batch_tokens
            ));
        }
        if c.length_window < c.max_batch_size {
            return bad(format!(
                "length_window ({}) must be at least max_batch_size ({})",
                c.length_window, c.max_batch_size
            ));
        }
        if c.aging_step.is_zero() {
            return bad("aging_step must be non-zero".into());
        }
        if c.metrics_prefix.is_empty()
            || !c
                .metrics_prefix
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        {
            return bad("metrics_prefix must be non-empty ASCII letters, digits and '_'".into());
        }
        for (i, (name, value)) in c.metrics_labels.iter().enumerate() {
            if let Err(why) = check_metrics_label(name, value) {
                return bad(why);
            }
            if c.metrics_labels[..i].iter().any(|(n, _)| n == name) {
                return bad(format!("metrics label {name:?} is given twice"));
            }
        }
        Ok(c)
    }
}

/// Checks one constant metrics label (see [`BatcherBuilder::metrics_label`]).
pub fn check_metrics_label(name: &str, value: &str) -> std::result::Result<(), String> {
    let mut chars = name.chars();
    let head_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !head_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.starts_with("__") {
        return Err(
            "a metrics label name must match [A-Za-z_][A-Za-z0-9_]* and not start with __"
                .to_owned(),
        );
    }
    if value.is_empty()
        || value.len() > 128
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-'))
    {
        return Err(format!(
            "the value of metrics label {name:?} must be 1 to 128 characters from [A-Za-z0-9_.:/-]"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = BatcherBuilder::default().validated().unwrap();
        assert_eq!(c.length_window, 128);
    }

    #[test]
    fn rejects_bad_settings() {
        let cases = [
            BatcherBuilder::default().max_batch_size(0),
            BatcherBuilder::default().workers(0),
            BatcherBuilder::default().max_batch_tokens(0),
            BatcherBuilder::default().queue_tokens(10),
            BatcherBuilder::default().length_window(3),
            BatcherBuilder::default().aging_step(Duration::ZERO),
            BatcherBuilder::default().metrics_prefix("bad name"),
            BatcherBuilder::default().queue_requests(0),
        ];
        for b in cases {
            assert!(matches!(b.validated(), Err(Error::Config { .. })), "{b:?}");
        }
    }

    #[test]
    fn options_builder_sets_fields() {
        let o = SubmitOptions::new()
            .timeout(Duration::from_millis(5))
            .priority(Priority::Low);
        assert_eq!(o.timeout, Some(Duration::from_millis(5)));
        assert_eq!(o.priority, Priority::Low);
        assert_eq!(o.deadline, None);
    }
}

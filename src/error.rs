//! The facade's error type and the one table that maps each error to a kind name and an
//! HTTP status.
//!
//! Every host of clinfer (the Python bindings, `examples/axum_server.rs`, the Python gateway)
//! reports errors through [`ErrorKind`]: its name for JSON bodies and metrics labels, its
//! status for each HTTP protocol, whether a retry can help. The mapping is written once,
//! in [`ErrorKind::http_status`], and the errors of the parts (`clinfer-core`, `clinfer-phi`,
//! `clinfer-batcher`) are sorted into kinds once, by the `From` conversions below.
//!
//! No variant carries input text: messages hold sizes, limits, indices and file paths only,
//! so errors are safe to log when inputs are clinical notes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The underlying error of a [`Error::ModelLoad`] or [`Error::Internal`], kept for
/// [`std::error::Error::source`].
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a [`Pipeline`](crate::Pipeline), a
/// [`Classifier`](crate::core::Classifier) or a [`Scrubber`](crate::phi::Scrubber) used
/// through the facade.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The queue is full; nothing was enqueued. Retry after `retry_after`.
    #[error("overloaded; retry after {:.3} s", retry_after.as_secs_f64())]
    Overloaded {
        /// Suggested back-off before retrying.
        retry_after: Duration,
    },
    /// The request's deadline passed before it was served.
    #[error("the request deadline passed before it was served")]
    DeadlineExceeded,
    /// The pipeline is shutting down or stopped.
    #[error("the pipeline is shutting down")]
    ShuttingDown,
    /// One input is unusable: empty, too large, too many tokens, not valid, or an option of
    /// the call is out of range. The reason never contains the input.
    #[error("invalid input{}: {reason}", IndexNote(*index))]
    InvalidInput {
        /// Which input of a many-text call (counted from 0), when the call had several.
        index: Option<usize>,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting is invalid: a builder option out of range, an unknown name, a setting the
    /// model cannot honour (`max_length` beyond its positions, int8 on CUDA), a model whose
    /// `config.json` values are unusable, a PHI list or pattern the scrubber cannot use.
    /// Nothing was started.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The model or its tokenizer could not be loaded (missing or malformed files, an
    /// unusable `config.json`, an unavailable device).
    #[error("cannot load the model: {message}")]
    ModelLoad {
        /// What failed, with the path involved.
        message: String,
        /// The error that caused it.
        #[source]
        source: Option<Source>,
    },
    /// The model failed or a worker panicked: a bug or a broken device, not the caller's fault.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
        /// The error that caused it.
        #[source]
        source: Option<Source>,
    },
}

struct IndexNote(Option<usize>);

impl fmt::Display for IndexNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, " (text {i})"),
            None => Ok(()),
        }
    }
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kind of an [`Error`]: what hosts show (a name, an HTTP status) and decide on (retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::Overloaded`].
    Overloaded,
    /// See [`Error::DeadlineExceeded`].
    DeadlineExceeded,
    /// See [`Error::ShuttingDown`].
    ShuttingDown,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Config`].
    Config,
    /// See [`Error::ModelLoad`].
    ModelLoad,
    /// See [`Error::Internal`].
    Internal,
}

/// An HTTP protocol whose status codes [`ErrorKind::http_status`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// clinfer's own JSON API under `/v1` (`examples/axum_server.rs`, the gateway's `/v1`):
    /// invalid input is `422 Unprocessable Content`.
    V1,
    /// The Open Inference Protocol (KServe v2, Triton's HTTP API) under `/v2`: invalid input
    /// is `400 Bad Request`, as that protocol specifies.
    OpenInference,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Overloaded,
        ErrorKind::DeadlineExceeded,
        ErrorKind::ShuttingDown,
        ErrorKind::InvalidInput,
        ErrorKind::Config,
        ErrorKind::ModelLoad,
        ErrorKind::Internal,
    ];

    /// A short, stable name (`overloaded`, `deadline_exceeded`, `shutting_down`,
    /// `invalid_input`, `config`, `model_load`, `internal`) for metrics labels, JSON error
    /// bodies and Python's `ClinferError.kind`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Config => "config",
            ErrorKind::ModelLoad => "model_load",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind with this [`as_str`](Self::as_str) name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The HTTP status a server answers with, per protocol: the one table of the project.
    ///
    /// | kind | `/v1` | Open Inference |
    /// |---|---|---|
    /// | overloaded | 429 | 429 |
    /// | deadline_exceeded | 504 | 504 |
    /// | shutting_down | 503 | 503 |
    /// | invalid_input | 422 | 400 |
    /// | config, model_load, internal | 500 | 500 |
    #[must_use]
    pub const fn http_status(self, protocol: Protocol) -> u16 {
        match self {
            ErrorKind::Overloaded => 429,
            ErrorKind::DeadlineExceeded => 504,
            ErrorKind::ShuttingDown => 503,
            ErrorKind::InvalidInput => match protocol {
                Protocol::V1 => 422,
                Protocol::OpenInference => 400,
            },
            ErrorKind::Config | ErrorKind::ModelLoad | ErrorKind::Internal => 500,
        }
    }

    /// Whether the same request may succeed later (overload, deadline, shutdown of this
    /// replica): a client or load balancer may retry these elsewhere or after a back-off.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Overloaded | ErrorKind::DeadlineExceeded | ErrorKind::ShuttingDown
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The error's kind (its name, statuses and retry advice).
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Overloaded { .. } => ErrorKind::Overloaded,
            Error::DeadlineExceeded => ErrorKind::DeadlineExceeded,
            Error::ShuttingDown => ErrorKind::ShuttingDown,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Config(_) => ErrorKind::Config,
            Error::ModelLoad { .. } => ErrorKind::ModelLoad,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Shorthand for `self.kind().http_status(protocol)`.
    #[must_use]
    pub fn http_status(&self, protocol: Protocol) -> u16 {
        self.kind().http_status(protocol)
    }

    /// The back-off of an [`Error::Overloaded`].
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Overloaded { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The `Retry-After` header value (RFC 9110 delay-seconds: whole seconds, rounded up, at
    /// least 1) of an [`Error::Overloaded`].
    #[must_use]
    pub fn retry_after_header(&self) -> Option<u64> {
        self.retry_after().map(|d| {
            let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
            secs.max(1)
        })
    }

    /// The index of the failing input of a many-text call, for [`Error::InvalidInput`].
    #[must_use]
    pub fn index(&self) -> Option<usize> {
        match self {
            Error::InvalidInput { index, .. } => *index,
            _ => None,
        }
    }

    /// An [`Error::InvalidInput`] about no input in particular.
    pub fn invalid_input(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            index: None,
            reason: reason.into(),
        }
    }

    /// An [`Error::Internal`] without a source.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// The same error, with an [`Error::InvalidInput`] attributed to input `index` of a
    /// many-text call (other kinds are returned unchanged).
    #[must_use]
    pub fn at_index(self, index: usize) -> Self {
        match self {
            Error::InvalidInput { reason, .. } => Error::InvalidInput {
                index: Some(index),
                reason,
            },
            other => other,
        }
    }
}

impl From<clinfer_core::Error> for Error {
    /// Input errors keep the core's input index (its position within the core call);
    /// loading errors become [`Error::ModelLoad`], an unusable setting [`Error::Config`],
    /// anything else [`Error::Internal`].
    fn from(e: clinfer_core::Error) -> Self {
        use clinfer_core::Error as C;
        let invalid = |index: usize, reason: String| Error::InvalidInput {
            index: Some(index),
            reason,
        };
        match e {
            C::EmptyInput { index } => invalid(index, "the text is empty after normalisation".into()),
            C::InputTooLarge { index, bytes, limit } => invalid(
                index,
                format!("the text reaches the tokenizer with {bytes} bytes, over its limit of {limit} bytes"),
            ),
            C::TooManyTokens {
                index,
                tokens,
                max_length,
            } => invalid(
                index,
                format!("the text has {tokens} tokens, over max_length {max_length} (strict mode)"),
            ),
            C::Tokenize { index, message } => {
                invalid(index, format!("tokenization failed: {message}"))
            }
            C::InvalidIds(ref m) => Error::invalid_input(format!("invalid token ids: {m}")),
            C::InvalidConfig(m) => Error::Config(m),
            e @ (C::MissingFile { .. }
            | C::Io { .. }
            | C::ConfigParse { .. }
            | C::Weights { .. }
            | C::TokenizerLoad { .. }
            | C::Device(_)) => Error::ModelLoad {
                message: e.to_string(),
                source: Some(Arc::new(e)),
            },
            #[cfg(feature = "hub")]
            e @ C::Hub { .. } => Error::ModelLoad {
                message: e.to_string(),
                source: Some(Arc::new(e)),
            },
            e => Error::Internal {
                message: e.to_string(),
                source: Some(Arc::new(e)),
            },
        }
    }
}

impl From<clinfer_batcher::Error> for Error {
    fn from(e: clinfer_batcher::Error) -> Self {
        use clinfer_batcher::Error as B;
        match e {
            B::Overloaded { retry_after } => Error::Overloaded { retry_after },
            B::TooLong { .. } => Error::invalid_input(e.to_string()),
            B::DeadlineExceeded => Error::DeadlineExceeded,
            B::ShuttingDown => Error::ShuttingDown,
            B::Config { .. } => Error::Config(e.to_string()),
            B::Load { .. } => Error::ModelLoad {
                message: e.to_string(),
                source: Some(Arc::new(e)),
            },
            _ => Error::Internal {
                message: e.to_string(),
                source: Some(Arc::new(e)),
            },
        }
    }
}

impl From<clinfer_phi::Error> for Error {
    /// A text over the scrubber's limit is invalid input; every other scrubber error is about
    /// its configuration (lists, patterns, operators, kind names).
    fn from(e: clinfer_phi::Error) -> Self {
        match e {
            clinfer_phi::Error::InputTooLarge { .. } => Error::invalid_input(e.to_string()),
            _ => Error::Config(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_maps_every_kind() {
        let v1: Vec<u16> = ErrorKind::ALL
            .iter()
            .map(|k| k.http_status(Protocol::V1))
            .collect();
        let oip: Vec<u16> = ErrorKind::ALL
            .iter()
            .map(|k| k.http_status(Protocol::OpenInference))
            .collect();
        assert_eq!(v1, [429, 504, 503, 422, 500, 500, 500]);
        assert_eq!(oip, [429, 504, 503, 400, 500, 500, 500]);
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "overloaded",
                "deadline_exceeded",
                "shutting_down",
                "invalid_input",
                "config",
                "model_load",
                "internal"
            ]
        );
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(ErrorKind::from_name("nope"), None);
        let retryable: Vec<bool> = ErrorKind::ALL.iter().map(|k| k.is_retryable()).collect();
        assert_eq!(retryable, [true, true, true, false, false, false, false]);
    }

    #[test]
    fn core_errors_sort_into_kinds() {
        use clinfer_core::Error as C;
        let e = Error::from(C::EmptyInput { index: 3 });
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.index(), Some(3));
        assert_eq!(
            e.to_string(),
            "invalid input (text 3): the text is empty after normalisation"
        );
        let e = Error::from(C::InputTooLarge {
            index: 0,
            bytes: 10,
            limit: 5,
        });
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = Error::from(C::TooManyTokens {
            index: 1,
            tokens: 9,
            max_length: 4,
        });
        assert_eq!((e.kind(), e.index()), (ErrorKind::InvalidInput, Some(1)));
        let e = Error::from(C::InvalidConfig("batch_size must be positive".into()));
        assert_eq!(e.kind(), ErrorKind::Config);
        let e = Error::from(C::MissingFile {
            path: "/nowhere/config.json".into(),
            what: "the model configuration",
        });
        assert_eq!(e.kind(), ErrorKind::ModelLoad);
        assert!(
            std::error::Error::source(&e).is_some(),
            "the source is kept"
        );
        assert!(e.to_string().contains("/nowhere/config.json"));
        let e = Error::from(C::Device("no CUDA".into()));
        assert_eq!(e.kind(), ErrorKind::ModelLoad);
        let e = Error::from(C::Candle(candle_core::Error::Msg("boom".into())));
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::from(C::InvalidIds("id 99 out of range".into()));
        assert_eq!((e.kind(), e.index()), (ErrorKind::InvalidInput, None));
    }

    #[test]
    fn batcher_errors_sort_into_kinds() {
        use clinfer_batcher::Error as B;
        let e = Error::from(B::Overloaded {
            retry_after: Duration::from_millis(1500),
        });
        assert_eq!(e.kind(), ErrorKind::Overloaded);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(e.retry_after_header(), Some(2));
        let e = Error::from(B::Overloaded {
            retry_after: Duration::ZERO,
        });
        assert_eq!(e.retry_after_header(), Some(1), "at least one second");
        assert_eq!(
            Error::from(B::DeadlineExceeded).kind(),
            ErrorKind::DeadlineExceeded
        );
        assert_eq!(Error::from(B::ShuttingDown).kind(), ErrorKind::ShuttingDown);
        assert_eq!(
            Error::from(B::TooLong { cost: 9, max: 4 }).kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            Error::from(B::Config {
                message: "max_batch_size must be at least 1".into()
            })
            .kind(),
            ErrorKind::Config
        );
        assert_eq!(
            Error::from(B::Internal {
                message: "worker gone".into()
            })
            .kind(),
            ErrorKind::Internal
        );
    }

    #[test]
    fn phi_errors_sort_into_kinds() {
        use clinfer_phi::Error as P;
        let e = Error::from(P::InputTooLarge { len: 10, limit: 5 });
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            Error::from(P::Config("window must be positive")).kind(),
            ErrorKind::Config
        );
        assert_eq!(
            Error::from(P::BadPattern { index: 0 }).kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn at_index_rewrites_only_invalid_input() {
        let e = Error::invalid_input("the text is empty").at_index(4);
        assert_eq!(e.index(), Some(4));
        assert_eq!(e.to_string(), "invalid input (text 4): the text is empty");
        let e = Error::from(clinfer_core::Error::EmptyInput { index: 0 }).at_index(2);
        assert_eq!(e.index(), Some(2), "the caller's index replaces the core's");
        assert!(matches!(
            Error::DeadlineExceeded.at_index(1),
            Error::DeadlineExceeded
        ));
        assert_eq!(Error::invalid_input("x").index(), None);
        assert_eq!(Error::DeadlineExceeded.retry_after_header(), None);
    }
}

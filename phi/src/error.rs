//! Error type of the crate.
//!
//! Messages carry sizes, limits and positions only, never input text, so that an error
//! can be logged without leaking PHI.

/// Everything that can go wrong in `clinfer-phi`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than the configured limit ([`crate::ScrubberBuilder::max_input_bytes`]).
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge {
        /// Length of the rejected input in bytes.
        len: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A caller-supplied term list (allow list, deny list or known identifiers) is too large.
    #[error("{list} holds {count} terms, more than the limit of {limit}")]
    TooManyTerms {
        /// Which list overflowed.
        list: &'static str,
        /// Number of terms supplied.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A caller-supplied term is empty or longer than the limit.
    #[error("a term in {list} has length {len}; terms must be 1..={limit} bytes")]
    BadTerm {
        /// Which list holds the term.
        list: &'static str,
        /// Length in bytes of the offending term.
        len: usize,
        /// Maximum length in bytes.
        limit: usize,
    },
    /// A caller-supplied regular expression failed to compile (or exceeded the size limit).
    /// Only the pattern's index is reported: patterns may contain PHI.
    #[error("custom pattern #{index} is invalid or too large")]
    BadPattern {
        /// Index of the pattern in the order it was added.
        index: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// An operator needs a secret key (pseudonyms, surrogates, date shift) but none was set.
    #[error("operator {operator} needs a key; set one with OperatorsBuilder::key")]
    MissingKey {
        /// Name of the operator that needs the key.
        operator: &'static str,
    },
    /// An unknown kind name was parsed.
    #[error("unknown PHI kind name (length {len})")]
    UnknownKind {
        /// Length of the rejected name (the name itself is not echoed).
        len: usize,
    },
    /// An unknown operator name was parsed (see [`crate::Operator`]'s `FromStr`).
    #[error(
        "unknown operator name (length {len}); expected tag, remove, mask, mask:C, pseudonym, surrogate, date_shift, year_only or keep"
    )]
    UnknownOperator {
        /// Length of the rejected name (the name itself is not echoed).
        len: usize,
    },
}

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

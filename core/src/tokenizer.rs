//! Tokenization with the `tokenizers` crate, with truncation and padding owned by clinfer.
//!
//! A `tokenizer.json` may carry its own truncation and padding (some ship `Fixed(128)` padding);
//! both are overridden here. Padding is done by the model at batch time, and over-long inputs
//! are either truncated to `max_length` (keeping `[SEP]`) or rejected in strict mode.

use std::path::Path;

use tokenizers::{PostProcessor, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// Default cap on the size of one input, checked before tokenization: 4 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 4 << 20;

/// Tokens beyond `max_length` that a truncating prefix must yield before its encoding is
/// taken for the whole text's (see `Tokenizer::encode`): the tokens at the cut may differ
/// from the whole text's, and this many are never among the kept ones.
const PREFIX_MARGIN_TOKENS: usize = 32;

/// Real (not special) tokens of an encoding and its overflowing parts.
fn real_tokens(e: &tokenizers::Encoding) -> usize {
    let own = e
        .get_special_tokens_mask()
        .iter()
        .filter(|&&m| m == 0)
        .count();
    own + e.get_overflowing().iter().map(real_tokens).sum::<usize>()
}

/// The offset of the first character at or after byte `at` (rounded up to a char
/// boundary) that the pre-tokenizer always splits before: white space, and with `punct`
/// (BERT's pre-tokenizer, which isolates every punctuation character) ASCII punctuation.
fn split_point_at_or_after(text: &str, at: usize, punct: bool) -> Option<usize> {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    text[at..]
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || (punct && c.is_ascii_punctuation()))
        .map(|(k, _)| at + k)
}

/// What to do with an input that has more tokens than `max_length`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Truncation {
    /// Keep the first `max_length - 2` tokens between `[CLS]` and `[SEP]` (the default).
    #[default]
    Truncate,
    /// Fail with [`Error::TooManyTokens`].
    Strict,
}

/// Token ids of one input, ready to be batched.
///
/// The attention mask is implicit: every id is a real token, and padding is added when rows are
/// batched together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    ids: Vec<u32>,
    truncated: bool,
}

impl Encoding {
    /// Wraps ids that were tokenized elsewhere. They are validated when the model runs.
    #[must_use]
    pub fn from_ids(ids: Vec<u32>) -> Self {
        Self {
            ids,
            truncated: false,
        }
    }

    /// The token ids, special tokens included.
    #[must_use]
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Number of tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the input was cut to fit `max_length`.
    #[must_use]
    pub fn was_truncated(&self) -> bool {
        self.truncated
    }
}

/// A Hugging Face tokenizer configured for classification.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    max_length: usize,
    truncation: Truncation,
    max_input_bytes: usize,
    /// The pre-tokenizer is BERT's, which splits before every punctuation character.
    punct_splits: bool,
    /// The id of the unknown-word token (`[UNK]`, `<unk>`), if the vocabulary has one.
    unk_id: Option<u32>,
}

impl Tokenizer {
    /// Loads `tokenizer.json` and overrides its truncation and padding.
    ///
    /// # Errors
    /// [`Error::MissingFile`] or [`Error::TokenizerLoad`]; [`Error::InvalidConfig`] when
    /// `max_length` cannot hold the special tokens.
    pub fn from_file(path: &Path, max_length: usize, truncation: Truncation) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_owned(),
                what: "the tokenizer (tokenizer.json)",
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::TokenizerLoad {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::new(inner, max_length, truncation)
    }

    /// Wraps an in-memory tokenizer and overrides its truncation and padding.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when `max_length` cannot hold the special tokens.
    pub fn new(
        mut inner: tokenizers::Tokenizer,
        max_length: usize,
        truncation: Truncation,
    ) -> Result<Self> {
        let specials = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_length <= specials {
            return Err(Error::InvalidConfig(format!(
                "max_length {max_length} leaves no room beside {specials} special tokens"
            )));
        }
        inner.with_padding(None);
        let params = match truncation {
            Truncation::Truncate => Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                ..TruncationParams::default()
            }),
            Truncation::Strict => None,
        };
        inner
            .with_truncation(params)
            .map_err(|e| Error::InvalidConfig(format!("truncation: {e}")))?;
        let punct_splits = matches!(
            inner.get_pre_tokenizer(),
            Some(tokenizers::PreTokenizerWrapper::BertPreTokenizer(_))
        );
        let unk_id = ["[UNK]", "<unk>"].iter().find_map(|t| inner.token_to_id(t));
        Ok(Self {
            inner,
            max_length,
            truncation,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            punct_splits,
            unk_id,
        })
    }

    /// Sets the per-input byte limit checked before tokenization.
    #[must_use]
    pub fn with_max_input_bytes(mut self, limit: usize) -> Self {
        self.max_input_bytes = limit;
        self
    }

    /// The per-input byte limit checked before tokenization.
    #[must_use]
    pub fn max_input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// The longest encoding produced, special tokens included.
    #[must_use]
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The truncation policy.
    #[must_use]
    pub fn truncation(&self) -> Truncation {
        self.truncation
    }

    /// The id of the unknown-word token (`[UNK]` or `<unk>`), if the vocabulary has one:
    /// the share of such tokens in an input tells how much of it the vocabulary missed.
    #[must_use]
    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }

    /// Vocabulary size including added tokens.
    #[must_use]
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encodes one text. `index` is used in error messages only.
    ///
    /// # Errors
    /// [`Error::InputTooLarge`], [`Error::EmptyInput`], [`Error::TooManyTokens`] (strict mode)
    /// or [`Error::Tokenize`].
    pub fn encode(&self, text: &str) -> Result<Encoding> {
        self.encode_at(0, text)
    }

    /// Encodes many texts, in parallel, preserving order.
    ///
    /// # Errors
    /// The first failing input's error, with its index.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        for (index, text) in texts.iter().enumerate() {
            self.check_size(index, text)?;
        }
        // long texts start from their first truncating prefix, as in `encode`
        let first: Vec<&str> = texts.iter().map(|t| self.first_prefix(t)).collect();
        let need = self.max_length.saturating_add(PREFIX_MARGIN_TOKENS);
        match self.inner.encode_batch_fast(first.clone(), true) {
            Ok(encodings) => encodings
                .into_iter()
                .enumerate()
                .map(|(index, e)| {
                    if first[index].len() < texts[index].len() && real_tokens(&e) < need {
                        self.encode_at(index, texts[index])
                    } else {
                        self.finish(index, e)
                    }
                })
                .collect(),
            // The batch call does not say which input failed: find it.
            Err(_) => texts
                .iter()
                .enumerate()
                .map(|(index, text)| self.encode_at(index, text))
                .collect(),
        }
    }

    fn check_size(&self, index: usize, text: &str) -> Result<()> {
        if text.len() > self.max_input_bytes {
            return Err(Error::InputTooLarge {
                index,
                bytes: text.len(),
                limit: self.max_input_bytes,
            });
        }
        Ok(())
    }

    fn encode_at(&self, index: usize, text: &str) -> Result<Encoding> {
        self.check_size(index, text)?;
        let (encoding, _) = self.encode_counted(text);
        let encoding = encoding.map_err(|e| Error::Tokenize {
            index,
            message: e.to_string(),
        })?;
        self.finish(index, encoding)
    }

    /// Encodes `text`, in truncate mode only as long a prefix of it as the kept tokens need;
    /// also returns how many bytes were handed to the tokenizer in all (for the tests that
    /// count work).
    ///
    /// `tokenizers` encodes the whole text before truncating, so a 1 MB input costs the same
    /// as a 1 MB document although 512 tokens are kept. Here a prefix ending before a white
    /// space character (or, with BERT's pre-tokenizer, before ASCII punctuation) is encoded
    /// first, starting at 16 bytes per kept token and growing
    /// four-fold; once the prefix yields [`PREFIX_MARGIN_TOKENS`] more tokens than are kept,
    /// its truncated encoding is the whole text's: pre-tokenizers split at white space, so
    /// the text after the cut can only change the last tokens of the prefix, which are
    /// dropped. A text without such a split point after the first prefix, or whose next split
    /// point lies in its last quarter, is encoded whole. Prefixes at least quadruple and stay
    /// under 3/4 of the text, so work is at most about twice one whole-text encoding, and
    /// usually a few KB.
    /// Bytes of the first truncating prefix: 16 per kept token, at least 4 KiB.
    fn first_prefix_bytes(&self) -> usize {
        self.max_length.saturating_mul(16).max(4096)
    }

    /// The first prefix `encode_counted` tries: the whole text unless it is truncating and
    /// the text is long.
    fn first_prefix<'t>(&self, text: &'t str) -> &'t str {
        let want = self.first_prefix_bytes();
        if self.truncation != Truncation::Truncate || want >= text.len() {
            return text;
        }
        split_point_at_or_after(text, want, self.punct_splits).map_or(text, |cut| &text[..cut])
    }

    fn encode_counted(&self, text: &str) -> (tokenizers::Result<tokenizers::Encoding>, usize) {
        if self.truncation == Truncation::Truncate {
            let need = self.max_length.saturating_add(PREFIX_MARGIN_TOKENS);
            let mut want = self.first_prefix_bytes();
            let mut spent = 0usize;
            while want < text.len() {
                let Some(cut) = split_point_at_or_after(text, want, self.punct_splits) else {
                    break;
                };
                // the next split point is far beyond `want` (most of the text): encoding the
                // prefix would cost nearly a whole-text encoding, and might be repeated at
                // each step; encode the text whole, once
                if cut.saturating_mul(4) > text.len().saturating_mul(3) {
                    break;
                }
                let prefix = match self.inner.encode_fast(&text[..cut], true) {
                    Ok(e) => e,
                    Err(e) => return (Err(e), spent + cut),
                };
                spent += cut;
                if real_tokens(&prefix) >= need {
                    return (Ok(prefix), spent);
                }
                // never the same cut twice
                want = want.saturating_mul(4).max(cut + 1);
            }
            return (self.inner.encode_fast(text, true), spent + text.len());
        }
        (self.inner.encode_fast(text, true), text.len())
    }

    fn finish(&self, index: usize, encoding: tokenizers::Encoding) -> Result<Encoding> {
        let real_tokens = encoding
            .get_special_tokens_mask()
            .iter()
            .filter(|&&m| m == 0)
            .count();
        if real_tokens == 0 {
            return Err(Error::EmptyInput { index });
        }
        let tokens = encoding.len();
        if self.truncation == Truncation::Strict && tokens > self.max_length {
            return Err(Error::TooManyTokens {
                index,
                tokens,
                max_length: self.max_length,
            });
        }
        let truncated = !encoding.get_overflowing().is_empty();
        Ok(Encoding {
            ids: encoding.get_ids().to_vec(),
            truncated,
        })
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;
    use std::path::PathBuf;

    /// The bundled demo model's WordPiece tokenizer (in the workspace root's `models/`).
    fn demo(max_length: usize) -> Tokenizer {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/clinfer-demo-sst2/tokenizer.json");
        Tokenizer::from_file(&path, max_length, Truncation::Truncate)
            .expect("the demo tokenizer loads")
            .with_max_input_bytes(64 << 20)
    }

    /// The whole-text encoding, truncated by `tokenizers` itself.
    fn whole(t: &Tokenizer, text: &str) -> Encoding {
        let e = t.inner.encode_fast(text, true).expect("encodes");
        t.finish(0, e).expect("not empty")
    }

    fn texts() -> Vec<String> {
        let prose = "Pt seen on the ward today, alert and oriented; BP 132/84, HR 88. Wife at bedside, questions answered. ";
        vec![
            prose.repeat(400),
            "word ".repeat(20_000),
            format!("{}{}", "x".repeat(9000), " tail words".repeat(3000)),
            format!("{} {}", "a@".repeat(10_000), "end ".repeat(2000)),
            "\u{75c5}\u{4eba} \u{e9}t\u{e9} ".repeat(5000),
            "short text".to_owned(),
            "a".repeat(100_000),
            format!("{}\n\n\t{}", "punct!?,. ".repeat(3000), "more ".repeat(100)),
            "!".repeat(100_000),
            "a.".repeat(50_000),
            format!("{}[CLS][SEP]{}", "x@".repeat(3000), "[UNK]".repeat(3000)),
            format!("{}{}", "\u{e9}\u{301}!".repeat(4000), "'s".repeat(3000)),
        ]
    }

    #[test]
    fn prefix_encoding_equals_the_whole_text_encoding() {
        for max_length in [16, 128, 512] {
            let t = demo(max_length);
            for text in texts() {
                assert_eq!(
                    t.encode(&text).expect("encodes"),
                    whole(&t, &text),
                    "max_length {max_length}, text of {} bytes",
                    text.len()
                );
                let batch = t.encode_batch(&[&text, "ok"]).expect("encodes");
                assert_eq!(batch[0], whole(&t, &text));
            }
        }
    }

    /// Counts work, not time: a 4 MiB text with spaces costs a few KB of tokenization,
    /// whatever its length; one without spaces is encoded once, whole.
    #[test]
    fn long_texts_encode_a_bounded_prefix() {
        let t = demo(512);
        for mb in [1usize, 4] {
            let text = "Smith MRN 1234 ".repeat((mb << 20) / 15);
            let (e, spent) = t.encode_counted(&text);
            assert!(e.is_ok());
            assert!(
                spent <= 64 << 10,
                "{spent} bytes encoded for {} bytes",
                text.len()
            );
            // BERT's pre-tokenizer isolates punctuation: a punctuation-dense run is cut too
            assert!(t.punct_splits);
            for unit in ["a@", ".", "1/2/", "!?"] {
                let run = unit.repeat((mb << 20) / unit.len());
                let (e, spent) = t.encode_counted(&run);
                assert!(e.is_ok());
                assert!(spent <= 64 << 10, "{unit:?}: {spent} for {}", run.len());
            }
            // one word without any split point is encoded whole, once
            let word = "a".repeat(mb << 20);
            let (_, spent) = t.encode_counted(&word);
            assert!(
                spent <= word.len() + (64 << 10),
                "{spent} for {}",
                word.len()
            );
            // one long word whose only split point is at its end (found by the fuzzer:
            // each growing prefix found the same cut and encoded the whole word again)
            for tail in ["\t", " x", "."] {
                let text = format!("{}{tail}", "\u{b536}".repeat((mb << 20) / 3));
                let (e, spent) = t.encode_counted(&text);
                assert!(e.is_ok());
                assert!(
                    spent <= text.len() + (64 << 10),
                    "{tail:?}: {spent} for {}",
                    text.len()
                );
            }
            // split points at growing distances: still at most about twice the text
            let mut text = String::new();
            let mut len = 1000;
            while text.len() < mb << 20 {
                text.push_str(&"b".repeat(len));
                text.push(' ');
                len *= 3;
            }
            let (e, spent) = t.encode_counted(&text);
            assert!(e.is_ok());
            assert!(
                spent <= 2 * text.len() + (64 << 10),
                "{spent} for {}",
                text.len()
            );
        }
    }
}

#[cfg(test)]
mod prefix_properties {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// The demo tokenizer and, where `../shared` is present, the teacher's (required in CI).
    fn tokenizers() -> &'static [Tokenizer] {
        static T: OnceLock<Vec<Tokenizer>> = OnceLock::new();
        T.get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let mut paths = vec![root.join("../models/clinfer-demo-sst2/tokenizer.json")];
            let teacher = root.join("../../shared/models/teacher-minilm-sst2/tokenizer.json");
            if teacher.is_file() {
                paths.push(teacher);
            } else if std::env::var_os("CI").is_some() {
                panic!("{} is missing (required under CI)", teacher.display());
            } else {
                eprintln!("note: {} absent; demo tokenizer only", teacher.display());
            }
            paths
                .iter()
                .flat_map(|p| {
                    [16, 64].map(|n| {
                        Tokenizer::from_file(p, n, Truncation::Truncate)
                            .expect("tokenizer loads")
                            .with_max_input_bytes(64 << 20)
                    })
                })
                .collect()
        })
    }

    const FRAGMENTS: &[&str] = &[
        "word",
        "Smith",
        "MRN",
        "1234",
        "3/14",
        " ",
        "  ",
        "\n",
        "\t",
        "\u{a0}",
        "\u{3000}",
        ".",
        ",",
        "!?",
        "@",
        "#",
        "'s",
        "-",
        "\u{e9}",
        "e\u{301}",
        "\u{75c5}",
        "\u{1f600}",
        "[CLS]",
        "[SEP]",
        "[UNK]",
        "unbelievable",
        "hyperlipidemia",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn prefix_encoding_equals_whole_text_encoding(
            parts in prop::collection::vec((0..FRAGMENTS.len(), 1usize..40), 200..2000),
            long_word in 0usize..300,
        ) {
            let mut text = "y".repeat(long_word);
            for (i, n) in parts {
                for _ in 0..n.min(8) {
                    text.push_str(FRAGMENTS[i]);
                }
                if n > 30 {
                    text.push(' ');
                }
            }
            for t in tokenizers() {
                let whole = t.inner.encode_fast(text.as_str(), true).expect("encodes");
                let whole = t.finish(0, whole);
                prop_assert_eq!(t.encode(&text).ok(), whole.ok());
            }
        }
    }
}

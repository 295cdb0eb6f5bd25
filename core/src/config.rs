//! The model configuration, mirroring a Hugging Face DistilBERT `config.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The feed-forward activation named by `config.json`'s `activation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// The exact GELU, `x * Φ(x)` with the error function, as transformers' `gelu`.
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

impl Activation {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(Error::InvalidConfig(format!(
                "unknown activation {other:?} (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)"
            ))),
        }
    }
}

/// How classification scores are derived from logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// One label per input: softmax over the logits.
    SingleLabel,
    /// Independent labels: a sigmoid per logit.
    MultiLabel,
    /// One real value per output (`regression`): scores are the raw logits.
    Regression,
}

#[derive(Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    #[serde(default = "default_activation")]
    activation: String,
    max_position_embeddings: usize,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default)]
    id2label: Option<BTreeMap<String, String>>,
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default)]
    problem_type: Option<String>,
}

fn default_activation() -> String {
    "gelu".to_owned()
}

/// A validated DistilBERT sequence-classification configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Size of the token vocabulary.
    pub vocab_size: usize,
    /// Hidden size.
    pub dim: usize,
    /// Number of transformer blocks.
    pub n_layers: usize,
    /// Number of attention heads; divides `dim`.
    pub n_heads: usize,
    /// Inner size of the feed-forward network.
    pub hidden_dim: usize,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Rows of the position-embedding table: the longest sequence the model accepts.
    pub max_position_embeddings: usize,
    /// The padding token id.
    pub pad_token_id: u32,
    /// Label names by class index.
    pub labels: Vec<String>,
    /// How scores are computed.
    pub problem_type: ProblemType,
}

/// LayerNorm epsilon used by every DistilBERT LayerNorm (fixed in transformers).
pub const LAYER_NORM_EPS: f32 = 1e-12;

impl Config {
    /// Reads and validates `config.json`.
    ///
    /// # Errors
    /// [`Error::MissingFile`], [`Error::Io`], [`Error::ConfigParse`] or
    /// [`Error::InvalidConfig`].
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::MissingFile {
                path: path.to_owned(),
                what: "the model configuration (config.json)",
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawConfig = serde_json::from_str(&text).map_err(|source| Error::ConfigParse {
            path: path.to_owned(),
            source,
        })?;
        Self::from_raw(raw)
    }

    /// Parses and validates a configuration from JSON text.
    ///
    /// # Errors
    /// [`Error::ConfigParse`] (with an empty path) or [`Error::InvalidConfig`].
    pub fn from_json(json: &str) -> Result<Self> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|source| Error::ConfigParse {
            path: Default::default(),
            source,
        })?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> Result<Self> {
        if let Some(mt) = &raw.model_type {
            if mt != "distilbert" {
                return Err(Error::InvalidConfig(format!(
                    "model_type is {mt:?}; only \"distilbert\" is supported"
                )));
            }
        }
        let positive = [
            ("vocab_size", raw.vocab_size),
            ("dim", raw.dim),
            ("n_layers", raw.n_layers),
            ("n_heads", raw.n_heads),
            ("hidden_dim", raw.hidden_dim),
            ("max_position_embeddings", raw.max_position_embeddings),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::InvalidConfig(format!("{name} must be positive")));
            }
        }
        if !raw.dim.is_multiple_of(raw.n_heads) {
            return Err(Error::InvalidConfig(format!(
                "dim {} is not divisible by n_heads {}",
                raw.dim, raw.n_heads
            )));
        }
        let activation = Activation::parse(&raw.activation)?;
        let labels = labels_from(raw.id2label.as_ref(), raw.num_labels)?;
        let problem_type = match raw.problem_type.as_deref() {
            None | Some("single_label_classification") => ProblemType::SingleLabel,
            Some("multi_label_classification") => ProblemType::MultiLabel,
            Some("regression") => ProblemType::Regression,
            Some(other) => {
                return Err(Error::InvalidConfig(format!(
                    "unknown problem_type {other:?}"
                )))
            }
        };
        let pad_token_id = raw.pad_token_id.unwrap_or(0);
        if pad_token_id as usize >= raw.vocab_size {
            return Err(Error::InvalidConfig(format!(
                "pad_token_id {pad_token_id} is outside the vocabulary of {}",
                raw.vocab_size
            )));
        }
        Ok(Self {
            vocab_size: raw.vocab_size,
            dim: raw.dim,
            n_layers: raw.n_layers,
            n_heads: raw.n_heads,
            hidden_dim: raw.hidden_dim,
            activation,
            max_position_embeddings: raw.max_position_embeddings,
            pad_token_id,
            labels,
            problem_type,
        })
    }

    /// Number of output classes.
    #[must_use]
    pub fn num_labels(&self) -> usize {
        self.labels.len()
    }
}

fn labels_from(
    id2label: Option<&BTreeMap<String, String>>,
    num_labels: Option<usize>,
) -> Result<Vec<String>> {
    let Some(map) = id2label.filter(|m| !m.is_empty()) else {
        let n = num_labels.unwrap_or(2);
        if n == 0 {
            return Err(Error::InvalidConfig("num_labels must be positive".into()));
        }
        return Ok((0..n).map(|i| format!("LABEL_{i}")).collect());
    };
    let mut labels = vec![None; map.len()];
    for (key, name) in map {
        let index: usize = key
            .parse()
            .map_err(|_| Error::InvalidConfig(format!("id2label key {key:?} is not an index")))?;
        let slot = labels.get_mut(index).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "id2label indices must be 0..{}; found {index}",
                map.len()
            ))
        })?;
        *slot = Some(name.clone());
    }
    if let Some(n) = num_labels {
        if n != labels.len() {
            return Err(Error::InvalidConfig(format!(
                "num_labels is {n} but id2label has {} entries",
                labels.len()
            )));
        }
    }
    labels
        .into_iter()
        .map(|l| l.ok_or_else(|| Error::InvalidConfig("id2label has duplicate indices".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"model_type":"distilbert","vocab_size":10,"dim":8,"n_layers":1,
        "n_heads":2,"hidden_dim":16,"max_position_embeddings":32,"activation":"relu",
        "id2label":{"0":"NEG","1":"POS","2":"NEU"}}"#;

    fn with(key: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
        v[key] = serde_json::from_str(value).unwrap();
        v.to_string()
    }

    #[test]
    fn parses_labels_in_index_order() {
        let c = Config::from_json(BASE).unwrap();
        assert_eq!(c.labels, ["NEG", "POS", "NEU"]);
        assert_eq!(c.activation, Activation::Relu);
        assert_eq!(c.problem_type, ProblemType::SingleLabel);
    }

    #[test]
    fn rejects_bad_values_with_clear_errors() {
        let cases = [
            ("activation", r#""swish""#, "unknown activation"),
            ("n_heads", "3", "not divisible"),
            ("dim", "0", "dim must be positive"),
            ("id2label", r#"{"0":"A","5":"B"}"#, "indices must be"),
            ("id2label", r#"{"x":"A"}"#, "not an index"),
            ("problem_type", r#""ranking""#, "unknown problem_type"),
            ("model_type", r#""bert""#, "only \"distilbert\""),
            ("pad_token_id", "99", "outside the vocabulary"),
        ];
        for (key, value, expected) in cases {
            let err = Config::from_json(&with(key, value))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{key}={value}: {err}");
        }
    }

    #[test]
    fn missing_fields_and_bad_json_are_parse_errors() {
        assert!(matches!(
            Config::from_json("{not json"),
            Err(Error::ConfigParse { .. })
        ));
        assert!(matches!(
            Config::from_json(r#"{"dim": 8}"#),
            Err(Error::ConfigParse { .. })
        ));
    }

    #[test]
    fn default_labels_without_id2label() {
        let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
        v.as_object_mut().unwrap().remove("id2label");
        v["num_labels"] = 3.into();
        let c = Config::from_json(&v.to_string()).unwrap();
        assert_eq!(c.labels, ["LABEL_0", "LABEL_1", "LABEL_2"]);
    }
}

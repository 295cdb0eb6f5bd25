//! Finding and reading checkpoint files, and normalising their tensor names.
//!
//! Checkpoints in the wild name the same tensor in several ways: with or without the
//! `distilbert.` prefix (a bare `DistilBertModel` save versus a full classifier save), and with
//! the legacy LayerNorm names `gamma`/`beta`. Everything is mapped to the names
//! transformers uses today before the model is built.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// The weight files looked for in a model directory, in order of preference.
pub const WEIGHT_FILES: [&str; 3] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
];

/// Returns the weights file of a model directory.
///
/// # Errors
/// [`Error::MissingFile`] when none of [`WEIGHT_FILES`] exists.
pub fn find_weights(dir: &Path) -> Result<PathBuf> {
    WEIGHT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::MissingFile {
            path: dir.join(WEIGHT_FILES[0]),
            what: "model weights (model.safetensors, a sharded index, or pytorch_model.bin)",
        })
}

/// Reads every tensor of a checkpoint onto the CPU, with normalised names.
///
/// # Errors
/// [`Error::Weights`] when a file cannot be parsed; [`Error::Io`] / [`Error::MissingFile`] for
/// a sharded index that cannot be read or names a missing shard.
pub fn load_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let raw = read_raw(path)?;
    Ok(raw
        .into_iter()
        .map(|(name, tensor)| (normalise_name(&name), tensor))
        .collect())
}

fn read_raw(path: &Path) -> Result<HashMap<String, Tensor>> {
    let weights_err = |source| Error::Weights {
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if file_name.ends_with(".index.json") {
        return read_sharded(path);
    }
    if file_name.ends_with(".safetensors") {
        return candle_core::safetensors::load(path, &Device::Cpu).map_err(weights_err);
    }
    let tensors = candle_core::pickle::read_all(path).map_err(weights_err)?;
    Ok(tensors.into_iter().collect())
}

fn read_sharded(index: &Path) -> Result<HashMap<String, Tensor>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|source| Error::Io {
        path: index.to_owned(),
        source,
    })?;
    let parsed: Index = serde_json::from_str(&text).map_err(|source| Error::ConfigParse {
        path: index.to_owned(),
        source,
    })?;
    let dir = index.parent().unwrap_or_else(|| Path::new("."));
    let mut shards: Vec<&String> = parsed.weight_map.values().collect();
    shards.sort();
    shards.dedup();
    let mut all = HashMap::new();
    for shard in shards {
        let shard_path = dir.join(shard);
        if !shard_path.is_file() {
            return Err(Error::MissingFile {
                path: shard_path,
                what: "a weight shard named by the safetensors index",
            });
        }
        all.extend(read_raw(&shard_path)?);
    }
    Ok(all)
}

/// Maps a checkpoint key to the name the model expects.
///
/// ```
/// use clinfer_core::weights::normalise_name;
/// assert_eq!(normalise_name("transformer.layer.0.sa_layer_norm.gamma"),
///            "distilbert.transformer.layer.0.sa_layer_norm.weight");
/// assert_eq!(normalise_name("classifier.bias"), "classifier.bias");
/// ```
#[must_use]
pub fn normalise_name(name: &str) -> String {
    let name = if name.starts_with("embeddings.") || name.starts_with("transformer.") {
        format!("distilbert.{name}")
    } else {
        name.to_owned()
    };
    if let Some(stem) = name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        let cases = [
            (
                "distilbert.embeddings.word_embeddings.weight",
                "distilbert.embeddings.word_embeddings.weight",
            ),
            (
                "embeddings.LayerNorm.gamma",
                "distilbert.embeddings.LayerNorm.weight",
            ),
            (
                "transformer.layer.3.output_layer_norm.beta",
                "distilbert.transformer.layer.3.output_layer_norm.bias",
            ),
            ("pre_classifier.weight", "pre_classifier.weight"),
            ("classifier.bias", "classifier.bias"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise_name(input), expected, "{input}");
        }
    }

    #[test]
    fn missing_weights_are_reported_with_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_weights(dir.path()).unwrap_err();
        assert!(matches!(err, Error::MissingFile { .. }));
        assert!(err.to_string().contains("model.safetensors"));
    }

    #[test]
    fn corrupt_weights_are_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["model.safetensors", "pytorch_model.bin"] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"definitely not a checkpoint").unwrap();
            assert!(
                matches!(load_tensors(&path), Err(Error::Weights { .. })),
                "{name}"
            );
        }
    }
}

//! Downloading a model directory from the Hugging Face Hub (feature `hub`).

use std::path::PathBuf;

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Repo, RepoType};

use crate::error::{Error, Result};

/// Downloads `config.json`, `tokenizer.json` and the weights of `repo` at `revision` (default
/// `main`) into the standard Hugging Face cache and returns the snapshot directory.
///
/// `HF_HOME` selects the cache and `HF_ENDPOINT` the server. Files already cached are not
/// downloaded again.
///
/// # Errors
/// [`Error::Hub`] when the server cannot be reached or a required file is missing.
pub fn download(repo: &str, revision: Option<String>) -> Result<PathBuf> {
    let hub_err = |file: &str, message: String| Error::Hub {
        repo: repo.to_owned(),
        file: file.to_owned(),
        message,
    };
    let api = ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| hub_err("-", e.to_string()))?;
    let revision = revision.unwrap_or_else(|| "main".to_owned());
    let api_repo = api.repo(Repo::with_revision(
        repo.to_owned(),
        RepoType::Model,
        revision,
    ));
    let config = api_repo
        .get("config.json")
        .map_err(|e| hub_err("config.json", e.to_string()))?;
    api_repo
        .get("tokenizer.json")
        .map_err(|e| hub_err("tokenizer.json", e.to_string()))?;
    let mut last_error = String::new();
    let found_weights = crate::weights::WEIGHT_FILES
        .iter()
        .filter(|name| !name.ends_with(".index.json"))
        .any(|name| match api_repo.get(name) {
            Ok(_) => true,
            Err(e) => {
                last_error = e.to_string();
                false
            }
        });
    if !found_weights {
        return Err(hub_err("model.safetensors|pytorch_model.bin", last_error));
    }
    Ok(config
        .parent()
        .map(PathBuf::from)
        .expect("a cached file always has a parent directory. This is a bug."))
}

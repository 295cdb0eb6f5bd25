//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture case (a directory with `reference.json`), sorted by name.
pub fn fixture_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("reference.json").is_file())
        .collect();
    cases.sort();
    cases
}

/// `../shared`, beside the repository.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// Whether this run is CI (`CI=true` or `CI=1`), where missing shared data is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The teacher model directory, or `None` (with a printed reason) when it is absent outside
/// CI.
///
/// # Panics
/// Under CI when the model is missing: a test that needs it must not pass by skipping.
pub fn teacher_dir() -> Option<PathBuf> {
    let dir = shared().join("models/teacher-minilm-sst2");
    if dir.join("model.safetensors").is_file() {
        Some(dir)
    } else if in_ci() {
        panic!("{} not found (required under CI)", dir.display());
    } else {
        eprintln!("skipping: {} not found", dir.display());
        None
    }
}

/// Reference inputs and logits written by `generate_fixtures.py`.
#[derive(serde::Deserialize)]
pub struct Reference {
    /// The padded batch.
    pub input_ids: Vec<Vec<u32>>,
    /// Its 0/1 mask.
    pub attention_mask: Vec<Vec<u32>>,
    /// transformers' logits for it.
    pub logits: Vec<Vec<f32>>,
    /// An unpadded batch.
    pub input_ids_full: Vec<Vec<u32>>,
    /// transformers' logits for it.
    pub logits_full: Vec<Vec<f32>>,
}

impl Reference {
    /// Reads `reference.json` of a fixture case.
    pub fn load(case: &Path) -> Self {
        let text = std::fs::read_to_string(case.join("reference.json")).expect("reference.json");
        serde_json::from_str(&text).expect("reference.json parses")
    }

    /// The padded batch with the padding removed (rows of real tokens only).
    pub fn rows(&self) -> Vec<Vec<u32>> {
        self.input_ids
            .iter()
            .zip(&self.attention_mask)
            .map(|(ids, mask)| {
                ids.iter()
                    .zip(mask)
                    .filter(|(_, &m)| m == 1)
                    .map(|(&id, _)| id)
                    .collect()
            })
            .collect()
    }
}

/// Largest absolute difference between two matrices of equal shape.
pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "row count");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "column count");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

/// Copies a directory (flat) into a fresh temporary directory.
pub fn copy_to_temp(dir: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).expect("copy");
        }
    }
    tmp
}

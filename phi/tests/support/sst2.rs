//! SST-2 dev sentences (`../shared/data/sst2/dev.tsv`: lower-cased movie reviews, no PHI) as
//! a false-positive check, shared by the evaluation example and the floor test (included
//! with `#[path]`). Errors name the file and line numbers, never sentence text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clinfer_phi::Scrubber;

/// The dev file: `../shared/data/sst2/dev.tsv` from the workspace root.
pub fn default_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/sst2/dev.tsv")
}

/// The sentences of a GLUE SST-2 `label<TAB>sentence` file with a header line.
pub fn load(path: &Path) -> Result<Vec<String>, String> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    let mut out = Vec::new();
    for (i, line) in raw.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((_, sentence)) = line.split_once('\t') else {
            return Err(format!("{} line {}: no tab", path.display(), i + 1));
        };
        out.push(sentence.to_owned());
    }
    if out.is_empty() {
        return Err(format!("no sentences in {}", path.display()));
    }
    Ok(out)
}

/// Indices of the sentences with any predicted span.
pub fn flagged(scrubber: &Scrubber, sentences: &[String]) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        let spans = scrubber
            .analyze(s)
            .map_err(|e| format!("sentence {}: {e}", i + 1))?;
        if !spans.is_empty() {
            out.push(i);
        }
    }
    Ok(out)
}

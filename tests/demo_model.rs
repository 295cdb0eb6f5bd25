//! The bundled demo model loads and scores at least 0.85 on SST-2 dev through the Rust pipeline.

use std::path::Path;

use clinfer::core::Classifier;

#[test]
fn bundled_demo_model_scores_at_least_0_85_on_sst2_dev() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("models/clinfer-demo-sst2");
    let size: u64 = std::fs::read_dir(&model)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        size <= 12 * 1000 * 1000,
        "demo model is {size} bytes, over 12 MB"
    );

    let dev = root.join("../shared/data/sst2/dev.tsv");
    let Ok(text) = std::fs::read_to_string(&dev) else {
        // under CI the shared data is part of the contract: a missing file is a failure
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "{} not found (required under CI)", dev.display());
        eprintln!("skipping accuracy: {} not found", dev.display());
        return;
    };
    let rows: Vec<(usize, &str)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let (label, sentence) = l.split_once('\t').unwrap();
            (label.parse().unwrap(), sentence)
        })
        .collect();
    let classifier = Classifier::builder().model_dir(&model).build().unwrap();
    let texts: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let predictions = classifier.predict(&texts).unwrap();
    let correct = predictions
        .iter()
        .zip(&rows)
        .filter(|(p, r)| p.label_id == r.0)
        .count();
    let accuracy = correct as f64 / rows.len() as f64;
    eprintln!(
        "demo model: SST-2 dev accuracy {accuracy:.4} ({correct}/{})",
        rows.len()
    );
    assert_eq!(rows.len(), 872);
    assert!(accuracy >= 0.85, "accuracy {accuracy}");
}

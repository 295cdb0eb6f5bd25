//! The drift monitor inside the Pipeline: fed by every successful request, exported in the
//! pipeline's metrics, snapshots that round-trip, and no PHI in any of it.

use std::path::PathBuf;

use clinfer::drift::ReferenceSource;
use clinfer::{ClassifyOptions, DriftConfig, DriftReference, DriftState, ErrorKind, Pipeline};

const CANARY_NAME: &str = "Quillfeather";
const CANARY_PHONE: &str = "555-201-3344";

fn model_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        root.join("../shared/models/teacher-minilm-sst2"),
        root.join("models/clinfer-demo-sst2"),
    ]
    .into_iter()
    .find(|d| d.join("model.safetensors").exists() && d.join("tokenizer.json").exists())
    .expect("no model in ../shared/models/teacher-minilm-sst2 nor models/clinfer-demo-sst2")
}

/// Lower-case movie-review style sentences (SST-2's shape), varied so that they are not one
/// repeated input.
fn reviews(n: usize, seed: usize) -> Vec<String> {
    let adj = [
        "warm", "tedious", "funny", "dull", "moving", "clumsy", "sharp", "bland",
    ];
    let noun = ["film", "story", "script", "cast", "ending", "score"];
    (0..n)
        .map(|i| {
            let k = i * 7 + seed * 13;
            format!(
                "a {} and {} {} , with a {} {} .",
                adj[k % adj.len()],
                adj[(k / 3 + 1) % adj.len()],
                noun[k % noun.len()],
                adj[(k / 5 + 2) % adj.len()],
                noun[(k / 2 + 3) % noun.len()]
            )
        })
        .collect()
}

/// Clinical-style notes that hold PHI (surrogates and canaries).
fn notes(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "Pt {CANARY_NAME} seen on 03/{:02}/2023 by Dr. Alvarez; call {CANARY_PHONE}. BP 120/80, afebrile.",
                i % 28 + 1
            )
        })
        .collect()
}

fn pipeline(config: DriftConfig) -> Pipeline {
    Pipeline::builder()
        .model_dir(model_dir())
        .name("drift-test")
        .drift(config)
        .build()
        .expect("the pipeline builds")
}

fn run(p: &Pipeline, texts: &[String]) {
    for t in texts {
        p.classify_blocking(t, ClassifyOptions::default())
            .expect("classified");
    }
}

#[test]
fn the_reference_is_frozen_from_the_first_requests_then_the_window_fills() {
    let p = pipeline(DriftConfig::default().reference_size(30).window(30));
    let r = p.drift().expect("on by default");
    assert_eq!(r.state, DriftState::WarmingUp);
    assert_eq!(r.reference_source, ReferenceSource::Collecting);
    assert!(p.drift_reference().is_none());
    run(&p, &reviews(30, 1));
    let r = p.drift().unwrap();
    assert_eq!(r.reference_requests, 30);
    assert_eq!(r.reference_source, ReferenceSource::Frozen);
    assert_eq!(r.requests, 0);
    run(&p, &reviews(30, 2));
    let r = p.drift().unwrap();
    // the window slides by tenths: it holds the last 27 to 30 of its 30 requests
    assert!((27..=30).contains(&r.requests), "{}", r.requests);
    assert_eq!(r.observed, 60);
    assert_ne!(r.state, DriftState::WarmingUp);
    for name in [
        "label",
        "score",
        "length",
        "truncation",
        "unk",
        "phi_NAME",
        "embedding",
    ] {
        let s = r
            .signals
            .get(name)
            .unwrap_or_else(|| panic!("signal {name}"));
        assert!(s.value.is_finite(), "{name}: {}", s.value);
    }
    // the same kind of text: the PHI signals do not move
    assert_eq!(r.signals["phi_NAME"].state, DriftState::Ok);
    let metrics = p.metrics();
    assert!(metrics.contains("clinfer_drift_state{"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("clinfer_drift_value{")
                && l.contains("signal=\"embedding\"")
                && l.contains("model=\"drift-test\"")),
        "{metrics}"
    );
    p.shutdown_blocking(std::time::Duration::from_secs(1));
}

#[test]
fn clinical_notes_against_a_review_reference_alert_on_phi_and_length_and_leak_nothing() {
    let p = pipeline(DriftConfig::default().reference_size(30).window(30));
    let sample = reviews(40, 3);
    let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
    assert_eq!(p.fit_drift_reference(&refs).unwrap(), 40);
    let r = p.drift().unwrap();
    assert_eq!(r.reference_source, ReferenceSource::Sample);
    assert_eq!(r.reference_requests, 40);
    assert_eq!(r.observed, 0, "the sample is not traffic");
    run(&p, &notes(30));
    let r = p.drift().unwrap();
    assert_eq!(r.state, DriftState::Alert);
    for moved in ["phi_NAME", "phi_PHONE", "phi_DATE", "length"] {
        assert_eq!(
            r.signals[moved].state,
            DriftState::Alert,
            "{moved}: {:?}",
            r.signals[moved]
        );
    }
    assert_eq!(r.signals["truncation"].state, DriftState::Ok);
    // numbers only: no canary in the report, the snapshot or the metrics
    let dir = std::env::temp_dir().join(format!("clinfer-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("drift_reference.json");
    p.save_drift_reference(&path).unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();
    for text in [format!("{r:?}"), p.metrics(), saved] {
        for canary in [CANARY_NAME, CANARY_PHONE, "Alvarez", "03/1"] {
            assert!(!text.contains(canary), "{canary} leaked");
        }
    }
    // the snapshot loads into a new pipeline and compares the same way
    let reference = DriftReference::load(&path).unwrap();
    assert_eq!(reference.requests(), 40);
    let q = pipeline(DriftConfig::default().reference(reference).window(30));
    let r = q.drift().unwrap();
    assert_eq!(r.reference_source, ReferenceSource::Snapshot);
    run(&q, &notes(30));
    assert_eq!(
        q.drift().unwrap().signals["phi_NAME"].state,
        DriftState::Alert
    );
    std::fs::remove_dir_all(&dir).ok();
    p.shutdown_blocking(std::time::Duration::from_secs(1));
    q.shutdown_blocking(std::time::Duration::from_secs(1));
}

#[test]
fn off_means_no_report_no_gauges_and_clear_errors() {
    let p = pipeline(DriftConfig::disabled());
    assert!(p.drift().is_none());
    assert!(!p.metrics().contains("clinfer_drift_"));
    let e = p.save_drift_reference("/nonexistent/x.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(
        p.fit_drift_reference(&["ok"]).unwrap_err().kind(),
        ErrorKind::Config
    );
    // an incomplete reference cannot be saved; a bad setting starts nothing
    let q = pipeline(DriftConfig::default());
    assert_eq!(
        q.save_drift_reference(std::env::temp_dir().join("never.json"))
            .unwrap_err()
            .kind(),
        ErrorKind::Config
    );
    assert_eq!(
        q.fit_drift_reference(&[]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let err = Pipeline::builder()
        .model_dir(model_dir())
        .drift(DriftConfig::default().window(3))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    p.shutdown_blocking(std::time::Duration::from_secs(1));
    q.shutdown_blocking(std::time::Duration::from_secs(1));
}

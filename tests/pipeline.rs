//! End-to-end tests of the Pipeline with a real checkpoint (the teacher model in
//! `../shared/models`, or the bundled demo model); skipped with a printed reason when absent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clinfer::core::{Classifier, DeviceSpec};
use clinfer::{ClassifyOptions, Error, ErrorKind, Pipeline, Protocol};

const CANARY_PHONE: &str = "555-201-3344";
const CANARY_DATE: &str = "03/14/2023";
const CANARY_NAME: &str = "Alvarez";

/// The teacher model when `../shared` is there, else the bundled demo model (always in the
/// repository): these tests never skip.
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

fn classifier() -> Arc<Classifier> {
    Arc::new(
        Classifier::builder()
            .model_dir(model_dir())
            .device(DeviceSpec::Cpu)
            .build()
            .expect("the test model loads"),
    )
}

fn sentences(n: usize) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/sst2/dev.tsv");
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('\t').map(|(_, t)| t.to_owned()))
            .take(n)
            .collect(),
        Err(_) => {
            eprintln!("note: {} absent, using built-in sentences", path.display());
            [
                "a warm , funny and moving film",
                "a tedious mess",
                "one long string of cliches .",
                "the acting is superb and the story gripping",
            ]
            .iter()
            .cycle()
            .take(n)
            .map(|s| (*s).to_owned())
            .collect()
        }
    }
}

fn canary_note() -> String {
    format!("Seen by Dr. {CANARY_NAME} on {CANARY_DATE}. Wife at bedside ({CANARY_PHONE}); a warm, moving visit.")
}

#[test]
fn concurrent_calls_match_the_classifier() {
    let c = classifier();
    let texts = sentences(48);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected = c.predict(&refs).expect("direct prediction works");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let got = rt.block_on(async {
        let pipeline = Pipeline::builder()
            .classifier(Arc::clone(&c))
            .scrub(false)
            .max_batch_size(8)
            .build()
            .expect("pipeline builds");
        assert!(pipeline.wait_ready().await);
        let tasks: Vec<_> = texts
            .iter()
            .cloned()
            .map(|t| {
                let p = pipeline.clone();
                tokio::spawn(async move { p.classify(&t, ClassifyOptions::default()).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task").expect("classify works"));
        }
        let many = pipeline
            .classify_many(&refs[..5], ClassifyOptions::default())
            .await
            .expect("classify_many works");
        assert!(pipeline.shutdown(Duration::from_secs(5)).await);
        (out, many)
    });
    let (single, many) = got;
    for (i, (g, e)) in single.iter().zip(&expected).enumerate() {
        assert_eq!(g.label, e.label, "text {i}");
        assert_eq!(g.label_id, e.label_id, "text {i}");
        assert!(
            (g.score - e.score).abs() < 1e-3,
            "text {i}: {} vs {}",
            g.score,
            e.score
        );
        assert!(g.redacted.is_none());
        assert!(g.phi_counts.is_empty());
        assert!(g.tokens > 2);
    }
    assert_eq!(many.len(), 5);
    for (g, e) in many.iter().zip(&expected) {
        assert_eq!(g.label, e.label);
    }
}

#[test]
fn scrubbing_redacts_and_counts_without_leaking() {
    let c = classifier();
    let pipeline = Pipeline::builder()
        .classifier(Arc::clone(&c))
        .build()
        .expect("pipeline builds");
    let note = canary_note();
    let out = pipeline
        .classify_blocking(&note, ClassifyOptions::default())
        .expect("classify works");
    let redacted = out.redacted.as_deref().expect("scrubbing is on by default");
    for canary in [CANARY_PHONE, CANARY_DATE, CANARY_NAME] {
        assert!(!redacted.contains(canary), "{canary} left in {redacted}");
    }
    assert_eq!(out.phi_counts.get("PHONE"), Some(&1));
    assert_eq!(out.phi_counts.get("DATE"), Some(&1));
    // The model saw the redacted text.
    let direct = c.predict(&[redacted]).expect("direct prediction");
    assert_eq!(out.label, direct[0].label);

    let json = serde_json::to_value(&out).expect("serializes");
    assert!(json["timings"]["total"].as_f64().expect("seconds") > 0.0);
    assert_eq!(json["phi_counts"]["PHONE"], 1);

    let metrics = pipeline.metrics();
    assert!(
        metrics.contains("clinfer_pipeline_phi_entities_total{kind=\"PHONE\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("clinfer_pipeline_requests_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("clinfer_batcher_batch_size"), "{metrics}");
    assert_eq!(metrics.matches("# EOF").count(), 1);
    for canary in [CANARY_PHONE, CANARY_DATE, CANARY_NAME] {
        assert!(!metrics.contains(canary));
    }
    assert!(pipeline.shutdown_blocking(Duration::from_secs(5)));
}

#[test]
fn bad_inputs_are_invalid_and_errors_hold_no_phi() {
    let c = classifier();
    let pipeline = Pipeline::builder()
        .classifier(c)
        .max_input_bytes(64 * 1024)
        .build()
        .expect("pipeline builds");
    let huge = canary_note().repeat(2_000);
    for text in ["", "   \n\t", huge.as_str()] {
        let err = pipeline
            .classify_blocking(text, ClassifyOptions::default())
            .expect_err("bad input fails");
        assert!(
            matches!(err, Error::InvalidInput { index: None, .. }),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.http_status(Protocol::V1), 422);
        let shown = format!("{err} {err:?}");
        for canary in [CANARY_PHONE, CANARY_DATE, CANARY_NAME] {
            assert!(!shown.contains(canary), "{shown}");
        }
    }
    let err = pipeline
        .classify_many_blocking(&["a fine film", ""], ClassifyOptions::default())
        .expect_err("the empty text fails the call");
    assert_eq!(err.index(), Some(1), "{err:?}");
    assert!(err.to_string().contains("text 1"), "{err}");
    assert!(
        !err.to_string().contains("input 0"),
        "one index, the caller's: {err}"
    );
    let metrics = pipeline.metrics();
    assert!(metrics.contains("outcome=\"invalid_input\""), "{metrics}");
    assert!(!metrics.contains(CANARY_PHONE));
}

#[test]
fn shutdown_refuses_new_work() {
    let c = classifier();
    let pipeline = Pipeline::builder()
        .classifier(c)
        .scrub(false)
        .build()
        .expect("pipeline builds");
    assert!(pipeline.is_live());
    assert!(pipeline.shutdown_blocking(Duration::from_secs(5)));
    assert!(!pipeline.is_ready());
    let err = pipeline
        .classify_blocking("a fine film", ClassifyOptions::default())
        .expect_err("no admission after shutdown");
    assert!(matches!(err, Error::ShuttingDown), "{err:?}");
    assert_eq!(err.http_status(Protocol::V1), 503);
}

#[test]
fn builder_validates() {
    let err = Pipeline::builder().build().expect_err("no model given");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = Pipeline::builder()
        .model_dir("/nonexistent/model")
        .max_batch_size(0)
        .build()
        .expect_err("zero batch size");
    assert!(
        matches!(err, Error::Config(_)),
        "a setting, not the model: {err:?}"
    );
    assert!(err.to_string().contains("max_batch_size"), "{err}");
    let err = Pipeline::builder()
        .model_dir("/nonexistent/model")
        .build()
        .expect_err("missing model");
    assert!(matches!(err, Error::ModelLoad { .. }), "{err:?}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the core error is kept"
    );
}

/// The bundled demo model: always in the repository, so these tests never skip.
fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/clinfer-demo-sst2")
}

#[test]
fn one_input_limit_is_set_on_the_pipeline_and_pushed_down() {
    use clinfer::phi::Scrubber;
    // components whose own limit is lower than the pipeline's are refused at build time
    let small = Scrubber::builder()
        .max_input_bytes(1024)
        .build()
        .expect("scrubber builds");
    let err = Pipeline::builder()
        .model_dir(demo_dir())
        .scrubber(small)
        .max_input_bytes(4096)
        .build()
        .expect_err("a scrubber with a lower limit is refused");
    assert!(err.to_string().contains("max_input_bytes"), "{err}");
    let narrow = Classifier::builder()
        .model_dir(demo_dir())
        .max_input_bytes(1000)
        .build()
        .expect("classifier builds");
    let err = Pipeline::builder()
        .classifier(Arc::new(narrow))
        .max_input_bytes(4096)
        .build()
        .expect_err("a classifier with a lower limit is refused");
    assert!(err.to_string().contains("max_input_bytes"), "{err}");

    // a text just under the limit whose de-identified form is longer than the input (a
    // tag replaces each two-letter name) still reaches the model
    let limit = 16 * 1024;
    let pipeline = Pipeline::builder()
        .model_dir(demo_dir())
        .max_input_bytes(limit)
        .build()
        .expect("pipeline builds");
    let unit = "Seen by Dr. Al. ";
    let text = unit.repeat(limit / unit.len());
    assert!(text.len() <= limit);
    let out = pipeline
        .classify_blocking(&text, ClassifyOptions::default())
        .expect("an input under the limit is classified");
    let redacted = out.redacted.as_deref().expect("scrubbed");
    assert!(redacted.len() > text.len(), "redaction grew the text");
    assert!(!redacted.contains("Al."), "names redacted");
    // one byte over the limit is refused before any work, with sizes only
    let over = "a".repeat(limit + 1);
    let err = pipeline
        .classify_blocking(&over, ClassifyOptions::default())
        .expect_err("over the limit");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains(&limit.to_string()), "{err}");
    assert!(pipeline.shutdown_blocking(Duration::from_secs(5)));
}

#[test]
fn the_batcher_costs_batches_the_way_the_model_computes_them() {
    use clinfer::batcher::Backend;
    use clinfer::core::BatchLayout;
    use clinfer::ClassifierBackend;
    let build = |layout: BatchLayout| {
        Arc::new(
            Classifier::builder()
                .model_dir(demo_dir())
                .device(DeviceSpec::Cpu)
                .batch_layout(layout)
                .build()
                .expect("demo model loads"),
        )
    };
    // on the CPU the default layout packs rows: nothing padded, a batch costs its tokens
    let auto = build(BatchLayout::Auto);
    assert!(!auto.model().pads_batches());
    assert!(!ClassifierBackend::new(auto).padded());
    assert!(!ClassifierBackend::new(build(BatchLayout::Packed)).padded());
    assert!(ClassifierBackend::new(build(BatchLayout::Padded)).padded());
}

#[test]
fn long_texts_are_prepared_off_the_executor_and_metrics_come_from_one_registry() {
    let pipeline = Pipeline::builder()
        .classifier(classifier())
        .build()
        .expect("pipeline builds");
    let long = canary_note().repeat(400); // ~40 KB, over the off-executor threshold
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (short_out, long_out, many_out) = rt.block_on(async {
        let short = pipeline.classify("a fine film", ClassifyOptions::default());
        let one = pipeline.classify(&long, ClassifyOptions::default());
        let texts = [long.as_str(), "a dull film"];
        let many = pipeline.classify_many(&texts, ClassifyOptions::default());
        tokio::join!(short, one, many)
    });
    short_out.expect("short text");
    let long_out = long_out.expect("long text");
    assert!(long_out.truncated);
    assert!(!long_out.redacted.expect("scrubbed").contains(CANARY_PHONE));
    assert_eq!(many_out.expect("many texts").len(), 2);
    let metrics = pipeline.metrics();
    // one long text, then both texts of the many-text call (their total is long)
    assert!(
        metrics.contains("clinfer_pipeline_offloaded_texts_total 3"),
        "{metrics}"
    );
    // a blocking call has no executor to protect: it scrubs on the calling thread
    pipeline
        .classify_blocking(&long, ClassifyOptions::default())
        .expect("long text, blocking");
    let metrics = pipeline.metrics();
    assert!(metrics.contains("clinfer_pipeline_offloaded_texts_total 3"));
    assert_eq!(metrics.matches("# EOF").count(), 1, "one exposition");
    assert!(metrics.trim_end().ends_with("# EOF"));
    for name in [
        "clinfer_batcher_requests_total",
        "clinfer_pipeline_requests_total{outcome=\"ok\"} 5",
        "clinfer_pipeline_phi_entities_total",
        "clinfer_pipeline_request_duration_seconds_count",
    ] {
        assert!(metrics.contains(name), "missing {name}: {metrics}");
    }
    assert!(!metrics.contains(CANARY_NAME));
}

#[test]
fn options_out_of_range_are_invalid_input_before_any_work() {
    let pipeline = Pipeline::builder()
        .classifier(classifier())
        .build()
        .expect("pipeline builds");
    let bad = ClassifyOptions {
        priority: 3,
        ..ClassifyOptions::default()
    };
    let err = pipeline
        .classify_blocking(&canary_note(), bad)
        .expect_err("priority 3");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("priority 3"), "{err}");
    let err = pipeline
        .classify_many_blocking(&["a", "b"], bad)
        .expect_err("priority 3");
    assert_eq!(err.index(), None, "not about one of the texts: {err:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(pipeline.classify_many(&["a"], bad))
        .expect_err("priority 3");
    assert_eq!((err.kind(), err.index()), (ErrorKind::InvalidInput, None));
    for p in 0..=ClassifyOptions::LOWEST_PRIORITY {
        let ok = ClassifyOptions {
            priority: p,
            ..ClassifyOptions::default()
        };
        pipeline
            .classify_blocking("a fine film", ok)
            .expect("priorities 0..=2");
    }
    let metrics = pipeline.metrics();
    assert!(
        metrics.contains("outcome=\"invalid_input\"} 3"),
        "{metrics}"
    );
}

#[test]
fn name_and_version_label_every_metric() {
    let pipeline = Pipeline::builder()
        .classifier(classifier())
        .name("triage")
        .version("7")
        .build()
        .expect("pipeline builds");
    assert_eq!(
        (pipeline.name(), pipeline.version()),
        (Some("triage"), Some("7"))
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(pipeline.classify("a fine film", ClassifyOptions::default()))
        .expect("classifies");
    let metrics = pipeline.metrics();
    let samples: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(samples.len() > 20, "{metrics}");
    for line in &samples {
        assert!(
            line.contains("model=\"triage\"") && line.contains("version=\"7\""),
            "unlabelled sample: {line}"
        );
    }
    assert!(
        metrics.contains(
            "clinfer_pipeline_requests_total{model=\"triage\",version=\"7\",outcome=\"ok\"} 1"
        ),
        "{metrics}"
    );

    // bad label values are refused before the model is touched
    for (name, version) in [
        ("a\"b", "1"),
        ("ok", ""),
        ("ok", "1 2"),
        ("x", &"9".repeat(129)[..]),
    ] {
        let err = Pipeline::builder()
            .model_dir("/nonexistent/model")
            .name(name)
            .version(version)
            .build()
            .expect_err("bad label");
        assert!(
            matches!(err, Error::Config(_)),
            "{name:?}/{version:?}: {err:?}"
        );
    }
}

//! Bad input gets a clear error, never a panic.

mod common;

use std::path::Path;

use clinfer_core::{Classifier, DType, Device, Error, Model, Truncation};

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

fn fixture(name: &str) -> tempfile::TempDir {
    common::copy_to_temp(&common::fixtures().join(name))
}

fn load(dir: &Path) -> Result<Model, Error> {
    Model::from_dir(dir, &Device::Cpu, DType::F32)
}

#[test]
fn missing_and_malformed_config() {
    let dir = fixture("gelu_2_prefix");
    std::fs::write(dir.path().join("config.json"), "{ this is not json").unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, Error::ConfigParse { .. }), "{err}");

    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, Error::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("config.json"));
}

#[test]
fn unknown_activation() {
    let dir = fixture("gelu_2_prefix");
    edit_config(dir.path(), |v| v["activation"] = "swiglu".into());
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("unknown activation \"swiglu\""),
        "{err}"
    );
}

#[test]
fn weights_with_wrong_shapes_or_missing_tensors() {
    // The config says the model is wider than the weights are.
    let dir = fixture("gelu_2_prefix");
    edit_config(dir.path(), |v| v["dim"] = 64.into());
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Weights { .. }), "{err}");
    assert!(err.to_string().contains("shape"), "{err}");

    // More layers than the checkpoint holds: a tensor is missing.
    let dir = fixture("gelu_2_prefix");
    edit_config(dir.path(), |v| v["n_layers"] = 3.into());
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("transformer.layer.2"), "{err}");

    // More labels than the classifier has outputs.
    let dir = fixture("gelu_2_prefix");
    edit_config(dir.path(), |v| {
        v["id2label"] = serde_json::json!({"0": "A", "1": "B", "2": "C"});
        v["label2id"] = serde_json::json!({"A": 0, "B": 1, "C": 2});
    });
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("classifier"), "{err}");
}

#[test]
fn missing_weights_and_tokenizer() {
    let dir = fixture("gelu_2_prefix");
    let err = Classifier::builder()
        .model_dir(dir.path())
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");

    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("model weights"), "{err}");

    let err = Classifier::builder()
        .model_dir("/nonexistent/model")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::MissingFile { .. }), "{err}");
}

#[test]
fn invalid_ids_are_rejected_before_the_model_runs() {
    let model = load(&common::fixtures().join("gelu_2_prefix")).unwrap();
    let too_long: Vec<u32> = vec![1; 65];
    for (rows, expected) in [
        (vec![], "no rows"),
        (vec![&[][..]], "row 0 is empty"),
        (vec![&[1u32, 2][..], &[5000][..]], "outside the vocabulary"),
        (vec![too_long.as_slice()], "at most 64"),
    ] {
        let err = model.logits(&rows).unwrap_err();
        assert!(matches!(err, Error::InvalidIds(_)), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn hostile_text_through_the_teacher() {
    let Some(dir) = common::teacher_dir() else {
        return;
    };
    let classifier = Classifier::builder().model_dir(&dir).build().unwrap();
    let canary = "Patient Zebulon Quackenbush MRN 99887766";

    // Empty, whitespace-only and control-character-only inputs.
    for (i, text) in ["", "   \n\t ", "\u{0}\u{1}\u{7f}"].iter().enumerate() {
        let err = classifier.predict(&["fine", text]).unwrap_err();
        assert!(
            matches!(err, Error::EmptyInput { index: 1 }),
            "case {i}: {err}"
        );
    }

    // Control characters around real words are cleaned, not fatal.
    let p = classifier.predict(&["good\u{0} movie\u{1b}[31m"]).unwrap();
    assert_eq!(p.len(), 1);

    // 1 MB of text: truncated by default, rejected in strict mode; the error names sizes only.
    let big = format!("{canary} ").repeat((1 << 20) / 40);
    let p = classifier.predict(&[&big]).unwrap();
    assert!((0.0..=1.0).contains(&p[0].score));
    let enc = classifier.tokenizer().encode(&big).unwrap();
    assert_eq!(enc.len(), 512);
    assert!(enc.was_truncated());

    let strict = Classifier::builder()
        .model_dir(&dir)
        .truncation(Truncation::Strict)
        .max_length(128)
        .build()
        .unwrap();
    let err = strict.predict(&[&big]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooManyTokens {
                max_length: 128,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("Zebulon"));

    let small_limit = Classifier::builder()
        .model_dir(&dir)
        .max_input_bytes(1000)
        .build()
        .unwrap();
    let err = small_limit.predict(&[&big]).unwrap_err();
    assert!(
        matches!(err, Error::InputTooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert!(!format!("{err:?}").contains("Quackenbush"));

    // max_length beyond the position table is a configuration error.
    let err = Classifier::builder()
        .model_dir(&dir)
        .max_length(4096)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_position_embeddings"), "{err}");
}

#[test]
fn tokenizer_settings_in_the_file_are_overridden() {
    let Some(dir) = common::teacher_dir() else {
        return;
    };
    let tmp = common::copy_to_temp(&dir);
    let path = tmp.path().join("tokenizer.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["padding"] = serde_json::json!({"strategy": {"Fixed": 128}, "direction": "Right",
        "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
    v["truncation"] = serde_json::json!({"direction": "Right", "max_length": 8,
        "strategy": "LongestFirst", "stride": 0});
    std::fs::write(&path, v.to_string()).unwrap();
    let classifier = Classifier::builder().model_dir(tmp.path()).build().unwrap();
    let enc = classifier
        .tokenizer()
        .encode("a short but not that short sentence here")
        .unwrap();
    assert_eq!(enc.len(), 10, "no fixed padding and no truncation at 8");
    assert_eq!(enc.ids()[0], 101);
    assert_eq!(*enc.ids().last().unwrap(), 102);
}

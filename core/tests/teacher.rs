//! Real trained weights: the teacher model must reproduce transformers' SST-2 dev predictions.

mod common;

use clinfer_core::{Classifier, DTypeSpec};

struct Row {
    gold: usize,
    pred: usize,
    logits: [f32; 2],
}

fn reference(dir: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("sst2_dev_predictions.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Row {
                gold: f[1].parse().unwrap(),
                pred: f[2].parse().unwrap(),
                logits: [f[4].parse().unwrap(), f[5].parse().unwrap()],
            }
        })
        .collect()
}

fn sst2_dev() -> Vec<String> {
    let text = std::fs::read_to_string(common::shared().join("data/sst2/dev.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split_once('\t').unwrap().1.to_owned())
        .collect()
}

#[test]
fn teacher_matches_transformers_on_sst2_dev() {
    let Some(dir) = common::teacher_dir() else {
        return;
    };
    let rows = reference(&dir);
    let sentences = sst2_dev();
    assert_eq!(rows.len(), sentences.len());
    assert_eq!(rows.len(), 872);

    let classifier = Classifier::builder().model_dir(&dir).build().unwrap();
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let predictions = classifier.predict(&texts).unwrap();

    let same_label = predictions
        .iter()
        .zip(&rows)
        .filter(|(p, r)| p.label_id == r.pred)
        .count();
    let ours = predictions
        .iter()
        .zip(&rows)
        .filter(|(p, r)| p.label_id == r.gold)
        .count();
    let theirs = rows.iter().filter(|r| r.pred == r.gold).count();
    let max_diff = predictions
        .iter()
        .zip(&rows)
        .flat_map(|(p, r)| p.logits.iter().zip(r.logits).map(|(a, b)| (a - b).abs()))
        .fold(0.0f32, f32::max);
    eprintln!(
        "teacher: accuracy {:.4} (transformers {:.4}), same label {same_label}/{}, max logit diff {max_diff:.2e}",
        ours as f64 / rows.len() as f64,
        theirs as f64 / rows.len() as f64,
        rows.len()
    );
    assert_eq!(ours, theirs, "accuracy differs from transformers");
    assert!(same_label as f64 >= 0.999 * rows.len() as f64);
    // The reference logits are printed with 6 decimals.
    assert!(max_diff <= 1e-3, "max logit difference {max_diff}");
    assert_eq!(predictions[0].label, "NEGATIVE");
}

/// Every CPU precision mode keeps the teacher's SST-2 dev accuracy within half a point of
/// f32, and its logits within a per-mode tolerance of the f32 logits.
#[test]
fn precision_modes_keep_the_teachers_accuracy() {
    let Some(dir) = common::teacher_dir() else {
        return;
    };
    let rows = reference(&dir);
    let sentences = sst2_dev();
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let run = |spec: DTypeSpec| {
        let c = Classifier::builder()
            .model_dir(&dir)
            .dtype(spec)
            .build()
            .unwrap();
        let p = c.predict(&texts).unwrap();
        (c.mode(), c.kernel(), p)
    };
    let (mode, _, f32_preds) = run(DTypeSpec::F32);
    assert_eq!(mode, "f32");
    let accuracy = |p: &[clinfer_core::Prediction]| {
        p.iter()
            .zip(&rows)
            .filter(|(p, r)| p.label_id == r.gold)
            .count() as f64
            / rows.len() as f64
    };
    let base = accuracy(&f32_preds);
    // (mode, largest logit difference from f32 allowed)
    for (spec, tolerance) in [
        (DTypeSpec::Int8, 0.5f32),
        (DTypeSpec::BF16, 0.15),
        (DTypeSpec::F16, 0.02),
    ] {
        let (mode, kernel, preds) = run(spec);
        assert_eq!(mode, spec.name());
        let acc = accuracy(&preds);
        let max_diff = preds
            .iter()
            .zip(&f32_preds)
            .flat_map(|(a, b)| a.logits.iter().zip(&b.logits).map(|(x, y)| (x - y).abs()))
            .fold(0.0f32, f32::max);
        let same = preds
            .iter()
            .zip(&f32_preds)
            .filter(|(a, b)| a.label_id == b.label_id)
            .count();
        eprintln!(
            "{mode} ({kernel}): accuracy {acc:.4} (f32 {base:.4}), same label as f32 {same}/{}, max logit diff {max_diff:.3}",
            rows.len()
        );
        assert!(
            (acc - base).abs() <= 0.005,
            "{mode}: accuracy {acc} vs f32 {base}"
        );
        assert!(
            max_diff <= tolerance,
            "{mode}: max logit difference {max_diff}"
        );
    }
}

//! Forward throughput of the full-size distilbert-base-uncased shape (random weights) on the CPU.
//!
//! `cargo bench --bench forward`; the PyTorch baseline for the same shapes is
//! `benches/pytorch_forward.py`. Results are recorded in `benches/README.md`.

use candle_nn::{VarBuilder, VarMap};
use clinfer::core::int8::Kernel;
use clinfer::core::{BatchLayout, Config, DType, Device, Model};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};

const DISTILBERT_BASE: &str = r#"{"model_type": "distilbert", "vocab_size": 30522, "dim": 768,
    "n_layers": 6, "n_heads": 12, "hidden_dim": 3072, "activation": "gelu",
    "max_position_embeddings": 512, "pad_token_id": 0,
    "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}"#;

/// The full-size shape with random weights, in `mode` (`f32`, `bf16` or `int8`).
fn model(mode: &str) -> Model {
    let config = Config::from_json(DISTILBERT_BASE).expect("valid config");
    let varmap = VarMap::new();
    let dtype = if mode == "bf16" {
        DType::BF16
    } else {
        DType::F32
    };
    let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
    let mut m = Model::from_varbuilder(config, vb).expect("random weights");
    if mode == "int8" {
        m.quantize_int8(Kernel::detect()).expect("int8");
    }
    m
}

fn forward(c: &mut Criterion) {
    for mode in ["f32", "bf16", "int8"] {
        forward_mode(c, mode);
    }
}

fn forward_mode(c: &mut Criterion, mode: &str) {
    let model = model(mode);
    let mut group = c.benchmark_group(format!("distilbert_base_forward_cpu_{mode}"));
    group.sample_size(10);
    for batch in [1usize, 8, 32] {
        for seq in [16usize, 64, 128] {
            let rows: Vec<Vec<u32>> = (0..batch)
                .map(|b| {
                    (0..seq)
                        .map(|t| 1000 + ((b * 131 + t * 17) % 20000) as u32)
                        .collect()
                })
                .collect();
            let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("batch{batch}"), format!("seq{seq}")),
                &refs,
                |b, refs| b.iter(|| model.logits(refs).expect("forward")),
            );
        }
    }
    group.finish();
}

/// A batch of 32 rows of mixed lengths (8 to 64 tokens, spread like SST-2 sentences) in the
/// padded and the packed layout.
fn mixed_lengths(c: &mut Criterion) {
    for mode in ["f32", "bf16", "int8"] {
        mixed_lengths_mode(c, mode);
    }
}

fn mixed_lengths_mode(c: &mut Criterion, mode: &str) {
    let model = model(mode);
    let rows: Vec<Vec<u32>> = (0..32usize)
        .map(|b| {
            let len = 8 + (b * 37) % 57;
            (0..len)
                .map(|t| 1000 + ((b * 131 + t * 17) % 20000) as u32)
                .collect()
        })
        .collect();
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group(format!("distilbert_base_mixed_lengths_cpu_{mode}"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows.len() as u64));
    for layout in [BatchLayout::Padded, BatchLayout::Packed] {
        group.bench_with_input(
            BenchmarkId::new("batch32", format!("{layout:?}")),
            &refs,
            |b, refs| b.iter(|| model.logits_in(refs, layout).expect("forward")),
        );
    }
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::forward, super::mixed_lengths);
}
criterion_main!(harness::benches);

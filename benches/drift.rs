//! The drift monitor's cost per request in steady state (reference frozen, window full,
//! an evaluation every 100 requests included), with and without the embedding signal.
//!
//! `cargo bench --bench drift`; results are recorded in `benches/README.md`. The allocation
//! count (zero per request) is a test: `tests/drift_alloc.rs`.

use clinfer::batcher::prometheus_client::registry::Registry;
use clinfer::drift::{phi_bit, ModelShape, Observation};
use clinfer::phi::Kind;
use clinfer::{DriftConfig, DriftMonitor};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};

fn observation(i: u64, emb: Option<&[f32]>) -> Observation<'_> {
    let x = ((i.wrapping_mul(2_654_435_761) % 1000) as f32) / 1000.0;
    Observation {
        label_id: usize::from(x > 0.4),
        score: 0.5 + x / 2.0,
        tokens: 3 + (x * 120.0) as usize,
        truncated: i.is_multiple_of(97),
        unk_tokens: usize::from(i.is_multiple_of(13)),
        phi_kinds: if i.is_multiple_of(7) {
            phi_bit(Kind::Name)
        } else {
            0
        },
        embedding: emb,
    }
}

fn observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("drift_observe");
    group.throughput(Throughput::Elements(1));
    // 0: no pooled vector; 384: the demo and teacher models; 768: distilbert-base
    for dim in [0usize, 384, 768] {
        let shape = ModelShape {
            labels: vec!["NEGATIVE".into(), "POSITIVE".into()],
            max_length: 512,
            embedding_dim: dim,
            scrubbed: true,
        };
        let mut registry = Registry::default();
        let monitor =
            DriftMonitor::new(DriftConfig::default(), shape, Some(&mut registry)).expect("valid");
        let emb: Vec<f32> = (0..dim).map(|d| (d as f32 * 0.37).sin()).collect();
        let emb = (dim > 0).then_some(emb.as_slice());
        let mut i = 0u64;
        for _ in 0..5000 {
            monitor.observe(&observation(i, emb));
            i += 1;
        }
        group.bench_function(
            BenchmarkId::from_parameter(format!("embedding_dim={dim}")),
            |b| {
                b.iter(|| {
                    monitor.observe(&observation(i, emb));
                    i += 1;
                });
            },
        );
    }
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::observe);
}
criterion_main!(harness::benches);

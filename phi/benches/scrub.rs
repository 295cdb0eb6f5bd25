//! Throughput of `analyze` and `redact` on synthetic clinical prose and PHI-dense notes, and
//! scrubber build time.
//!
//! `cargo bench -p clinfer-phi --bench scrub`
// criterion's macros generate undocumented items
#![allow(missing_docs)]

#[path = "../tests/support/synth.rs"]
mod synth;

use std::hint::black_box;

use clinfer_phi::{Operators, Scrubber};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let scrubber = Scrubber::builder()
        .build()
        .expect("default scrubber builds");
    let notes = synth::notes(42, 200);
    let one = notes[0].text.clone();
    let big: String = notes
        .iter()
        .map(|n| n.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
    let total: usize = texts.iter().map(|t| t.len()).sum();

    let prose_notes = synth::prose_notes(7, 100);
    let prose: String = prose_notes
        .iter()
        .map(|n| n.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    let prose_one = prose_notes[0].text.clone();

    // clinical prose: narrative discharge summaries, about one identifier per 250 bytes
    let mut g = c.benchmark_group("prose");
    g.throughput(Throughput::Bytes(prose_one.len() as u64));
    g.bench_function(BenchmarkId::new("one_note", prose_one.len()), |b| {
        b.iter(|| scrubber.analyze(black_box(&prose_one)).expect("small"))
    });
    g.throughput(Throughput::Bytes(prose.len() as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("100_notes_one_text", prose.len()), |b| {
        b.iter(|| scrubber.analyze(black_box(&prose)).expect("small"))
    });
    g.finish();

    // PHI-dense templated notes (headers, vitals, identifiers)
    let mut g = c.benchmark_group("analyze");
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function(BenchmarkId::new("one_note", one.len()), |b| {
        b.iter(|| scrubber.analyze(black_box(&one)).expect("small"))
    });
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("200_notes_one_text", big.len()), |b| {
        b.iter(|| scrubber.analyze(black_box(&big)).expect("small"))
    });
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function(BenchmarkId::new("200_notes_serial", total), |b| {
        b.iter(|| {
            for t in &texts {
                black_box(scrubber.analyze(t).expect("small"));
            }
        })
    });
    g.bench_function(BenchmarkId::new("200_notes_batch_rayon", total), |b| {
        b.iter(|| black_box(scrubber.analyze_batch(&texts)))
    });
    g.finish();

    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(one.len() as u64));
    let ops = Operators::tag();
    g.bench_function("one_note_tag", |b| {
        b.iter(|| scrubber.redact(black_box(&one), &ops).expect("small"))
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("scrubber_build", |b| {
        b.iter(|| Scrubber::builder().build().expect("builds"))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench
}
criterion_main!(benches);

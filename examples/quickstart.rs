//! The quickstart: de-identify a handful of synthetic clinical notes and classify them through
//! the Pipeline (PHI scrub → tokenize → dynamic batcher → DistilBERT), all in this process.
//!
//! ```text
//! cargo run --release --example quickstart                 # the bundled demo model
//! cargo run --release --example quickstart -- --model DIR  # any DistilBERT classifier directory
//! ```
//!
//! The bundled model (`models/clinfer-demo-sst2`) is a small *sentiment* model distilled on
//! SST-2 movie reviews: it shows the mechanics, not a clinical judgement.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use clinfer::core::{DTypeSpec, DeviceSpec};
use clinfer::{ClassifyOptions, Pipeline};

/// Synthetic notes: every name, date, number and place below is invented.
const NOTES: [&str; 6] = [
    "Pt Maria Gonzalez (MRN 4481723) seen by Dr. Okafor on 03/14/2024. She says the new \
     physical therapy is wonderful and she feels stronger every day.",
    "Called patient at (617) 555-0143 re: missed appointment. Pt's husband John reports the \
     wait at Springfield General Hospital was awful and the staff were rude.",
    "Discharge summary 2023-11-02: Mr. Chen, 67 y/o, tolerated the procedure well. Family \
     grateful for the excellent, attentive care.",
    "Follow-up email to r.patel@example.org: patient frustrated, describes the billing \
     process as a confusing, exhausting mess.",
    "RN note, 12 Elm Street, Boston MA 02118: pleasant visit, patient cheerful and engaged.",
    "SSN 078-05-1120 on file. Pt states the medication makes her miserable and she wants to stop.",
];

#[derive(Parser, Debug)]
#[command(about = "De-identify and classify synthetic clinical notes with clinfer's Pipeline")]
struct Args {
    /// A Hugging Face DistilBERT sequence-classification directory.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/models/clinfer-demo-sst2"))]
    model: PathBuf,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Precision mode: auto, f32, f16, bf16 or int8.
    #[arg(long, default_value = "auto")]
    dtype: DTypeSpec,
    /// Send the notes without de-identifying them first.
    #[arg(long)]
    no_scrub: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> clinfer::Result<()> {
    let loaded = Instant::now();
    let pipeline = Pipeline::builder()
        .model_dir(&args.model)
        .device(args.device)
        .dtype(args.dtype)
        .scrub(!args.no_scrub)
        .max_batch_size(8)
        .max_wait(Duration::from_millis(5))
        .build()?;
    let classifier = pipeline.classifier();
    println!(
        "loaded {} in {:.0} ms ({} on {:?}, linear layers by {})\n",
        args.model.display(),
        loaded.elapsed().as_secs_f64() * 1e3,
        classifier.mode(),
        classifier.device(),
        classifier.kernel()
    );
    // All notes are submitted at once, so the batcher merges them into few forward passes.
    let started = Instant::now();
    let results = pipeline.classify_many_blocking(&NOTES, ClassifyOptions::default())?;
    let wall = started.elapsed();
    for (i, r) in results.iter().enumerate() {
        println!("note {}: {} ({:.3})", i + 1, r.label, r.score);
        if let Some(redacted) = &r.redacted {
            println!("  redacted: {redacted}");
        }
        if !r.phi_counts.is_empty() {
            println!("  phi: {:?}", r.phi_counts);
        }
        println!(
            "  timings: scrub {:.2} ms, tokenize {:.2} ms, queue {:.2} ms, compute {:.2} ms, total {:.2} ms",
            ms(r.timings.scrub),
            ms(r.timings.tokenize),
            ms(r.timings.queue),
            ms(r.timings.compute),
            ms(r.timings.total)
        );
    }
    println!("\n{} notes in {:.1} ms", results.len(), ms(wall));
    pipeline.shutdown_blocking(Duration::from_secs(2));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

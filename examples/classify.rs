//! Classify texts from stdin, one JSON line out per input.
//!
//! ```text
//! cargo run --release --example classify -- --model models/clinfer-demo-sst2 < texts.txt
//! printf '{"text": "a fine film"}\n' | cargo run --release --example classify -- --jsonl
//! ```
//!
//! Input: one text per line, or with `--jsonl` one JSON object `{"text": ...}` per line.
//! Output: one line per input, in order: `{"label": ..., "score": ..., "logits": [...]}`.
//! Errors go to stderr and the exit status is non-zero.

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use clinfer::core::{Classifier, DeviceSpec, Truncation};

#[derive(Parser, Debug)]
#[command(about = "Classify texts from stdin with a DistilBERT checkpoint")]
struct Args {
    /// Model directory (or, with the `hub` feature, a Hugging Face Hub id).
    #[arg(long, default_value = "models/clinfer-demo-sst2")]
    model: String,
    /// Hub revision (with the `hub` feature).
    #[arg(long)]
    revision: Option<String>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Longest input in tokens (default: the model's limit).
    #[arg(long)]
    max_length: Option<usize>,
    /// Fail on over-long inputs instead of truncating them.
    #[arg(long)]
    strict: bool,
    /// Read JSON lines `{"text": ...}` instead of plain lines.
    #[arg(long)]
    jsonl: bool,
}

#[derive(serde::Deserialize)]
struct Line {
    text: String,
}

#[derive(serde::Serialize)]
struct Output<'a> {
    label: &'a str,
    score: f32,
    logits: &'a [f32],
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn build(args: &Args) -> Result<Classifier, String> {
    let mut builder = Classifier::builder()
        .device(args.device)
        .batch_size(args.batch_size)
        .truncation(if args.strict {
            Truncation::Strict
        } else {
            Truncation::Truncate
        });
    if let Some(n) = args.max_length {
        builder = builder.max_length(n);
    }
    let is_dir = std::path::Path::new(&args.model).is_dir();
    #[cfg(feature = "hub")]
    if !is_dir {
        builder = builder.hub(&args.model, args.revision.clone());
    }
    #[cfg(not(feature = "hub"))]
    if !is_dir {
        let _ = &args.revision;
        return Err(format!(
            "model directory {:?} not found (hub ids need the `hub` feature)",
            args.model
        ));
    }
    if is_dir {
        builder = builder.model_dir(&args.model);
    }
    builder.build().map_err(|e| e.to_string())
}

fn run(args: Args) -> Result<(), String> {
    let classifier = build(&args)?;
    let mut texts = Vec::new();
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if args.jsonl {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: Line = serde_json::from_str(&line)
                .map_err(|e| format!("line {}: expected {{\"text\": ...}}: {e}", number + 1))?;
            texts.push(parsed.text);
        } else {
            texts.push(line);
        }
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let predictions = classifier.predict(&refs).map_err(|e| e.to_string())?;
    for p in &predictions {
        let line = serde_json::to_string(&Output {
            label: &p.label,
            score: p.score,
            logits: &p.logits,
        })
        .map_err(|e| e.to_string())?;
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

//! Classify texts from stdin, one JSON line out per input.
//!
//! ```text
//! cargo run --release --example classify -- --model models/clinfer-demo-sst2 < texts.txt
//! printf '{"text": "a fine film"}\n' | cargo run --release --example classify -- --jsonl
//! ```
//!
//! Input: one text per line, or with `--jsonl` one JSON object `{"text": ...}` per line;
//! blank lines are skipped. Output: one line per input, in order: `{"label": ..., "score":
//! ..., "logits": [...]}`, or for an input that cannot be classified `{"line": N, "error":
//! {"kind": ..., "message": ...}}` in its place (N counts input lines from 1, blank lines
//! included). Such errors are also reported on stderr, the run goes on, and the exit status
//! is non-zero at the end.

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

/// One input line: its number (from 1) and its text, or why it cannot be classified.
type Input = (usize, Result<String, clinfer::Error>);

/// Texts classified per model call (and lines held in memory at once).
const CHUNK: usize = 256;

fn parse_line(line: &str, jsonl: bool) -> Result<String, clinfer::Error> {
    if !jsonl {
        return Ok(line.to_owned());
    }
    // serde_json's messages can quote the input: say what is expected instead
    serde_json::from_str::<Line>(line)
        .map(|l| l.text)
        .map_err(|e| {
            clinfer::Error::invalid_input(format!(
                r#"expected a JSON object {{"text": "..."}} ({:?} error at column {})"#,
                e.classify(),
                e.column()
            ))
        })
}

fn run(args: Args) -> Result<(), String> {
    let classifier = build(&args)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut chunk: Vec<Input> = Vec::with_capacity(CHUNK);
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("reading stdin at line {number}: {e}"))?;
        if line.trim().is_empty() {
            continue; // blank lines are skipped in both modes
        }
        chunk.push((number, parse_line(&line, args.jsonl)));
        if chunk.len() == CHUNK {
            failed += emit(&classifier, &mut chunk, &mut out)?;
        }
    }
    failed += emit(&classifier, &mut chunk, &mut out)?;
    out.flush().map_err(|e| e.to_string())?;
    if failed > 0 {
        return Err(format!("{failed} input line(s) could not be classified"));
    }
    Ok(())
}

/// Classifies the chunk's valid texts and writes one line per input, in order: the
/// prediction, or `{"line": N, "error": {"kind", "message"}}` (also reported on stderr).
/// Returns the number of failed inputs.
fn emit(
    classifier: &Classifier,
    chunk: &mut Vec<Input>,
    out: &mut impl Write,
) -> Result<usize, String> {
    let texts: Vec<&str> = chunk
        .iter()
        .filter_map(|(_, t)| t.as_ref().ok().map(String::as_str))
        .collect();
    // one call for the chunk; if an input fails it, classify one by one to find which
    type Outcome = Result<clinfer::core::Prediction, clinfer::Error>;
    let mut predictions: Vec<Outcome> = match classifier.predict(&texts) {
        Ok(all) => all.into_iter().map(Ok).collect::<Vec<Outcome>>(),
        Err(_) => texts
            .iter()
            .map(|t| {
                classifier
                    .predict(&[*t])
                    .map_err(clinfer::Error::from)
                    .and_then(|mut v| {
                        v.pop()
                            .ok_or_else(|| clinfer::Error::internal("no prediction"))
                    })
            })
            .collect(),
    };
    predictions.reverse();
    let mut failed = 0;
    for (number, text) in chunk.drain(..) {
        let result = match text {
            Ok(_) => predictions
                .pop()
                .unwrap_or_else(|| Err(clinfer::Error::internal("missing prediction"))),
            Err(e) => Err(e),
        };
        let line = match result {
            Ok(p) => serde_json::to_string(&Output {
                label: &p.label,
                score: p.score,
                logits: &p.logits,
            }),
            Err(e) => {
                failed += 1;
                // the core numbers inputs within its own call: the line number is what counts
                let message = match &e {
                    clinfer::Error::InvalidInput { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                eprintln!("line {number}: {message}");
                serde_json::to_string(&serde_json::json!({
                    "line": number,
                    "error": {"kind": e.kind().as_str(), "message": message},
                }))
            }
        }
        .map_err(|e| e.to_string())?;
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Classifier {
        Classifier::builder()
            .model_dir(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/models/clinfer-demo-sst2"
            ))
            .truncation(Truncation::Strict)
            .max_length(16)
            .build()
            .expect("the bundled demo model loads")
    }

    #[test]
    fn bad_lines_get_an_error_line_in_place_and_the_run_goes_on() {
        let c = demo();
        let long = "word ".repeat(100);
        let mut chunk: Vec<Input> = vec![
            (1, parse_line(r#"{"text": "a fine film"}"#, true)),
            (3, parse_line(r#"{"txt": "Canarysmith"}"#, true)),
            (4, parse_line(&format!(r#"{{"text": "{long}"}}"#), true)),
            (5, parse_line(r#"{"text": "a dull film"}"#, true)),
        ];
        let mut out = Vec::new();
        let failed = emit(&c, &mut chunk, &mut out).expect("writes");
        assert_eq!(failed, 2);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines.len(), 4, "one line per input");
        assert!(lines[0]["label"].is_string());
        assert_eq!(lines[1]["line"], 3);
        assert_eq!(lines[1]["error"]["kind"], "invalid_input");
        assert!(!lines[1].to_string().contains("Canarysmith"));
        assert_eq!(lines[2]["line"], 4, "counted from 1, like the JSON errors");
        let message = lines[2]["error"]["message"].as_str().expect("message");
        assert!(message.contains("max_length"), "{message}");
        assert!(!message.contains("input 0"), "{message}");
        assert!(lines[3]["label"].is_string(), "the run went on");
        assert!(chunk.is_empty());
    }

    #[test]
    fn plain_lines_are_texts() {
        assert_eq!(
            parse_line("  a fine film ", false).expect("plain"),
            "  a fine film "
        );
        assert!(parse_line("a fine film", true).is_err());
    }
}

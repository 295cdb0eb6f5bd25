//! De-identify JSON lines from stdin.
//!
//! ```sh
//! echo '{"id": 1, "text": "Seen by Dr. Alvarez on 03/14/2023."}' \
//!   | cargo run --release --example deidentify
//! {"id":1,"spans":[{"start":12,"end":19,"kind":"NAME"},{"start":23,"end":33,"kind":"DATE"}],"text":"Seen by Dr. [NAME] on [DATE]."}
//! ```
//!
//! Contract (other tools rely on it):
//! - input: one JSON object per line, `{"id": <any JSON>, "text": "<string>"}`; blank lines
//!   are ignored;
//! - output: one JSON line per valid input, in input order:
//!   `{"id": <id>, "spans": [{"start": s, "end": e, "kind": "NAME"}], "text": "<redacted>"}`
//!   where `start`/`end` are Unicode code-point offsets into the input text (end exclusive),
//!   `kind` is one of `clinfer::phi::Kind`'s names and the text has `[KIND]` tags;
//! - a bad line (not JSON, no string `text`, or larger than the 10 MiB limit) produces no
//!   output line; its line number and the error class (never its content) go to stderr,
//!   processing continues, and the process exits with status 2 at the end;
//! - lines are processed in parallel in chunks of 256 (rayon), output order is kept.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use clinfer::phi::{char_offsets, Operators, Scrubber};
use serde::Serialize;
use serde_json::Value;

const CHUNK: usize = 256;

#[derive(Serialize)]
struct OutSpan {
    start: usize,
    end: usize,
    kind: &'static str,
}

#[derive(Serialize)]
struct Output<'a> {
    id: &'a Value,
    spans: Vec<OutSpan>,
    text: &'a str,
}

struct Input {
    line_no: usize,
    id: Value,
    text: String,
}

fn parse(line_no: usize, line: &str) -> Result<Input, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json messages can quote the input: report the class and position only
        format!(
            "line {line_no}: invalid JSON ({:?} error at column {})",
            e.classify(),
            e.column()
        )
    })?;
    let Value::Object(mut obj) = v else {
        return Err(format!("line {line_no}: expected a JSON object"));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    match obj.remove("text") {
        Some(Value::String(text)) => Ok(Input { line_no, id, text }),
        _ => Err(format!("line {line_no}: missing string field \"text\"")),
    }
}

fn flush(
    scrubber: &Scrubber,
    ops: &Operators,
    batch: &mut Vec<Input>,
    out: &mut impl Write,
    bad: &mut usize,
) -> io::Result<()> {
    let texts: Vec<&str> = batch.iter().map(|i| i.text.as_str()).collect();
    let results = scrubber.redact_batch(&texts, ops);
    for (input, result) in batch.iter().zip(results) {
        match result {
            Ok(r) => {
                let spans = r
                    .spans
                    .iter()
                    .zip(char_offsets(&input.text, &r.spans))
                    .map(|(s, c)| OutSpan {
                        start: c.start,
                        end: c.end,
                        kind: s.kind.as_str(),
                    })
                    .collect();
                let line = Output {
                    id: &input.id,
                    spans,
                    text: &r.text,
                };
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                *bad += 1;
                eprintln!("line {}: {e}", input.line_no);
            }
        }
    }
    batch.clear();
    Ok(())
}

fn main() -> ExitCode {
    let scrubber = match Scrubber::builder().build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot build the scrubber: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ops = Operators::tag();
    let stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut batch = Vec::with_capacity(CHUNK);
    let mut bad = 0usize;
    let run = (|| -> io::Result<()> {
        for (i, line) in stdin.lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    bad += 1;
                    eprintln!("line {}: not valid UTF-8", i + 1);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if line.trim().is_empty() {
                continue;
            }
            match parse(i + 1, &line) {
                Ok(input) => batch.push(input),
                Err(msg) => {
                    bad += 1;
                    eprintln!("{msg}");
                }
            }
            if batch.len() >= CHUNK {
                flush(&scrubber, &ops, &mut batch, &mut out, &mut bad)?;
            }
        }
        flush(&scrubber, &ops, &mut batch, &mut out, &mut bad)?;
        out.flush()
    })();
    if let Err(e) = run {
        eprintln!("I/O error: {e}");
        return ExitCode::FAILURE;
    }
    if bad > 0 {
        eprintln!("{bad} bad line(s) skipped");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

//! Scores the scrubber on the ASQ-PHI dev set, the overlapping types of presidio's synthetic
//! set, the crate's own synthetic clinical notes, the PhysioNet deid dev notes (beside
//! deid.pl's output on them) and, for false positives, the SST-2 dev sentences.
//!
//! Run from the workspace root: `cargo run --release -p clinfer-phi --example evaluate`,
//! optionally with set names (`asq`, `presidio`, `synth`, `physionet_dev`, `sst2`; all when
//! none is given), `--verbose` / `-v` for misses and false positives (these print data
//! text: keep the output out of the repository) and `--bare-years` to score a scrubber built
//! with `bare_years(true)` (the PhysioNet `DateYear` row then shows how many years it finds).
//! Matching is by span overlap: a gold span is recalled when any predicted span overlaps it
//! ("any" recall; "typed" recall also needs a compatible kind); a predicted span is correct
//! when it overlaps a gold span. Predicted spans over gold spans of types outside the
//! comparison (presidio's TITLE, NRP, AGE) count neither way. Hard negatives are ASQ queries
//! without PHI; their share with any predicted span is reported.
//! `physionet_dev` is scored by `tests/support/physionet.rs` exactly as
//! `../shared/tools/score_physionet.py score` scores `examples/deidentify`'s output (code-point
//! offsets, gold `DateYear` not counted in recall, no-PHI notes flagged); its three scorer
//! lines are printed as the script prints them, for ours and for deid.pl (`deidpl.phi`).
//! `sst2` reports the share of SST-2 dev sentences (movie reviews, no PHI) with any span.
//! The data is read from `../shared/data` (relative to the workspace root); a set that is
//! missing is skipped with a message.

#[path = "../tests/support/physionet.rs"]
mod physionet;
#[path = "../tests/support/sst2.rs"]
mod sst2;
#[path = "../tests/support/synth.rs"]
mod synth;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clinfer_phi::{Kind, Scrubber, Span};

#[derive(Clone)]
struct GoldSpan {
    start: usize,
    end: usize,
    label: String,
    kinds: Vec<Kind>,
}

#[derive(Default)]
struct Tally {
    gold: usize,
    hit_any: usize,
    hit_typed: usize,
}

#[derive(Default)]
struct Score {
    by_label: BTreeMap<String, Tally>,
    pred_by_kind: BTreeMap<Kind, (usize, usize)>, // (correct, total)
    docs: usize,
    negatives: usize,
    negatives_flagged: usize,
    bytes: usize,
    misses: Vec<String>,
    false_pos: Vec<String>,
}

impl Score {
    fn add(&mut self, text: &str, gold: &[GoldSpan], pred: &[Span], ignore: &[(usize, usize)]) {
        self.docs += 1;
        self.bytes += text.len();
        if gold.is_empty() && ignore.is_empty() {
            self.negatives += 1;
            if !pred.is_empty() {
                self.negatives_flagged += 1;
            }
        }
        for g in gold {
            let t = self.by_label.entry(g.label.clone()).or_default();
            t.gold += 1;
            let over: Vec<&Span> = pred
                .iter()
                .filter(|p| p.start < g.end && g.start < p.end)
                .collect();
            if !over.is_empty() {
                t.hit_any += 1;
            } else if self.misses.len() < 4000 {
                self.misses.push(format!(
                    "{}: {:?} in {:?}",
                    g.label,
                    &text[g.start..g.end],
                    context(text, g.start, g.end)
                ));
            }
            if over.iter().any(|p| g.kinds.contains(&p.kind)) {
                t.hit_typed += 1;
            }
        }
        for p in pred {
            if ignore.iter().any(|&(s, e)| p.start < e && s < p.end)
                && !gold.iter().any(|g| p.start < g.end && g.start < p.end)
            {
                continue;
            }
            let ok = gold.iter().any(|g| p.start < g.end && g.start < p.end);
            let e = self.pred_by_kind.entry(p.kind).or_default();
            e.1 += 1;
            if ok {
                e.0 += 1;
            } else if self.false_pos.len() < 4000 {
                self.false_pos.push(format!(
                    "{}: {:?} in {:?}",
                    p.kind,
                    &text[p.start..p.end],
                    context(text, p.start, p.end)
                ));
            }
        }
    }

    fn print(&self, title: &str) {
        let (g, h, ht): (usize, usize, usize) = self.by_label.values().fold((0, 0, 0), |a, t| {
            (a.0 + t.gold, a.1 + t.hit_any, a.2 + t.hit_typed)
        });
        let (pc, pt) = self
            .pred_by_kind
            .values()
            .fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        let (r, p) = (ratio(h, g), ratio(pc, pt));
        println!("\n### {title}\n");
        println!(
            "{} documents, {} gold spans, {} predicted spans\n",
            self.docs, g, pt
        );
        println!("| gold type | n | recall (any kind) | recall (typed) |");
        println!("|---|---:|---:|---:|");
        for (l, t) in &self.by_label {
            println!(
                "| {l} | {} | {:.3} | {:.3} |",
                t.gold,
                ratio(t.hit_any, t.gold),
                ratio(t.hit_typed, t.gold)
            );
        }
        println!("| **overall** | {g} | **{r:.3}** | {:.3} |", ratio(ht, g));
        println!("\n| predicted kind | n | precision |");
        println!("|---|---:|---:|");
        for (k, (c, t)) in &self.pred_by_kind {
            println!("| {k} | {t} | {:.3} |", ratio(*c, *t));
        }
        println!(
            "\n**overall: recall {r:.3}, precision {p:.3}, F2 {:.3}**",
            f2(p, r)
        );
        if self.negatives > 0 {
            println!(
                "hard negatives flagged: {}/{} = {:.1}%",
                self.negatives_flagged,
                self.negatives,
                100.0 * ratio(self.negatives_flagged, self.negatives)
            );
        }
    }
}

fn context(text: &str, s: usize, e: usize) -> String {
    let mut a = s.saturating_sub(40);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (e + 40).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    text[a..b].replace('\n', " ")
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

fn f2(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        5.0 * p * r / (4.0 * p + r)
    }
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/phi")
}

fn asq_kinds(t: &str) -> Vec<Kind> {
    use Kind::*;
    match t {
        "NAME" => vec![Name],
        "GEOGRAPHIC_LOCATION" => vec![Location, Organization, Address, Zip],
        "DATE" => vec![Date],
        "MEDICAL_RECORD_NUMBER" => vec![Mrn],
        "HEALTH_PLAN_BENEFICIARY_NUMBER" => vec![HealthPlan],
        "PHONE_NUMBER" => vec![Phone],
        "FAX_NUMBER" => vec![Fax],
        "SOCIAL_SECURITY_NUMBER" => vec![Ssn],
        "EMAIL_ADDRESS" => vec![Email],
        "ACCOUNT_NUMBER" => vec![Account],
        "CERTIFICATE_LICENSE_NUMBER" => vec![License],
        "IP_ADDRESS" => vec![Ip],
        _ => vec![Id, Mrn, Account, HealthPlan, License, Device, Vehicle, Ssn],
    }
}

fn asq(s: &Scrubber, verbose: bool) {
    let path = data_dir().join("asq_phi_dev.txt");
    let Ok(raw) = std::fs::read_to_string(&path) else {
        println!("skipping ASQ-PHI: {} not found", path.display());
        return;
    };
    let mut score = Score::default();
    let mut unlocated = 0;
    let mut elapsed = 0.0;
    for block in raw.split("===QUERY===").skip(1) {
        let Some((q, tags)) = block.split_once("===PHI_TAGS===") else {
            continue;
        };
        let q = q.trim();
        let mut gold = Vec::new();
        for line in tags.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("ASQ tag lines are JSON");
            let (t, val) = (
                v["identifier_type"].as_str().unwrap_or(""),
                v["value"].as_str().unwrap_or(""),
            );
            match q.find(val) {
                Some(i) if !val.is_empty() => gold.push(GoldSpan {
                    start: i,
                    end: i + val.len(),
                    label: t.to_owned(),
                    kinds: asq_kinds(t),
                }),
                _ => unlocated += 1,
            }
        }
        let t0 = Instant::now();
        let pred = s.analyze(q).expect("dev queries are small");
        elapsed += t0.elapsed().as_secs_f64();
        score.add(q, &gold, &pred, &[]);
    }
    // a second, warm pass: the regex engines build their lazy-DFA states on first use
    let queries: Vec<&str> = raw
        .split("===QUERY===")
        .skip(1)
        .filter_map(|b| b.split_once("===PHI_TAGS===").map(|(q, _)| q.trim()))
        .collect();
    let t0 = Instant::now();
    for q in &queries {
        std::hint::black_box(s.analyze(q).expect("dev queries are small"));
    }
    let warm = t0.elapsed().as_secs_f64();
    score.print("ASQ-PHI dev (asq_phi_dev.txt)");
    println!(
        "({unlocated} tag(s) not found in their query by string match were skipped; analyze, one thread: first pass {:.0} KB/s, warm pass {:.0} KB/s)",
        score.bytes as f64 / 1024.0 / elapsed,
        score.bytes as f64 / 1024.0 / warm
    );
    dump(verbose, &score);
}

fn presidio_kinds(t: &str) -> Option<Vec<Kind>> {
    use Kind::*;
    Some(match t {
        "PERSON" => vec![Name],
        "STREET_ADDRESS" => vec![Address, Location, Zip],
        "GPE" => vec![Location, Address],
        "ORGANIZATION" => vec![Organization],
        "DATE_TIME" => vec![Date],
        "PHONE_NUMBER" => vec![Phone, Fax],
        "EMAIL_ADDRESS" => vec![Email],
        "US_SSN" => vec![Ssn],
        "IP_ADDRESS" => vec![Ip],
        "CREDIT_CARD" | "IBAN_CODE" => vec![Account],
        "ZIP_CODE" => vec![Zip],
        "DOMAIN_NAME" => vec![Url],
        "US_DRIVER_LICENSE" => vec![License],
        _ => return None,
    })
}

fn char_to_byte(text: &str, c: usize) -> usize {
    text.char_indices().nth(c).map_or(text.len(), |(b, _)| b)
}

fn presidio(s: &Scrubber, verbose: bool) {
    let path = data_dir().join("presidio_synth_v2.json");
    let Ok(raw) = std::fs::read_to_string(&path) else {
        println!("skipping presidio: {} not found", path.display());
        return;
    };
    let docs: Vec<serde_json::Value> = serde_json::from_str(&raw).expect("presidio file is JSON");
    let mut score = Score::default();
    for d in &docs {
        let text = d["full_text"].as_str().unwrap_or("");
        let mut gold = Vec::new();
        let mut ignore = Vec::new();
        for sp in d["spans"].as_array().into_iter().flatten() {
            let t = sp["entity_type"].as_str().unwrap_or("");
            let a = char_to_byte(text, sp["start_position"].as_u64().unwrap_or(0) as usize);
            let b = char_to_byte(text, sp["end_position"].as_u64().unwrap_or(0) as usize);
            match presidio_kinds(t) {
                Some(kinds) => gold.push(GoldSpan {
                    start: a,
                    end: b,
                    label: t.to_owned(),
                    kinds,
                }),
                None => ignore.push((a, b)),
            }
        }
        let pred = s.analyze(text).expect("sentences are small");
        score.add(text, &gold, &pred, &ignore);
    }
    score.print("presidio-research synthetic v2 (overlapping types)");
    dump(verbose, &score);
}

fn synthetic(s: &Scrubber, verbose: bool) {
    let notes = synth::notes(1_000_000, 500);
    let mut score = Score::default();
    for n in &notes {
        let gold: Vec<GoldSpan> = n
            .gold
            .iter()
            .map(|g| GoldSpan {
                start: g.start,
                end: g.end,
                label: g.kind.to_string(),
                kinds: vec![g.kind],
            })
            .collect();
        let pred = s.analyze(&n.text).expect("notes are small");
        score.add(&n.text, &gold, &pred, &[]);
    }
    score.print("synthetic clinical notes (tests/support/synth.rs, 500 notes, seeds 1,000,000..)");
    dump(verbose, &score);
}

fn dump(verbose: bool, score: &Score) {
    if verbose {
        println!("\nmisses:");
        for m in &score.misses {
            println!("  {m}");
        }
        println!("\nfalse positives:");
        for m in &score.false_pos {
            println!("  {m}");
        }
    }
}

/// `found/total (recall)` of one gold kind, or `-` when the report lacks the kind.
fn kind_cell(r: &physionet::Report, kind: &str) -> String {
    r.kind(kind).map_or_else(
        || "-".to_owned(),
        |k| format!("{}/{} ({:.3})", k.found, k.total, r.kind_recall(kind)),
    )
}

fn physionet_dev(s: &Scrubber, verbose: bool) {
    let dir = physionet::default_dir();
    let notes = match physionet::load_notes(&dir) {
        Ok(n) => n,
        Err(e) => {
            println!("skipping PhysioNet dev: {e}");
            return;
        }
    };
    let t0 = Instant::now();
    let outs = physionet::predict(s, &notes).expect("dev notes are small");
    let elapsed = t0.elapsed().as_secs_f64();
    let ours = physionet::score(&notes, &outs).expect("our output names the set's notes");
    let deidpl = physionet::load_deidpl(&dir).and_then(|o| physionet::score(&notes, &o));
    let bytes: usize = notes.iter().map(|n| n.text.len()).sum();
    println!("\n### PhysioNet deid dev (physionet_dev, score_physionet.py rules)\n");
    println!(
        "{} notes, {} gold spans ({} counted: all but {}), {} notes without PHI\n",
        notes.len(),
        notes.iter().map(|n| n.gold.len()).sum::<usize>(),
        ours.total,
        physionet::UNCOUNTED_KIND,
        ours.negatives
    );
    let d = deidpl.as_ref().ok();
    let cell = |f: &dyn Fn(&physionet::Report) -> String| d.map_or_else(|| "-".to_owned(), f);
    println!("| | clinfer-phi | deid.pl |");
    println!("|---|---:|---:|");
    println!(
        "| recall (counted) | {}/{} = **{:.4}** | {} |",
        ours.found,
        ours.total,
        ours.recall(),
        cell(&|r| format!("{}/{} = {:.4}", r.found, r.total, r.recall()))
    );
    println!(
        "| precision | {}/{} = **{:.4}** | {} |",
        ours.correct_pred,
        ours.predicted,
        ours.precision(),
        cell(&|r| format!("{}/{} = {:.4}", r.correct_pred, r.predicted, r.precision()))
    );
    println!(
        "| no-PHI notes flagged | {}/{} = **{:.4}** | {} |",
        ours.negatives_flagged,
        ours.negatives,
        ours.no_phi_flagged(),
        cell(&|r| format!(
            "{}/{} = {:.4}",
            r.negatives_flagged,
            r.negatives,
            r.no_phi_flagged()
        ))
    );
    for k in &ours.kinds {
        let note = if k.kind == physionet::UNCOUNTED_KIND {
            " (not counted)"
        } else {
            ""
        };
        println!(
            "| {}{note} | {} | {} |",
            k.kind,
            kind_cell(&ours, &k.kind),
            cell(&|r| kind_cell(r, &k.kind))
        );
    }
    println!(
        "\n(analyze, one thread: {:.0} KB/s)\n",
        bytes as f64 / 1024.0 / elapsed
    );
    println!("score_physionet.py score, ours:\n{}", ours.scorer_lines());
    match &deidpl {
        Ok(r) => println!("score_physionet.py score --deidpl:\n{}", r.scorer_lines()),
        Err(e) => println!("deid.pl not scored: {e}"),
    }
    if verbose {
        println!("misses:");
        for m in &ours.misses {
            let text = &notes[m.note].text;
            let (a, b) = (
                char_to_byte(text, m.gold.start),
                char_to_byte(text, m.gold.end),
            );
            println!(
                "  {} {}: {:?} in {:?}",
                notes[m.note].key,
                m.gold.kind,
                &text[a..b.max(a)],
                context(text, a, b.max(a))
            );
        }
        println!("\nfalse positives (text × count):");
        for (t, n) in &ours.false_positives {
            println!("  {}×{n}", physionet::py_repr(t));
        }
    }
}

fn sst2_dev(s: &Scrubber, verbose: bool) {
    let path = sst2::default_path();
    let sentences = match sst2::load(&path) {
        Ok(v) => v,
        Err(e) => {
            println!("skipping SST-2 dev: {e}");
            return;
        }
    };
    let flagged = sst2::flagged(s, &sentences).expect("sentences are small");
    println!("\n### SST-2 dev (movie reviews, no PHI)\n");
    println!(
        "sentences with any span: {}/{} = {:.4} ({:.2}%)",
        flagged.len(),
        sentences.len(),
        flagged.len() as f64 / sentences.len() as f64,
        100.0 * flagged.len() as f64 / sentences.len() as f64
    );
    if verbose {
        let mut texts: BTreeMap<(String, Kind), usize> = BTreeMap::new();
        println!("\nflagged sentences:");
        for &i in &flagged {
            let text = &sentences[i];
            let spans = s.analyze(text).expect("sentences are small");
            let marks: Vec<String> = spans
                .iter()
                .map(|sp| format!("{}: {:?}", sp.kind, &text[sp.range()]))
                .collect();
            for sp in &spans {
                *texts
                    .entry((text[sp.range()].to_owned(), sp.kind))
                    .or_default() += 1;
            }
            println!("  [{}] in {:?}", marks.join(", "), text);
        }
        let mut top: Vec<_> = texts.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        println!("\ntop flagged texts:");
        for ((t, k), n) in top.iter().take(30) {
            println!("  {k}: {t:?}×{n}");
        }
    }
}

fn main() -> Result<(), clinfer_phi::Error> {
    let verbose = std::env::args().any(|a| a == "--verbose" || a == "-v");
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let bare_years = std::env::args().any(|a| a == "--bare-years");
    let t0 = Instant::now();
    let s = Scrubber::builder().bare_years(bare_years).build()?;
    if bare_years {
        println!("bare years reported (`bare_years(true)`)");
    }
    println!(
        "scrubber built in {:.0} ms (dictionaries included)",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let want = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    if want("asq") {
        asq(&s, verbose);
    }
    if want("presidio") {
        presidio(&s, verbose);
    }
    if want("synth") {
        synthetic(&s, verbose);
    }
    if want("physionet_dev") {
        physionet_dev(&s, verbose);
    }
    if want("sst2") {
        sst2_dev(&s, verbose);
    }
    Ok(())
}

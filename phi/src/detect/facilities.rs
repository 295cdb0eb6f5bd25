//! Hospitals, wards and other facilities in any case: "transferred to qm", "BRISTOW
//! HOSPITAL", "taken to varnell hosp.", and the same facility wherever else it
//! appears in the note. Capitalised organisation names in mixed-case text are found by the
//! regex rules in [`super::places`]; this pass relies on cues and word classes instead of
//! capitalisation, so it also works in ALL CAPS and all-lower-case notes.

use super::names::{not_a_name, Tok};
use super::Env;
use std::sync::OnceLock;

use crate::dict::{FMap, Place, TextWords};
use crate::kind::Kind;
use crate::span::Span;

/// Words that end a facility name: "bristow hospital", "varnell hosp", "X memorial".
const FACILITY_WORDS: &[&str] = &[
    "clinic",
    "general",
    "home",
    "hosp",
    "hospice",
    "hospital",
    "infirmary",
    "manor",
    "memorial",
    "regional",
    "rehab",
    "rehabilitation",
    "vamc",
    "vahc",
    "nh",
    "snf",
    // church-affiliated hospitals: "Linwood Baptist", "ST. JUDE METHODIST"
    "baptist",
    "episcopal",
    "lutheran",
    "methodist",
    "presbyterian",
];

/// Verbs of moving a patient between places; the facility follows "to", "from", "into", "at"
/// or "by": "transferred to", "was sent to", "came into", "screened by".
const TRANSFER_VERBS: &[&str] = &[
    "accepted",
    "admitted",
    "admit",
    "arrival",
    "arrived",
    "came",
    "discharged",
    "medflight",
    "medflighted",
    "presented",
    "referred",
    "screened",
    "sent",
    "taken",
    "trans",
    "transfer",
    "transfered",
    "transferred",
    "transferring",
    "transfers",
    "transported",
    "txd",
    "txed",
    "tx",
    "amb",
    "ambulance",
    "ems",
    "adm",
    "brought",
    "followed",
    "seen",
];

/// Verbs of going anywhere ("went to", "return to"): also rhythms and vent modes follow them
/// ("went into RAF", "returned to PS"), so only a capitalised word in mixed-case text counts.
const MOVE_VERBS: &[&str] = &[
    "go",
    "goes",
    "going",
    "went",
    "return",
    "returned",
    "returning",
];

/// Words of services and departments, which follow transfer cues capitalised without naming a
/// place: "referred to Mental Health", "sent to Physical Therapy".
const SERVICE_WORDS: &[&str] = &[
    "care",
    "counseling",
    "critical",
    "emergency",
    "family",
    "health",
    "intensive",
    "internal",
    "management",
    "medicine",
    "mental",
    "nutrition",
    "occupational",
    "palliative",
    "pharmacy",
    "physical",
    "primary",
    "psychiatry",
    "psychology",
    "respiratory",
    "service",
    "services",
    "social",
    "speech",
    "support",
    "therapy",
    "urgent",
    "wellness",
    "work",
];

/// Prepositions after a transfer verb.
const TRANSFER_PREPS: &[&str] = &["at", "by", "from", "into", "to"];

/// Places inside a hospital and generic destinations: never a facility name on their own.
const NOT_A_FACILITY: &[&str] = &[
    "ac",
    "af",
    "afib",
    "bipap",
    "cpap",
    "cv",
    "ew",
    "imv",
    "iv",
    "po",
    "psv",
    "resp",
    "sc",
    "simv",
    "svt",
    "vt",
    "ultrasound",
    "endoscopy",
    "fluoro",
    "fluoroscopy",
    "angiography",
    "interventional",
    "pulmonary",
    "cardiology",
    "oncology",
    "neurology",
    "triage",
    "neuro",
    "neurosurg",
    "meds",
    "bb",
    "pcu",
    "eval",
    "musc",
    "midnoc",
    "medflight",
    "poss",
    "begin",
    "acute",
    "ambulance",
    "another",
    "anesthesia",
    "angio",
    "bed",
    "bedside",
    "cath",
    "ccu",
    "chair",
    "clinic",
    "commode",
    "csru",
    "ct",
    "cvicu",
    "dialysis",
    "ed",
    "er",
    "echo",
    "ep",
    "floor",
    "gi",
    "hd",
    "her",
    "his",
    "home",
    "hospital",
    "icu",
    "ir",
    "lab",
    "local",
    "micu",
    "mri",
    "nh",
    "nicu",
    "nsg",
    "nursing",
    "or",
    "osh",
    "outside",
    "pacu",
    "picu",
    "radiology",
    "rehab",
    "room",
    "sicu",
    "snf",
    "step",
    "stepdown",
    "surgery",
    "tele",
    "telemetry",
    "their",
    "this",
    "tsicu",
    "unit",
    "us",
    "vicu",
    "ward",
    "xray",
];

/// Adjectives that describe a hospital without naming it: "the local hospital".
const GENERIC: &[&str] = &[
    "another",
    "big",
    "community",
    "different",
    "local",
    "main",
    "nearby",
    "new",
    "old",
    "other",
    "outside",
    "previous",
    "private",
    "same",
    "small",
    "teaching",
    "that",
    "their",
    "this",
    "university",
];

/// Prepositions before a place of residence or origin: "lives in fairhope", "FROM SPOKANE".
const PLACE_PREPS: &[&str] = &["from", "in", "near", "to"];

fn is(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

const C_WORD: u8 = 2;
const C_PREP: u8 = 4;
const C_PLACE_PREP: u8 = 8;
const C_SAINT: u8 = 16;
const C_VERB: u8 = 32;

/// "St." and its kin, before a saint's name in a facility: "TO GO TO ST. MARY".
const SAINTS: &[&str] = &["mt", "saint", "st", "ste"];

/// The word lists that start a rule, as one hashed lookup per token (most tokens are in
/// none of them).
fn class(w: &str) -> u8 {
    static MAP: OnceLock<FMap<&'static str, u8>> = OnceLock::new();
    let m = MAP.get_or_init(|| {
        let mut m: FMap<&'static str, u8> = FMap::default();
        for (list, flag) in [
            (FACILITY_WORDS, C_WORD),
            (TRANSFER_PREPS, C_PREP),
            (PLACE_PREPS, C_PLACE_PREP),
            (SAINTS, C_SAINT),
            (TRANSFER_VERBS, C_VERB),
        ] {
            for w in list {
                *m.entry(w).or_default() |= flag;
            }
        }
        m
    });
    // most tokens are rejected by length and first letter without hashing
    const LETTERS: &[u8] = b"abcdefghimnprstv";
    match w.as_bytes().first() {
        Some(c) if w.len() <= 14 && LETTERS.contains(c) => m.get(w).copied().unwrap_or(0),
        _ => 0,
    }
}

/// Only spaces (or a '.' after an abbreviation, or a '-') between two tokens on one line.
fn joined(text: &str, a: &Tok<'_>, b: &Tok<'_>) -> bool {
    let gap = &text[a.end..b.start];
    let gap = gap.strip_prefix('.').unwrap_or(gap);
    !gap.is_empty() && gap.len() <= 2 && gap.bytes().all(|c| c == b' ' || c == b'-')
}

struct Ctx<'a> {
    env: &'a Env<'a>,
    toks: &'a [Tok<'a>],
    caseless: &'a [bool],
}

impl Ctx<'_> {
    fn common(&self, t: &Tok<'_>) -> bool {
        self.env.dicts.is_word(&t.lower) || self.env.dicts.is_medical(&t.lower)
    }

    /// A word that can be part of a facility's name: unknown to the word lists, a census
    /// name, or a place name; capitalised in mixed-case text.
    fn name_part(&self, k: usize) -> bool {
        let t = &self.toks[k];
        let d = self.env.dicts;
        let l = t.lower.as_ref();
        if l.len() < 2 || not_a_name(l) || is(NOT_A_FACILITY, l) || is(FACILITY_WORDS, l) {
            return false;
        }
        if !self.caseless[k] && !t.cap {
            return false;
        }
        !self.common(t)
            || d.first.contains_key(l)
            || d.last.contains_key(l)
            || d.gaz_map.contains_key(&self.env.text[t.start..t.name_end])
    }

    /// A head word after a transfer cue: an abbreviation ("QM", "qmc") or a word that no
    /// list knows ("quarvell").
    fn cue_head(&self, k: usize) -> bool {
        let t = &self.toks[k];
        let l = t.lower.as_ref();
        if not_a_name(l) || is(NOT_A_FACILITY, l) || is(FACILITY_WORDS, l) {
            return false;
        }
        let abbrev = (2..=5).contains(&l.len()) && (t.upper || self.caseless[k]);
        // modern clinical words the 1934 dictionary lacks: "vecuronium", "ultrasonography"
        let clinical = [
            "ology", "scopy", "graphy", "gram", "ium", "ine", "ide", "ol", "cin", "pril", "azole",
            "itis", "osis", "emia", "ectomy", "otomy", "plasty",
        ]
        .iter()
        .any(|s| l.len() > s.len() + 2 && l.ends_with(s));
        // units and teams: "NSICU", "CVICU", "renal team"
        let unit = ["icu", "ccu", "team", "unit"]
            .iter()
            .any(|s| l.ends_with(s));
        (abbrev || l.len() >= 4)
            && !clinical
            && !unit
            && !self.common(t)
            && !self.env.dicts.first.contains_key(l)
    }
}

/// Finds facility names (see the module docs). `caseless` tells per token whether its line
/// is written in one case.
pub(crate) fn detect(env: &Env<'_>, toks: &[Tok<'_>], caseless: &[bool], out: &mut Vec<Span>) {
    let ctx = Ctx {
        env,
        toks,
        caseless,
    };
    let text = env.text;
    let n = toks.len();
    let mut heads: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < n {
        let t = &toks[i];
        let l = t.lower.as_ref();
        let cls = class(l);
        if cls == 0 {
            i += 1;
            continue;
        }
        // 0. "ST. MARY" in a one-case line (mixed case is the saint regex's): a dot after
        // "st" (not "ST" sinus tachycardia) and a census first name or an unknown word
        if cls & C_SAINT != 0 && caseless[i] && i + 1 < n {
            let nx = &toks[i + 1];
            let dotted = l == "saint" || t.dot;
            let nl = nx.lower.as_ref();
            if dotted
                && joined(text, t, nx)
                && nl.len() >= 3
                && !not_a_name(nl)
                && (env.dicts.first.contains_key(nl) || !ctx.common(nx))
            {
                out.push(Span::new(t.start, nx.name_end, Kind::Organization, 0.75));
                i += 2;
                continue;
            }
        }
        // 2. name words before a facility word: "bristow hospital", "VARNELL HOSP"
        // "regional" is an adjective before a clinical noun: "regional wall motion",
        // "regional anesthesia", "regional lymph nodes"
        let adjective = l == "regional"
            && toks.get(i + 1).is_some_and(|nx| {
                let nl = nx.lower.as_ref();
                env.dicts.is_medical(nl)
                    || matches!(
                        nl,
                        "wall" | "motion" | "block" | "lymph" | "nodes" | "variation"
                    )
            });
        if cls & C_WORD != 0 && i >= 1 && !adjective && !matches!(l, "home" | "snf" | "general") {
            // In mixed-case text a capitalised "Hospital", "Memorial" or "Regional" ends a
            // proper name, and the capitalised words before it belong to it even when they
            // are English words: "Linden Grove Memorial", "Good Samaritan Hospital".
            let proper_end = !caseless[i]
                && t.cap
                && matches!(
                    l,
                    "hospital" | "hosp" | "memorial" | "regional" | "infirmary"
                );
            let titled_part = |k: usize| {
                let p = &toks[k];
                let pl = p.lower.as_ref();
                proper_end
                    && p.cap
                    && !p.upper
                    && pl.len() >= 3
                    && !not_a_name(pl)
                    && !is(GENERIC, pl)
                    && !is(NOT_A_FACILITY, pl)
                    && !is(FACILITY_WORDS, pl)
            };
            let mut k = i;
            while k >= 1
                && i - k < 3
                && joined(text, &toks[k - 1], &toks[k])
                && (ctx.name_part(k - 1) || titled_part(k - 1))
            {
                k -= 1;
            }
            // a common word right before "hospital" in a one-case line names it too: "TAKEN
            // TO UNION HOSPITAL" (but not "the local hospital")
            if k == i && caseless[i] && matches!(l, "hospital" | "hosp" | "memorial" | "regional") {
                let p = &toks[i - 1];
                let pl = p.lower.as_ref();
                if joined(text, p, t)
                    && pl.len() >= 3
                    && !not_a_name(pl)
                    && !is(GENERIC, pl)
                    && !is(NOT_A_FACILITY, pl)
                    && !env.dicts.is_medical(pl)
                {
                    k = i - 1;
                }
            }
            // "our Dallas clinic": a city before a lower-case facility word in mixed-case
            // text describes where, it does not name the facility
            let described = !caseless[i]
                && !t.cap
                && toks[k..i]
                    .iter()
                    .all(|p| env.dicts.gaz_map.contains_key(&text[p.start..p.name_end]));
            if k < i && !described {
                out.push(Span::new(
                    toks[k].start,
                    t.name_end,
                    Kind::Organization,
                    0.8,
                ));
                i += 1;
                continue;
            }
        }
        // 3. after a transfer cue: "transferred to qm", "sent to QMC", "came into QM"
        if cls & C_PREP != 0 && i >= 1 && i + 1 < n {
            let verb = toks[..i]
                .iter()
                .rev()
                .take(3)
                .take_while(|p| !text[p.end..t.start].contains(['\n', '.', ';']))
                .any(|p| {
                    let v = p.lower.as_ref();
                    // "seen by psych", "followed by amiodarone": only "seen at", "followed at";
                    // "by" only after "screened" and "accepted"
                    is(TRANSFER_VERBS, v)
                        && (!matches!(v, "seen" | "followed") || l == "at")
                        && (l != "by" || matches!(v, "screened" | "accepted"))
                });
            let nx = &toks[i + 1];
            let team = i + 2 < n
                && matches!(
                    toks[i + 2].lower.as_ref(),
                    "team" | "service" | "consult" | "dept" | "department"
                );
            // In mixed-case text a capitalised English word mid-sentence after the cue is a
            // proper name too: "went to Brightwater", "a bed at Linden Grove" (it does not spread
            // through the note: "grove" elsewhere may be the word)
            let titled = |k: usize| {
                let x = &toks[k];
                let xl = x.lower.as_ref();
                !caseless[k]
                    && x.cap
                    && !x.upper
                    && !x.sent_start
                    && xl.len() >= 4
                    && x.name_end == x.end
                    && !not_a_name(xl)
                    && !is(NOT_A_FACILITY, xl)
                    && !is(FACILITY_WORDS, xl)
                    && !is(GENERIC, xl)
                    && !is(SERVICE_WORDS, xl)
                    && !env.dicts.is_medical(xl)
                    && !env.dicts.clinical_caps.contains(xl)
                    && !super::dates::is_month_or_day(xl)
            };
            let moved = matches!(l, "to" | "at")
                && toks[..i]
                    .iter()
                    .rev()
                    .take(2)
                    .take_while(|p| !text[p.end..t.start].contains(['\n', '.', ';']))
                    .any(|p| is(MOVE_VERBS, &p.lower));
            // "at Linden Grove", "surgeon from Brightwater": a capitalised word mid-sentence after a
            // lower-case "at" or "from" in mixed-case text names a place even without a verb
            // ("SELECT * FROM Users" is not one)
            let pair = matches!(l, "at" | "from") && !t.upper && titled(i + 1);
            // "SCREENED BY ASHFORD VALLEY REHAB", "presented to elm valley hospital": after a cue,
            // English words up to a facility word name it, in any case
            if verb && !team && joined(text, t, nx) {
                let mut j = i + 1;
                let part = |k: usize| {
                    let x = &toks[k];
                    let xl = x.lower.as_ref();
                    xl.len() >= 3
                        && x.name_end == x.end
                        && !matches!(xl, "our" | "the" | "your" | "its" | "any" | "one")
                        && !not_a_name(xl)
                        && !is(NOT_A_FACILITY, xl)
                        && !is(GENERIC, xl)
                        && !is(SERVICE_WORDS, xl)
                        && !is(FACILITY_WORDS, xl)
                        && !env.dicts.is_medical(xl)
                        && !super::dates::is_month_or_day(xl)
                };
                while j < i + 3 && j + 1 < n && part(j) && joined(text, &toks[j], &toks[j + 1]) {
                    j += 1;
                }
                let end = &toks[j];
                if j >= i + 2
                    && is(FACILITY_WORDS, &end.lower)
                    && !matches!(end.lower.as_ref(), "home" | "snf" | "nh" | "general")
                {
                    out.push(Span::new(nx.start, end.name_end, Kind::Organization, 0.75));
                    i = j + 1;
                    continue;
                }
            }
            let head = verb && ctx.cue_head(i + 1);
            if (verb || moved || pair) && !team && joined(text, t, nx) && (head || titled(i + 1)) {
                let mut j = i + 1;
                // (not across a sentence end: "tx to QMH. PMH: CAD")
                while j + 1 < n
                    && j < i + 3
                    && joined(text, &toks[j], &toks[j + 1])
                    && (!text[toks[j].end..toks[j + 1].start].contains('.')
                        || is(SAINTS, &toks[j].lower))
                    && (ctx.name_part(j + 1)
                        || !head && titled(j + 1)
                        || is(FACILITY_WORDS, &toks[j + 1].lower) && toks[j + 1].lower != "home")
                {
                    j += 1;
                }
                if head {
                    heads.push(nx.lower.as_ref());
                }
                out.push(Span::new(
                    nx.start,
                    toks[j].name_end,
                    Kind::Organization,
                    0.75,
                ));
                i = j + 1;
                continue;
            }
        }
        // 3b. a ward after a transfer verb without a preposition: "TRANSFER KELLERMAN 2",
        // "transferred halvorsen 4" (a head word and a one- or two-digit floor or unit)
        if cls & C_VERB != 0 && i + 1 < n {
            let nx = &toks[i + 1];
            let floor = floor_follows(text, nx.end);
            if floor && joined(text, t, nx) && nx.lower.len() >= 4 && ctx.cue_head(i + 1) {
                heads.push(nx.lower.as_ref());
                out.push(Span::new(nx.start, nx.name_end, Kind::Organization, 0.75));
                i += 2;
                continue;
            }
        }
        // 4. a city or state in a one-case line after "in", "from": "LIVES IN FAIRHOPE"
        if cls & C_PLACE_PREP != 0 && i + 1 < n && caseless[i + 1] {
            let nx = &toks[i + 1];
            let nl = nx.lower.as_ref();
            let mut chars = nl.chars();
            let title = chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + chars.as_str());
            let word = &text[nx.start..nx.name_end];
            let hit = title
                .filter(|_| nl.len() >= 4 && joined(text, t, nx))
                .and_then(|title| env.dicts.gaz_map.get(&title))
                .and_then(|c| c.iter().find(|(p, _)| p.eq_ignore_ascii_case(word)));
            if let Some((_, entry)) = hit {
                let place_ok = match entry.place {
                    Place::City | Place::Org => true,
                    Place::State | Place::Country => env.policy.states_and_countries,
                };
                if place_ok && !entry.ambiguous && !ctx.common(nx) && !not_a_name(nl) {
                    out.push(Span::new(nx.start, nx.name_end, entry.kind(), 0.7));
                    i += 2;
                    continue;
                }
            }
        }
        i += 1;
    }
    acronyms_and_wards(&ctx, out, &mut heads);
    named_before_facility_word(&ctx, out);
    regions(&ctx, out);
    odd_places(&ctx, out);
    city_state(env, toks, out);
    // the same facility elsewhere in the note, in any case
    if heads.is_empty() {
        return;
    }
    let heads = TextWords::new(heads);
    let mut covered: Vec<(usize, usize)> = out.iter().map(|s| (s.start, s.end)).collect();
    covered.sort_unstable();
    for t in toks {
        if !heads.contains(&t.lower) {
            continue;
        }
        let k = covered.partition_point(|&(s, _)| s <= t.start);
        if k > 0 && covered[k - 1].1 >= t.name_end {
            continue;
        }
        out.push(Span::new(t.start, t.name_end, Kind::Organization, 0.7));
    }
}

/// The gazetteer entry of one token, looked up in title case so that any case matches.
fn gazetteer(env: &Env<'_>, t: &Tok<'_>, place: Place) -> bool {
    // most tokens hold no entry of this place: rejected on the lower-case key
    if env
        .dicts
        .gaz_lower
        .get(t.lower.as_ref())
        .is_none_or(|bits| bits & place.bit() == 0)
    {
        return false;
    }
    let word = &env.text[t.start..t.name_end];
    let mut chars = t.lower.chars();
    let Some(c) = chars.next() else {
        return false;
    };
    let title: String = c.to_uppercase().chain(chars).collect();
    env.dicts.gaz_map.get(&title).is_some_and(|entries| {
        entries
            .iter()
            .any(|(p, e)| e.place == place && p.eq_ignore_ascii_case(word))
    })
}

/// A one-word city followed by a state name, in any case: "this fairhope alabama facility",
/// "FROM FAIRHOPE, ALABAMA" (the state says the city is a place, even when its name is also
/// an English word).
fn city_state(env: &Env<'_>, toks: &[Tok<'_>], out: &mut Vec<Span>) {
    // "lives in DC", "moved to NC": a state code after a verb of residence
    if env.policy.states_and_countries {
        for w in toks.windows(3) {
            let (v, p, c) = (&w[0], &w[1], &w[2]);
            let residence = matches!(
                v.lower.as_ref(),
                "lives" | "live" | "living" | "resides" | "residing" | "moved" | "relocated"
            );
            if residence
                && matches!(p.lower.as_ref(), "in" | "to")
                && c.upper
                && c.name_end - c.start == 2
                && env
                    .dicts
                    .state_codes
                    .contains(&env.text[c.start..c.name_end])
                && &env.text[v.end..p.start] == " "
                && &env.text[p.end..c.start] == " "
            {
                out.push(Span::new(c.start, c.name_end, Kind::Location, 0.75));
            }
        }
    }
    for w in toks.windows(2) {
        let (c, st) = (&w[0], &w[1]);
        let gap = &env.text[c.name_end..st.start];
        if !(gap == " " || gap == ", ") || c.lower.len() < 3 || c.name_end != c.end {
            continue;
        }
        if gazetteer(env, st, Place::State) && gazetteer(env, c, Place::City) {
            let end = if env.policy.states_and_countries {
                st.name_end
            } else {
                c.name_end
            };
            out.push(Span::new(c.start, end, Kind::Location, 0.75));
        }
    }
}

/// Clinical abbreviations shaped like a hospital's initials ("-H" for hospital, "-MC" for
/// medical center): hormones, lab tests, diagnoses, insulins.
const H_ABBREVIATIONS: &[&str] = &[
    "acth", "adh", "ah", "amh", "bph", "ch", "dh", "doh", "eh", "fsh", "hh", "hgh", "ich", "lh",
    "ldh", "lvh", "mch", "mh", "mph", "nph", "oh", "ph", "pmh", "pph", "pth", "rvh", "sah", "sh",
    "tsh", "uh", "vh", "cvvh", "avh", "wh", "tech", "mech", "bach", "dch",
];

/// The token before `k` on the same line is one of `preps`, with only spaces between, or
/// an arrow ends the text before it ("found down -> KH EW").
fn after_place_cue(ctx: &Ctx<'_>, k: usize, preps: &[&str]) -> bool {
    let text = ctx.env.text;
    let t = &ctx.toks[k];
    let before = text[..t.start].trim_end_matches(' ');
    if before.ends_with("->") {
        return true;
    }
    k >= 1 && {
        let p = &ctx.toks[k - 1];
        let gap = &text[p.end..t.start];
        !gap.is_empty() && gap.bytes().all(|c| c == b' ') && preps.contains(&p.lower.as_ref())
    }
}

/// A one- or two-digit number (a floor, a ward) follows token `t` after one space, and no
/// unit or decimal part follows it: "Kellerman 3", not "levophed 0.5" or "x 2L".
fn floor_follows(text: &str, end: usize) -> bool {
    let rest = text.as_bytes().get(end..).unwrap_or_default();
    let digits = rest
        .iter()
        .skip(1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    rest.first() == Some(&b' ')
        && (1..=2).contains(&digits)
        && !rest.get(1 + digits).is_some_and(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'/' | b':' | b'.' | b'%' | b',')
                    && rest.get(2 + digits).is_some_and(u8::is_ascii_digit)
        })
}

/// Two shapes of a facility that needs no transfer verb:
/// - a hospital's initials after "at", "from", "by", "to" or an arrow, or before "EW"/"ER":
///   "had at kh", "W/U BY TDMC", "-> KH EW" (two to five letters ending in H, MC or HC,
///   not a clinical abbreviation or a word);
/// - a ward: a word no list knows and a floor number after "per", "from" or "at": "per
///   Kellerman 3 RN", "belongings found from kellerman 5".
///
/// Both heads are then found elsewhere in the note.
fn acronyms_and_wards<'t>(ctx: &Ctx<'t>, out: &mut Vec<Span>, heads: &mut Vec<&'t str>) {
    let text = ctx.env.text;
    let d = ctx.env.dicts;
    for (k, t) in ctx.toks.iter().enumerate() {
        let l: &'t str = match &t.lower {
            std::borrow::Cow::Borrowed(s) => s,
            std::borrow::Cow::Owned(_) => continue,
        };
        if t.name_end != t.end || t.hyphen || l.len() < 2 {
            continue;
        }
        let shaped = ((2..=4).contains(&l.len()) && l.ends_with('h')
            || (3..=5).contains(&l.len()) && (l.ends_with("mc") || l.ends_with("hc")))
            && l.bytes().all(|c| c.is_ascii_lowercase());
        // ALL CAPS, or lower case and short ("at kh"; a longer lower-case token is mostly a
        // clipped word: "mech vent")
        let cased = t.upper || !t.cap && l.len() <= 3;
        if shaped
            && cased
            && !is(H_ABBREVIATIONS, l)
            && !is(NOT_A_FACILITY, l)
            && !d.is_word(l)
            && !d.is_medical(l)
            && !not_a_name(l)
        {
            let before_ew = ctx.toks.get(k + 1).is_some_and(|nx| {
                matches!(nx.lower.as_ref(), "ew" | "er" | "ed") && &text[t.end..nx.start] == " "
            });
            if before_ew || after_place_cue(ctx, k, &["at", "by", "from", "to", "into"]) {
                heads.push(l);
                out.push(Span::new(t.start, t.end, Kind::Organization, 0.75));
                continue;
            }
        }
        if l.len() >= 4
            && floor_follows(text, t.end)
            && after_place_cue(ctx, k, &["per", "from", "at"])
            && ctx.cue_head(k)
            && !d.last.contains_key(l)
        {
            heads.push(l);
            out.push(Span::new(t.start, t.end, Kind::Organization, 0.75));
        }
    }
}

/// English words that name a facility before a facility word after a place cue, in any
/// case: "to fair haven hospital", "rehab(fair haven Memorial)", where the words before the
/// facility word are written in lower case (the capitalised forms are the regex rules').
fn named_before_facility_word(ctx: &Ctx<'_>, out: &mut Vec<Span>) {
    let text = ctx.env.text;
    let toks = ctx.toks;
    for (i, t) in toks.iter().enumerate() {
        if !matches!(t.lower.as_ref(), "hospital" | "memorial") || i < 3 {
            continue;
        }
        // two lower-case words before it, and a cue before them
        let (a, b) = (&toks[i - 2], &toks[i - 1]);
        let word = |x: &Tok<'_>| {
            let xl = x.lower.as_ref();
            !x.cap
                && xl.len() >= 3
                && x.name_end == x.end
                && !not_a_name(xl)
                && !is(GENERIC, xl)
                && !is(NOT_A_FACILITY, xl)
                && !is(SERVICE_WORDS, xl)
                && !is(FACILITY_WORDS, xl)
                && !matches!(xl, "the" | "our" | "your" | "their" | "any" | "one")
        };
        if !(word(a) && word(b) && joined(text, a, b) && joined(text, b, t)) {
            continue;
        }
        let p = &toks[i - 3];
        let gap = &text[p.end..a.start];
        let cue = gap == " " && is(TRANSFER_PREPS, &p.lower) || gap == "(" || gap == " (";
        if cue {
            out.push(Span::new(a.start, t.name_end, Kind::Organization, 0.8));
        }
    }
}

/// Three shapes of a place that the gazetteer pass misses:
/// - a university named by "U" and a state: "per U Oregon scale", "U. of Iowa";
/// - a census surname that is no English word after "AT" or "FROM" in an ALL CAPS line:
///   "BLEEDING AT LINWOOD-" (a hospital named after its founder);
/// - a city with a stray capital: "BOston" (caps lock let go late).
fn odd_places(ctx: &Ctx<'_>, out: &mut Vec<Span>) {
    let env = ctx.env;
    let text = env.text;
    let toks = ctx.toks;
    for (k, t) in toks.iter().enumerate() {
        let l = t.lower.as_ref();
        if (l == "u" && t.cap || l == "univ") && k + 1 < toks.len() {
            let mut j = k + 1;
            if toks[j].lower == "of" && j + 1 < toks.len() {
                j += 1;
            }
            let st = &toks[j];
            let gap_ok = text[t.end..st.start]
                .bytes()
                .all(|c| matches!(c, b' ' | b'.' | b'o' | b'f' | b'O' | b'F'))
                && st.start - t.end <= 5;
            if gap_ok && st.cap && gazetteer(env, st, Place::State) {
                out.push(Span::new(t.start, st.name_end, Kind::Organization, 0.8));
            }
            continue;
        }
        if t.upper
            && ctx.caseless[k]
            && l.len() >= 4
            && k >= 1
            && matches!(toks[k - 1].lower.as_ref(), "at" | "from")
            && &text[toks[k - 1].end..t.start] == " "
            && env.dicts.last.get(l) == Some(&false)
            && !ctx.common(t)
            && !not_a_name(l)
            && !is(NOT_A_FACILITY, l)
        {
            out.push(Span::new(t.start, t.name_end, Kind::Location, 0.75));
            continue;
        }
        let b = text.as_bytes();
        let stray = t.name_end - t.start >= 5
            && b[t.start].is_ascii_uppercase()
            && b[t.start + 1].is_ascii_uppercase()
            && b[t.start + 2..t.name_end]
                .iter()
                .all(u8::is_ascii_lowercase);
        if stray && gazetteer(env, t, Place::City) && !ctx.common(t) {
            out.push(Span::new(t.start, t.name_end, Kind::Location, 0.75));
        }
    }
}

/// Compass words before a regional noun, in any case: "from the Western Coast", "WEST
/// CAMPUS", "the south county".
fn regions(ctx: &Ctx<'_>, out: &mut Vec<Span>) {
    let text = ctx.env.text;
    for w in ctx.toks.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let compass = matches!(
            a.lower.as_ref(),
            "north"
                | "south"
                | "east"
                | "west"
                | "northern"
                | "southern"
                | "eastern"
                | "western"
                | "northeast"
                | "northwest"
                | "southeast"
                | "southwest"
        );
        if compass
            && matches!(
                b.lower.as_ref(),
                "campus" | "coast" | "county" | "valley" | "hills" | "end" | "side"
            )
            && &text[a.end..b.start] == " "
            && a.cap == b.cap
            && (a.cap || !b.upper)
        {
            // "end" and "side" only capitalised: "the west side of the bed"
            if matches!(b.lower.as_ref(), "end" | "side") && !b.cap {
                continue;
            }
            out.push(Span::new(a.start, b.name_end, Kind::Location, 0.8));
        }
    }
}

//! Person names: titles ("Dr.", "Mrs."), post-nominals ("MD", "RN"), cue words
//! ("pt's wife", "seen by", "Patient:"), initials ("Anna S.", "J. Smith"), inverted forms
//! ("Smith, John") and census first/last-name dictionaries. First names that are also common
//! words ("Hope", "Will", "Grant") count only with context.

use std::sync::OnceLock;

use super::Env;
use crate::dict::{Dicts, TextWords};
use crate::kind::Kind;
use crate::lexicon::{
    is_title, lex, ANY_CASE_TITLES, IDENTIFIER_CUES, LEX_ANY_TITLE, LEX_MEDICAL_NOUN,
    LEX_POSTNOMINAL, LEX_ROLE, LEX_STRONG, LEX_TITLE, LEX_VERB, LEX_WEAK, NOT_A_NAME,
    RELATION_ROLES, STAFF_ROLES,
};
use crate::span::Span;
pub(crate) use crate::tokens::{tokenize, Tok};

pub(crate) fn medical_noun_follows(text: &str, end: usize) -> bool {
    let a = super::after(text, end, 24);
    let a = a
        .strip_prefix("'s")
        .or_else(|| a.strip_prefix("’s"))
        .unwrap_or(&a);
    // "per dr. Babinski- procedure ...": a dash between ends the name
    if a.trim_start_matches(' ').starts_with("- ") {
        return false;
    }
    let rest = a.trim_start_matches([' ', '-', '\'']);
    let w = rest
        .split(|c: char| !c.is_ascii_alphabetic() && c != '\'')
        .next()
        .unwrap_or("");
    // "Quenby Ardlowe cell# 410-...": "cell" as a phone label, not "X cell"
    let label = w == "cell"
        && rest[w.len()..]
            .trim_start_matches(' ')
            .starts_with(|c: char| c == '#' || c == ':' || c.is_ascii_digit() || c == '(');
    lex(w) & LEX_MEDICAL_NOUN != 0 && !label
}

/// A surname that needs no further context: in the census list and not an English word, or
/// unknown to both the name and word lists.
fn strong_surname(ctx: &Ctx<'_>, t: &Tok<'_>) -> bool {
    (t.cap && !t.upper) && !ctx.blocked(t) && !ctx.is_common_word(t)
}

/// Only spaces (and at most one '.' after an initial/title) between two tokens.
fn adjacent(text: &str, a: &Tok<'_>, b: &Tok<'_>) -> bool {
    let gap = &text[a.end..b.start];
    let gap = gap.strip_prefix('.').unwrap_or(gap);
    !gap.is_empty() && gap.len() <= 3 && gap.bytes().all(|c| c == b' ')
        || gap.is_empty() && a.end < b.start
}

struct Ctx<'a> {
    text: &'a str,
    d: &'a Dicts,
    toks: &'a [Tok<'a>],
}

impl Ctx<'_> {
    fn is_common_word(&self, t: &Tok<'_>) -> bool {
        self.d.is_word(&t.lower)
    }

    fn blocked(&self, t: &Tok<'_>) -> bool {
        is_identifier_cue(&t.lower)
            || self.d.is_medical(&t.lower)
            || self.d.clinical_caps.contains(t.lower.as_ref())
            || super::dates::is_month_or_day(&t.lower)
    }

    /// A capitalised token that can continue a name (surname, middle name).
    fn surname_like(&self, t: &Tok<'_>, strict: bool) -> bool {
        if !(t.cap || t.upper) || t.lower.len() < 2 || self.blocked(t) {
            return false;
        }
        if let Some(&amb) = self.d.last.get(t.lower.as_ref()) {
            return !amb || !strict;
        }
        if let Some(&amb) = self.d.first.get(t.lower.as_ref()) {
            return !amb;
        }
        !self.is_common_word(t)
    }

    fn first_name(&self, t: &Tok<'_>) -> Option<bool> {
        if !t.cap || t.upper || t.lower.len() < 2 || not_a_name(&t.lower) {
            return None;
        }
        if self.blocked(t) {
            return None;
        }
        self.d.first.get(t.lower.as_ref()).copied()
    }

    /// Extends a name starting at token `i` to the right: initials and surname-like tokens.
    fn extend(&self, i: usize, strict: bool) -> usize {
        let mut j = i;
        let mut n = 0;
        while j + 1 < self.toks.len() && n < 3 {
            let (a, b) = (&self.toks[j], &self.toks[j + 1]);
            if !adjacent(self.text, a, b) || a.name_end != a.end {
                break;
            }
            if (b.initial || self.surname_like(b, strict)) && !b.sent_start {
                j += 1;
            } else {
                break;
            }
            n += 1;
        }
        j
    }

    fn span(&self, i: usize, j: usize, score: f32) -> Span {
        // a post-nominal ends the name, it is not part of it ("K. WOJCIK RRT")
        let mut j = j;
        while j > i && self.toks[j].lex & LEX_POSTNOMINAL != 0 && !self.toks[j].initial {
            j -= 1;
        }
        let (a, b) = (&self.toks[i], &self.toks[j]);
        let mut end = b.name_end;
        if b.initial && b.dot {
            end += 1;
        }
        Span::new(a.start, end, Kind::Name, score)
    }
}

fn is_identifier_cue(lower: &str) -> bool {
    IDENTIFIER_CUES.contains(&lower)
}

/// Finds person names.
pub(crate) fn detect<'a>(
    env: &Env<'a>,
    toks: &'a [Tok<'a>],
    caseless: &[bool],
    out: &mut Vec<Span>,
) {
    let ctx = Ctx {
        text: env.text,
        d: env.dicts,
        toks,
    };
    let text = env.text;
    let first_span = out.len();
    let n = toks.len();
    let mut i = 0;
    while i < n {
        let t = &toks[i];
        // every rule needs a capitalised token here or next
        let next_cap = i + 1 < n && (toks[i + 1].cap || toks[i + 1].upper);
        // (lower-case post-nominals in one-case lines: "margaret quibell np")
        if !(t.cap || t.upper || next_cap || caseless[i] && lower_postnominal(&ctx, i)) {
            i += 1;
            continue;
        }
        // 1. title + capitalised words
        let class = t.lex;
        // ("SR BP": sinus rhythm, not a title, in ALL CAPS)
        let caps_title = !t.upper || ANY_CASE_TITLES.contains(&t.lower.as_ref());
        if class & LEX_TITLE != 0
            && (t.cap || t.upper)
            && caps_title
            && i + 1 < n
            && !caseless[i + 1]
        {
            let nx = &toks[i + 1];
            if adjacent(text, t, nx)
                && (nx.cap || nx.upper)
                && !ctx.d.clinical_caps.contains(nx.lower.as_ref())
            {
                let mut j = ctx.extend(i + 1, false);
                // "Dr Leopold Carpenter": after a title and a census first name, the next
                // capitalised word is the surname even when it is an English word
                if j == i + 1 && ctx.d.first.contains_key(nx.lower.as_ref()) && !nx.upper {
                    if let Some(b) = toks.get(j + 1) {
                        if adjacent(text, nx, b)
                            && nx.name_end == nx.end
                            && b.cap
                            && !b.upper
                            && !b.sent_start
                            && b.lower.len() >= 3
                            && b.lex & (LEX_ANY_TITLE | LEX_ROLE | LEX_VERB | LEX_POSTNOMINAL) == 0
                            && !not_a_name(&b.lower)
                            && !ctx.blocked(b)
                            && !medical_noun_follows(text, b.name_end)
                        {
                            j += 1;
                        }
                    }
                }
                out.push(ctx.span(i + 1, j, 0.95));
                i = j + 1;
                continue;
            }
        }
        // 2. cue word + capitalised words
        let strong = class & LEX_STRONG != 0;
        let weak = !strong && class & LEX_WEAK != 0;
        if (strong || weak) && i + 1 < n && !caseless[i + 1] {
            let nx = &toks[i + 1];
            let gap = &text[t.end..nx.start];
            let gap_ok = gap.len() <= 4
                && gap
                    .bytes()
                    .all(|c| matches!(c, b' ' | b':' | b'-' | b'\'' | b's' | b',' | b'#' | b'\t'));
            let nx_ok = (nx.cap || nx.upper) && !is_title(&nx.lower) && !ctx.blocked(nx);
            if gap_ok && nx_ok {
                let known = ctx.d.first.get(nx.lower.as_ref()).is_some_and(|a| !a)
                    || ctx.d.last.get(nx.lower.as_ref()).is_some_and(|a| !a);
                let in_dict = ctx.d.first.contains_key(nx.lower.as_ref())
                    || ctx.d.last.contains_key(nx.lower.as_ref());
                // an all-caps token after a cue is an acronym (MRN, SSN, TIA) unless another
                // all-caps word follows ("Patient: JOHN SMITH")
                let caps_ok = !nx.upper
                    || nx.lower.len() >= 2
                        && i + 2 < n
                        && toks[i + 2].upper
                        && adjacent(text, nx, &toks[i + 2])
                        && in_dict;
                // "Pt- Zaroxyln 10 mg": after "pt"/"patient" only a known name
                // ("Patient: Dmitri Chen" is a header: the colon or a second name word says so)
                let patient = matches!(t.lower.as_ref(), "pt" | "patient" | "pts")
                    && !gap.contains(':')
                    && !(i + 2 < n
                        && adjacent(text, nx, &toks[i + 2])
                        && ctx.surname_like(&toks[i + 2], true));
                let accept = if !caps_ok {
                    false
                } else if strong {
                    in_dict || !patient && !ctx.is_common_word(nx)
                } else {
                    let two_unknown = !ctx.is_common_word(nx)
                        && i + 2 < n
                        && adjacent(text, nx, &toks[i + 2])
                        && strong_surname(&ctx, &toks[i + 2]);
                    two_unknown
                        || (known && !ctx.is_common_word(nx))
                        || (known
                            && i + 2 < n
                            && ctx.surname_like(&toks[i + 2], true)
                            && adjacent(text, nx, &toks[i + 2]))
                };
                if accept && !medical_noun_follows(text, nx.name_end) {
                    let j = ctx.extend(i + 1, !strong);
                    if !medical_noun_follows(text, toks[j].name_end) {
                        out.push(ctx.span(i + 1, j, if strong { 0.85 } else { 0.8 }));
                        i = j + 1;
                        continue;
                    }
                }
            }
        }
        // 3. first-name dictionary ("St. John's" is a saint's name, not a person)
        let saint = i >= 1
            && matches!(
                toks[i - 1].lower.as_ref(),
                "st" | "mt" | "saint" | "ste" | "san" | "santa"
            );
        if let Some(ambiguous) = ctx.first_name(t).filter(|_| !saint) {
            let j = ctx.extend(i, true);
            let extended = j > i;
            // "Smith, John": an inverted name before the first name
            let mut start = i;
            if i >= 1 {
                let p = &toks[i - 1];
                let gap = &text[p.end..t.start];
                let surname =
                    ctx.d.last.get(p.lower.as_ref()).is_some_and(|a| !a) || !ctx.is_common_word(p);
                if gap == ", "
                    && (p.cap || p.upper)
                    && surname
                    && !ctx.blocked(p)
                    && p.lower.len() >= 2
                {
                    start = i - 1;
                }
            }
            let eponym = medical_noun_follows(text, toks[j].name_end);
            let common = ctx.is_common_word(t);
            let ok = !eponym
                && if ambiguous {
                    extended
                        && (!t.sent_start || toks[j].initial || strong_surname(&ctx, &toks[i + 1]))
                        || start < i
                } else {
                    extended || start < i || !common || !t.sent_start
                };
            if ok {
                let score = if extended || start < i { 0.9 } else { 0.7 };
                out.push(ctx.span(start, j, score));
                i = j + 1;
                continue;
            }
        }
        // 4. initial + surname: "J. Smith"
        if t.initial && t.dot && i + 1 < n {
            let nx = &toks[i + 1];
            if adjacent(text, t, nx)
                && ctx.surname_like(nx, true)
                && ctx.d.last.contains_key(nx.lower.as_ref())
                && !medical_noun_follows(text, nx.name_end)
            {
                let j = ctx.extend(i + 1, true);
                out.push(ctx.span(i, j, 0.8));
                i = j + 1;
                continue;
            }
        }
        // 4b. surname + initial: "Smith J."
        if i + 1 < n
            && (t.cap && !t.upper)
            && ctx.d.last.get(t.lower.as_ref()) == Some(&false)
            && !ctx.blocked(t)
        {
            let nx = &toks[i + 1];
            if nx.initial && nx.dot && adjacent(text, t, nx) {
                out.push(ctx.span(i, i + 1, 0.75));
                i += 2;
                continue;
            }
        }
        // 4c. two adjacent capitalised tokens unknown to every word list: "Antti Poutiainen"
        if i + 1 < n && t.cap && !t.upper && t.lower.len() >= 4 {
            let nx = &toks[i + 1];
            let unknown = |x: &Tok<'_>| {
                x.cap
                    && !x.upper
                    && x.lower.len() >= 4
                    && !ctx.blocked(x)
                    && !ctx.is_common_word(x)
                    && !inflected(&x.lower)
                    && !ctx.d.gaz_map.contains_key(&text[x.start..x.end])
            };
            if adjacent(text, t, nx)
                && t.name_end == t.end
                && unknown(t)
                && unknown(nx)
                && !medical_noun_follows(text, nx.name_end)
            {
                out.push(ctx.span(i, i + 1, 0.55));
                i += 2;
                continue;
            }
        }
        // 5. post-nominal: "John Smith, MD" / "Smith RN"
        if lex(t.lower.trim_end_matches('.')) & LEX_POSTNOMINAL != 0
            && (t.upper || caseless[i] && !t.cap && t.lower.len() >= 2)
            && i >= 1
        {
            let mut k = i - 1;
            let gap = &text[toks[k].end..t.start];
            if gap.trim_start_matches(',').trim().is_empty() && gap.len() <= 3 {
                let end_tok = k;
                let mut count = 0;
                loop {
                    let tk = &toks[k];
                    let shape = if caseless[k] {
                        tk.initial
                            || ctx.dict_first(tk)
                            || ctx.d.last.contains_key(tk.lower.as_ref()) && !not_a_name(&tk.lower)
                            || ctx.dict_name_not_word(tk)
                            || ctx.unknown_word(tk)
                    } else {
                        tk.cap || tk.upper
                    };
                    // "4 L NP" (litres by nasal prongs), "3L NP"
                    let after_number = text[..tk.start]
                        .trim_end_matches(' ')
                        .bytes()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_digit());
                    // "Gordon Foley CRT": a clinical word right before the post-nominal is the
                    // surname when a census first name in the same case comes before it
                    let eponym_surname = count == 0
                        && k >= 1
                        && adjacent(text, &toks[k - 1], tk)
                        && toks[k - 1].name_end == toks[k - 1].end
                        && toks[k - 1].cap == tk.cap
                        && toks[k - 1].upper == tk.upper
                        && ctx.d.first.contains_key(toks[k - 1].lower.as_ref())
                        && !not_a_name(&toks[k - 1].lower)
                        && !ctx.blocked(&toks[k - 1]);
                    let blocked = ctx.blocked(tk) && !tk.initial && !eponym_surname;
                    if !shape || after_number || blocked || count >= 4 {
                        break;
                    }
                    count += 1;
                    if k == 0 || !adjacent(text, &toks[k - 1], tk) {
                        k = k.wrapping_sub(1);
                        break;
                    }
                    k -= 1;
                }
                let mut first = k.wrapping_add(1);
                // a name, not initials alone ("C PT": with physical therapy)
                let named = first <= end_tok && toks[first..=end_tok].iter().any(|x| !x.initial);
                if count > 0 && first <= end_tok && named {
                    // the inverted form "Okonkwo, Priya, MD": a surname before ", "
                    if count <= 2 && first >= 1 {
                        let p = &toks[first - 1];
                        if &text[p.end..toks[first].start] == ", "
                            && p.cap
                            && !p.upper
                            && p.name_end == p.end
                            && ctx.surname_like(p, false)
                        {
                            first -= 1;
                        }
                    }
                    out.push(ctx.span(first, end_tok, 0.9));
                }
            }
        }
        // 6. ALL-CAPS "JOHN SMITH" in headers
        if t.upper && t.lower.len() >= 2 && i + 1 < n {
            let nx = &toks[i + 1];
            if nx.upper
                && adjacent(text, t, nx)
                && ctx.d.first.get(t.lower.as_ref()) == Some(&false)
                && ctx.d.last.contains_key(nx.lower.as_ref())
                && !ctx.blocked(t)
                && !ctx.blocked(nx)
                && !not_a_name(&nx.lower)
                && !(caseless[i] && ctx.is_common_word(nx))
            {
                out.push(ctx.span(i, i + 1, 0.8));
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    any_case(&ctx, caseless, out);
    reporting_shapes(&ctx, caseless, out);
    signature_lines(&ctx, out);
    extend_left(&ctx, first_span, out);
    and_names(&ctx, first_span, out);
    family_names(&ctx, out);
    propagate(&ctx, caseless, first_span, out);
}

/// A word that goes on a sentence about a person follows `end`: "A BROTHER ROKO AND A
/// SISTER", "SON ROKO WHO LIVES" (in ALL CAPS an unknown word after a relation is a name only
/// so; alone it is mostly an abbreviation: "SON HCP").
fn connective_follows(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    if rest.starts_with(',') {
        return true;
    }
    let Some(rest) = rest.strip_prefix(' ') else {
        return false;
    };
    let word: String = rest
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    matches!(
        word.as_str(),
        "and" | "who" | "was" | "is" | "has" | "will" | "called" | "visited" | "came" | "here"
    )
}

/// Verbs after a name that say the person acts in the care: "callum called", "K. LUND
/// AWARE" (a `match`: it runs on every token).
fn is_acting_verb(l: &str) -> bool {
    matches!(
        l,
        "aware"
            | "called"
            | "came"
            | "informed"
            | "notified"
            | "paged"
            | "phoned"
            | "updated"
            | "visited"
    )
}

/// Verbs before "to" that introduce the person told: "reported to R. Lund".
fn is_told_verb(l: &str) -> bool {
    matches!(
        l,
        "explained" | "reported" | "spoke" | "talked" | "given" | "passed"
    )
}

/// Shapes of reporting and calling, in any case:
/// - an initial and a surname after "reported to", "spoke to": "Reported to R. Lund";
/// - an initial and a surname before "aware", "notified", also when the initial is glued to
///   the word before by a hyphen: "CARAFATE-K. LUND AWARE";
/// - a census first name that is no English word before "called", "visited": "and callum
///   called early";
/// - an Irish "O" surname written apart after a title: "Dr. o donnell";
/// - "Son, Al, was updated": a census first name between commas after a relation, even when
///   it is also an abbreviation.
fn reporting_shapes(ctx: &Ctx<'_>, caseless: &[bool], out: &mut Vec<Span>) {
    let toks = ctx.toks;
    let text = ctx.text;
    let b = text.as_bytes();
    let n = toks.len();
    let surname = |t: &Tok<'_>| {
        t.name_end - t.start >= 3
            && !not_a_name(&t.lower)
            && !ctx.blocked(t)
            && (ctx.d.last.contains_key(t.lower.as_ref()) || ctx.unknown_word(t))
            && !medical_noun_follows(text, t.name_end)
    };
    let spaced = |a: &Tok<'_>, c: &Tok<'_>| &text[a.end..c.start] == " ";
    let census_first = |x: &Tok<'_>| {
        !x.cap
            && x.lower.len() >= 3
            && x.name_end == x.end
            && ctx.d.first.get(x.lower.as_ref()) == Some(&false)
            && !not_a_name(&x.lower)
            && !ctx.blocked(x)
    };
    for i in 0..n {
        let t = &toks[i];
        let l = t.lower.as_ref();
        // "nadia ruth kowalczyk from speech": two census first names that are no English words
        // and a surname, all in lower case (a pair alone is too often a phrase or a cast)
        // (in one-case lines only: in mixed-case prose a name is capitalised)
        if caseless[i] && i + 2 < n && census_first(t) && census_first(&toks[i + 1]) {
            let c = &toks[i + 2];
            if spaced(t, &toks[i + 1])
                && spaced(&toks[i + 1], c)
                && !c.cap
                && (ctx.dict_name_not_word(c) && ctx.d.last.contains_key(c.lower.as_ref())
                    || ctx.unknown_word(c))
                && !medical_noun_follows(text, c.name_end)
            {
                out.push(Span::new(t.start, c.name_end, Kind::Name, 0.75));
            }
        }
        // "reported to R. Lund"
        if l == "to" && i >= 1 && i + 2 < n && is_told_verb(&toks[i - 1].lower) {
            let (ini, sur) = (&toks[i + 1], &toks[i + 2]);
            if spaced(&toks[i - 1], t)
                && spaced(t, ini)
                && ini.name_end - ini.start == 1
                && ini.dot
                && (ini.cap || caseless[i + 1])
                && &text[ini.end..sur.start] == ". "
                && (sur.cap || caseless[i + 2])
                && surname(sur)
            {
                out.push(Span::new(ini.start, sur.name_end, Kind::Name, 0.8));
            }
        }
        // ("AWARE-WILL START": the verb may be joined to the next word)
        let l = if t.hyphen {
            l.split('-').next().unwrap_or(l)
        } else {
            l
        };
        if is_acting_verb(l) && i >= 1 {
            let p = &toks[i - 1];
            if !spaced(p, t) || p.name_end != p.end {
                continue;
            }
            // "K. LUND AWARE" (the initial may be the tail of a hyphenated token)
            if i >= 2 && matches!(l, "aware" | "notified" | "paged" | "informed" | "updated") {
                let q = &toks[i - 2];
                let tail = q.end - 1;
                let one_letter = q.end >= 1
                    && b[tail].is_ascii_uppercase()
                    && (q.end - q.start == 1 || b[tail - 1] == b'-');
                if one_letter
                    && &text[q.end..p.start] == ". "
                    && (p.cap && q.cap || caseless[i - 1] && p.upper)
                    && surname(p)
                {
                    out.push(Span::new(tail, p.name_end, Kind::Name, 0.8));
                    continue;
                }
            }
            // "and callum called"
            if matches!(l, "called" | "came" | "phoned" | "visited")
                && !p.cap
                && ctx.d.first.get(p.lower.as_ref()) == Some(&false)
                && p.lower.len() >= 3
                && !not_a_name(&p.lower)
                && !ctx.blocked(p)
            {
                out.push(Span::new(p.start, p.name_end, Kind::Name, 0.75));
            }
            continue;
        }
        // "Dr. o donnell", "DR O HARA"
        if t.lex & LEX_ANY_TITLE != 0 && i + 2 < n {
            let (o, sur) = (&toks[i + 1], &toks[i + 2]);
            let gap = &text[t.end..o.start];
            if matches!(gap, " " | ". ")
                && o.lower == "o"
                && matches!(&text[o.end..sur.start], " " | "' ")
                && sur.name_end - sur.start >= 3
                && !not_a_name(&sur.lower)
                && !ctx.is_common_word(sur)
            {
                out.push(Span::new(o.start, sur.name_end, Kind::Name, 0.85));
            }
            continue;
        }
        // "Son, Al, was"
        if t.lex & LEX_ROLE != 0 && RELATION_ROLES.contains(&l) && i + 1 < n {
            let x = &toks[i + 1];
            if &text[t.end..x.start] == ", "
                && b.get(x.end) == Some(&b',')
                && x.name_end == x.end
                && x.lower.len() >= 2
                && (x.cap || caseless[i + 1])
                && !not_a_name(&x.lower)
                && ctx.d.first.contains_key(x.lower.as_ref())
            {
                // (sure enough to stand even when the word is also an abbreviation: "Al")
                out.push(Span::new(x.start, x.end, Kind::Name, 0.9));
            }
        }
    }
}

/// "KEEP DELACRUZ FAMILY AWARE", "the okafor family": a surname before "family", in any case,
/// when it is a census surname that is no English word (a word no list knows is too often
/// a typo: "supprt family").
fn family_names(ctx: &Ctx<'_>, out: &mut Vec<Span>) {
    let toks = ctx.toks;
    for w in toks.windows(2) {
        let (t, f) = (&w[0], &w[1]);
        if f.lower != "family" || t.name_end != t.end || &ctx.text[t.end..f.start] != " " {
            continue;
        }
        if t.lower.len() >= 3
            && t.lex == 0
            && ctx.d.last.contains_key(t.lower.as_ref())
            && ctx.dict_name_not_word(t)
            && !not_a_name(&t.lower)
        {
            out.push(Span::new(t.start, t.name_end, Kind::Name, 0.8));
        }
    }
}

/// "Rosalind and Walter are his proxies", "called JOHN AND MARTHA": a word joined to a name
/// found here by "and" or "&" is a name too when it is written like it (same case) and is a
/// census first name, a census surname that is no English word, or a word no list knows.
fn and_names(ctx: &Ctx<'_>, from: usize, out: &mut Vec<Span>) {
    let toks = ctx.toks;
    let mut found = Vec::new();
    for s in out[from..].iter().filter(|s| s.kind == Kind::Name) {
        let k = toks.partition_point(|t| t.start < s.end);
        let (Some(and), Some(b)) = (toks.get(k), toks.get(k + 1)) else {
            continue;
        };
        let last = &toks[k.saturating_sub(1)];
        if last.name_end != s.end
            || !matches!(and.lower.as_ref(), "and" | "&")
            || !adjacent(ctx.text, last, and)
            || !adjacent(ctx.text, and, b)
        {
            continue;
        }
        let same_case = if last.upper {
            b.upper
        } else if last.cap {
            b.cap && !b.upper
        } else {
            !b.cap && !b.upper
        };
        let named = ctx.d.first.contains_key(b.lower.as_ref())
            || ctx.dict_name_not_word(b)
            || ctx.unknown_word(b);
        if same_case
            && named
            && b.lower.len() >= 3
            && b.lex == 0
            && !not_a_name(&b.lower)
            && !ctx.blocked(b)
            && !medical_noun_follows(ctx.text, b.name_end)
        {
            found.push(Span::new(b.start, b.name_end, Kind::Name, 0.8));
        }
    }
    out.extend(found);
}

/// Grows each name found here to the left over what belongs to it but could not start it:
/// an initial ("j. tovar rrt", "J. Halvorsen") and a census first name written in the same
/// case as the name ("alma jean quist", "DORIS KOWALCZYK"), one space apart; at most
/// two tokens.
fn extend_left(ctx: &Ctx<'_>, from: usize, out: &mut [Span]) {
    let text = ctx.text.as_bytes();
    let toks = ctx.toks;
    for s in out[from..].iter_mut().filter(|s| s.kind == Kind::Name) {
        let mut k = toks.partition_point(|t| t.start < s.start);
        if k >= toks.len() || toks[k].start != s.start {
            continue;
        }
        let first = &toks[k];
        for _ in 0..2 {
            if k == 0 {
                break;
            }
            let p = &toks[k - 1];
            let next = &toks[k];
            // exactly "x. " or "word " between the two
            let gap = &text[p.name_end..next.start];
            let one_letter = p.name_end - p.start == 1 && p.dot;
            let before_ok =
                p.start == 0 || matches!(text[p.start - 1], b' ' | b'\n' | b'(' | b'\t');
            let initial = one_letter && gap == b". " && before_ok;
            let same_case = if first.upper {
                p.upper
            } else if first.cap {
                p.cap && !p.upper
            } else {
                !p.cap && !p.upper
            };
            let first_name = gap == b" "
                && same_case
                && p.lower.len() >= 3
                && p.name_end == p.end
                && !(p.sent_start && p.cap && !p.upper)
                && ctx.d.first.contains_key(p.lower.as_ref())
                && !not_a_name(&p.lower)
                && !ctx.blocked(p)
                && p.lex == 0;
            if !(initial || first_name) {
                break;
            }
            s.start = p.start;
            k -= 1;
        }
    }
}

/// A surname found with strong evidence ("Dr. Okonkwo", "Okonkwo, Priya, MD") is the same
/// person wherever else it appears capitalised in the note: "Okonkwo updated at 14:00".
/// Only words that are neither dictionary words nor clinical terms spread, and not into
/// eponyms ("Wells score").
fn propagate(ctx: &Ctx<'_>, caseless: &[bool], from: usize, out: &mut Vec<Span>) {
    let text = ctx.text;
    let mut known: Vec<&str> = Vec::new();
    let mut covered: Vec<(usize, usize)> = Vec::new();
    for s in out[from..].iter().filter(|s| s.kind == Kind::Name) {
        covered.push((s.start, s.end));
        if s.score < 0.85 {
            continue;
        }
        // the tokens inside the span
        let a = ctx.toks.partition_point(|t| t.start < s.start);
        for t in ctx.toks[a..].iter().take_while(|t| t.end <= s.end) {
            let spreads = if t.cap && !t.upper {
                strong_surname(ctx, t)
            } else {
                !ctx.blocked(t) && !ctx.is_common_word(t) && !not_a_name(&t.lower)
            };
            if t.lower.len() >= 3 && spreads {
                known.push(t.lower.as_ref());
            }
        }
    }
    if known.is_empty() {
        return;
    }
    let known = TextWords::new(known);
    covered.sort_unstable();
    for (ti, t) in ctx.toks.iter().enumerate() {
        let shape = t.cap && !t.upper || caseless[ti];
        if !shape || !known.contains(&t.lower) {
            continue;
        }
        let k = covered.partition_point(|&(s, _)| s <= t.start);
        if k > 0 && covered[k - 1].1 >= t.name_end {
            continue;
        }
        if medical_noun_follows(text, t.name_end) {
            continue;
        }
        out.push(Span::new(t.start, t.name_end, Kind::Name, 0.8));
    }
}

/// How a line is written: capitalisation is evidence of a name only in mixed case.
/// Per token: `true` when its line (or, for lines of fewer than three words, the whole text)
/// is ALL CAPS or all lower case.
pub(crate) fn caseless_lines(text: &str, toks: &[Tok<'_>]) -> Vec<bool> {
    #[derive(Default, Clone, Copy)]
    struct Count {
        upper: usize,
        lower: usize,
        title: usize,
    }
    impl Count {
        fn add(&mut self, t: &Tok<'_>) {
            if t.name_end - t.start < 2 {
                return;
            }
            if t.upper {
                self.upper += 1;
            } else if t.cap {
                self.title += 1;
            } else {
                self.lower += 1;
            }
        }
        fn n(&self) -> usize {
            self.upper + self.lower + self.title
        }
        /// `Some(caseless)` when the counts decide, `None` when too few words.
        fn mode(&self) -> Option<bool> {
            let n = self.n();
            if n < 3 {
                return None;
            }
            let upper = self.upper * 10 >= n * 7 && self.lower * 10 <= n;
            let lower = self.title == 0 && self.lower * 10 >= n * 6;
            Some(upper || lower)
        }
    }
    let mut out = vec![false; toks.len()];
    let mut lines: Vec<(usize, usize, Count)> = Vec::new();
    let mut total = Count::default();
    let mut start = 0;
    let mut count = Count::default();
    for (k, t) in toks.iter().enumerate() {
        if k > 0 && text[toks[k - 1].end..t.start].contains('\n') {
            lines.push((start, k, count));
            start = k;
            count = Count::default();
        }
        count.add(t);
        total.add(t);
    }
    lines.push((start, toks.len(), count));
    let note = total.mode().unwrap_or(false);
    for (a, b, c) in lines {
        let caseless = c.mode().unwrap_or(note);
        for o in &mut out[a..b] {
            *o = caseless;
        }
    }
    out
}

/// A lower-case post-nominal that closes a name in a one-case line: an unambiguous one
/// ("rrt", "licsw"), or "np"/"rn" after a census first name and a surname ("margaret quibell
/// np"); never "pt", "pa", "ot", "md", "do" ("r fem pa line", "md aware").
fn lower_postnominal(ctx: &Ctx<'_>, i: usize) -> bool {
    let l = ctx.toks[i].lower.as_ref();
    if lex(l) & LEX_POSTNOMINAL == 0 {
        return false;
    }
    match l {
        "pt" | "pa" | "ot" | "md" | "m.d" | "do" | "d.o" | "rd" | "slp" | "mph" | "pa-c" => false,
        "np" | "rn" => {
            i >= 2 && {
                let (a, b) = (&ctx.toks[i - 2], &ctx.toks[i - 1]);
                ctx.d.first.get(a.lower.as_ref()) == Some(&false)
                    && !not_a_name(&a.lower)
                    && (ctx.d.last.contains_key(b.lower.as_ref()) || ctx.unknown_word(b))
                    && !not_a_name(&b.lower)
            }
        }
        _ => true,
    }
}

/// A function word or progress-note verb: never a name or a name part.
pub(crate) fn not_a_name(lower: &str) -> bool {
    static SET: OnceLock<crate::dict::FSet<&'static str>> = OnceLock::new();
    if lower.len() > 12 {
        return false;
    }
    SET.get_or_init(|| NOT_A_NAME.iter().copied().collect())
        .contains(lower)
}

/// A word with an English inflection ("restarted", "draining", "latest") that the
/// dictionary, which lists base forms, does not know.
fn inflected(l: &str) -> bool {
    l.len() >= 6
        && ["ed", "ing", "ly", "est", "ness", "tion", "ment"]
            .iter()
            .any(|s| l.ends_with(s))
}

impl Ctx<'_> {
    /// A first name from the census list (either flag), not a function word.
    fn dict_first(&self, t: &Tok<'_>) -> bool {
        t.lower.len() >= 2
            && !not_a_name(&t.lower)
            && !self.blocked(t)
            && self.d.first.contains_key(t.lower.as_ref())
    }

    /// A census name (first or last) that is not an English word.
    fn dict_name_not_word(&self, t: &Tok<'_>) -> bool {
        t.lower.len() >= 2
            && !self.blocked(t)
            && !self.is_common_word(t)
            && (self.d.first.contains_key(t.lower.as_ref())
                || self.d.last.contains_key(t.lower.as_ref()))
    }

    /// A word that no list knows (not English, not clinical, not a function word).
    fn unknown_word(&self, t: &Tok<'_>) -> bool {
        t.lower.len() >= 3
            && !inflected(&t.lower)
            && !not_a_name(&t.lower)
            && !self.blocked(t)
            && !self.is_common_word(t)
            && t.lex & !(LEX_ANY_TITLE | LEX_ROLE | LEX_VERB) == 0
    }

    /// Extends a name found by a cue in any case: initials, census surnames that are not
    /// English words, unknown words.
    fn extend_any(&self, i: usize) -> usize {
        let mut j = i;
        while j + 1 < self.toks.len() && j < i + 3 {
            let (a, b) = (&self.toks[j], &self.toks[j + 1]);
            if !adjacent(self.text, a, b) || a.name_end != a.end {
                break;
            }
            let initial = b.name_end - b.start == 1 && b.dot && b.cap;
            // middle names too: "DELPHINE ANN SMITH"
            let middle = self.d.first.get(b.lower.as_ref()) == Some(&false)
                && !not_a_name(&b.lower)
                && !self.blocked(b);
            // a census surname that is also an English word ends a field's value:
            // "NAME: JOHN SMITH" (nothing but punctuation after it on the line)
            let field_end = j == i
                && self.d.last.contains_key(b.lower.as_ref())
                && !not_a_name(&b.lower)
                && !self.blocked(b)
                && self.text[b.name_end..]
                    .split('\n')
                    .next()
                    .is_some_and(|rest| !rest.bytes().any(|c| c.is_ascii_alphanumeric()));
            if initial || middle || field_end || self.dict_name_not_word(b) || self.unknown_word(b)
            {
                j += 1;
            } else {
                break;
            }
        }
        // a trailing initial without its dot is not part of the name
        j
    }
}

/// A line that holds only a name, as a note's signature: "MIRELLA", "Dan A. Quibell". The first
/// word is a census first name that is not an English word; the others are initials,
/// census surnames or unknown words; nothing but spaces, dots and commas between them.
fn signature_lines(ctx: &Ctx<'_>, out: &mut Vec<Span>) {
    let toks = ctx.toks;
    let text = ctx.text;
    // the note's last word, after a sentence end, as its signature: "...NOT 1400U/HR. SUSAN"
    if let Some(last) = toks.last() {
        let before = text[..last.start].trim_end_matches([' ', '\t']);
        let after_only_space = text[last.end..].trim().is_empty();
        if after_only_space
            && before.ends_with('.')
            && (last.upper || last.cap)
            && last.name_end - last.start >= 3
            && last.name_end == last.end
            && ctx.d.first.get(last.lower.as_ref()) == Some(&false)
            && !ctx.is_common_word(last)
            && !ctx.blocked(last)
            && !not_a_name(&last.lower)
            && last.lex == 0
        {
            out.push(Span::new(last.start, last.name_end, Kind::Name, 0.75));
        }
    }
    let mut a = 0;
    while a < toks.len() {
        let line_start = text[..toks[a].start].rfind('\n').map_or(0, |k| k + 1);
        let mut b = a + 1;
        while b < toks.len() && !text[toks[b - 1].end..toks[b].start].contains('\n') {
            b += 1;
        }
        let line_end = text[toks[b - 1].end..]
            .find('\n')
            .map_or(text.len(), |k| toks[b - 1].end + k);
        let only_words = text[line_start..line_end].bytes().all(|c| {
            c.is_ascii_alphabetic()
                || matches!(c, b' ' | b'.' | b',' | b'\'' | b'-' | b'\t' | b'\r')
        });
        let first = &toks[a];
        if only_words
            && b - a <= 3
            && first.name_end - first.start >= 3
            && ctx.d.first.get(first.lower.as_ref()) == Some(&false)
            && !ctx.is_common_word(first)
            && !ctx.blocked(first)
            && toks[a + 1..b].iter().all(|t| {
                t.name_end - t.start == 1
                    || ctx.d.last.contains_key(t.lower.as_ref()) && !not_a_name(&t.lower)
                    || ctx.unknown_word(t)
            })
        {
            out.push(ctx.span(a, b - 1, 0.8));
        }
        a = b;
    }
}

/// Names introduced by cues in any case (titles, relations, roles, verbs), and census name
/// pairs in ALL CAPS or all-lower-case lines. Capitalised names in mixed-case text are the
/// main scanner's.
fn any_case(ctx: &Ctx<'_>, caseless: &[bool], out: &mut Vec<Span>) {
    let toks = ctx.toks;
    let text = ctx.text;
    let n = toks.len();
    let mut i = 0;
    while i + 1 < n {
        let t = &toks[i];
        // a hyphenated token cues by its last part: "COPING-SISTER ,OPHELIA"
        // ("dtr-in-law nadia": a hyphenated role listed whole cues as itself)
        let (lower, class) = if t.hyphen && t.lex & LEX_ROLE == 0 {
            let last = t.lower.rsplit('-').next().unwrap_or("");
            (last, lex(last))
        } else {
            (t.lower.as_ref(), t.lex)
        };
        // every rule below needs one of these: skip the rest of the tokens cheaply
        // an initial: one letter and a dot, capitalised, or in a one-case line ("j. tovar
        // rrt", "nsg (d. varga and j. obrien)")
        let initial = |k: usize| {
            let x = &toks[k];
            let spaced = text.as_bytes().get(x.name_end + 1) == Some(&b' ');
            x.name_end - x.start == 1 && x.dot && (x.cap || caseless[k] && spaced)
        };
        let may_start = t.hyphen
            || class & (LEX_ANY_TITLE | LEX_ROLE | LEX_VERB) != 0
            || initial(i)
            || caseless[i] && t.upper;
        if !may_start {
            i += 1;
            continue;
        }
        let nx = &toks[i + 1];
        let gap = &text[t.end..nx.start];
        // "dr. smith", "son: bill", "DAUGHTER-TAMARA"; not across a sentence end ("NP . LUNG")
        let rest = gap.strip_prefix('.').unwrap_or(gap);
        let gap_ok = !gap.is_empty()
            && gap.len() <= 4
            && rest
                .bytes()
                .all(|c| matches!(c, b' ' | b':' | b'-' | b',' | b'\t' | b'('));
        // "DAUGHTER-TAMARA": a role joined to the name by a hyphen
        if let Some((head, rest)) = t.lower.split_once('-').filter(|_| t.hyphen) {
            let rest_start = t.start + head.len() + 1;
            if lex(head) & LEX_ROLE != 0
                && rest.len() >= 2
                && !rest.contains('-')
                && t.lower.len() == t.name_end - t.start
                && (ctx.d.first.contains_key(rest) && !not_a_name(rest))
            {
                out.push(Span::new(rest_start, t.name_end, Kind::Name, 0.85));
                i += 1;
                continue;
            }
        }
        // "DR. L. WOJCIK", "J. TOVAR RRT": an initial and a surname (one-case lines, or
        // after a title)
        let titled = || i >= 1 && toks[i - 1].lex & LEX_ANY_TITLE != 0;
        // ("90'S. NTG": a plural's "S." is not an initial)
        let glued = t.start > 0
            && text.as_bytes()[t.start - 1] != b' '
            && text.as_bytes()[t.start - 1] != b'\n'
            && text.as_bytes()[t.start - 1] != b'(';
        if initial(i) && !glued && (caseless[i] || titled()) {
            let j = ctx.extend_any(i);
            let last = &toks[j];
            if j > i
                && !initial(j)
                && (ctx.d.last.get(last.lower.as_ref()) == Some(&false)
                    || ctx.dict_name_not_word(last)
                    || ctx.unknown_word(last))
                && !medical_noun_follows(text, last.name_end)
            {
                out.push(ctx.span(i, j, if titled() { 0.9 } else { 0.8 }));
                i = j + 1;
                continue;
            }
        }
        if class & (LEX_ANY_TITLE | LEX_ROLE | LEX_VERB) != 0
            && gap_ok
            && nx.name_end - nx.start >= 2
            && !medical_noun_follows(text, nx.name_end)
        {
            let title = class & LEX_ANY_TITLE != 0;
            let role = class & LEX_ROLE != 0;
            let verb = class & LEX_VERB != 0;
            let accept = if title {
                if lower == "ms" {
                    ctx.dict_name_not_word(nx) || ctx.dict_first(nx) && !ctx.is_common_word(nx)
                } else {
                    // eponyms are surnames too: "dr. foley"
                    !not_a_name(&nx.lower)
                        && !is_identifier_cue(&nx.lower)
                        && !ctx.d.clinical_caps.contains(nx.lower.as_ref())
                        && !super::dates::is_month_or_day(&nx.lower)
                        && (ctx.d.first.contains_key(nx.lower.as_ref())
                            || ctx.d.last.contains_key(nx.lower.as_ref())
                            || !ctx.is_common_word(nx))
                }
            } else if role {
                ctx.dict_first(nx)
                    || ctx.dict_name_not_word(nx)
                    || STAFF_ROLES.contains(&lower) && ctx.unknown_word(nx)
                    || RELATION_ROLES.contains(&lower)
                        && !nx.hyphen
                        && ctx.unknown_word(nx)
                        && (!nx.upper || nx.lower.len() >= 4 && connective_follows(text, nx.end))
            } else if verb {
                // "with patty brennagh", "with martin quade": a census first name that is
                // also a word counts when a surname follows
                ctx.dict_name_not_word(nx)
                    || ctx.d.first.contains_key(nx.lower.as_ref())
                        && !not_a_name(&nx.lower)
                        && !ctx.blocked(nx)
                        && i + 2 < n
                        && adjacent(text, nx, &toks[i + 2])
                        && (ctx.d.last.get(toks[i + 2].lower.as_ref()) == Some(&false)
                            || ctx.dict_name_not_word(&toks[i + 2])
                            || ctx.unknown_word(&toks[i + 2]))
            } else {
                false
            };
            if accept {
                let mut j = ctx.extend_any(i + 1);
                // "daughter Rita Quist": a census surname in the same case after a census
                // first name, even when it is also an English word
                if j == i + 1 && (title || role) && ctx.d.first.contains_key(nx.lower.as_ref()) {
                    if let Some(b) = toks.get(j + 1) {
                        if adjacent(text, nx, b)
                            && nx.name_end == nx.end
                            && b.cap == nx.cap
                            && b.upper == nx.upper
                            && b.lower.len() >= 3
                            && b.lex == 0
                            && ctx.d.last.contains_key(b.lower.as_ref())
                            && !not_a_name(&b.lower)
                            && !ctx.blocked(b)
                            && !medical_noun_follows(text, b.name_end)
                        {
                            j += 1;
                        }
                    }
                }
                if !medical_noun_follows(text, toks[j].name_end) {
                    out.push(ctx.span(i + 1, j, if title || role { 0.9 } else { 0.8 }));
                    // "drs ansel and pemberton"
                    if title && j + 2 < n {
                        let (and, y) = (&toks[j + 1], &toks[j + 2]);
                        if matches!(and.lower.as_ref(), "and" | "&")
                            && (ctx.dict_name_not_word(y) || ctx.unknown_word(y))
                        {
                            out.push(ctx.span(j + 2, j + 2, 0.85));
                        }
                    }
                    i = j + 1;
                    continue;
                }
            }
        }
        // a census first name and surname in an ALL CAPS line: "DAN A. SMITH"
        // only in ALL CAPS: in lower-case prose a bare name pair needs a cue
        let first = || {
            ctx.d.first.get(t.lower.as_ref()) == Some(&false)
                || ctx.dict_name_not_word(t) && ctx.d.first.contains_key(t.lower.as_ref())
        };
        if caseless[i] && t.upper && first() && !ctx.blocked(t) && !not_a_name(&t.lower) {
            let j = ctx.extend_any(i);
            let last = &toks[j];
            if j > i
                && !last.initial
                && (ctx.d.last.contains_key(last.lower.as_ref()) || ctx.unknown_word(last))
                && !medical_noun_follows(text, last.name_end)
            {
                out.push(ctx.span(i, j, 0.85));
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
}

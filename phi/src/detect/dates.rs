//! Dates in every written form, holidays, and ages over 89.
//!
//! Not dates: blood pressures (120/80), ratios and doses (1/2 tab), lab values, times of
//! day, and bare years unless [`crate::ScrubberBuilder::bare_years`] is set (HIPAA Safe
//! Harbor allows years).

use super::Captures;

use super::{word_before, Env, RuleDef};
use crate::kind::Kind;
use crate::span::Span;

pub(crate) const MONTH: &str = r"(?:[Jj]an(?:uary)?|JAN(?:UARY)?|[Ff]eb(?:ruary)?|FEB(?:RUARY)?|[Mm]ar(?:ch)?|MAR(?:CH)?|[Aa]pr(?:il)?|APR(?:IL)?|[Mm]ay|MAY|[Jj]une?|JUNE?|[Jj]uly?|JULY?|[Aa]ug(?:ust)?|AUG(?:UST)?|[Ss]ep(?:t(?:ember)?)?|SEP(?:T(?:EMBER)?)?|[Oo]ct(?:ober)?|OCT(?:OBER)?|[Nn]ov(?:ember)?|NOV(?:EMBER)?|[Dd]ec(?:ember)?|DEC(?:EMBER)?)";
const WEEKDAY: &str = r"(?:Mon(?:day)?|Tue(?:s(?:day)?)?|Wed(?:nesday)?|Thu(?:r(?:s(?:day)?)?)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)";
const FULL_MONTH: &str =
    r"(?:January|February|March|April|June|July|August|September|October|November|December)";
const REL: &str = r"(?:(?:last|next|this|past|early|late|mid|since|until)[\s-]+)";
const YEAR: &str = r"(?:(?:19|20)\d{2}|'\d{2})";

pub(crate) fn rules() -> Vec<RuleDef> {
    vec![
        // Month Day(, Year): "Jan 3rd", "March 5th, 2021", "Sept. 14 2020", "Thursday, May 4"
        RuleDef::new(
            format!(
                r"\b(?:{WEEKDAY}\.?,?\s+)?{MONTH}\.?\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b(?:\s*,?\s*(?:of\s+)?({YEAR})\b)?"
            ),
            month_day,
        ),
        // Day Month (Year): "3 January 2023", "14th of Feb", "03-Jan-2023"
        RuleDef::new(
            format!(
                r"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+(?:of\s+)?|-){MONTH}\b\.?(?:,?[\s-]*{YEAR}\b)?"
            ),
            day_month,
        ),
        // Month Year: "January of 2019", "Dec '92", "March, 2020"
        RuleDef::new(format!(r"\b{MONTH}\.?,?\s+(?:of\s+)?{YEAR}\b"), plain),
        // Relative month or weekday: "last December", "next Thursday"
        RuleDef::new(
            format!(
                r"(?i:\b{REL})(?:{FULL_MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
            ),
            plain,
        ),
        // Full month name or weekday alone
        RuleDef::new(
            format!(
                r"\b(?:{FULL_MONTH}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?\b"
            ),
            lone_name,
        ),
        // Numeric with year: 01/02/2023, 1-2-23, 2023-01-02, 2023/1/2, 02.01.2023
        RuleDef::new(
            r"\b(\d{1,4})([/\-.])(\d{1,2})([/\-.])(\d{2,4})\b(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?",
            numeric,
        ),
        // A full date glued to a cue word: "on10/14/82", "DOB01/02/1950"
        RuleDef::new(
            r"(?i:\b(?:on|of|from|since|until|till|dated?|dob|thru|through|to|before|after))(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b",
            glued_numeric,
        ),
        // Month/Year: 3/2021, 03-2021
        RuleDef::new(r"\b(0?[1-9]|1[0-2])[/\-]((?:19|20)\d{2})\b", month_year),
        // Ordinal day after "the": "on the 11th"
        RuleDef::new(
            r"(?i)\bthe\s+((?:[12]?\d|3[01])(?:st|nd|rd|th))\b",
            ordinal_day,
        ),
        // Month and year in any case: "MARCH OF 1993", "in september 2001"
        RuleDef::new(
            r"(?i)\b(?:january|february|march|april|june|july|august|september|october|november|december)\.?,?\s+(?:of\s+)?(?:19|20)\d{2}\b",
            plain,
        ),
        // A month named alone after a time preposition, in any case: "in sept.", "SINCE
        // AUGUST", "until june" (not "may": a verb)
        RuleDef::new(
            r"(?i)\b(?:in|since|until|till|during|last|early|late|mid|before|after|through|thru)\s+(january|february|march|april|june|july|august|september|sept|october|november|december)\b",
            group1,
        ),
        // Month/Day: 1/2 (context needed)
        RuleDef::new(r"\b(\d{1,2})/(\d{1,2})\b", month_day_numeric),
        // '92 after a preposition
        RuleDef::new(
            r"(?i:\b(?:in|since|from|of|during|until|by|circa|ca\.?)\s+)('\d{2})\b",
            group1,
        ),
        // Holidays
        RuleDef::new(
            r"\b(?:Christmas(?:\s+(?:Eve|Day))?|Thanksgiving(?:\s+Day)?|New\s+Year'?s(?:\s+(?:Eve|Day))?|Easter(?:\s+Sunday)?|Halloween|Independence\s+Day|Memorial\s+Day|Labor\s+Day|Veterans'?\s+Day|Valentine'?s\s+Day|Mother'?s\s+Day|Father'?s\s+Day|(?:Martin\s+Luther\s+King(?:,?\s+Jr\.?)?|MLK)\s+Day|Presidents'?\s+Day|Columbus\s+Day|Hanukkah|Chanukah|Kwanzaa|Yom\s+Kippur|Rosh\s+Hashanah|Passover|Diwali|Lunar\s+New\s+Year|Fourth\s+of\s+July|July\s+4th)\b",
            plain,
        ),
        // Bare years (only when the policy asks for them)
        RuleDef::new(r"\b((?:19|20)\d{2})\b", bare_year),
        // Years in a history list, only when the policy asks for them: "MI '92", "CVA 74'",
        // "S/P MI 1992;" (a four-digit year after a word, ending a list item)
        RuleDef::new(r"(?-u:\B)('\d{2})\b", short_year),
        RuleDef::new(r"\b(\d{2})'(?-u:\B)", short_year),
        RuleDef::new(r"\b[A-Za-z]{2,12} ((?:19|20)\d{2})[,.;)]", history_year),
        // Ages over 89
        RuleDef::new(
            r"(?i)\b(\d{2,3})\s*(?:-\s*)?(?:years?|yrs?|y\.?\s?o\.?|yo|y/o)\b(?:[\s-]*old)?",
            age,
        ),
        RuleDef::new(
            r"(?i)\b(?:age[ds]?|aged)\s*(?:of\s+|:\s*|is\s+)?(\d{2,3})\b",
            age,
        ),
        RuleDef::new(
            r"(?i)\b(?:nonagenarian|centenarian|supercentenarian)\b",
            plain_age,
        ),
    ]
}

fn push(out: &mut Vec<Span>, m: super::Match<'_>, kind: Kind, score: f32) {
    out.push(Span::new(m.start(), m.end(), kind, score));
}

fn plain(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    push(
        out,
        c.get(0).expect("group 0. This is a bug."),
        Kind::Date,
        0.9,
    );
}

fn ordinal_day(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let Some(m) = c.get(1) else { return };
    let d: u32 = m
        .as_str()
        .trim_end_matches(|ch: char| ch.is_ascii_alphabetic())
        .parse()
        .unwrap_or(0);
    // "the 2nd dose", "the 3rd time": an ordinal before a noun is not a day
    let next = word_after(env.text, m.end());
    if d == 0 || !(next.is_empty() || matches!(next.as_str(), "at" | "of" | "in" | "and" | "or")) {
        return;
    }
    out.push(Span::new(m.start(), m.end(), Kind::Date, 0.6));
}

fn plain_age(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    push(
        out,
        c.get(0).expect("group 0. This is a bug."),
        Kind::Age,
        0.8,
    );
}

fn group1(c: &Captures<'_>, _: &Env<'_>, out: &mut Vec<Span>) {
    if let Some(m) = c.get(1) {
        push(out, m, Kind::Date, 0.8);
    }
}

fn num(c: &Captures<'_>, i: usize) -> u32 {
    c.get(i)
        .and_then(|m| m.as_str().parse().ok())
        .unwrap_or(u32::MAX)
}

/// Units and dose words that make "5 mar" or "3/4" something other than a date.
fn unit_follows(text: &str, end: usize) -> bool {
    let a = super::after(text, end, 12);
    let a = a.trim_start();
    const UNITS: &[&str] = &[
        "mg", "mcg", "g ", "ml", "tab", "cap", "pill", "unit", "dose", "strength", "cup", "in ",
        "inch", "cm", "mm", "kg", "lb", "%", "x ", "times",
    ];
    UNITS.iter().any(|u| a.starts_with(u))
}

fn month_day(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let day = num(c, 1);
    if !(1..=31).contains(&day) {
        return;
    }
    // "may 5" (modal verb) and "mar" only count when capitalised or followed by a year.
    let s = m.as_str();
    let has_year = c.get(2).is_some();
    if (s.starts_with("may ") || s.starts_with("mar ")) && !has_year {
        return;
    }
    if !has_year && unit_follows(env.text, m.end()) {
        return;
    }
    push(out, m, Kind::Date, if has_year { 0.95 } else { 0.85 });
}

fn day_month(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let day = num(c, 1);
    if !(1..=31).contains(&day) {
        return;
    }
    let s = m.as_str();
    let bare = s
        .trim_end_matches('.')
        .rsplit(|ch: char| ch.is_whitespace() || ch == '-')
        .next()
        .unwrap_or("");
    // "2 may" / "3 mar" without a year: too ambiguous in lower case
    if (bare == "may" || bare == "mar") && !s.chars().any(|ch| ch == '\'') {
        return;
    }
    let word = word_before(env.text, m.start());
    if word.is_some_and(|w| w == "x" || w == "q") {
        return;
    }
    // "3->4 dec", "30-31 Oct": the first day of a range belongs to the date
    let start = range_start(env.text, m.start()).unwrap_or(m.start());
    out.push(Span::new(start, m.end(), Kind::Date, 0.85));
}

/// The start of "D -> " or "D-" or "D to " right before `pos`, where D is a day number
/// (1 to 31) that is not part of a longer number or a fraction.
fn range_start(text: &str, pos: usize) -> Option<usize> {
    let before = text[..pos].trim_end_matches(' ');
    let before = before
        .strip_suffix("->")
        .or_else(|| before.strip_suffix('-'))
        .or_else(|| before.strip_suffix(" to"))?
        .trim_end_matches(' ');
    let digits = before.bytes().rev().take_while(u8::is_ascii_digit).count();
    let start = before.len() - digits;
    let prev = before.as_bytes()[..start].last();
    let day: u32 = before[start..].parse().ok()?;
    ((1..=2).contains(&digits)
        && (1..=31).contains(&day)
        && !prev
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/' | b'-' | b':')))
    .then_some(start)
}

/// "labs on10/14/82": a full numeric date glued to the word before it (the engine's other
/// rules need a word boundary); only after a word that introduces a date.
fn glued_numeric(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let (Some(first), Some(last)) = (c.get(1), c.get(3)) else {
        return;
    };
    let (mo, d, y) = (num(c, 1), num(c, 2), num(c, 3));
    if (1..=12).contains(&mo)
        && (1..=days_in(mo)).contains(&d)
        && valid_year(y, last.as_str().len())
        && env.text.as_bytes().get(last.end()) != Some(&b'%')
    {
        out.push(Span::new(first.start(), last.end(), Kind::Date, 0.85));
    }
}

fn lone_name(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    // A weekday alone ("on Monday") is not a date element under Safe Harbor: it does not
    // narrow the date down without a month or day.
    if m.as_str().ends_with("day") || m.as_str().ends_with("days") {
        return;
    }
    // "March" at a sentence start followed by a lower-case verb is rare enough; "April",
    // "June", "August" may be first names: the name detector outscores this when context
    // says so.
    let a = super::after(env.text, m.end(), 20);
    if a.trim_start().starts_with("'s disease") {
        return;
    }
    push(out, m, Kind::Date, 0.6);
}

fn valid_year(y: u32, digits: usize) -> bool {
    match digits {
        2 => true,
        4 => (1900..=2099).contains(&y),
        _ => false,
    }
}

fn numeric(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let (s1, s2) = (&c[2], &c[4]);
    let (a, b, y) = (num(c, 1), num(c, 3), num(c, 5));
    let (la, ly) = (c[1].len(), c[5].len());
    if s1 != s2 {
        // "11/21.93": a slash date whose year was typed after a dot, when month and day
        // are valid as written (not next to other dotted numbers)
        let t = env.text.as_bytes();
        let dotted_around = m.start() > 0 && t[m.start() - 1] == b'.'
            || t.get(m.end()) == Some(&b'.') && t.get(m.end() + 1).is_some_and(u8::is_ascii_digit);
        if s1 == "/"
            && s2 == "."
            && la <= 2
            && ly == 2
            && (1..=12).contains(&a)
            && (1..=days_in(a)).contains(&b)
            && !dotted_around
            && !measure_context(env.text, m.start(), m.end())
        {
            push(out, m, Kind::Date, 0.8);
        }
        return;
    }
    let ok = if la == 4 {
        // Y-M-D
        (1900..=2099).contains(&a) && (1..=12).contains(&b) && (1..=31).contains(&y) && ly <= 2
    } else if la <= 2 {
        valid_year(y, ly)
            && (1..=31).contains(&a)
            && (1..=31).contains(&b)
            && ((1..=12).contains(&a) || (1..=12).contains(&b))
    } else {
        false
    };
    if !ok {
        return;
    }
    // "10/5/40%" vent settings, "PS 12/5/40"
    let t = env.text.as_bytes();
    if t.get(m.end()) == Some(&b'%') || measure_context(env.text, m.start(), m.end()) {
        return;
    }
    // "1.2.23" next to other dotted numbers (versions, IPs) is not a date
    if s1 == "." {
        let t = env.text.as_bytes();
        let before_dot = m.start() > 0 && t[m.start() - 1] == b'.';
        let after_dot =
            m.end() + 1 < t.len() && t[m.end()] == b'.' && t[m.end() + 1].is_ascii_digit();
        if before_dot || after_dot {
            return;
        }
    }
    push(out, m, Kind::Date, 0.95);
}

fn month_year(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let w = word_before(env.text, m.start());
    if w.is_some_and(|w| w == "bp") {
        return;
    }
    push(out, m, Kind::Date, 0.8);
}

const DATE_CUES: &[&str] = &[
    "on",
    "since",
    "from",
    "until",
    "till",
    "dated",
    "by",
    "of",
    "through",
    "thru",
    "to",
    "after",
    "before",
    "starting",
    "started",
    "admitted",
    "discharged",
    "seen",
    "dos",
    "date",
    "visit",
    "surgery",
    "due",
    "last",
    "next",
    "and",
    "born",
    "dob",
    "expires",
    "exp",
    "effective",
    "returned",
    "returning",
    "week",
    "weekend",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
];

/// Days in `month` (1-12), allowing February 29.
fn days_in(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Words that make a nearby "a/b" a measurement, a score or a setting, not a month and
/// day: vitals ("BP 5/7"), ventilator settings ("CPAP/PS 10/5"), strength and scales
/// ("grips 4/5", "pain 6/10").
const MEASURE_WORDS: &[&str] = &[
    "bp",
    "sbp",
    "dbp",
    "nbp",
    "abp",
    "map",
    "cvp",
    "pap",
    "pad",
    "pas",
    "peep",
    "ps",
    "psv",
    "ips",
    "cpap",
    "bipap",
    "ipap",
    "epap",
    "imv",
    "simv",
    "tv",
    "vt",
    "rr",
    "fio2",
    "vent",
    "settings",
    "setting",
    "mode",
    "flowby",
    "ratio",
    "ie",
    "strength",
    "strengths",
    "grip",
    "grips",
    "motor",
    "power",
    "gcs",
    "score",
    "scale",
    "apgar",
    "rated",
    "rates",
    "rating",
    "pain",
    "cp",
    "discomfort",
    "ha",
    "headache",
    "murmur",
    "sem",
    "co",
    "ci",
    "x",
    "q",
];

/// Cue words strong enough to make even a common fraction a date: "on 1/2", "since 3/4".
const STRONG_DATE_CUES: &[&str] = &[
    "on", "since", "dated", "until", "till", "dos", "date", "dob", "born", "thru", "through",
];

/// Unit and noun words after which "a/b" is a quantity: "1/2 tab", "2/6 murmur", "7/3 shift".
const QUANTITY_FOLLOWS: &[&str] = &[
    "mg",
    "mcg",
    "gm",
    "g",
    "ml",
    "cc",
    "l",
    "liter",
    "liters",
    "tab",
    "tabs",
    "tablet",
    "tablets",
    "cap",
    "caps",
    "pill",
    "pills",
    "unit",
    "units",
    "u",
    "dose",
    "doses",
    "amp",
    "amps",
    "strength",
    "str",
    "ns",
    "nss",
    "cup",
    "cups",
    "gallon",
    "glass",
    "can",
    "cans",
    "bottle",
    "inch",
    "cm",
    "mm",
    "kg",
    "lb",
    "lbs",
    "x",
    "times",
    "murmur",
    "sem",
    "hsm",
    "systolic",
    "diastolic",
    "holosystolic",
    "shift",
    "hr",
    "hrs",
    "hour",
    "hours",
    "min",
    "mins",
    "minutes",
    "day",
    "days",
    "wk",
    "wks",
    "week",
    "weeks",
    "pain",
    "scale",
    "grips",
    "power",
    "of",
    "way",
    "ways",
    "assist",
    "assistance",
    "lobe",
    "lobes",
    "peep",
    "ps",
    "psv",
    "cpap",
    "bipap",
    "ips",
    "fio2",
    "mode",
    "inches",
];

/// Up to `n` ASCII words before `pos` on the same clause (stops at a line break, ';' or a
/// sentence-ending '.'), lower-cased, nearest last.
fn clause_words_before(text: &str, pos: usize, n: usize) -> Vec<String> {
    let b = super::before(text, pos, 48);
    let clause = b.rsplit(['\n', ';']).next().unwrap_or("");
    let clause = match clause.rfind(". ") {
        Some(k) => &clause[k + 2..],
        None => clause,
    };
    let mut w: Vec<String> = clause
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let k = w.len().saturating_sub(n);
    w.drain(..k);
    w
}

/// The first ASCII word after `pos` (after spaces), lower-cased.
fn word_after(text: &str, pos: usize) -> String {
    super::after(text, pos, 16)
        .trim_start_matches([' ', '\t'])
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Whether "a/b" (or "a/b/c") at `start..end` sits among measurement words.
fn measure_context(text: &str, start: usize, end: usize) -> bool {
    clause_words_before(text, start, 3)
        .iter()
        .any(|w| MEASURE_WORDS.contains(&w.as_str()))
        || QUANTITY_FOLLOWS.contains(&word_after(text, end).as_str())
}

fn month_day_numeric(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let (a, b) = (num(c, 1), num(c, 2));
    let year_like = c[2].len() == 2 && b > 31;
    if !(1..=12).contains(&a) || b == 0 || b > days_in(a) && !year_like {
        return;
    }
    let t = env.text.as_bytes();
    // part of a longer numeric expression (3/4/5, 1/2.5, 120/80/..., +1/2, 1-1/2)
    // (a header colon, "HX:8/30", is not a ratio)
    let header_colon =
        m.start() > 1 && t[m.start() - 1] == b':' && t[m.start() - 2].is_ascii_alphabetic();
    let glued_before = m.start() > 0
        && !header_colon
        && matches!(
            t[m.start() - 1],
            b'/' | b'.' | b'-' | b':' | b'+' | b'#' | b'='
        );
    let glued_after = m.end() + 1 < t.len()
        && matches!(t[m.end()], b'/' | b'.' | b'-' | b':' | b'%' | b'x' | b'X')
        && t[m.end() + 1].is_ascii_digit();
    let percent_after = t.get(m.end()) == Some(&b'%');
    if glued_before || glued_after || percent_after {
        return;
    }
    let w = word_before(env.text, m.start());
    let cued = w.as_deref().is_some_and(|w| DATE_CUES.contains(&w));
    let strong_cue = w.as_deref().is_some_and(|w| STRONG_DATE_CUES.contains(&w));
    // "CP ON 10/23": a strong cue right before outweighs measurement words further back
    let measured = if strong_cue {
        QUANTITY_FOLLOWS.contains(&word_after(env.text, m.end()).as_str())
    } else {
        measure_context(env.text, m.start(), m.end())
    };
    // "in" after "a/b" is inches only for a fraction of an inch ("1/2 in", "3/16 in"),
    // never after a month and day ("12/7 in which", "3/23 in am")
    let inches = super::after(env.text, m.end(), 4)
        .trim_start()
        .starts_with("in ");
    let inch_fraction = a < b && matches!(b, 2 | 4 | 8 | 16 | 32);
    if (unit_follows(env.text, m.end()) && (!inches || inch_fraction)) || measured {
        return;
    }
    let time_follows = {
        let a = super::after(env.text, m.end(), 8);
        let a = a.trim_start();
        a.starts_with('@')
            || a.as_bytes().first().is_some_and(u8::is_ascii_digit) && a.contains(':')
    };
    // common fractions ("1/2", "3/4") are dates only after a strong cue or before a time
    let fraction = !year_like && a < b && b <= 4;
    if fraction && !strong_cue && !time_follows {
        return;
    }
    if cued || time_follows {
        out.push(Span::new(m.start(), m.end(), Kind::Date, 0.75));
        return;
    }
    // Without a cue a valid month/day (or month/two-digit year) is a date unless it looks
    // like a strength or vent grade ("5/5").
    if a == b && b <= 5 {
        return;
    }
    out.push(Span::new(m.start(), m.end(), Kind::Date, 0.6));
}

const YEAR_CUES: &[&str] = &[
    "in", "since", "from", "until", "during", "year", "circa", "of", "by", "born", "dob", "early",
    "late", "mid",
];

fn bare_year(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    if !env.policy.bare_years {
        return;
    }
    let m = c.get(1).expect("group 1. This is a bug.");
    let w = word_before(env.text, m.start());
    if w.is_some_and(|w| YEAR_CUES.contains(&w.as_str())) {
        push(out, m, Kind::Date, 0.6);
    }
}

/// "'92", "74'": a two-digit year marked by an apostrophe (bare years only); not a height or
/// a length ("5'10", "12'6\"") nor a quoted number.
fn short_year(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    if !env.policy.bare_years {
        return;
    }
    let m = c.get(0).expect("group 0. This is a bug.");
    let t = env.text.as_bytes();
    let before = m.start().checked_sub(1).map(|i| t[i]);
    let after = t.get(m.end()).copied();
    let numeric = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit() || c == b'\'' || c == b'"');
    if numeric(before) || numeric(after) {
        return;
    }
    let g = c.get(1).expect("group 1. This is a bug.");
    push(out, g, Kind::Date, 0.6);
}

/// A four-digit year ending an item of a history list after the condition or procedure:
/// "S/P MI 1992;", "CVA 2004, hernia" (bare years only). Clock times read the same
/// ("at 1900."), so not after a time preposition.
fn history_year(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    if !env.policy.bare_years {
        return;
    }
    let g = c.get(1).expect("group 1. This is a bug.");
    let w = word_before(env.text, g.start());
    let timed = w.is_some_and(|w| {
        matches!(
            w.as_str(),
            "at" | "to"
                | "from"
                | "until"
                | "till"
                | "by"
                | "around"
                | "about"
                | "approx"
                | "after"
                | "before"
                | "than"
                | "x"
                | "q"
        )
    });
    if !timed {
        push(out, g, Kind::Date, 0.6);
    }
}

fn age(c: &Captures<'_>, env: &Env<'_>, out: &mut Vec<Span>) {
    let m = c.get(0).expect("group 0. This is a bug.");
    let n = num(c, 1);
    if n >= env.policy.min_age && n <= 125 {
        push(out, m, Kind::Age, 0.9);
    }
}

/// Whether a lower-case word is a month or weekday name (full or abbreviated).
pub(crate) fn is_month_or_day(lower: &str) -> bool {
    matches!(
        lower,
        "january"
            | "february"
            | "march"
            | "april"
            | "may"
            | "june"
            | "july"
            | "august"
            | "september"
            | "october"
            | "november"
            | "december"
            | "jan"
            | "feb"
            | "mar"
            | "apr"
            | "jun"
            | "jul"
            | "aug"
            | "sep"
            | "sept"
            | "oct"
            | "nov"
            | "dec"
            | "monday"
            | "tuesday"
            | "wednesday"
            | "thursday"
            | "friday"
            | "saturday"
            | "sunday"
    )
}

//! Date parsing for the date-shift and year-only operators, and civil-date arithmetic.

/// How a date was written, so a shifted date can be written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Month/day/year or day/month/year with separator; `day_first`, `year_digits`.
    Numeric {
        sep: char,
        day_first: bool,
        year_digits: u8,
        iso: bool,
    },
    /// Month name style.
    Text { has_day: bool },
}

/// A parsed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
    pub style: Style,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_of(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.').to_ascii_lowercase();
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| {
            let m = m.to_ascii_lowercase();
            m.starts_with(&w) || (w == "sept" && m == "september")
        })
        .map(|i| i as u32 + 1)
}

fn expand_year(y: u32, digits: usize) -> i32 {
    if digits == 2 {
        // 00-29 -> 2000s, 30-99 -> 1900s
        if y < 30 {
            2000 + y as i32
        } else {
            1900 + y as i32
        }
    } else {
        y as i32
    }
}

/// Parses the date forms the detector reports. `None` for forms without month (holidays,
/// weekdays, '92).
pub(crate) fn parse(s: &str) -> Option<Parsed> {
    let s = s.trim();
    // numeric
    if let Some(sep) = s.chars().find(|c| matches!(c, '/' | '-' | '.')) {
        let head = s.split([' ', 'T']).next().unwrap_or(s);
        let parts: Vec<&str> = head.split(sep).collect();
        if parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            let n: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
            match parts.len() {
                3 if parts[0].len() == 4 => {
                    return valid(Some(n[0] as i32), n[1], n[2]).then_some(Parsed {
                        year: Some(n[0] as i32),
                        month: n[1],
                        day: n[2],
                        style: Style::Numeric {
                            sep,
                            day_first: false,
                            year_digits: 4,
                            iso: true,
                        },
                    });
                }
                3 => {
                    let y = expand_year(n[2], parts[2].len());
                    let day_first = n[0] > 12;
                    let (m, d) = if day_first {
                        (n[1], n[0])
                    } else {
                        (n[0], n[1])
                    };
                    return valid(Some(y), m, d).then_some(Parsed {
                        year: Some(y),
                        month: m,
                        day: d,
                        style: Style::Numeric {
                            sep,
                            day_first,
                            year_digits: parts[2].len() as u8,
                            iso: false,
                        },
                    });
                }
                2 if parts[1].len() == 4 => {
                    return (1..=12).contains(&n[0]).then_some(Parsed {
                        year: Some(n[1] as i32),
                        month: n[0],
                        day: 1,
                        style: Style::Text { has_day: false },
                    });
                }
                2 => {
                    return valid(None, n[0], n[1]).then_some(Parsed {
                        year: None,
                        month: n[0],
                        day: n[1],
                        style: Style::Numeric {
                            sep,
                            day_first: false,
                            year_digits: 0,
                            iso: false,
                        },
                    });
                }
                _ => {}
            }
        }
    }
    // textual
    let mut month = None;
    let mut day = None;
    let mut year = None;
    for w in s.split(|c: char| c.is_whitespace() || c == ',' || c == '-') {
        if w.is_empty() {
            continue;
        }
        if month.is_none() {
            if let Some(m) = month_of(w) {
                month = Some(m);
                continue;
            }
        }
        let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
        if let Some(y) = w.strip_prefix('\'') {
            if y.len() == 2 && y.bytes().all(|b| b.is_ascii_digit()) {
                year = Some(expand_year(y.parse().unwrap_or(0), 2));
            }
        } else if digits.len() == 4 {
            year = digits.parse().ok();
        } else if !digits.is_empty() && digits.len() <= 2 && day.is_none() {
            day = digits.parse().ok();
        }
    }
    let month = month?;
    let has_day = day.is_some();
    let day = day.unwrap_or(1);
    valid(year, month, day).then_some(Parsed {
        year,
        month,
        day,
        style: Style::Text { has_day },
    })
}

fn valid(year: Option<i32>, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && d >= 1 && d <= days_in_month(year.unwrap_or(2001), m)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

/// Shifts a parsed date by `days` and writes it in its original style.
pub(crate) fn shift(p: Parsed, days: i64) -> String {
    let base_year = p.year.unwrap_or(2001);
    let z = days_from_civil(base_year, p.month, p.day) + days;
    let (y, m, d) = civil_from_days(z);
    format_date(Parsed {
        year: p.year.map(|_| y),
        month: m,
        day: d,
        style: p.style,
    })
}

fn format_date(p: Parsed) -> String {
    match p.style {
        Style::Numeric { sep, iso: true, .. } => {
            format!(
                "{:04}{sep}{:02}{sep}{:02}",
                p.year.unwrap_or(0),
                p.month,
                p.day
            )
        }
        Style::Numeric {
            sep,
            day_first,
            year_digits,
            ..
        } => {
            let (a, b) = if day_first {
                (p.day, p.month)
            } else {
                (p.month, p.day)
            };
            match (p.year, year_digits) {
                (Some(y), 2) => format!("{a:02}{sep}{b:02}{sep}{:02}", y.rem_euclid(100)),
                (Some(y), _) => format!("{a:02}{sep}{b:02}{sep}{y:04}"),
                (None, _) => format!("{a}{sep}{b}"),
            }
        }
        Style::Text { has_day } => {
            let month = MONTHS[(p.month - 1) as usize];
            match (has_day, p.year) {
                (true, Some(y)) => format!("{month} {}, {y}", p.day),
                (true, None) => format!("{month} {}", p.day),
                (false, Some(y)) => format!("{month} {y}"),
                (false, None) => month.to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 19_000, 30_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        );
    }

    #[test]
    fn parse_forms() {
        let p = parse("03/05/2021").unwrap();
        assert_eq!((p.year, p.month, p.day), (Some(2021), 3, 5));
        let p = parse("2023-01-02").unwrap();
        assert_eq!((p.year, p.month, p.day), (Some(2023), 1, 2));
        let p = parse("March 5th, 2021").unwrap();
        assert_eq!((p.year, p.month, p.day), (Some(2021), 3, 5));
        let p = parse("3 January 2023").unwrap();
        assert_eq!((p.year, p.month, p.day), (Some(2023), 1, 3));
        let p = parse("Dec '92").unwrap();
        assert_eq!(p.year, Some(1992));
        assert!(parse("Thanksgiving").is_none());
        assert!(parse("02/30/2021").is_none());
    }

    #[test]
    fn shift_keeps_style() {
        assert_eq!(shift(parse("12/31/2020").unwrap(), 1), "01/01/2021");
        assert_eq!(shift(parse("2020-02-28").unwrap(), 1), "2020-02-29");
        assert_eq!(
            shift(parse("March 5th, 2021").unwrap(), -5),
            "February 28, 2021"
        );
    }
}

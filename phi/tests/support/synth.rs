//! Synthetic clinical-note generator with gold PHI spans, shared by the property tests, the
//! evaluation example and the benchmarks (included with `#[path]`).
//!
//! Notes mix headers, vitals, medication lists, labs, nursing shorthand, eponyms and
//! signatures with PHI drawn from pools that are deliberately *not* the crate's dictionaries
//! alone (rare surnames, invented clinic names), so the score is not a dictionary echo.
#![allow(dead_code, missing_docs)]

use clinfer_phi::Kind;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// One gold PHI span (byte offsets into `Note::text`).
#[derive(Debug, Clone)]
pub struct Gold {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

/// A generated note.
#[derive(Debug, Clone, Default)]
pub struct Note {
    pub text: String,
    pub gold: Vec<Gold>,
}

impl Note {
    fn lit(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn phi(&mut self, s: &str, kind: Kind) {
        let start = self.text.len();
        self.text.push_str(s);
        self.gold.push(Gold {
            start,
            end: self.text.len(),
            kind,
        });
    }
    /// The PHI values of the note.
    pub fn values(&self) -> Vec<&str> {
        self.gold
            .iter()
            .map(|g| &self.text[g.start..g.end])
            .collect()
    }
}

const FIRST: &[&str] = &[
    "Maria",
    "James",
    "Linda",
    "Robert",
    "Aisha",
    "Wei",
    "Olga",
    "Tomasz",
    "Priya",
    "Kwame",
    "Sofia",
    "Daniel",
    "Grace",
    "Ahmed",
    "Elena",
    "Marcus",
    "Yuki",
    "Fatima",
    "Connor",
    "Ingrid",
    "Luis",
    "Hannah",
    "Dmitri",
    "Keisha",
    "Samuel",
    "Anita",
    "Jorge",
    "Beatrice",
    "Tyrone",
    "Mei",
    "Patricia",
    "Oluwaseun",
    "Nadia",
    "Henrik",
    "Carmen",
    "Rahul",
    "Deborah",
    "Ivan",
];
const LAST: &[&str] = &[
    "Okonkwo",
    "Nguyen",
    "Zielinski",
    "Hernandez",
    "Thompson",
    "Abernathy",
    "Kowalczyk",
    "Patel",
    "O'Brien",
    "Fitzgerald",
    "Yamamoto",
    "Achebe",
    "Lindqvist",
    "Moreau",
    "Castellano",
    "Whitfield",
    "Baranowski",
    "Delacroix",
    "Hughes",
    "Ramirez",
    "Sokolov",
    "Mbeki",
    "Vasquez",
    "Brennan",
    "Kaczmarek",
    "Oyelaran",
    "Stewart",
    "Rosenberg",
    "McAllister",
    "Chen",
    "Garcia",
    "Novak",
    "Adeyemi",
    "Halvorsen",
    "Pham",
    "Sutherland",
    "Ferreira",
    "Kim",
    "Johansson",
];
const CITIES: &[(&str, &str)] = &[
    ("Springfield", "IL"),
    ("Worcester", "MA"),
    ("Tulsa", "OK"),
    ("Fresno", "CA"),
    ("Toledo", "OH"),
    ("Boise", "ID"),
    ("Scranton", "PA"),
    ("Macon", "GA"),
    ("Provo", "UT"),
    ("Duluth", "MN"),
    ("Albany", "NY"),
    ("Tacoma", "WA"),
    ("Lubbock", "TX"),
    ("Dayton", "OH"),
];
const STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Washington",
    "Cedar",
    "Lakeview",
    "Elm",
    "Pine",
    "Hillcrest",
    "Main",
    "Park",
];
const SUFFIX: &[&str] = &[
    "Street", "St.", "Avenue", "Ave", "Road", "Drive", "Lane", "Blvd", "Court",
];
const ORGS: &[&str] = &[
    "Riverside Medical Center",
    "St. Agnes Hospital",
    "Lakeshore Clinic",
    "Mercy General Hospital",
    "Northbrook Family Health Center",
    "Valley View Hospital",
    "Harborview Medical Center",
    "Mt. Carmel Health System",
    "Pinecrest Rehabilitation Center",
    "Sunrise Urgent Care",
    "Baptist Memorial Hospital",
    "Greenfield Surgery Center",
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MON3: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const CONDITIONS: &[&str] = &[
    "HTN, DM2 and CAD s/p CABG",
    "COPD on 2L home O2",
    "CHF (EF 35%)",
    "Parkinson's disease",
    "Hodgkin lymphoma in remission",
    "Crohn's disease",
    "Graves disease",
    "ESRD on HD MWF",
    "Alzheimer's dementia",
    "atrial fibrillation on warfarin",
    "Down syndrome",
    "Cushing syndrome",
];
const RELATIONS: &[&str] = &[
    "wife", "husband", "daughter", "son", "sister", "brother", "mother", "friend",
];

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs.choose(rng).copied().unwrap_or("")
}

fn date(rng: &mut StdRng) -> String {
    let (m, d, y) = (
        rng.random_range(1..=12u32),
        rng.random_range(1..=28u32),
        rng.random_range(1995..=2024u32),
    );
    match rng.random_range(0..7) {
        0 => format!("{m:02}/{d:02}/{y}"),
        1 => format!("{m}/{d}/{:02}", y % 100),
        2 => format!("{y}-{m:02}-{d:02}"),
        3 => format!("{} {d}, {y}", MONTHS[(m as usize - 1) % MONTHS.len()]),
        4 => format!("{d} {} {y}", MONTHS[(m as usize - 1) % MONTHS.len()]),
        5 => format!("{} {d}", MON3[(m as usize - 1) % MON3.len()]),
        _ => format!("{}. {d}th", MON3[(m as usize - 1) % MON3.len()]),
    }
}

fn phone(rng: &mut StdRng) -> String {
    let (a, b, c) = (
        rng.random_range(201..=989),
        rng.random_range(200..=999),
        rng.random_range(0..=9999),
    );
    match rng.random_range(0..4) {
        0 => format!("({a}) {b}-{c:04}"),
        1 => format!("{a}-{b}-{c:04}"),
        2 => format!("{a}.{b}.{c:04}"),
        _ => format!("{a}-{b}-{c:04} x{}", rng.random_range(10..999)),
    }
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn name(rng: &mut StdRng) -> String {
    let (f, l) = (pick(rng, FIRST), pick(rng, LAST));
    match rng.random_range(0..5) {
        0 => format!("{l}, {f}"),
        1 => format!("{f} {}. {l}", char::from(b'A' + rng.random_range(0..26u8))),
        2 => format!("{} {l}", &f[..1]).replacen(' ', ". ", 1),
        _ => format!("{f} {l}"),
    }
}

/// Generates one note from a seed (same seed, same note).
pub fn note(seed: u64) -> Note {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = Note::default();
    let rng = &mut rng;
    let pt_first = pick(rng, FIRST);
    let pt_last = pick(rng, LAST);
    // header
    n.lit("Patient: ");
    n.phi(&format!("{pt_first} {pt_last}"), Kind::Name);
    n.lit("\nMRN: ");
    let len = rng.random_range(6..=9);
    n.phi(&digits(rng, len), Kind::Mrn);
    n.lit("\nDOB: ");
    n.phi(&date(rng), Kind::Date);
    n.lit("\nAdmission Date: ");
    n.phi(&date(rng), Kind::Date);
    n.lit("\nAttending: Dr. ");
    n.phi(pick(rng, LAST), Kind::Name);
    n.lit("\n\nHPI: ");
    let age: u32 = if rng.random_bool(0.15) {
        rng.random_range(90..=104)
    } else {
        rng.random_range(22..=88)
    };
    if age >= 90 {
        n.phi(&format!("{age} yo"), Kind::Age);
    } else {
        n.lit(&format!("{age} yo"));
    }
    n.lit(&format!(
        " {} with {} presented to ",
        pick(rng, &["M", "F", "male", "female"]),
        pick(rng, CONDITIONS)
    ));
    n.phi(pick(rng, ORGS), Kind::Organization);
    n.lit(" on ");
    n.phi(&date(rng), Kind::Date);
    n.lit(" c/o SOB x3d, denies CP/palp. ");
    if rng.random_bool(0.6) {
        n.lit(&format!("Pt's {} ", pick(rng, RELATIONS)));
        n.phi(pick(rng, FIRST), Kind::Name);
        n.lit(" (");
        n.phi(&phone(rng), Kind::Phone);
        n.lit(") at bedside.");
    }
    // nursing-style lines: surname-only references, lower-case cue words, times
    if rng.random_bool(0.5) {
        n.lit("\n0800: resting comfortably. 1130: d/w Dr. ");
        n.phi(pick(rng, LAST), Kind::Name);
        n.lit(" re: diuresis, pt's daughter ");
        n.phi(
            &format!("{} {}", pick(rng, FIRST), pick(rng, LAST)),
            Kind::Name,
        );
        n.lit(" updated by phone. Transfer to ");
        n.phi(pick(rng, ORGS), Kind::Organization);
        n.lit(" discussed for ");
        n.phi(
            &format!("{}/{}", rng.random_range(1..=12), rng.random_range(1..=28)),
            Kind::Date,
        );
        n.lit(" @ 10:00.");
    }
    if rng.random_bool(0.3) {
        n.lit(" Lives in ");
        let (city, _) = *CITIES.choose(rng).expect("non-empty");
        n.phi(city, Kind::Location);
        n.lit(", visits from ");
        n.phi(pick(rng, &["Mrs. ", "Mr. ", "Ms. "]), Kind::Name);
        let last = n.gold.len() - 1;
        n.text.push_str(pick(rng, LAST));
        n.gold[last].end = n.text.len();
        n.lit(" next door.");
    }
    n.lit("\n\nVitals: T 98.6 HR 88 BP 132/84 RR 18 SpO2 97% on RA. Wt 82 kg.\n");
    n.lit("Meds: lisinopril 10 mg PO daily, metformin 500 mg BID, ASA 81 mg qd, Lasix 40 mg IV, 1/2 tab oxycodone 5/325 q6h prn.\n");
    n.lit("Labs: Na 138, K 4.1, Cr 1.2 (baseline 0.9), WBC 7.5, Hgb 12.1, Plt 250, INR 2.3, A1c 7.2%.\n");
    n.lit("Exam: Babinski sign negative, Murphy's sign neg. Foley catheter in place. Wells score 2.\n");
    // social
    n.lit("\nSocial: lives with ");
    n.lit(pick(rng, RELATIONS));
    n.lit(" at ");
    let (city, st) = *CITIES.choose(rng).expect("non-empty");
    n.phi(
        &format!(
            "{} {} {}, {city}, {st} {}",
            rng.random_range(1..9999),
            pick(rng, STREETS),
            pick(rng, SUFFIX),
            digits(rng, 5)
        ),
        Kind::Address,
    );
    n.lit(". Former smoker, quit in 2015. EtOH socially.\n");
    // identifiers
    match rng.random_range(0..5) {
        0 => {
            n.lit("Insurance ID: ");
            n.phi(
                &format!("{}{}", pick(rng, &["HP", "XQ", "MBR", ""]), digits(rng, 8)),
                Kind::HealthPlan,
            );
        }
        1 => {
            n.lit("SSN: ");
            n.phi(
                &format!(
                    "{}-{}-{}",
                    rng.random_range(100..=665),
                    digits(rng, 2).replace("00", "17"),
                    digits(rng, 4).replace("0000", "4321")
                ),
                Kind::Ssn,
            );
        }
        2 => {
            n.lit("Acct #: ");
            n.phi(&digits(rng, 10), Kind::Account);
        }
        3 => {
            n.lit("Pacemaker serial no. ");
            n.phi(&format!("PM{}", digits(rng, 7)), Kind::Device);
        }
        _ => {
            n.lit("Email: ");
            n.phi(
                &format!(
                    "{}.{}@{}",
                    pt_first.to_lowercase(),
                    pt_last.to_lowercase().replace('\'', ""),
                    pick(rng, &["gmail.com", "yahoo.com", "mail.org"])
                ),
                Kind::Email,
            );
        }
    }
    n.lit("\n\nA/P: ");
    n.lit(&format!(
        "{} - cont current meds. Repeat BMP in AM. ",
        pick(rng, &["CHF exacerbation", "CAP", "UTI", "AKI on CKD"])
    ));
    n.lit("F/u with ");
    n.phi(&format!("Dr. {}", pick(rng, LAST)), Kind::Name);
    n.lit(" on ");
    n.phi(&date(rng), Kind::Date);
    n.lit(". Call ");
    n.phi(&phone(rng), Kind::Phone);
    n.lit(" or fax ");
    n.phi(&phone(rng), Kind::Fax);
    n.lit(".\n\n");
    n.lit("Electronically signed by ");
    n.phi(&name(rng), Kind::Name);
    n.lit(&format!(", {} ", pick(rng, &["MD", "RN", "NP", "PA-C"])));
    n.phi(&date(rng), Kind::Date);
    n.lit(" 14:32\n");
    n
}

/// `n` notes from consecutive seeds starting at `seed`.
pub fn notes(seed: u64, n: usize) -> Vec<Note> {
    (0..n as u64).map(|i| note(seed.wrapping_add(i))).collect()
}

/// Narrative sentences without PHI for [`prose_note`]: hospital-course style clinical prose.
const PROSE: &[&str] = &[
    "The patient was admitted to the medicine service for further evaluation and management of acute decompensated heart failure.",
    "On arrival she was tachypneic to the mid twenties with bibasilar crackles and pitting edema to the knees bilaterally.",
    "A chest radiograph demonstrated small bilateral pleural effusions and cephalization of the pulmonary vasculature.",
    "He was started on intravenous furosemide with good urine output and was net negative three liters over the first two days.",
    "Troponin was mildly elevated but flat on repeat, felt to represent demand ischemia in the setting of volume overload.",
    "Transthoracic echocardiogram showed an ejection fraction of approximately thirty five percent with moderate mitral regurgitation.",
    "Her home metoprolol was held initially because of soft blood pressures and was restarted at a lower dose before discharge.",
    "Renal function worsened transiently with diuresis, with creatinine peaking at 1.8 before returning to baseline.",
    "Blood cultures remained negative and antibiotics were discontinued after forty eight hours.",
    "Physical therapy evaluated the patient and recommended home with outpatient services rather than a skilled nursing facility.",
    "Diabetes was managed with basal insulin and a correction scale, with fasting glucose values between 120 and 180.",
    "The patient tolerated a regular cardiac diet and ambulated in the hallway without oxygen by the day of discharge.",
    "Given the new diagnosis of atrial fibrillation, anticoagulation was discussed at length, including the risks of bleeding.",
    "A CHA2DS2-VASc score of 4 was calculated and apixaban 5 mg twice daily was started after shared decision making.",
    "Potassium and magnesium were repleted as needed, and electrolytes were stable at the time of discharge.",
    "Wound care was consulted for a stage 2 pressure injury over the sacrum, which was dressed with foam and offloaded.",
    "Pain was controlled with scheduled acetaminophen and low dose oxycodone as needed for breakthrough pain.",
    "The patient and family expressed understanding of the plan and all questions were answered.",
    "Follow-up laboratory studies including a basic metabolic panel are recommended within one week of discharge.",
    "Code status was confirmed as full code after discussion with the patient and the primary team.",
    "There were no acute events overnight, and telemetry showed sinus rhythm with occasional premature ventricular contractions.",
    "The hemoglobin drifted down to 9.2 without signs of active bleeding and stool guaiac testing was negative.",
    "Home medications were reconciled and a new prescription for spironolactone 25 mg daily was added.",
    "She was counseled on a two gram sodium diet, daily weights, and a fluid restriction of two liters per day.",
    "Neurologic examination was nonfocal, and the episode of confusion on the second night resolved with reorientation.",
    "Urinalysis was bland and a urine culture grew mixed flora consistent with contamination.",
    "A CT scan of the abdomen and pelvis with contrast showed uncomplicated sigmoid diverticulitis without abscess.",
    "He completed a course of ceftriaxone and metronidazole and was transitioned to oral amoxicillin-clavulanate.",
    "Smoking cessation was addressed and a nicotine patch was offered, which the patient accepted.",
    "Lower extremity duplex ultrasound was negative for deep venous thrombosis.",
];

/// Generates one narrative note (discharge-summary prose, moderately PHI-dense: about one
/// identifier per 250 bytes) from a seed, with gold spans.
pub fn prose_note(seed: u64) -> Note {
    let mut rng = StdRng::seed_from_u64(seed);
    let rng = &mut rng;
    let mut n = Note::default();
    n.lit("DISCHARGE SUMMARY\n\nHOSPITAL COURSE: ");
    n.phi(
        &format!("{} {}", pick(rng, FIRST), pick(rng, LAST)),
        Kind::Name,
    );
    n.lit(&format!(
        " is a {} year old with {} who presented to ",
        rng.random_range(40..=88),
        pick(rng, CONDITIONS)
    ));
    n.phi(pick(rng, ORGS), Kind::Organization);
    n.lit(" on ");
    n.phi(&date(rng), Kind::Date);
    n.lit(" with progressive dyspnea. ");
    for p in 0..6 {
        for _ in 0..rng.random_range(3..=6) {
            n.lit(pick(rng, PROSE));
            n.lit(" ");
        }
        match rng.random_range(0..6) {
            0 => {
                n.lit("The case was discussed with Dr. ");
                n.phi(pick(rng, LAST), Kind::Name);
                n.lit(" from cardiology on ");
                n.phi(&date(rng), Kind::Date);
                n.lit(". ");
            }
            1 => {
                n.lit(&format!("Her {} ", pick(rng, RELATIONS)));
                n.phi(pick(rng, FIRST), Kind::Name);
                n.lit(" can be reached at ");
                n.phi(&phone(rng), Kind::Phone);
                n.lit(". ");
            }
            2 => {
                n.lit("Records were requested from ");
                n.phi(pick(rng, ORGS), Kind::Organization);
                n.lit(". ");
            }
            3 => {
                n.lit("He lives alone in ");
                let (city, _) = *CITIES.choose(rng).expect("non-empty");
                n.phi(city, Kind::Location);
                n.lit(" and drives himself to appointments. ");
            }
            4 => {
                n.lit("Echocardiogram from ");
                n.phi(&date(rng), Kind::Date);
                n.lit(" was reviewed for comparison. ");
            }
            _ => {}
        }
        n.lit(if p % 2 == 1 { "\n\n" } else { "" });
    }
    n.lit("\n\nDISPOSITION: Home with services. Follow up with ");
    n.phi(&format!("Dr. {}", pick(rng, LAST)), Kind::Name);
    n.lit(" in two weeks.\n");
    n
}

/// `n` narrative notes from consecutive seeds starting at `seed`.
pub fn prose_notes(seed: u64, n: usize) -> Vec<Note> {
    (0..n as u64)
        .map(|i| prose_note(seed.wrapping_add(i)))
        .collect()
}

//! Hostile input shapes for the worst-case tests and benchmarks: long runs without spaces,
//! long runs of capitalised words and deep repetition of cue words. Each shape is a unit
//! repeated (or a prefix followed by filler) up to a byte length, so the same shape can be
//! generated at several sizes and the work compared across sizes.

#![allow(dead_code)]

/// One hostile shape: a name and how to build it at a given length.
pub struct Shape {
    /// Short name for benchmark ids and test messages.
    pub name: &'static str,
    prefix: &'static str,
    unit: &'static str,
}

impl Shape {
    /// The shape at `len` bytes (less up to 3 where a unit is not ASCII), never shorter
    /// than its prefix.
    pub fn build(&self, len: usize) -> String {
        let mut s = String::with_capacity(len.max(self.prefix.len()) + self.unit.len());
        s.push_str(self.prefix);
        while s.len() < len {
            s.push_str(self.unit);
        }
        let mut cut = len.max(self.prefix.len()).min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s
    }
}

const fn shape(name: &'static str, prefix: &'static str, unit: &'static str) -> Shape {
    Shape { name, prefix, unit }
}

/// Every shape the worst-case guarantees are tested and measured on.
pub const SHAPES: &[Shape] = &[
    // long runs without spaces
    shape("www_run", "www.", "a"),
    shape("http_run", "http://", "a"),
    shape("ftp_run", "ftp://", "a"),
    shape("domain_path_run", "example.com/", "a"),
    shape("at_run", "", "a@"),
    shape("dot_run", "", "a."),
    shape("dotted_digits", "", "1."),
    shape("colon_run", "", "a:"),
    shape("hex_colon_run", "", "1f:"),
    shape("slash_digits", "", "1/2/"),
    shape("dash_digits", "", "12-"),
    shape("hash_run", "#", "1"),
    shape("letter_token", "", "a"),
    shape("upper_token", "", "A"),
    shape("digit_token", "", "7"),
    shape("mixed_token", "", "A1b2"),
    shape("plus_digits", "+", "1 "),
    shape("tld_run", "", "a.com."),
    shape("emails", "", "a@b.co "),
    shape("accented_run", "", "\u{e9}"),
    shape("cjk_run", "", "\u{75c5}"),
    // whitespace
    shape("spaces", "", " "),
    shape("newlines", "", "\n"),
    shape("spaces_then_digits", "MRN:", " "),
    shape("month_then_spaces", "Jan 3", " "),
    // capitalised words
    shape("capitalised", "", "Smith "),
    shape("caps_words", "", "SMITH "),
    shape("initials", "", "A. "),
    shape("title_names", "", "Dr. Smith "),
    shape("street_words", "", "Elm Main "),
    shape("comma_names", "", "Smith, "),
    // cue words
    shape("mrn_cues", "", "MRN "),
    shape("phone_cues", "", "phone: "),
    shape("month_cues", "", "Jan "),
    shape("age_cues", "", "aged "),
    shape("name_cues", "", "Patient: "),
    shape("hospital_cues", "", "Hospital "),
    shape("cue_numbers", "", "MRN 1234 "),
    shape("dates", "", "01/02/2023 "),
    shape("phones", "", "617-555-0143 "),
];

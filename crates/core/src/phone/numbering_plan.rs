//! The numbering plan's regexes: compiled once per process, ASCII-only, and never evicted.
//!
//! The `phonenumber` crate compiles the regexes of its metadata on first use into one global
//! LRU cache of 100 entries. A number's calling code brings 5 to 120 of them (`+1` has 25
//! regions), so numbers from more than a handful of countries overflow the cache, and from
//! then on every parse compiles again the regexes the previous one evicted: about 3 ms of CPU
//! per parse for a round of 16 countries against 5 µs once compiled. That is the shape of
//! SMS-pumping traffic (numbers across many countries), and the parse comes before any limit
//! can refuse, so the cheapest path under abuse would have become the dearest.
//!
//! So the cache never evicts: its keys are the metadata's patterns, a finite set. And before
//! the first number of a calling code is parsed, that code's patterns go into the cache
//! compiled without Unicode classes: the crate runs them only on ASCII digits (its parser
//! refuses other scripts' digits), where ASCII and Unicode classes agree, and the ASCII build is
//! about five times smaller (every country's parsing patterns: 21 MiB against more than 100).
//! A pattern this module did not put there (a formatting one, or one whose ASCII build fails)
//! is still compiled by the crate on first use, and kept.
//!
//! Preparing costs about 9 ms for `+1` and less for any other code, once per process. It says
//! only that nobody in this process has used that calling code yet, not whether a number or
//! an account exists (R19).

use std::sync::{Once, OnceLock, PoisonError};

use phonenumber::metadata::DATABASE;
use phonenumber::{Metadata, Type};

/// ITU calling codes have one to three digits.
const CALLING_CODES: usize = 1000;

/// Whether each calling code's patterns are in the cache.
static PREPARED: [OnceLock<()>; CALLING_CODES] = [const { OnceLock::new() }; CALLING_CODES];
static KEEP_EVERY_REGEX: Once = Once::new();

/// Makes the numbering plan of `calling_code` ready: after this, parsing its numbers compiles
/// no regex. Callers that arrive while another prepares the same code wait for it.
pub(super) fn prepare(calling_code: u16) {
    KEEP_EVERY_REGEX.call_once(|| {
        let cache = DATABASE.cache();
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.set_capacity(usize::MAX);
    });
    if let Some(prepared) = PREPARED.get(usize::from(calling_code)) {
        prepared.get_or_init(|| put_ascii_regexes(calling_code));
    }
}

/// Whether `calling_code`'s patterns were put in the cache by [`prepare`]; `false` while
/// another thread still prepares them.
pub(super) fn is_prepared(calling_code: u16) -> bool {
    PREPARED
        .get(usize::from(calling_code))
        .is_some_and(|prepared| prepared.get().is_some())
}

/// The calling code of `region` (`US` → 1), to prepare before reading national numbers in it.
pub(super) fn calling_code_of(region: &str) -> Option<u16> {
    DATABASE.by_id(region).map(Metadata::country_code)
}

fn put_ascii_regexes(calling_code: u16) {
    let cache = DATABASE.cache();
    let missing: Vec<String> = {
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        parsing_patterns(calling_code)
            .into_iter()
            .filter(|pattern| !cache.contains_key(pattern.as_str()))
            .collect()
    };
    // Compiled outside the lock: other calling codes' parses keep going meanwhile.
    let compiled: Vec<regex::Regex> = missing
        .iter()
        .filter_map(|pattern| ascii_regex(pattern))
        .collect();
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    for regex in compiled {
        // Keeps an entry the crate compiled meanwhile: both give the same answers.
        cache.save(regex);
    }
}

/// A pattern built as the crate builds it (whitespace in patterns ignored), minus Unicode.
/// `None` when a pattern needs Unicode; the crate then compiles its own.
pub(super) fn ascii_regex(pattern: &str) -> Option<regex::Regex> {
    regex::RegexBuilder::new(pattern)
        .ignore_whitespace(true)
        .unicode(false)
        .build()
        .ok()
}

/// Every pattern that parsing, validating and typing a number of `calling_code` can run: each
/// region's number descriptors, its prefixes and its leading digits. Formatting patterns are
/// left out: an E.164 form needs none.
pub(super) fn parsing_patterns(calling_code: u16) -> Vec<String> {
    let mut patterns = Vec::new();
    for region in DATABASE.by_code(&calling_code).unwrap_or_default() {
        let descriptors = region.descriptors();
        let typed = LINE_TYPES.iter().filter_map(|kind| descriptors.get(*kind));
        for descriptor in std::iter::once(descriptors.general()).chain(typed) {
            patterns.push(descriptor.national_number().as_str().to_owned());
        }
        let prefixes = [
            region.international_prefix(),
            region.national_prefix_for_parsing(),
            region.leading_digits(),
        ];
        for regex in prefixes.into_iter().flatten() {
            patterns.push(regex.as_str().to_owned());
        }
    }
    patterns.sort_unstable();
    patterns.dedup();
    patterns
}

/// The descriptor kinds `number_type` and `is_valid` try.
const LINE_TYPES: [Type; 15] = [
    Type::FixedLine,
    Type::Mobile,
    Type::TollFree,
    Type::PremiumRate,
    Type::SharedCost,
    Type::PersonalNumber,
    Type::Voip,
    Type::Pager,
    Type::Uan,
    Type::Emergency,
    Type::Voicemail,
    Type::ShortCode,
    Type::StandardRate,
    Type::Carrier,
    Type::NoInternational,
];

#[cfg(test)]
mod tests;

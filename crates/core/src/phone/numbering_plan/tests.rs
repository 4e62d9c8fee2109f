use phonenumber::metadata::DATABASE;

use super::*;
use crate::phone::{PhoneNumber, Region};

/// Calling codes whose parsing patterns together are far more than the crate's 100 entries.
const MANY_COUNTRIES: [&str; 16] = [
    "+1 415 555 0100",
    "+44 7400 123456",
    "+49 1512 3456789",
    "+33 6 12 34 56 78",
    "+39 312 345 6789",
    "+34 612 34 56 78",
    "+61 4 1234 5678",
    "+81 90 1234 5678",
    "+55 11 91234 5678",
    "+91 98123 45678",
    "+86 138 1234 5678",
    "+27 82 123 4567",
    "+234 803 123 4567",
    "+7 916 123 45 67",
    "+52 55 1234 5678",
    "+65 9123 4567",
];

fn cached(pattern: &str) -> bool {
    let cache = DATABASE.cache();
    let mut cache = cache.lock().unwrap();
    cache.contains_key(pattern)
}

/// Numbers from many countries evict nothing: the second round compiles no regex (with the
/// crate's own cache of 100, every round compiled again what the last one evicted).
#[test]
fn numbers_of_many_countries_keep_every_regex_compiled() {
    for _ in 0..2 {
        for input in MANY_COUNTRIES {
            PhoneNumber::parse(input, None).unwrap();
        }
    }
    let codes = MANY_COUNTRIES.map(|input| PhoneNumber::parse(input, None).unwrap().calling_code());
    let patterns: Vec<String> = codes.into_iter().flat_map(parsing_patterns).collect();
    assert!(patterns.len() > 200, "{} patterns", patterns.len());
    let missing: Vec<&String> = patterns.iter().filter(|p| !cached(p)).collect();
    assert!(missing.is_empty(), "evicted or never prepared: {missing:?}");
}

/// A national number prepares its default region's plan, whose prefixes read it.
#[test]
fn a_national_number_prepares_its_default_region() {
    let nz = Region::parse("NZ").ok();
    assert_eq!(
        PhoneNumber::parse("03-331 6005", nz).map(|p| p.e164().to_owned()),
        Ok("+6433316005".to_owned())
    );
    assert!(parsing_patterns(64).iter().all(|p| cached(p)));
}

/// The crate reads only ASCII digits (its parser refuses others before any pattern runs), so
/// every haystack a pattern sees is ASCII, where ASCII and Unicode classes agree.
#[test]
fn digits_of_other_scripts_are_refused_before_any_pattern_runs() {
    let us = Region::parse("US").ok();
    for input in [
        "+١ ٤١٥ ٥٥٥ ٠١٠٠",
        "+１ ４１５ ５５５ ０１００",
        "(٤١٥) ٥٥٥-٠١٠٠",
    ] {
        let theirs = phonenumber::parse(Some(phonenumber::country::Id::US), input);
        assert!(theirs.is_err(), "{input}");
        assert_eq!(
            PhoneNumber::parse(input, us).err(),
            Some(crate::phone::PhoneError::Unparseable),
            "{input}"
        );
    }
}

/// On ASCII digits, every parsing pattern built without Unicode finds what the crate's own
/// build (Unicode classes) finds: each region's example numbers, their prefixes and variants.
#[test]
fn ascii_builds_find_what_the_crates_own_builds_find() {
    let mut checked = 0;
    for code in 1..=999u16 {
        let Some(regions) = DATABASE.by_code(&code) else {
            continue;
        };
        let examples: Vec<String> = regions
            .iter()
            .flat_map(|region| {
                let descriptors = region.descriptors();
                let typed = LINE_TYPES.iter().filter_map(|kind| descriptors.get(*kind));
                std::iter::once(descriptors.general()).chain(typed)
            })
            .filter_map(|descriptor| descriptor.example().map(str::to_owned))
            .collect();
        let haystacks: Vec<String> = examples
            .iter()
            .flat_map(|example| {
                let shifted: String = example
                    .bytes()
                    .map(|b| char::from(b'0' + (b - b'0' + 3) % 10))
                    .collect();
                (1..=example.len())
                    .map(move |n| example[..n].to_owned())
                    .chain([shifted, format!("0{example}"), format!("{example}9")])
            })
            .collect();
        for pattern in parsing_patterns(code) {
            let ascii = ascii_regex(&pattern).unwrap_or_else(|| panic!("{pattern} needs Unicode"));
            let theirs = regex::RegexBuilder::new(&pattern)
                .ignore_whitespace(true)
                .build()
                .unwrap();
            for haystack in &haystacks {
                let found = |re: &regex::Regex| re.find(haystack).map(|m| m.range());
                assert_eq!(found(&ascii), found(&theirs), "{pattern} on {haystack}");
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} patterns");
}

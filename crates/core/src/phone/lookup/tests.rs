use phonenumber::metadata::DATABASE;
use phonenumber::{Metadata, Type};

use super::*;
use crate::phone::{PhoneNumber, Region};

/// Every example number of every region and type, and variants around each: one digit
/// fewer, one more, and every other first digit (valid, invalid, other regions' ranges).
fn national_numbers(meta: &Metadata) -> Vec<String> {
    let d = meta.descriptors();
    let examples = [
        Some(d.general()),
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|descriptor| descriptor.example().map(str::to_owned));
    let mut numbers = Vec::new();
    for example in examples {
        numbers.push(example[..example.len() - 1].to_owned());
        numbers.push(format!("{example}0"));
        for first in '1'..='9' {
            numbers.push(format!("{first}{}", &example[1..]));
        }
        numbers.push(example);
    }
    numbers
}

/// The region and type `lookup` finds are the crate's own (`PhoneNumber::metadata` and
/// `number_type`), for every calling code's numbers, valid and not.
#[test]
fn one_search_finds_the_crates_region_and_type() {
    let mut compared = 0;
    let mut valid = 0;
    for meta in DATABASE.iter() {
        let code = meta.country_code();
        for national in national_numbers(meta) {
            let Ok(parsed) = phonenumber::parse(None, format!("+{code}{national}")) else {
                continue;
            };
            if parsed.national().zeros() != 0 {
                continue;
            }
            let digits = parsed.national().value().to_string();
            let ours = metadata_and_type(parsed.code().value(), &digits);
            let theirs_meta = parsed.metadata(&DATABASE).map(Metadata::id);
            let theirs_type = parsed.number_type(&DATABASE);
            assert_eq!(
                ours.map(|(m, _)| m.id()),
                theirs_meta,
                "metadata of +{code} {digits}"
            );
            assert_eq!(
                ours.map_or(Type::Unknown, |(_, kind)| kind),
                theirs_type,
                "type of +{code} {digits}"
            );
            compared += 1;
            valid += usize::from(theirs_type != Type::Unknown);
        }
    }
    assert!(
        compared > 10_000 && valid > 2_000,
        "{compared} numbers, {valid} valid"
    );
}

/// Through `PhoneNumber::parse`: validity and region as the crate's `is_valid` and
/// `country().id()` say, for a few numbers of shared calling codes.
#[test]
fn parse_agrees_with_the_crate_on_shared_calling_codes() {
    for input in [
        "+1 415 555 0100",
        "+1 264 235 1234",
        "+1 416 555 0199",
        "+1 876 210 1234",
        "+7 916 123 45 67",
        "+7 701 123 4567",
        "+44 7700 900123",
        "+44 1481 256789",
        "+1 2530000",
        "+800 1234 5678",
    ] {
        let theirs = phonenumber::parse(None, input).unwrap();
        let ours = PhoneNumber::parse(input, None);
        assert_eq!(ours.is_ok(), theirs.is_valid(), "{input}");
        if let Ok(ours) = ours {
            assert_eq!(
                ours.region().map(|r| r.as_str().to_owned()),
                theirs
                    .country()
                    .id()
                    .map(|id| Region(id).as_str().to_owned()),
                "{input}"
            );
        }
    }
}

use super::*;

fn us() -> Option<Region> {
    Some(Region::parse("US").unwrap())
}

#[track_caller]
fn check(input: &str, region: Option<Region>, expected: Result<&str, PhoneError>) {
    let got = PhoneNumber::parse(input, region).map(|p| p.e164().to_owned());
    assert_eq!(got, expected.map(str::to_owned), "input {input:?}");
}

/// R16: three spellings of one number normalise to one E.164 value.
#[test]
fn r16_spellings_of_one_number_are_equal() {
    check("+1 (415) 555-0100", us(), Ok("+14155550100"));
    check("+14155550100", us(), Ok("+14155550100"));
    check("001 415 555 0100", us(), Ok("+14155550100"));
    check("(415) 555-0100", us(), Ok("+14155550100"));
    check("011 1 415 555 0100", us(), Ok("+14155550100"));
}

#[test]
fn national_numbers_use_the_default_region() {
    let nl = Some(Region::parse("nl").unwrap());
    check("06 12345678", nl, Ok("+31612345678"));
    check("06 12345678", None, Err(PhoneError::Unparseable));
}

#[test]
fn garbage_is_refused() {
    check("", us(), Err(PhoneError::Empty));
    check("   ", us(), Err(PhoneError::Empty));
    check("hello", us(), Err(PhoneError::Unparseable));
    check("+1 415", us(), Err(PhoneError::Invalid));
    check("+1 415 555 0100 ext. 12", us(), Err(PhoneError::Invalid));
    check(&"9".repeat(100), us(), Err(PhoneError::TooLong));
}

#[test]
fn masking_shows_only_calling_code_and_last_four() {
    let p = PhoneNumber::parse("+14155550100", None).unwrap();
    assert_eq!(p.masked(), "+1******0100");
    assert!(!format!("{p:?}").contains("4155550100"));
    assert_eq!(p.digits(), "14155550100");
    assert_eq!(p.prefix(4), "+1415555");
    assert_eq!(p.region(), us());
}

#[test]
fn regions_parse_case_insensitively() {
    assert_eq!(Region::parse("gb").unwrap().as_str(), "GB");
    assert_eq!(Region::parse("XX"), Err(PhoneError::UnknownRegion));
    assert_eq!(Region::parse("USA"), Err(PhoneError::UnknownRegion));
}

#[test]
fn line_types_come_from_the_numbering_plan() {
    let gb_premium = PhoneNumber::parse("+44 909 876 5432", None).unwrap();
    assert_eq!(gb_premium.line_type(), LineType::PremiumRate);
    let gb_mobile = PhoneNumber::parse("+44 7400 123456", None).unwrap();
    assert_eq!(gb_mobile.line_type(), LineType::Mobile);
}

/// `parse` reads validity and the line type from one type lookup where it can: it must refuse
/// exactly what phonenumber's own `is_valid` refuses, and give every number the line type it
/// has when looked up afresh from its E.164 form (which is how a stored number gets it).
#[test]
fn one_type_lookup_gives_the_validity_and_line_type_of_two() {
    let inputs = [
        ("+1 415 555 0100", None),
        ("(415) 555-0100", us()),
        ("+1 800 555 0100", None),
        ("+1 900 555 0100", None),
        ("+1 264 497 1234", None),
        ("+1 212 000 0000", None),
        ("+44 7400 123456", None),
        ("07400 123456", Region::parse("GB").ok()),
        ("+44 909 876 5432", None),
        ("+44 20 7946 0000", None),
        ("+44 1234", None),
        ("+39 06 1234 5678", None),
        ("+39 312 345 6789", None),
        ("+39 0", None),
        ("+225 07 07 12 34 56", None),
        ("+31 6 12345678", None),
        ("+31 900 1234567", None),
        ("+49 1512 3456789", None),
        ("+33 6 12 34 56 78", None),
        ("+7 912 345 67 89", None),
        ("+971 50 123 4567", None),
        ("+61 4 1234 5678", None),
        ("+881 6 1234 5678", None),
        ("+800 1234 5678", None),
        ("+1 415 555 0100 ext. 12", None),
        ("+999 123 456", None),
    ];
    for (input, region) in inputs {
        let theirs = phonenumber::parse(region.map(|r| r.0), input.replace(' ', ""))
            .ok()
            .filter(|p| p.extension().is_none())
            .is_some_and(|p| p.is_valid());
        let ours = PhoneNumber::parse(input, region);
        assert_eq!(ours.is_ok(), theirs, "{input}: {ours:?}");
        if let Ok(parsed) = ours {
            let stored = PhoneNumber::from_e164(parsed.e164()).unwrap();
            assert_eq!(parsed.line_type(), stored.line_type(), "{input}");
        }
    }
}

/// A stored number reads back equal to the parsed one, with the same calling code, country and
/// masked form, though its country is only looked up when asked.
#[test]
fn a_stored_number_reads_back_as_parsed() {
    for input in [
        "+1 415 555 0100",
        "+44 7911 123456",
        "+7 912 345 67 89",
        "+31 6 12345678",
        "+971 50 123 4567",
    ] {
        let parsed = PhoneNumber::parse(input, None).unwrap();
        let read = PhoneNumber::from_e164(parsed.e164()).unwrap();
        assert_eq!(read, parsed);
        assert_eq!(read.calling_code(), parsed.calling_code(), "{input}");
        assert_eq!(read.masked(), parsed.masked(), "{input}");
        assert_eq!(read.region(), parsed.region(), "{input}");
    }
    for bad in [
        "14155550100",
        "+",
        "+1415x550100",
        "+1234567890123456",
        "+0123456",
    ] {
        assert!(PhoneNumber::from_e164(bad).is_err(), "{bad}");
    }
}

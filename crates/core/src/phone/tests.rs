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

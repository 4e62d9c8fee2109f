use super::*;

#[test]
fn generated_codes_have_the_requested_length() {
    for digits in CodeLength::MIN..=CodeLength::MAX {
        let len = CodeLength::new(digits).unwrap();
        for _ in 0..200 {
            let code = OtpCode::generate(len);
            assert_eq!(code.len(), usize::from(digits));
            assert!(code.expose_for_sms().bytes().all(|b| b.is_ascii_digit()));
        }
    }
}

/// R1: over many codes, every position is uniform over the ten digits (chi-square, 9 degrees
/// of freedom, critical value 27.88 at p = 0.001) and about 10 % of codes start with "0".
#[test]
fn r01_codes_are_uniform_per_position() {
    let n = 200_000;
    let mut counts = [[0u32; 10]; 6];
    for _ in 0..n {
        let code = OtpCode::generate(CodeLength::DEFAULT);
        for (pos, b) in code.expose_for_sms().bytes().enumerate() {
            counts[pos][usize::from(b - b'0')] += 1;
        }
    }
    let expected = f64::from(n) / 10.0;
    for (pos, row) in counts.iter().enumerate() {
        let chi2: f64 = row
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 27.88, "position {pos} is not uniform: chi2 = {chi2}");
    }
    let leading_zero = f64::from(counts[0][0]) / f64::from(n);
    assert!((0.09..0.11).contains(&leading_zero), "{leading_zero}");
}

#[track_caller]
fn check_parse(input: &str, expected: Result<&str, OtpError>) {
    let got = OtpCode::parse(input);
    match (got, expected) {
        (Ok(code), Ok(want)) => assert_eq!(code.expose_for_sms(), want),
        (Err(e), Err(want)) => assert_eq!(e, want),
        (got, want) => panic!("parse({input:?}) = {got:?}, want {want:?}"),
    }
}

#[test]
fn parse_accepts_digits_and_refuses_the_rest() {
    check_parse("123456", Ok("123456"));
    check_parse(" 0123 ", Ok("0123"));
    check_parse("", Err(OtpError::Empty));
    check_parse("   ", Err(OtpError::Empty));
    check_parse("12a456", Err(OtpError::NotDigits));
    check_parse("１２３４５６", Err(OtpError::NotDigits));
    check_parse("123", Err(OtpError::BadLength));
    check_parse("12345678901", Err(OtpError::BadLength));
}

#[test]
fn debug_never_shows_the_code() {
    let code = OtpCode::parse("987654").unwrap();
    assert!(!format!("{code:?}").contains("987654"));
}

#[test]
fn mac_binds_code_to_challenge_and_tenant() {
    let key = CodeKey::random();
    let code = OtpCode::parse("123456").unwrap();
    let (c1, c2) = (ChallengeId::random(), ChallengeId::random());
    let (t1, t2) = (TenantId::random(), TenantId::random());
    let m = key.mac(c1, t1, &code);
    assert!(m.ct_eq(&key.mac(c1, t1, &code)));
    assert!(!m.ct_eq(&key.mac(c2, t1, &code)));
    assert!(!m.ct_eq(&key.mac(c1, t2, &code)));
    assert!(!m.ct_eq(&key.mac(c1, t1, &OtpCode::parse("123457").unwrap())));
    assert!(!m.ct_eq(&CodeKey::random().mac(c1, t1, &code)));
    assert_eq!(CodeMac::from_hex(&m.to_hex()), Some(m));
}

#[test]
fn short_keys_are_refused() {
    assert!(CodeKey::new(vec![0; 31]).is_err());
    assert!(CodeKey::new(vec![0; 32]).is_ok());
}

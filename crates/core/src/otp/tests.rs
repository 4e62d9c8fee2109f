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

/// R1: over 10^6 codes, every position is uniform over the ten digits and about 10 % of codes
/// start with "0".
///
/// Chi-square with 9 degrees of freedom; the critical value 44.85 is the one at p = 10^-6, so
/// a correct generator fails this test about once in 170 000 runs (six positions). At p = 0.001
/// it failed a correct generator in CI (chi2 = 40.1). A real bias of the usual kinds, such as
/// `byte % 10`, gives a chi-square in the hundreds at this sample size.
#[test]
fn r01_codes_are_uniform_per_position() {
    let n = 1_000_000;
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
        assert!(chi2 < 44.85, "position {pos} is not uniform: chi2 = {chi2}");
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

/// R3, timing: the code is never compared, its MAC is, and a wrong first digit and a wrong
/// last digit both change the MAC from its first byte on (HMAC output is unrelated to
/// where its input differs). So even a comparison that stopped at the first difference
/// would stop at the same place for both: the position of a wrong digit cannot show in the
/// time a check takes. (`CodeMac::ct_eq` does not stop early either; it is `subtle`.)
#[test]
fn r03_a_wrong_first_or_last_digit_changes_the_mac_from_its_first_byte() {
    let key = CodeKey::random();
    let (c, t) = (ChallengeId::random(), TenantId::random());
    let n = 10_000;
    let mut differs_at_first_byte = [0u32; 2];
    for _ in 0..n {
        let code = OtpCode::generate(CodeLength::DEFAULT);
        let right = key.mac(c, t, &code);
        assert!(right.ct_eq(&key.mac(c, t, &code)));
        for (i, at) in [0, 5].into_iter().enumerate() {
            let mut digits = code.expose_for_sms().as_bytes().to_vec();
            digits[at] = b'0' + (digits[at] - b'0' + 1) % 10;
            let wrong = OtpCode::parse(std::str::from_utf8(&digits).unwrap()).unwrap();
            let other = key.mac(c, t, &wrong);
            assert!(!right.ct_eq(&other));
            if right.as_bytes()[0] != other.as_bytes()[0] {
                differs_at_first_byte[i] += 1;
            }
        }
    }
    // Expected 255/256 of n (9961) for both; 9900 is ten standard deviations below.
    for (i, count) in differs_at_first_byte.into_iter().enumerate() {
        assert!(count > 9_900, "wrong digit {i}: {count} of {n}");
    }
}

/// R3, lint: no `==` or `!=` on secret values anywhere in the workspace's sources. Secret
/// values are MACs (`CodeMac`, `…_mac`), exposed secrets (`expose…`) and codes; they are
/// compared with `ct_eq` (`subtle`). Token *hashes* are exempt: they are SHA-256 of 256
/// random bits and are looked up by equality in SQL anyway, which reveals nothing about the
/// token. Constants (`SECRET_CHARS`) are lengths, not secrets.
#[test]
fn r03_no_equality_operator_on_secret_bytes_in_the_sources() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "the workspace sources were not found");
    let mut hits = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = without_strings(line.split("//").next().unwrap_or_default());
            if !(code.contains("==") || code.contains("!=")) {
                continue;
            }
            let secret = code
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .any(is_secret_name);
            if secret {
                hits.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "compare secrets with ct_eq:\n{}",
        hits.join("\n")
    );
}

/// The line with the contents of its string literals removed (names in messages and in
/// this lint's own word list are not comparisons).
fn without_strings(line: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for ch in line.chars() {
        match (in_string, escaped, ch) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (_, false, '"') => in_string = !in_string,
            (false, _, _) => out.push(ch),
            _ => {}
        }
    }
    out
}

fn is_secret_name(token: &str) -> bool {
    if token.is_empty() || token.chars().all(|ch| !ch.is_ascii_lowercase()) {
        return false;
    }
    let t = token.to_ascii_lowercase();
    t == "mac"
        || t == "macs"
        || t.ends_with("_mac")
        || t.starts_with("mac_")
        || t.contains("codemac")
        || t.contains("expose")
        || t == "otp"
        || t == "otpcode"
        || t.ends_with("secret")
        || t.contains("secret_")
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_code_matches_the_provider_managed_mac() {
    let key = CodeKey::random();
    let (id, tenant) = (ChallengeId::random(), TenantId::random());
    let managed = CodeMac::provider_managed();
    assert!(managed.is_provider_managed());
    for _ in 0..1000 {
        let code = OtpCode::generate(CodeLength::new(6).unwrap());
        assert!(!key.mac(id, tenant, &code).ct_eq(&managed));
    }
    assert!(!CodeMac::unmatchable().is_provider_managed());
}

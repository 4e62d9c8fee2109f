use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use std::time::Duration;
use twostep_core::phone::PhoneNumber;

use super::{retry_after, scrub_parts};

#[test]
fn scrub_removes_text_number_and_digit_runs() {
    let to = PhoneNumber::from_e164("+31612345678").unwrap();
    let got = scrub_parts(
        "The 'To' number +31612345678 (31612345678) rejected 'Your code is 482913'; code 4829",
        "Your code is 482913",
        &to,
    );
    assert_eq!(
        got,
        "The 'To' number <number> (<number>) rejected '<text>'; code <digits>"
    );
}

#[test]
fn scrub_keeps_short_numbers_drops_control_characters_and_caps_length() {
    let to = PhoneNumber::from_e164("+31612345678").unwrap();
    assert_eq!(scrub_parts("error 21\nnext", "", &to), "error 21 next");
    let long = scrub_parts(&"x".repeat(500), "", &to);
    assert_eq!(long.chars().count(), 161);
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&headers), Some(Duration::ZERO));
}

use super::{Encoding, Locale, code_text, segments};

#[track_caller]
fn check_segments(text: &str, encoding: Encoding, count: usize) {
    assert_eq!(
        segments(text),
        (encoding, count),
        "text of {} chars",
        text.chars().count()
    );
}

#[test]
fn gsm7_fits_160_septets_in_one_segment_and_153_per_segment_after() {
    check_segments("", Encoding::Gsm7, 1);
    check_segments(&"a".repeat(160), Encoding::Gsm7, 1);
    check_segments(&"a".repeat(161), Encoding::Gsm7, 2);
    check_segments(&"a".repeat(306), Encoding::Gsm7, 2);
    check_segments(&"a".repeat(307), Encoding::Gsm7, 3);
}

#[test]
fn extension_characters_cost_two_septets_and_are_not_split() {
    check_segments(&"€".repeat(80), Encoding::Gsm7, 1);
    check_segments(&format!("{}€", "a".repeat(159)), Encoding::Gsm7, 2);
    // 152 septets then a two-septet character: it moves whole into the second segment.
    let text = format!("{}{{{}", "a".repeat(152), "a".repeat(152));
    check_segments(&text, Encoding::Gsm7, 3);
}

#[test]
fn gsm_basic_set_accents_stay_gsm7() {
    check_segments("äöüßÄÖÜéèàùìòÇñÑ¿¡£¥§", Encoding::Gsm7, 1);
}

#[test]
fn one_character_outside_gsm_switches_to_ucs2_with_70_and_67() {
    check_segments("código", Encoding::Ucs2, 1);
    check_segments(&"ó".repeat(70), Encoding::Ucs2, 1);
    check_segments(&"ó".repeat(71), Encoding::Ucs2, 2);
    check_segments(&"ó".repeat(134), Encoding::Ucs2, 2);
    check_segments(&"ó".repeat(135), Encoding::Ucs2, 3);
}

#[test]
fn ucs2_counts_utf16_units_and_keeps_surrogate_pairs_together() {
    check_segments(&"😀".repeat(35), Encoding::Ucs2, 1);
    check_segments(&"😀".repeat(36), Encoding::Ucs2, 2);
    // 66 units then a pair: the pair starts the second segment.
    check_segments(
        &format!("{}😀{}", "ó".repeat(66), "ó".repeat(10)),
        Encoding::Ucs2,
        2,
    );
}

#[test]
fn every_locale_names_app_code_minutes_and_fits_one_gsm7_segment() {
    for tag in ["en", "nl-NL", "de_DE", "fr-FR", "es-ES"] {
        let text = code_text("Acme Bank", "123456", 10, tag, None);
        assert!(text.contains("Acme Bank") && text.contains("123456") && text.contains("10"));
        assert_eq!(segments(&text), (Encoding::Gsm7, 1), "{tag}: {text}");
    }
}

#[test]
fn locale_is_picked_by_language_with_english_fallback() {
    assert!(code_text("A", "1234", 5, "nl-NL", None).contains("Deel deze code met niemand"));
    assert!(code_text("A", "1234", 5, "de", None).contains("an niemanden weiter"));
    assert!(code_text("A", "1234", 5, "fr_CA", None).contains("à personne"));
    assert!(code_text("A", "1234", 5, "ES", None).contains("No la compartas"));
    assert!(code_text("A", "1234", 5, "pt-BR", None).contains("Do not share"));
    assert!(code_text("A", "1234", 5, "", None).contains("Do not share"));
}

#[test]
fn one_minute_is_singular() {
    assert!(code_text("A", "1234", 1, "en", None).contains("1 minute."));
    assert!(code_text("A", "1234", 1, "nl", None).contains("1 minuut."));
    assert!(code_text("A", "1234", 2, "nl", None).contains("2 minuten."));
}

#[test]
fn webotp_line_is_last_and_names_domain_and_code() {
    let text = code_text("Acme", "482913", 5, "en", Some("login.acme.example"));
    assert_eq!(text.lines().last(), Some("@login.acme.example #482913"));
    assert_eq!(
        text,
        "Your Acme code: 482913. Valid for 5 minutes. Do not share this code with anyone.\
         \n\n@login.acme.example #482913"
    );
}

#[test]
fn locale_for_region_covers_the_worded_languages() {
    assert_eq!(Locale::for_region("NL"), Some(Locale::Nl));
    assert_eq!(Locale::for_region("at"), Some(Locale::De));
    assert_eq!(Locale::for_region("MX"), Some(Locale::Es));
    assert_eq!(Locale::for_region("FR"), Some(Locale::Fr));
    assert_eq!(Locale::for_region("JP"), None);
}

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

#[track_caller]
fn check_segments(text: &str, encoding: Encoding, count: usize) {
    assert_eq!(
        segments(text),
        (encoding, count),
        "text of {} chars",
        text.chars().count()
    );
}

fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::from_e164(e164).unwrap()
}

const NONE: TenantTexts<'static> = TenantTexts {
    templates: &[],
    webotp_domain: None,
};

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
    check_segments(
        &format!("{}😀{}", "ó".repeat(66), "ó".repeat(10)),
        Encoding::Ucs2,
        2,
    );
}

#[test]
fn the_english_code_text_is_the_one_clients_read() {
    assert_eq!(
        NONE.code("en", "Acme Shop", "123456", 5),
        "123456 is your Acme Shop code. It expires in 5 min. Do not share it with anyone."
    );
    assert_eq!(
        NONE.registration_attempt("en", "Acme"),
        "Someone tried to create a Acme account with this number. If it was you, log in \
         instead; otherwise ignore this message."
    );
    assert_eq!(
        NONE.backup_code_used("en", "Acme", 9),
        "A backup code was used to log in to your Acme account; 9 left. If this was not you, \
         contact support."
    );
}

#[test]
fn every_builtin_text_names_app_and_values_and_fits_one_gsm7_segment() {
    for language in ["en", "nl", "de", "fr", "es"] {
        let code = NONE.code(language, "Acme Bank", "123456", 10);
        assert!(code.contains("Acme Bank") && code.contains("123456") && code.contains("10"));
        let notice = NONE.registration_attempt(language, "Acme Bank");
        let backup = NONE.backup_code_used(language, "Acme Bank", 7);
        let suspicious = NONE.suspicious_login(language, "Acme Bank");
        assert!(notice.contains("Acme Bank") && backup.contains('7'));
        assert!(suspicious.contains("Acme Bank"));
        for text in [code, notice, backup, suspicious] {
            assert_eq!(segments(&text), (Encoding::Gsm7, 1), "{language}: {text}");
        }
    }
}

#[test]
fn language_comes_from_the_request_then_the_country_then_english() {
    assert_eq!(language_for("nl-NL", &phone("+14155550100")), "nl");
    assert_eq!(language_for("pt_BR", &phone("+14155550100")), "pt");
    assert_eq!(language_for("", &phone("+31612345678")), "nl");
    assert_eq!(language_for("", &phone("+4915112345678")), "de");
    assert_eq!(language_for("", &phone("+819012345678")), "en");
    assert_eq!(language_for("1", &phone("+14155550100")), "en");
    assert!(
        NONE.code("nl", "A", "1234", 5)
            .contains("Deel deze code met niemand")
    );
    assert!(
        NONE.code("de", "A", "1234", 5)
            .contains("an niemanden weiter")
    );
    assert!(NONE.code("fr", "A", "1234", 5).contains("à personne"));
    assert!(NONE.code("es", "A", "1234", 5).contains("No la compartas"));
    assert!(NONE.code("pt", "A", "1234", 5).contains("Do not share"));
}

#[test]
fn one_minute_is_singular_where_the_wording_has_units() {
    assert!(NONE.code("nl", "A", "1234", 1).contains("1 minuut."));
    assert!(NONE.code("nl", "A", "1234", 2).contains("2 minuten."));
}

#[test]
fn webotp_line_is_last_and_names_domain_and_code() {
    let texts = TenantTexts {
        templates: &[],
        webotp_domain: Some("login.acme.example"),
    };
    let text = texts.code("en", "Acme", "482913", 5);
    assert_eq!(text.lines().last(), Some("@login.acme.example #482913"));
    assert_eq!(
        text,
        "482913 is your Acme code. It expires in 5 min. Do not share it with anyone.\
         \n\n@login.acme.example #482913"
    );
}

#[test]
fn tenant_templates_win_for_their_language_and_english_ones_cover_unworded_languages() {
    let templates = [
        SmsTemplate::parse(
            TemplateKind::Code,
            "pt-BR",
            "Seu codigo {app}: {code} ({minutes} min)",
        )
        .unwrap(),
        SmsTemplate::parse(TemplateKind::Code, "en", "{app}: {code}. Never share it.").unwrap(),
        SmsTemplate::parse(TemplateKind::BackupCodeUsed, "nl", "{app}: nog {remaining}").unwrap(),
    ];
    let texts = TenantTexts {
        templates: &templates,
        webotp_domain: None,
    };
    assert_eq!(
        texts.code("pt", "Acme", "1234", 5),
        "Seu codigo Acme: 1234 (5 min)"
    );
    assert_eq!(
        texts.code("en", "Acme", "1234", 5),
        "Acme: 1234. Never share it."
    );
    // Japanese has no wording: the tenant's English template.
    assert_eq!(
        texts.code("ja", "Acme", "1234", 5),
        "Acme: 1234. Never share it."
    );
    // Dutch has a built-in wording, used when the tenant has no Dutch code template.
    assert!(
        texts
            .code("nl", "Acme", "1234", 5)
            .starts_with("Je Acme-code")
    );
    assert_eq!(texts.backup_code_used("nl", "Acme", 3), "Acme: nog 3");
    // Values are inserted once: braces in the app name stay as written.
    assert_eq!(
        texts.code("en", "{code}", "1234", 5),
        "{code}: 1234. Never share it."
    );
}

#[test]
fn templates_are_checked() {
    let err = |kind, locale, text| SmsTemplate::parse(kind, locale, text).unwrap_err();
    assert_eq!(err(TemplateKind::Code, "", "{code}").field, "locale");
    assert_eq!(err(TemplateKind::Code, "n1", "{code}").field, "locale");
    assert_eq!(err(TemplateKind::Code, "en", " ").field, "text");
    assert!(
        err(TemplateKind::Code, "en", "no code here")
            .reason
            .contains("{code}")
    );
    assert!(
        err(TemplateKind::RegistrationAttempt, "en", "{app} {code}")
            .reason
            .contains("{code} is not a placeholder")
    );
    assert!(
        err(TemplateKind::Code, "en", "{code} {nme}")
            .reason
            .contains("{nme}")
    );
    let long = format!("{{code}}{}", "a".repeat(MAX_TEMPLATE_CHARS));
    assert!(
        err(TemplateKind::Code, "en", &long)
            .reason
            .contains("at most")
    );
    let ok = SmsTemplate::parse(TemplateKind::Code, "DE_at", "{code}").unwrap();
    assert_eq!(ok.language, "de");
}

#[test]
fn worst_case_shows_when_a_template_needs_two_segments() {
    let short = SmsTemplate::parse(TemplateKind::Code, "en", "{code} is your {app} code.").unwrap();
    let accented = SmsTemplate::parse(
        TemplateKind::Code,
        "es",
        "Tu código de {app} es {code}. Caduca en {minutes} minutos. No lo compartas con nadie, \
         ni siquiera con nuestro equipo de atención al cliente.",
    )
    .unwrap();
    let texts = TenantTexts {
        templates: &[],
        webotp_domain: Some("login.acme.example"),
    };
    assert_eq!(segments(&texts.worst_case(&short, "Acme")).1, 1);
    assert_eq!(
        segments(&texts.worst_case(&accented, "Acme")),
        (Encoding::Ucs2, 3)
    );
}

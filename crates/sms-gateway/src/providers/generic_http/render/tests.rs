use super::{Escape, render};

#[track_caller]
fn check(template: &str, escape: Escape, expected: &str) {
    let got = render(template, "+31612345678", "Code: 123 456 & \"more\"", escape);
    assert_eq!(got, expected);
}

#[test]
fn url_escape_encodes_plus_space_and_ampersand_like_java_urlencoder() {
    check(
        "https://x/send?to=$ctx.num&text=$ctx.msg",
        Escape::Url,
        "https://x/send?to=%2B31612345678&text=Code%3A+123+456+%26+%22more%22",
    );
}

#[test]
fn json_escape_escapes_quotes_inside_the_templates_string() {
    check(
        r#"{"to":["$ctx.num"],"text":"$ctx.msg"}"#,
        Escape::Json,
        r#"{"to":["+31612345678"],"text":"Code: 123 456 & \"more\""}"#,
    );
}

#[test]
fn xml_escape_escapes_markup() {
    check(
        "<sms to=\"$ctx.num\">$ctx.msg</sms>",
        Escape::Xml,
        "<sms to=\"+31612345678\">Code: 123 456 &amp; &quot;more&quot;</sms>",
    );
}

#[test]
fn unknown_placeholders_and_repeats_are_handled() {
    check(
        "$ctx.otp $ctx.num $ctx.num",
        Escape::Json,
        "$ctx.otp +31612345678 +31612345678",
    );
}

#[test]
fn a_value_containing_a_placeholder_is_not_substituted_again() {
    let got = render("$ctx.msg/$ctx.num", "1", "$ctx.num", Escape::Json);
    assert_eq!(got, "$ctx.num/1");
}

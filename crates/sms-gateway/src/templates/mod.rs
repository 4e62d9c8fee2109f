//! The texts twostep sends: a code, the app it is for, how long it lasts and a do-not-share
//! line, in the user's language, with an optional WebOTP line for browser autofill.
//!
//! The wording avoids characters outside GSM-7 (no `ó` in Spanish, for instance): one such
//! character switches the whole message to UCS-2 and cuts a segment from 160 to 70
//! characters, doubling the cost of a code. [`segments`] lets callers warn when a tenant's
//! app name or domain pushes a text past one segment anyway.

mod locale;
mod segments;

pub use locale::Locale;
pub use segments::{Encoding, segments};

/// The code message for `app_name` in `locale` (a tag like `nl-NL`; English when unknown).
/// With `webotp_domain`, the last line is `@domain #code` so browsers can offer the code
/// (WebOTP; the domain must be the site's host, without a scheme).
pub fn code_text(
    app_name: &str,
    code: &str,
    minutes_left: u32,
    locale: &str,
    webotp_domain: Option<&str>,
) -> String {
    let mut text = Locale::from_tag(locale).code_text(app_name, code, minutes_left);
    if let Some(domain) = webotp_domain.map(str::trim).filter(|d| !d.is_empty()) {
        text.push_str("\n\n@");
        text.push_str(domain);
        text.push_str(" #");
        text.push_str(code);
    }
    text
}

#[cfg(test)]
mod tests;

//! Rules for a new password (NIST SP 800-63B-4 §3.1.1.2): a length range, no composition
//! rules, and a blocklist of common passwords and context words, with the reason returned.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::email::Email;
use crate::password::{Password, PasswordError};
use crate::phone::PhoneNumber;

/// Common passwords of 8 or more characters (shorter ones fail the length rule first).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Why a new password was refused. `code()` is the machine-readable reason in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("must have at least {0} characters")]
    TooShort(u32),
    #[error("must be at most 1024 bytes")]
    TooLong,
    #[error("is a commonly used password")]
    Common,
    #[error("contains your phone number")]
    ContainsPhone,
    #[error("contains your email address")]
    ContainsEmail,
    #[error("contains the name of this service")]
    ContainsServiceName,
}

impl Rejection {
    /// Every blocklist match is `BLOCKLISTED` (R24); the message says which list matched.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::TooShort(_) => "TOO_SHORT",
            Rejection::TooLong => "TOO_LONG",
            Rejection::Common
            | Rejection::ContainsPhone
            | Rejection::ContainsEmail
            | Rejection::ContainsServiceName => "BLOCKLISTED",
        }
    }
}

/// What the new password must not contain.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    pub email: Option<&'a Email>,
    pub phone: Option<&'a PhoneNumber>,
    pub app_name: Option<&'a str>,
}

pub fn check_new(input: &str, min_chars: u32, ctx: Context<'_>) -> Result<Password, Rejection> {
    let pw = Password::new_checked(input, min_chars).map_err(|e| match e {
        PasswordError::TooShort(n) => Rejection::TooShort(n),
        PasswordError::TooLong => Rejection::TooLong,
    })?;
    let lower = pw.normalised().to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err(Rejection::Common);
    }
    if let Some(phone) = ctx.phone {
        let digits: String = lower.chars().filter(char::is_ascii_digit).collect();
        let national = &phone.digits()[phone.calling_code().to_string().len()..];
        if national.len() >= 6 && digits.contains(national) {
            return Err(Rejection::ContainsPhone);
        }
    }
    if let Some(email) = ctx.email {
        let address = email.as_str().to_lowercase();
        let local = address.split('@').next().unwrap_or_default();
        if lower.contains(&address) || (local.len() >= 4 && lower.contains(local)) {
            return Err(Rejection::ContainsEmail);
        }
    }
    if let Some(app) = ctx.app_name {
        let app: String = app
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        let squeezed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        // The password is little more than the service's name (plus digits or symbols).
        let rest = squeezed.replacen(&app, "", 1);
        if app.len() >= 4 && squeezed.contains(&app) && rest.chars().all(|c| c.is_ascii_digit()) {
            return Err(Rejection::ContainsServiceName);
        }
    }
    Ok(pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, ctx: Context<'_>, expected: Result<(), Rejection>) {
        assert_eq!(check_new(input, 12, ctx).map(|_| ()), expected, "{input}");
    }

    /// R22, R23, R24.
    #[test]
    fn r24_common_and_context_passwords_are_blocklisted_with_the_reason() {
        let email = Email::parse("ada.lovelace@example.com").unwrap();
        let phone = PhoneNumber::parse("+14155550100", None).unwrap();
        let ctx = Context {
            email: Some(&email),
            phone: Some(&phone),
            app_name: Some("Acme Shop"),
        };
        check("password1234", ctx, Err(Rejection::Common));
        check("PASSWORD1234", ctx, Err(Rejection::Common));
        check("+14155550100", ctx, Err(Rejection::ContainsPhone));
        check(
            "my number is 415 555 0100",
            ctx,
            Err(Rejection::ContainsPhone),
        );
        check(
            "ada.lovelace@example.com",
            ctx,
            Err(Rejection::ContainsEmail),
        );
        check("acmeshop2024!!", ctx, Err(Rejection::ContainsServiceName));
        check("short", ctx, Err(Rejection::TooShort(12)));
        check(&"x".repeat(1025), ctx, Err(Rejection::TooLong));
        check("correct horse battery staple", ctx, Ok(()));
        check("a long lowercase passphrase without rules", ctx, Ok(()));
        assert_eq!(Rejection::ContainsPhone.code(), "BLOCKLISTED");
    }

    #[test]
    fn r22_unicode_counts_code_points_after_nfkc() {
        check(&"😀".repeat(12), Context::default(), Ok(()));
        check(
            &"é".repeat(11),
            Context::default(),
            Err(Rejection::TooShort(12)),
        );
        // NFKC: a full-width "Ａ" is "A", so both spellings are one password.
        let a = check_new("ＡＢＣＤＥＦＧＨＩＪＫＬ", 12, Context::default()).unwrap();
        let b = check_new("ABCDEFGHIJKL", 12, Context::default()).unwrap();
        assert_eq!(a.normalised(), b.normalised());
    }

    #[test]
    fn the_list_is_loaded() {
        assert!(COMMON.len() > 10_000);
        assert!(COMMON.contains("qwertyuiop"));
    }
}

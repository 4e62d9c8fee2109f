//! The SMS texts twostep sends, rendered here for every flow: the code message (app name,
//! code, minutes left, a do-not-share line, and an optional WebOTP line `@domain #code` for
//! browser autofill) and the notices (registration of a known number, backup code used, a right password with a failed code).
//!
//! A text is picked by language: a tenant's own template for the language, else the built-in
//! wording of the language ([`Locale`]), else the tenant's English template, else the
//! built-in English. The language comes from the request's locale, else from the number's
//! country. Pure functions: the tenant's templates are passed in.
//!
//! The built-in wordings avoid characters outside GSM-7 (no `ó` in Spanish, for instance):
//! one such character switches the whole message to UCS-2 and cuts a segment from 160 to 70
//! characters, doubling the cost of a code. [`segments`] lets SetSmsProviders warn when a
//! tenant's template, app name or domain pushes a text past one segment anyway.

mod locale;
mod segments;

pub use locale::{Locale, language_of_tag};
pub use segments::{Encoding, segments};

use crate::phone::PhoneNumber;

/// What a text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// A code: `{app}`, `{code}` (required) and `{minutes}`.
    Code,
    /// Someone tried to register the number again: `{app}`; no code.
    RegistrationAttempt,
    /// A backup code was used: `{app}` and `{remaining}`; no code.
    BackupCodeUsed,
    /// The password was right but the code step failed (R13): `{app}`; no code.
    SuspiciousLogin,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 4] = [
        TemplateKind::Code,
        TemplateKind::RegistrationAttempt,
        TemplateKind::BackupCodeUsed,
        TemplateKind::SuspiciousLogin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Code => "code",
            TemplateKind::RegistrationAttempt => "registration_attempt",
            TemplateKind::BackupCodeUsed => "backup_code_used",
            TemplateKind::SuspiciousLogin => "suspicious_login",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn placeholders(self) -> &'static [&'static str] {
        match self {
            TemplateKind::Code => &["app", "code", "minutes"],
            TemplateKind::RegistrationAttempt => &["app"],
            TemplateKind::BackupCodeUsed => &["app", "remaining"],
            TemplateKind::SuspiciousLogin => &["app"],
        }
    }
}

/// Longest template text accepted (characters); three GSM-7 segments.
pub const MAX_TEMPLATE_CHARS: usize = 459;

/// A tenant's own wording of one kind of text in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTemplate {
    pub kind: TemplateKind,
    /// Lower-case language subtag (`nl`, `pt`).
    pub language: String,
    pub text: String,
}

/// Why a template was refused; `field` is relative to the template (`locale`, `text`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TemplateError {
    pub field: &'static str,
    pub reason: String,
}

impl SmsTemplate {
    /// Checks a template: a language tag, a non-empty text of at most
    /// [`MAX_TEMPLATE_CHARS`], only the kind's placeholders, and `{code}` in a code text.
    pub fn parse(kind: TemplateKind, locale: &str, text: &str) -> Result<Self, TemplateError> {
        let language = language_of_tag(locale).ok_or_else(|| TemplateError {
            field: "locale",
            reason: "must be a language tag such as en, nl or pt-BR".into(),
        })?;
        let bad = |reason: String| TemplateError {
            field: "text",
            reason,
        };
        if text.trim().is_empty() {
            return Err(bad("must be set".into()));
        }
        if text.chars().count() > MAX_TEMPLATE_CHARS {
            return Err(bad(format!(
                "must be at most {MAX_TEMPLATE_CHARS} characters"
            )));
        }
        let allowed = kind.placeholders();
        for name in placeholder_names(text) {
            if !allowed.contains(&name) {
                return Err(bad(format!(
                    "{{{name}}} is not a placeholder of a {} text (use {})",
                    kind.as_str(),
                    allowed
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if kind == TemplateKind::Code && !text.contains("{code}") {
            return Err(bad("a code text must contain {code}".into()));
        }
        Ok(Self {
            kind,
            language,
            text: text.to_owned(),
        })
    }
}

/// The names inside `{…}` in a text.
fn placeholder_names(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                names.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    names
}

/// A tenant's texts: its templates and its WebOTP domain. The default has neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantTexts<'a> {
    pub templates: &'a [SmsTemplate],
    /// The site's host (`login.example.com`); adds `@domain #code` as the last line.
    pub webotp_domain: Option<&'a str>,
}

/// The language of a message: the request's locale when it names one, else the usual
/// language of the number's country, else English.
pub fn language_for(request_locale: &str, to: &PhoneNumber) -> String {
    language_of_tag(request_locale)
        .or_else(|| {
            to.region()
                .and_then(|r| Locale::for_region(r.as_str()))
                .map(|l| l.as_str().to_owned())
        })
        .unwrap_or_else(|| "en".to_owned())
}

impl TenantTexts<'_> {
    fn own(&self, kind: TemplateKind, language: &str) -> Option<&str> {
        self.templates
            .iter()
            .find(|t| t.kind == kind && t.language == language)
            .map(|t| t.text.as_str())
    }

    /// Picks the wording (see the module docs) and fills it in.
    fn pick(
        &self,
        kind: TemplateKind,
        language: &str,
        values: &[(&str, &str)],
        builtin: impl Fn(Locale) -> String,
    ) -> String {
        if let Some(own) = self.own(kind, language) {
            return fill(own, values);
        }
        if let Some(locale) = Locale::for_language(language) {
            return builtin(locale);
        }
        match self.own(kind, "en") {
            Some(own) => fill(own, values),
            None => builtin(Locale::En),
        }
    }

    /// The code message, with the WebOTP line when the tenant has a domain.
    pub fn code(&self, language: &str, app: &str, code: &str, minutes: u32) -> String {
        let minutes_text = minutes.to_string();
        let values = [("app", app), ("code", code), ("minutes", &minutes_text)];
        let mut text = self.pick(TemplateKind::Code, language, &values, |l| {
            l.code_text(app, code, minutes)
        });
        if let Some(domain) = self.webotp_domain.map(str::trim).filter(|d| !d.is_empty()) {
            text.push_str("\n\n@");
            text.push_str(domain);
            text.push_str(" #");
            text.push_str(code);
        }
        text
    }

    pub fn registration_attempt(&self, language: &str, app: &str) -> String {
        self.pick(
            TemplateKind::RegistrationAttempt,
            language,
            &[("app", app)],
            |l| l.registration_attempt(app),
        )
    }

    pub fn backup_code_used(&self, language: &str, app: &str, remaining: usize) -> String {
        let remaining_text = remaining.to_string();
        self.pick(
            TemplateKind::BackupCodeUsed,
            language,
            &[("app", app), ("remaining", &remaining_text)],
            |l| l.backup_code_used(app, remaining),
        )
    }

    pub fn suspicious_login(&self, language: &str, app: &str) -> String {
        self.pick(
            TemplateKind::SuspiciousLogin,
            language,
            &[("app", app)],
            |l| l.suspicious_login(app),
        )
    }

    /// The longest text `template` can render for `app` (a 10-digit code, three-digit
    /// numbers), with the WebOTP line: what a segment warning is computed on.
    pub fn worst_case(&self, template: &SmsTemplate, app: &str) -> String {
        let texts = TenantTexts {
            templates: std::slice::from_ref(template),
            webotp_domain: self.webotp_domain,
        };
        match template.kind {
            TemplateKind::Code => texts.code(&template.language, app, "0000000000", 100),
            TemplateKind::RegistrationAttempt => {
                texts.registration_attempt(&template.language, app)
            }
            TemplateKind::BackupCodeUsed => texts.backup_code_used(&template.language, app, 10),
            TemplateKind::SuspiciousLogin => texts.suspicious_login(&template.language, app),
        }
    }
}

/// Replaces each `{name}` in one pass, so a value holding braces is never expanded again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (close, *v))
        });
        match known {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;

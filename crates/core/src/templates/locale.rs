//! The languages twostep words its texts in, and how a request's locale or a number's
//! country picks one.

/// A language with its own wording; everything else falls back to English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    Nl,
    De,
    Fr,
    Es,
}

impl Locale {
    /// Reads the language of a BCP 47 or POSIX tag (`nl-NL`, `de_AT`, `FR`); English when the
    /// language has no wording here.
    pub fn from_tag(tag: &str) -> Self {
        language_of_tag(tag)
            .and_then(|l| Self::for_language(&l))
            .unwrap_or(Self::En)
    }

    /// The wording of a language subtag (`nl`), when there is one.
    pub fn for_language(language: &str) -> Option<Self> {
        match language {
            "en" => Some(Self::En),
            "nl" => Some(Self::Nl),
            "de" => Some(Self::De),
            "fr" => Some(Self::Fr),
            "es" => Some(Self::Es),
            _ => None,
        }
    }

    /// The usual language of a country (ISO 3166-1 alpha-2), when the request names none.
    /// Multilingual countries get their most spoken language here (BE: Dutch, CH: German).
    pub fn for_region(region: &str) -> Option<Self> {
        let locale = match region.trim().to_ascii_uppercase().as_str() {
            "NL" | "BE" | "SR" | "AW" | "CW" | "SX" => Self::Nl,
            "DE" | "AT" | "CH" | "LI" => Self::De,
            "FR" | "MC" | "LU" | "SN" | "CI" | "CM" | "MG" => Self::Fr,
            "ES" | "MX" | "AR" | "CO" | "CL" | "PE" | "VE" | "EC" | "GT" | "CU" | "BO" | "DO"
            | "HN" | "PY" | "SV" | "NI" | "CR" | "PA" | "UY" | "PR" => Self::Es,
            "GB" | "US" | "IE" | "AU" | "NZ" | "CA" | "ZA" | "IN" | "SG" => Self::En,
            _ => return None,
        };
        Some(locale)
    }

    /// The tag of this wording, such as `nl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Nl => "nl",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
        }
    }

    /// The code line, the validity and the do-not-share line, all in GSM-7 characters. The
    /// English wording starts with the code (clients and tests read it there).
    pub(crate) fn code_text(self, app: &str, code: &str, minutes: u32) -> String {
        let one = minutes == 1;
        match self {
            Self::En => {
                format!(
                    "{code} is your {app} code. It expires in {minutes} min. \
                     Do not share it with anyone."
                )
            }
            Self::Nl => {
                let unit = if one { "minuut" } else { "minuten" };
                format!(
                    "Je {app}-code: {code}. Geldig voor {minutes} {unit}. \
                     Deel deze code met niemand."
                )
            }
            Self::De => {
                let unit = if one { "Minute" } else { "Minuten" };
                format!(
                    "Ihr {app}-Code: {code}. Gültig für {minutes} {unit}. \
                     Geben Sie diesen Code an niemanden weiter."
                )
            }
            Self::Fr => {
                let unit = if one { "minute" } else { "minutes" };
                format!(
                    "Votre code {app} : {code}. Valable {minutes} {unit}. \
                     Ne communiquez ce code à personne."
                )
            }
            Self::Es => {
                let unit = if one { "minuto" } else { "minutos" };
                format!(
                    "Tu clave de {app}: {code}. Caduca en {minutes} {unit}. \
                     No la compartas con nadie."
                )
            }
        }
    }

    /// To the owner of a number someone tried to register again (R20). No code, no link.
    pub(crate) fn registration_attempt(self, app: &str) -> String {
        match self {
            Self::En => format!(
                "Someone tried to create a {app} account with this number. If it was you, log in \
                 instead; otherwise ignore this message."
            ),
            Self::Nl => format!(
                "Iemand probeerde met dit nummer een {app}-account aan te maken. Was u dat, log \
                 dan in; anders kunt u dit bericht negeren."
            ),
            Self::De => format!(
                "Jemand wollte mit dieser Nummer ein {app}-Konto anlegen. Waren Sie das, melden \
                 Sie sich an; sonst ignorieren Sie diese Nachricht."
            ),
            Self::Fr => format!(
                "Quelqu'un a voulu créer un compte {app} avec ce numéro. Si c'était vous, \
                 connectez-vous; sinon ignorez ce message."
            ),
            Self::Es => format!(
                "Alguien intento crear una cuenta de {app} con este numero. Si fue usted, inicie \
                 sesion; si no, ignore este mensaje."
            ),
        }
    }

    /// To the user after a backup code was used to log in (R27). No code, no link.
    pub(crate) fn backup_code_used(self, app: &str, remaining: usize) -> String {
        match self {
            Self::En => format!(
                "A backup code was used to log in to your {app} account; {remaining} left. If \
                 this was not you, contact support."
            ),
            Self::Nl => format!(
                "Er is een back-upcode gebruikt om in te loggen op uw {app}-account; nog \
                 {remaining} over. Was u dit niet, neem dan contact op met support."
            ),
            Self::De => format!(
                "Mit einem Backup-Code wurde sich bei Ihrem {app}-Konto angemeldet; {remaining} \
                 übrig. Waren Sie das nicht, wenden Sie sich an den Support."
            ),
            Self::Fr => format!(
                "Un code de secours a servi à se connecter à votre compte {app}; il en reste \
                 {remaining}. Si ce n'était pas vous, contactez le support."
            ),
            Self::Es => format!(
                "Se uso un codigo de respaldo para entrar en su cuenta de {app}; quedan \
                 {remaining}. Si no fue usted, contacte con soporte."
            ),
        }
    }

    /// To the user after a right password and a failed code (R13). No code, no link.
    pub(crate) fn suspicious_login(self, app: &str) -> String {
        match self {
            Self::En => format!(
                "Someone entered your {app} password but not the code we sent. If this was not \
                 you, change your password now."
            ),
            Self::Nl => format!(
                "Iemand voerde uw {app}-wachtwoord in, maar niet de code die we stuurden. Was u \
                 dit niet, wijzig dan nu uw wachtwoord."
            ),
            Self::De => format!(
                "Jemand hat Ihr {app}-Passwort eingegeben, aber nicht den gesendeten Code. Waren \
                 Sie das nicht, ändern Sie jetzt Ihr Passwort."
            ),
            Self::Fr => format!(
                "Quelqu'un a saisi votre mot de passe {app} mais pas le code envoyé. Si ce \
                 n'était pas vous, changez votre mot de passe."
            ),
            Self::Es => format!(
                "Alguien introdujo su clave de {app} pero no el codigo enviado. Si no fue usted, \
                 cambie su clave ahora."
            ),
        }
    }
}

/// The language subtag of a BCP 47 or POSIX tag, lower-cased (`pt-BR` → `pt`); `None` when
/// the tag does not start with two or three letters.
pub fn language_of_tag(tag: &str) -> Option<String> {
    let language = tag.trim().split(['-', '_', '.']).next().unwrap_or_default();
    let ok = (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphabetic());
    ok.then(|| language.to_ascii_lowercase())
}

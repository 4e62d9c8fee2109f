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
        let language = tag
            .trim()
            .split(['-', '_', '.'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match language.as_str() {
            "nl" => Self::Nl,
            "de" => Self::De,
            "fr" => Self::Fr,
            "es" => Self::Es,
            _ => Self::En,
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

    /// The code line, the validity and the do-not-share line, all in GSM-7 characters.
    pub(crate) fn code_text(self, app: &str, code: &str, minutes: u32) -> String {
        let one = minutes == 1;
        match self {
            Self::En => {
                let unit = if one { "minute" } else { "minutes" };
                format!(
                    "Your {app} code: {code}. Valid for {minutes} {unit}. \
                     Do not share this code with anyone."
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
}

//! Phone numbers: parsed once with the tenant's default country, held in E.164.
//!
//! Every key, limit and lookup uses the E.164 form, so `+1 (415) 555-0100`, `+14155550100`
//! and `001 415 555 0100` (US default) are the same number everywhere (R16).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use phonenumber::country;

mod lookup;
mod numbering_plan;

/// An ISO 3166-1 alpha-2 region that the phone-number metadata knows, such as `US` or `NL`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(country::Id);

impl Region {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let upper = input.trim().to_ascii_uppercase();
        if upper.len() != 2 {
            return Err(PhoneError::UnknownRegion);
        }
        country::Id::from_str(&upper)
            .map(Self)
            .map_err(|_| PhoneError::UnknownRegion)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of line a number is, as far as the numbering plan tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineType {
    Mobile,
    FixedLine,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    /// Universal access number (a company's single national number).
    Uan,
    Voicemail,
    Other,
}

/// A valid phone number in E.164 form (`+` and up to 15 digits). Two numbers are equal when
/// their E.164 forms are.
#[derive(Clone)]
pub struct PhoneNumber {
    e164: String,
    calling_code: u16,
    /// The country, from the numbering plan. Known at once for parsed input; for a number
    /// re-read from storage it is looked up when first asked, because that lookup is the
    /// costly part of a parse and most reads never need it (a login reading its user's row
    /// must cost what a login for a missing user costs, R19).
    region: OnceLock<Option<Region>>,
    /// The line type, for the pumping check. Parsed input usually gets it from the validity
    /// check's own type lookup (see [`PhoneNumber::parse`]); otherwise it is looked up when
    /// first asked.
    line_type: OnceLock<LineType>,
}

impl PartialEq for PhoneNumber {
    fn eq(&self, other: &Self) -> bool {
        self.e164 == other.e164
    }
}

impl Eq for PhoneNumber {}

impl std::hash::Hash for PhoneNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.e164.hash(state);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("must not be empty")]
    Empty,
    #[error("is too long")]
    TooLong,
    #[error("is not a phone number")]
    Unparseable,
    #[error("is not a valid number for its country")]
    Invalid,
    #[error("is not a known ISO 3166 country code")]
    UnknownRegion,
}

/// Compiles the numbering plan of `region`'s calling code now, so that the first number of it
/// parsed later does not (see `numbering_plan`). CPU work: about 9 ms for `+1`, less for any
/// other code, once per process; call it off the async runtime's workers.
pub fn prepare_numbering_plan(region: Region) {
    if let Some(code) = numbering_plan::calling_code_of(region.as_str()) {
        numbering_plan::prepare(code);
    }
}

/// Whether the numbering plan of `region` has been prepared in this process: a hash lookup
/// and an atomic load, cheap enough to ask before handing a preparation to another thread.
pub(crate) fn numbering_plan_prepared(region: Region) -> bool {
    numbering_plan::calling_code_of(region.as_str()).is_some_and(numbering_plan::is_prepared)
}

impl PhoneNumber {
    /// Parses what a user typed. A national number is read in `default_region`; an
    /// international one may start with `+` or with the common `00` prefix.
    pub fn parse(input: &str, default_region: Option<Region>) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // The longest legitimate input (15 digits plus punctuation and an extension) is far
        // shorter; refuse early rather than hand kilobytes to the parser.
        if trimmed.len() > 64 {
            return Err(PhoneError::TooLong);
        }
        let compact: String = trimmed
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}'))
            .collect();
        // `00` is the international call prefix in most of the world; libphonenumber only knows
        // the default region's own prefix (011 in the US), so accept `00` everywhere.
        let normalised = match compact.strip_prefix("00") {
            Some(rest) if !rest.is_empty() => format!("+{rest}"),
            _ => compact,
        };
        if let Some(region) = default_region {
            prepare_numbering_plan(region);
        }
        if let Some(code) = normalised.strip_prefix('+').and_then(leading_calling_code) {
            numbering_plan::prepare(code);
        }
        let parsed = phonenumber::parse(default_region.map(|r| r.0), &normalised)
            .map_err(|_| PhoneError::Unparseable)?;
        if parsed.extension().is_some() {
            return Err(PhoneError::Invalid);
        }
        // Valid means "the number's type is known", and each type check runs dozens of
        // metadata regexes, each behind the phonenumber crate's global regex cache (a lock and
        // two hashes of the pattern): the costliest part of a StartLogin's and of a refused
        // send's CPU. One search of the calling code's regions (`lookup`) gives the validity,
        // the region and the pumping check's line type, where the crate's own calls search
        // three times. It reads the national number without its leading zeros, and the
        // crate's `is_valid` with them, so a number with leading zeros (Italy's) keeps the
        // crate's calls.
        let line_type = OnceLock::new();
        let calling_code = parsed.code().value();
        let region = if parsed.national().zeros() == 0 {
            let national = parsed.national().value().to_string();
            let (meta, kind) =
                lookup::metadata_and_type(calling_code, &national).ok_or(PhoneError::Invalid)?;
            if kind == phonenumber::Type::Unknown {
                return Err(PhoneError::Invalid);
            }
            let _ = line_type.set(line_type_of(kind));
            meta.id().parse().ok().map(Region)
        } else {
            if !parsed.is_valid() {
                return Err(PhoneError::Invalid);
            }
            parsed.country().id().map(Region)
        };
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self {
            e164,
            calling_code,
            region: OnceLock::from(region),
            line_type,
        })
    }

    /// Re-reads a number that was stored in E.164 by this type (so it was valid when stored):
    /// the shape is checked and the calling code found (ITU calling codes are prefix-free, so
    /// exactly one of the first one to three digits is one); the country waits until asked.
    pub fn from_e164(e164: &str) -> Result<Self, PhoneError> {
        let digits = e164.strip_prefix('+').ok_or(PhoneError::Unparseable)?;
        // No calling code starts with 0 (and `01` must not read as 1).
        if !(4..=15).contains(&digits.len())
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PhoneError::Unparseable);
        }
        let calling_code = leading_calling_code(digits).ok_or(PhoneError::Unparseable)?;
        Ok(Self {
            e164: e164.to_owned(),
            calling_code,
            region: OnceLock::new(),
            line_type: OnceLock::new(),
        })
    }

    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The country the number belongs to, when the numbering plan says.
    pub fn region(&self) -> Option<Region> {
        *self.region.get_or_init(|| {
            numbering_plan::prepare(self.calling_code);
            phonenumber::parse(None, &self.e164)
                .ok()
                .and_then(|parsed| parsed.country().id().map(Region))
        })
    }

    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    /// The E.164 digits without the `+`, as several SMS providers want them.
    pub fn digits(&self) -> &str {
        self.e164.trim_start_matches('+')
    }

    /// The number minus its last `n` digits: the "prefix" that SMS-pumping limits count.
    pub fn prefix(&self, drop_last: usize) -> &str {
        let keep = self.e164.len().saturating_sub(drop_last).max(2);
        &self.e164[..keep.min(self.e164.len())]
    }

    /// `+1******0100`: the calling code and the last four digits. Safe for responses and logs.
    pub fn masked(&self) -> String {
        let cc = self.calling_code.to_string();
        let national = &self.e164[1 + cc.len()..];
        let visible = national.len().min(4);
        let hidden = national.len() - visible;
        format!("+{cc}{}{}", "*".repeat(hidden), &national[hidden..])
    }

    pub fn line_type(&self) -> LineType {
        *self.line_type.get_or_init(|| {
            numbering_plan::prepare(self.calling_code);
            phonenumber::parse(None, &self.e164).map_or(LineType::Other, |parsed| {
                line_type_of(parsed.number_type(&phonenumber::metadata::DATABASE))
            })
        })
    }
}

/// The calling code `digits` (an international number without its `+`) start with. ITU
/// calling codes are prefix-free, so exactly one of the first one to three digits is one.
fn leading_calling_code(digits: &str) -> Option<u16> {
    (1..=3)
        .filter_map(|n| digits.get(..n)?.parse::<u16>().ok())
        .find(|code| phonenumber::metadata::DATABASE.by_code(code).is_some())
}

fn line_type_of(kind: phonenumber::Type) -> LineType {
    use phonenumber::Type;
    match kind {
        Type::Mobile => LineType::Mobile,
        Type::FixedLine => LineType::FixedLine,
        Type::FixedLineOrMobile => LineType::FixedLineOrMobile,
        Type::TollFree => LineType::TollFree,
        Type::PremiumRate => LineType::PremiumRate,
        Type::SharedCost => LineType::SharedCost,
        Type::Voip => LineType::Voip,
        Type::PersonalNumber => LineType::PersonalNumber,
        Type::Pager => LineType::Pager,
        Type::Uan => LineType::Uan,
        Type::Voicemail => LineType::Voicemail,
        _ => LineType::Other,
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests;

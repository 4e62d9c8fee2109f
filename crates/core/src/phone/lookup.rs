//! A number's region and type in one pass over its calling code's metadata.
//!
//! `phonenumber` finds a number's metadata (`PhoneNumber::metadata`) by trying the regions of
//! its calling code in turn, and for a region without leading digits that try is a whole type
//! check. It does that search again for `number_type` and again for `country().id()`, so a US
//! number ran its type check three times per parse: about two thirds of a parse, the costliest
//! part of a refused StartLogin's CPU. These functions are the crate's `source_for` and
//! `number_type` (validator.rs, phonenumber 0.3.10) over its public metadata, keeping the type
//! the search already found; a test holds them to the crate's answers for every region.

use phonenumber::metadata::{DATABASE, Descriptor};
use phonenumber::{Metadata, Type, country};

/// The metadata a national number (without leading zeros) of `code` is read with, and its
/// type; `None` where the crate finds no metadata (its type is then `Unknown`).
pub(super) fn metadata_and_type(code: u16, national: &str) -> Option<(&'static Metadata, Type)> {
    let regions = DATABASE.region(&code)?;
    if let [only] = regions.as_slice() {
        let meta = if *only == "001" {
            // Non-geographic codes (+800, +979, ...): their one entity.
            DATABASE.by_code(&code)?.into_iter().next()?
        } else {
            only.parse::<country::Id>().ok()?;
            DATABASE.by_id(*only)?
        };
        return Some((meta, number_type(meta, national)));
    }
    for region in regions {
        let meta = DATABASE.by_id(region)?;
        if let Some(leading) = meta.leading_digits() {
            if leading.find(national).is_some_and(|m| m.start() == 0) {
                return Some((meta, number_type(meta, national)));
            }
        } else {
            let kind = number_type(meta, national);
            if kind != Type::Unknown {
                return Some((meta, kind));
            }
        }
    }
    None
}

/// The type of a national number under `meta`, in the crate's order of checks.
pub(super) fn number_type(meta: &Metadata, national: &str) -> Type {
    let d = meta.descriptors();
    if !d.general().is_match(national) {
        return Type::Unknown;
    }
    let matches =
        |descriptor: Option<&Descriptor>| descriptor.is_some_and(|d| d.is_match(national));
    let first = [
        (d.premium_rate(), Type::PremiumRate),
        (d.toll_free(), Type::TollFree),
        (d.shared_cost(), Type::SharedCost),
        (d.voip(), Type::Voip),
        (d.personal_number(), Type::PersonalNumber),
        (d.pager(), Type::Pager),
        (d.uan(), Type::Uan),
        (d.voicemail(), Type::Voicemail),
    ];
    if let Some((_, kind)) = first
        .into_iter()
        .find(|(descriptor, _)| matches(*descriptor))
    {
        return kind;
    }
    if matches(d.fixed_line()) {
        let same_pattern = d.fixed_line().map(|f| f.national_number().as_str())
            == d.mobile().map(|m| m.national_number().as_str());
        return if same_pattern || matches(d.mobile()) {
            Type::FixedLineOrMobile
        } else {
            Type::FixedLine
        };
    }
    if matches(d.mobile()) {
        return Type::Mobile;
    }
    Type::Unknown
}

#[cfg(test)]
mod tests;

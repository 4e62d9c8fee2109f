//! Parsing of end-user input shared by the flows, so every flow refuses the same numbers and
//! names with the same reason codes.

use crate::error::CoreError;
use crate::phone::{PhoneError, PhoneNumber};
use crate::tenant::Tenant;

/// Display names are bounded so nobody stores novels in them.
pub(crate) const MAX_NAME_CHARS: usize = 200;

/// Parses a number typed by the user with the tenant's default country, and refuses countries
/// and line types the tenant may not send codes to.
pub(crate) fn parse_phone(
    tenant: &Tenant,
    field: &str,
    input: &str,
) -> Result<PhoneNumber, CoreError> {
    let phone = PhoneNumber::parse(input, tenant.policy.default_region()).map_err(|e| match e {
        PhoneError::Empty => CoreError::invalid_with_code(field, "REQUIRED", "is required"),
        PhoneError::TooLong => CoreError::invalid_with_code(field, "TOO_LONG", e),
        _ => CoreError::invalid_with_code(field, "INVALID_PHONE_NUMBER", e),
    })?;
    check_phone(tenant, field, phone)
}

pub(crate) fn check_phone(
    tenant: &Tenant,
    field: &str,
    phone: PhoneNumber,
) -> Result<PhoneNumber, CoreError> {
    if !tenant.policy.allows_region(phone.region()) {
        return Err(CoreError::invalid_with_code(
            field,
            "COUNTRY_NOT_ALLOWED",
            "country is not allowed for this tenant",
        ));
    }
    // Refused types come from the tenant's pumping policy (premium rate, shared cost,
    // toll-free, pager, VoIP, UAN, voicemail by default).
    if tenant.policy.pumping.refuses(phone.line_type()) {
        return Err(CoreError::invalid_with_code(
            field,
            "NUMBER_TYPE_NOT_ALLOWED",
            "numbers of this type cannot receive codes",
        ));
    }
    Ok(phone)
}

pub(crate) fn display_name(field: &str, input: &str) -> Result<String, CoreError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(CoreError::invalid_with_code(
            field,
            "REQUIRED",
            "must not be empty",
        ));
    }
    if s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) {
        return Err(CoreError::invalid_with_code(
            field,
            "TOO_LONG",
            "must be at most 200 printable characters",
        ));
    }
    Ok(s.to_owned())
}

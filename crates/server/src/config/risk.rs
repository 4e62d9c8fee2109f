//! `[risk]`: the SIM-swap and porting hook consulted before a second-factor SMS (R30).

use serde::Deserialize;
use twostep_core::phone::PhoneNumber;

use super::{ConfigError, bad};

/// `[risk]`: where risk signals about numbers come from. Nothing configured: no signals.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRisk {
    /// Numbers (E.164, `+14155550100`) that report a recent SIM swap, for tests and drills:
    /// a second-factor login to one of them sends no SMS and needs a backup code.
    pub sim_swap_numbers: Vec<String>,
}

/// Validated `[risk]`.
#[derive(Debug, Clone, Default)]
pub struct RiskSettings {
    pub sim_swap_numbers: Vec<PhoneNumber>,
}

pub(super) fn validate_risk(raw: &RawRisk) -> Result<RiskSettings, ConfigError> {
    let sim_swap_numbers = raw
        .sim_swap_numbers
        .iter()
        .map(|n| {
            PhoneNumber::parse(n, None).map_err(|e| {
                bad(
                    "risk.sim_swap_numbers",
                    format!("an entry is not an E.164 number: {e}"),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(RiskSettings { sim_swap_numbers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_swap_numbers_must_be_e164() {
        let ok = RawRisk {
            sim_swap_numbers: vec!["+1 415 555 0100".into()],
        };
        let settings = validate_risk(&ok).unwrap();
        assert_eq!(settings.sim_swap_numbers[0].e164(), "+14155550100");
        let national = RawRisk {
            sim_swap_numbers: vec!["(415) 555-0100".into()],
        };
        let err = validate_risk(&national).unwrap_err().to_string();
        assert!(err.contains("risk.sim_swap_numbers"), "{err}");
    }
}

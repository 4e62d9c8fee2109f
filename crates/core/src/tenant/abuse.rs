//! The abuse settings of a tenant policy: layered send limits, lockout thresholds and the
//! SMS-pumping defences. Defaults are the security requirements' parameter table (§2, §3).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{PolicyError, secs};
use crate::phone::LineType;
use crate::ports::{Factor, LockRule};

/// Layered limits on sending codes, each a sliding window counted in the short-lived store.
/// Every send path charges all of them, for known and unknown numbers alike (R18).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsPolicy {
    /// Codes per number per 24 h (R15).
    pub per_number_per_day: u32,
    /// Codes per end-user IP (the caller's `client.ip_address`) per hour.
    pub per_ip_per_hour: u32,
    /// Codes per number prefix (the number minus its last 4 digits) per hour: pumping hits
    /// adjacent numbers.
    pub per_prefix_per_hour: u32,
    /// Codes per destination country per 24 h.
    pub per_country_per_day: u32,
    /// Codes for the whole tenant per hour.
    pub per_tenant_per_hour: u32,
    /// Codes per API client per hour (when the call names one).
    pub per_api_client_per_hour: u32,
    /// Password attempts per end-user IP per hour (R13: the password step is an oracle).
    pub password_per_ip_per_hour: u32,
    /// The longest wait between two resends of one challenge (R15: 1, 2, 4 … this).
    #[serde(with = "secs")]
    pub resend_backoff_max: Duration,
    /// Resend waits after the first are randomised by ± this percentage.
    pub resend_jitter_percent: u32,
}

/// Account lockout (R9–R11, R13): consecutive failures per account and factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockoutPolicy {
    /// From this many consecutive wrong codes on, each further attempt waits (soft lock).
    pub otp_soft_lock_at: u32,
    /// After this many, codes are refused until a backup code or an admin unlock (≤ 100).
    pub otp_hard_lock_at: u32,
    /// From this many consecutive wrong passwords on, each further attempt waits.
    pub password_soft_lock_at: u32,
    /// After this many, passwords are refused until an admin unlock.
    pub password_hard_lock_at: u32,
    /// The first soft-lock delay; each further failure doubles it.
    #[serde(with = "secs")]
    pub first_delay: Duration,
    /// The longest soft-lock delay.
    #[serde(with = "secs")]
    pub max_delay: Duration,
}

/// SMS-pumping defences beyond the limits (security requirements §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PumpingPolicy {
    /// Number types that never receive codes (`premium_rate`, `shared_cost`, `toll_free`,
    /// `pager`, `voip`, `uan`, `voicemail`, `personal_number`, `fixed_line`, `unknown`).
    pub refused_number_types: Vec<String>,
    /// Turns the conversion breaker off for this tenant; also how an operator resets a
    /// tripped breaker at once.
    pub breaker_disabled: bool,
    /// The window over which codes sent and codes verified are compared.
    #[serde(with = "secs")]
    pub breaker_window: Duration,
    /// The breaker only judges a slice (country or prefix) with at least this many sends in
    /// the window.
    pub breaker_min_sends: u32,
    /// Below this percentage of sends verified (at volume), the slice is refused.
    pub breaker_min_conversion_percent: u32,
}

/// The names of refusable number types, as the policy spells them.
pub const NUMBER_TYPES: &[(&str, LineType)] = &[
    ("premium_rate", LineType::PremiumRate),
    ("shared_cost", LineType::SharedCost),
    ("toll_free", LineType::TollFree),
    ("pager", LineType::Pager),
    ("voip", LineType::Voip),
    ("uan", LineType::Uan),
    ("voicemail", LineType::Voicemail),
    ("personal_number", LineType::PersonalNumber),
    ("fixed_line", LineType::FixedLine),
    ("unknown", LineType::Other),
];

impl Default for LimitsPolicy {
    fn default() -> Self {
        Self {
            per_number_per_day: 10,
            per_ip_per_hour: 10,
            per_prefix_per_hour: 20,
            per_country_per_day: 10_000,
            per_tenant_per_hour: 10_000,
            per_api_client_per_hour: 1000,
            password_per_ip_per_hour: 100,
            resend_backoff_max: Duration::from_secs(32 * 60),
            resend_jitter_percent: 20,
        }
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            otp_soft_lock_at: 10,
            otp_hard_lock_at: 50,
            password_soft_lock_at: 5,
            password_hard_lock_at: 50,
            first_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(3600),
        }
    }
}

impl Default for PumpingPolicy {
    fn default() -> Self {
        Self {
            refused_number_types: [
                "premium_rate",
                "shared_cost",
                "toll_free",
                "pager",
                "voip",
                "uan",
                "voicemail",
            ]
            .map(str::to_owned)
            .to_vec(),
            breaker_disabled: false,
            breaker_window: Duration::from_secs(3600),
            breaker_min_sends: 50,
            breaker_min_conversion_percent: 10,
        }
    }
}

impl LimitsPolicy {
    pub(super) fn validate(&self) -> Result<(), PolicyError> {
        let err = |field, reason| Err(PolicyError { field, reason });
        for (field, v) in [
            ("limits.per_number_per_day", self.per_number_per_day),
            ("limits.per_ip_per_hour", self.per_ip_per_hour),
            ("limits.per_prefix_per_hour", self.per_prefix_per_hour),
            ("limits.per_country_per_day", self.per_country_per_day),
            ("limits.per_tenant_per_hour", self.per_tenant_per_hour),
            (
                "limits.per_api_client_per_hour",
                self.per_api_client_per_hour,
            ),
            (
                "limits.password_per_ip_per_hour",
                self.password_per_ip_per_hour,
            ),
        ] {
            if !(1..=1_000_000).contains(&v) {
                return err(field, "must be 1 to 1000000");
            }
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(24 * 3600))
            .contains(&self.resend_backoff_max)
        {
            return err("limits.resend_backoff_max", "must be 1 min to 24 h");
        }
        // Above a third, adjacent backoff steps (2× apart) could overlap and a wait shrink.
        if self.resend_jitter_percent > 30 {
            return err("limits.resend_jitter_percent", "must be 0 to 30");
        }
        Ok(())
    }
}

impl LockoutPolicy {
    pub(super) fn validate(&self) -> Result<(), PolicyError> {
        let err = |field, reason| Err(PolicyError { field, reason });
        // 63B-4 §3.2.2: no more than 100 consecutive failed attempts.
        if !(1..=100).contains(&self.otp_hard_lock_at) {
            return err("lockout.otp_hard_lock_at", "must be 1 to 100");
        }
        if !(1..=self.otp_hard_lock_at).contains(&self.otp_soft_lock_at) {
            return err("lockout.otp_soft_lock_at", "must be 1 to otp_hard_lock_at");
        }
        if !(1..=100).contains(&self.password_hard_lock_at) {
            return err("lockout.password_hard_lock_at", "must be 1 to 100");
        }
        if !(1..=self.password_hard_lock_at).contains(&self.password_soft_lock_at) {
            return err(
                "lockout.password_soft_lock_at",
                "must be 1 to password_hard_lock_at",
            );
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.first_delay) {
            return err("lockout.first_delay", "must be 1 s to 1 h");
        }
        // Never permanent (R11): the soft lock is a delay, at most a day.
        if self.max_delay < self.first_delay || self.max_delay > Duration::from_secs(24 * 3600) {
            return err("lockout.max_delay", "must be first_delay to 24 h");
        }
        Ok(())
    }

    /// The thresholds for one factor. `past_hard_lock` admits attempts past the hard lock
    /// (backup codes, which are the way out of it).
    pub fn rule(&self, factor: Factor, past_hard_lock: bool) -> LockRule {
        let (soft_at, hard_at) = match factor {
            Factor::Otp => (self.otp_soft_lock_at, self.otp_hard_lock_at),
            Factor::Password => (self.password_soft_lock_at, self.password_hard_lock_at),
        };
        LockRule {
            soft_at,
            hard_at,
            first_delay: self.first_delay,
            max_delay: self.max_delay,
            past_hard_lock,
        }
    }
}

impl PumpingPolicy {
    pub(super) fn validate(&self) -> Result<(), PolicyError> {
        let err = |field, reason| Err(PolicyError { field, reason });
        if self
            .refused_number_types
            .iter()
            .any(|t| !NUMBER_TYPES.iter().any(|(name, _)| name == t))
        {
            return err(
                "pumping.refused_number_types",
                "must name known number types (premium_rate, shared_cost, toll_free, pager, voip, uan, voicemail, personal_number, fixed_line, unknown)",
            );
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(7 * 24 * 3600))
            .contains(&self.breaker_window)
        {
            return err("pumping.breaker_window", "must be 1 min to 7 days");
        }
        if !(1..=1_000_000).contains(&self.breaker_min_sends) {
            return err("pumping.breaker_min_sends", "must be 1 to 1000000");
        }
        if self.breaker_min_conversion_percent > 100 {
            return err("pumping.breaker_min_conversion_percent", "must be 0 to 100");
        }
        Ok(())
    }

    /// Whether codes may not go to a number of this type.
    pub fn refuses(&self, line: LineType) -> bool {
        NUMBER_TYPES
            .iter()
            .any(|(name, t)| *t == line && self.refused_number_types.iter().any(|r| r == name))
    }
}

/// Copies the abuse setting named by an update-mask `path` (`limits`, `lockout.max_delay`,
/// `pumping.refused_number_types`, ...) from `from` onto `to`; `false` when the path is not
/// one of them.
pub fn copy_abuse_path(to: &mut super::Policy, from: &super::Policy, path: &str) -> bool {
    macro_rules! leaves {
        ($($group:ident . $field:ident),* $(,)?) => {
            match path {
                "limits" => to.limits = from.limits.clone(),
                "lockout" => to.lockout = from.lockout.clone(),
                "pumping" => to.pumping = from.pumping.clone(),
                $(concat!(stringify!($group), ".", stringify!($field)) => {
                    to.$group.$field = from.$group.$field.clone();
                })*
                _ => return false,
            }
        };
    }
    leaves!(
        limits.per_number_per_day,
        limits.per_ip_per_hour,
        limits.per_prefix_per_hour,
        limits.per_country_per_day,
        limits.per_tenant_per_hour,
        limits.per_api_client_per_hour,
        limits.password_per_ip_per_hour,
        limits.resend_backoff_max,
        limits.resend_jitter_percent,
        lockout.otp_soft_lock_at,
        lockout.otp_hard_lock_at,
        lockout.password_soft_lock_at,
        lockout.password_hard_lock_at,
        lockout.first_delay,
        lockout.max_delay,
        pumping.refused_number_types,
        pumping.breaker_disabled,
        pumping.breaker_window,
        pumping.breaker_min_sends,
        pumping.breaker_min_conversion_percent,
    );
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lock_delays_double_from_the_threshold_and_stop_at_the_cap() {
        let rule = LockoutPolicy::default().rule(Factor::Otp, false);
        assert_eq!(rule.delay_after(9), None);
        let mins: Vec<u64> = (10..=20)
            .map(|n| rule.delay_after(n).map_or(0, |d| d.as_secs() / 60))
            .collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
        assert_eq!(rule.delay_after(u32::MAX), Some(rule.max_delay));
        let pw = LockoutPolicy::default().rule(Factor::Password, false);
        assert_eq!(pw.delay_after(5), Some(pw.first_delay));
    }

    #[test]
    fn default_refusals_cover_the_pumping_number_types() {
        let p = PumpingPolicy::default();
        for t in [
            LineType::PremiumRate,
            LineType::SharedCost,
            LineType::TollFree,
            LineType::Pager,
            LineType::Voip,
            LineType::Uan,
            LineType::Voicemail,
        ] {
            assert!(p.refuses(t), "{t:?}");
        }
        for t in [
            LineType::Mobile,
            LineType::FixedLineOrMobile,
            LineType::FixedLine,
        ] {
            assert!(!p.refuses(t), "{t:?}");
        }
    }

    #[test]
    fn abuse_paths_copy_one_setting_or_a_group() {
        let mut from = super::super::Policy::default();
        from.limits.per_prefix_per_hour = 3;
        from.lockout.max_delay = Duration::from_secs(120);
        let mut to = super::super::Policy::default();
        assert!(copy_abuse_path(
            &mut to,
            &from,
            "limits.per_prefix_per_hour"
        ));
        assert_eq!(to.limits.per_prefix_per_hour, 3);
        assert_eq!(to.lockout, LockoutPolicy::default());
        assert!(copy_abuse_path(&mut to, &from, "lockout"));
        assert_eq!(to.lockout.max_delay, Duration::from_secs(120));
        assert!(!copy_abuse_path(&mut to, &from, "limits.colour"));
    }

    #[test]
    fn unknown_number_type_names_are_refused() {
        let p = PumpingPolicy {
            refused_number_types: vec!["satellite".into()],
            ..PumpingPolicy::default()
        };
        assert_eq!(
            p.validate().unwrap_err().field,
            "pumping.refused_number_types"
        );
    }
}

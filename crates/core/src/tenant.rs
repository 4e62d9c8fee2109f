//! Tenants and their policy: the seeds' group, store or site, and the settings its admin
//! panel offers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use crate::otp::CodeLength;
use crate::phone::Region;
use crate::user::Role;

mod abuse;

pub use abuse::{LimitsPolicy, LockoutPolicy, NUMBER_TYPES, PumpingPolicy, copy_abuse_path};

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    /// Short unique handle, such as `default` or `acme-shop`.
    pub slug: String,
    pub name: String,
    /// The name used in SMS texts ("Your {app_name} code is …").
    pub app_name: String,
    pub policy: Policy,
    pub created_at: DateTime<Utc>,
}

impl Tenant {
    /// The slug of the tenant that start-up creates when none exists.
    pub const DEFAULT_SLUG: &'static str = "default";
}

/// Whether the second factor is off, up to the user, or mandatory for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwoStepMode {
    Disabled,
    Optional,
    Required,
}

/// Tenant policy. It is persisted as one document (the storage adapter serialises it), which
/// is why it derives serde: new settings then need no schema migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub two_step_customers: TwoStepMode,
    pub two_step_admins: TwoStepMode,
    pub phone_registration_allowed: bool,
    pub phone_login_allowed: bool,
    pub users_may_disable_two_step: bool,
    pub remind_to_enable_two_step: bool,
    /// ISO 3166 alpha-2; national numbers are read in this country.
    pub default_country: String,
    /// Countries SMS may be sent to; empty means the default country only.
    pub allowed_countries: Vec<String>,
    pub code: CodePolicy,
    pub password_min_length: u32,
    pub session: SessionPolicy,
    /// Layered send limits and resend backoff.
    pub limits: LimitsPolicy,
    /// Account lockout after consecutive failures.
    pub lockout: LockoutPolicy,
    /// SMS-pumping defences: refused number types, conversion breaker.
    pub pumping: PumpingPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodePolicy {
    pub length: u8,
    #[serde(with = "secs")]
    pub lifetime: Duration,
    pub max_attempts: u32,
    #[serde(with = "secs")]
    pub resend_cooldown: Duration,
    /// Sends per challenge, the first one included.
    pub max_sends: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionPolicy {
    #[serde(with = "secs")]
    pub access_token_ttl: Duration,
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    #[serde(with = "secs")]
    pub absolute_lifetime: Duration,
    #[serde(with = "secs")]
    pub admin_idle_timeout: Duration,
    #[serde(with = "secs")]
    pub admin_absolute_lifetime: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            two_step_customers: TwoStepMode::Optional,
            two_step_admins: TwoStepMode::Required,
            phone_registration_allowed: true,
            phone_login_allowed: true,
            users_may_disable_two_step: true,
            remind_to_enable_two_step: false,
            default_country: "US".to_owned(),
            allowed_countries: Vec::new(),
            code: CodePolicy::default(),
            password_min_length: 12,
            session: SessionPolicy::default(),
            limits: LimitsPolicy::default(),
            lockout: LockoutPolicy::default(),
            pumping: PumpingPolicy::default(),
        }
    }
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            length: 6,
            lifetime: Duration::from_secs(5 * 60),
            max_attempts: 5,
            resend_cooldown: Duration::from_secs(60),
            max_sends: 5,
        }
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(15 * 60),
            idle_timeout: Duration::from_secs(60 * 60),
            absolute_lifetime: Duration::from_secs(24 * 60 * 60),
            admin_idle_timeout: Duration::from_secs(30 * 60),
            admin_absolute_lifetime: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// Why a policy was refused; `field` names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PolicyError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl Policy {
    /// Checks every bound; a policy that passes can be used without further checks.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |field, reason| Err(PolicyError { field, reason });
        if Region::parse(&self.default_country).is_err() {
            return err("default_country", "must be an ISO 3166 alpha-2 code");
        }
        if self
            .allowed_countries
            .iter()
            .any(|c| Region::parse(c).is_err())
        {
            return err("allowed_countries", "must be ISO 3166 alpha-2 codes");
        }
        if CodeLength::new(self.code.length).is_err() {
            return err("code.length", "must be 4 to 10");
        }
        if !(Duration::from_secs(30)..=Duration::from_secs(10 * 60)).contains(&self.code.lifetime) {
            return err("code.lifetime", "must be 30 s to 10 min");
        }
        if !(1..=10).contains(&self.code.max_attempts) {
            return err("code.max_attempts", "must be 1 to 10");
        }
        if self.code.resend_cooldown > Duration::from_secs(60 * 60) {
            return err("code.resend_cooldown", "must be at most 1 h");
        }
        if !(1..=10).contains(&self.code.max_sends) {
            return err("code.max_sends", "must be 1 to 10");
        }
        if !(8..=128).contains(&self.password_min_length) {
            return err("password_min_length", "must be 8 to 128");
        }
        let s = &self.session;
        if s.access_token_ttl < Duration::from_secs(60) || s.access_token_ttl > s.idle_timeout {
            return err(
                "session.access_token_ttl",
                "must be at least 1 min and at most the idle timeout",
            );
        }
        if s.idle_timeout > s.absolute_lifetime {
            return err(
                "session.idle_timeout",
                "must not exceed the absolute lifetime",
            );
        }
        if s.admin_idle_timeout > s.admin_absolute_lifetime
            || s.admin_idle_timeout < s.access_token_ttl
        {
            return err(
                "session.admin_idle_timeout",
                "must be between the access token ttl and the admin absolute lifetime",
            );
        }
        // Longer than a year is "forever" in practice; refuse it so a lifetime always exists.
        if s.absolute_lifetime > Duration::from_secs(366 * 24 * 3600)
            || s.admin_absolute_lifetime > Duration::from_secs(366 * 24 * 3600)
        {
            return err("session.absolute_lifetime", "must be at most 366 days");
        }
        self.limits.validate()?;
        self.lockout.validate()?;
        self.pumping.validate()?;
        Ok(())
    }

    pub fn default_region(&self) -> Option<Region> {
        Region::parse(&self.default_country).ok()
    }

    pub fn code_length(&self) -> CodeLength {
        CodeLength::new(self.code.length).unwrap_or(CodeLength::DEFAULT)
    }

    pub fn two_step_mode(&self, role: Role) -> TwoStepMode {
        match role {
            Role::Customer => self.two_step_customers,
            Role::Admin => self.two_step_admins,
        }
    }

    /// Whether SMS may go to a number of this region.
    pub fn allows_region(&self, region: Option<Region>) -> bool {
        let Some(region) = region else { return false };
        if self.allowed_countries.is_empty() {
            return region.as_str() == self.default_country;
        }
        self.allowed_countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(region.as_str()))
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_bounds_settings_name_their_field() {
        let mut p = Policy::default();
        p.code.length = 3;
        assert_eq!(p.validate().unwrap_err().field, "code.length");
        let p = Policy {
            default_country: "Narnia".into(),
            ..Policy::default()
        };
        assert_eq!(p.validate().unwrap_err().field, "default_country");
        let mut p = Policy::default();
        p.code.lifetime = Duration::from_secs(11 * 60);
        assert_eq!(p.validate().unwrap_err().field, "code.lifetime");
    }

    #[test]
    fn allowed_countries_default_to_the_default_country() {
        let p = Policy::default();
        assert!(p.allows_region(Region::parse("US").ok()));
        assert!(!p.allows_region(Region::parse("GB").ok()));
        assert!(!p.allows_region(None));
    }
}

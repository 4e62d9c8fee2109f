//! The product's flows, written against the ports only. Each function takes [`Deps`] and
//! values that were already parsed at the edge, and returns domain results or a
//! [`CoreError`](crate::CoreError).

pub mod account;
pub mod admin;
pub mod api_clients;
pub mod audit;
pub mod audit_retention;
pub mod backup_codes;
pub mod backup_login;
pub mod codes;
mod flood_log;
mod input;
pub mod limits;
pub mod lockout;
pub mod login;
pub mod numbering_plans;
pub mod password_login;
pub mod pumping;
pub mod reauth;
pub mod refreshing_cache;
pub mod registration;
pub mod retention;
pub mod session_retention;
pub mod sessions;
mod sim_swap;
pub mod sms_admin;
pub mod suspicious;
mod tenant_cache;
pub mod tenants;
pub mod test_numbers;
pub mod texts;
pub mod tickets;
pub mod verify;

use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::otp::CodeKey;
use crate::password::PasswordHasher;
use crate::ports::{
    AuditLog, BackupCodeRepo, ConsumedChallenges, LockoutRepo, NumberRiskCheck, ProviderCodes,
    SessionRepo, ShortLivedStore, SmsOutbox, SmsSettingsStore, TenantRepo, UserRepo,
};

/// Everything a flow may reach. Built once at start-up and shared.
pub struct Deps {
    pub tenants: Arc<dyn TenantRepo>,
    pub users: Arc<dyn UserRepo>,
    pub sessions: Arc<dyn SessionRepo>,
    pub backup_codes: Arc<dyn BackupCodeRepo>,
    pub audit: Arc<dyn AuditLog>,
    pub consumed: Arc<dyn ConsumedChallenges>,
    pub store: Arc<dyn ShortLivedStore>,
    pub outbox: Arc<dyn SmsOutbox>,
    /// Tenants' own SMS settings: test numbers and templates here; providers in the worker.
    pub sms_settings: Arc<dyn SmsSettingsStore>,
    pub clock: Arc<dyn Clock>,
    pub code_key: CodeKey,
    pub passwords: PasswordHasher,
    /// Backup codes carry ~50 bits, so a low argon2id cost suffices (R26); a separate hasher
    /// keeps them from queueing behind password hashes.
    pub backup_code_hasher: PasswordHasher,
    pub tenant_cache: tenants::TenantCache,
    /// Durable consecutive-failure counters and locks (R9–R11, R39 b).
    pub lockouts: Arc<dyn LockoutRepo>,
    /// The global SMS kill switch.
    pub kill_switch: pumping::KillSwitch,
    /// The SIM-swap and porting hook consulted before a second-factor SMS (R30).
    pub number_risk: Arc<dyn NumberRiskCheck>,
    /// Second factors of right passwords, watched until they are answered or expire (R13).
    pub abandoned: suspicious::AbandonedWatch,
    /// Tenants whose codes a provider makes and checks (Twilio Verify); `NoProviderCodes`
    /// when none can. Not consulted by the flows yet (issue 5, deliverable 3).
    pub provider_codes: Arc<dyn ProviderCodes>,
}

/// What the calling service tells us about the end user's client. Rate limits, audit events
/// and message language use it; none of it is trusted for authentication.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: String,
    pub locale: String,
    pub device_id: String,
}

//! Ports: the traits through which the flows reach the outside world. Adapters live in other
//! crates (`storage`, `shortlived`, `sms-gateway`); each documents the contract it must keep.

mod api_clients;
mod lockouts;
mod number_risk;
mod outbox;
mod provider_codes;
mod records;
mod repos;
mod session_events;
mod short_lived;
mod sms;
mod sms_settings;

pub use api_clients::ApiClientRepo;
pub use lockouts::{Admission, Factor, LockRule, LockoutRepo, LockoutState};
pub use number_risk::{NoRiskSource, NumberRisk, NumberRiskCheck, StaticSimSwapList};
pub use outbox::{
    ClaimedOutboxMessage, ExpiredRows, NewOutboxMessage, OutboxOutcome, OutboxRecord, OutboxRepo,
    OutboxStatus, ReceiptOutcome, ReceiptScope, ReceiptStatus, STAND_IN_EXPIRY, SealedBody,
};
pub use provider_codes::{NoProviderCodes, ProviderCodeError, ProviderCodes};
pub use records::{AuditLog, AuditRetention, BackupCodeRepo, ConsumedChallenges, StoredBackupCode};
pub use repos::{RepoError, SessionRepo, TenantRepo, TenantUpdate, UserRepo};
pub use session_events::{BadRevocation, Revocation, RevocationListener, SessionEvents};
pub use short_lived::{
    Limit, RateDecision, ResendOutcome, ShortLivedStore, StoreError, VerifyOutcome,
};
pub use sms::{
    OutboxError, OutgoingSms, PermanentKind, SendError, SentSms, SmsOutbox, SmsSender, SmsText,
};
pub use sms_settings::{
    ProviderEntry, SmsSettingsError, SmsSettingsRecord, SmsSettingsRepo, SmsSettingsStore,
    TenantSmsSettings, TestNumber,
};

/// The error type adapters wrap their own errors in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

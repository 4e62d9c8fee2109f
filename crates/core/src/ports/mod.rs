//! Ports: the traits through which the flows reach the outside world. Adapters live in other
//! crates (`storage`, `shortlived`, `sms-gateway`); each documents the contract it must keep.

mod outbox;
mod records;
mod repos;
mod short_lived;
mod sms;

pub use outbox::{
    ClaimedOutboxMessage, NewOutboxMessage, OutboxOutcome, OutboxRecord, OutboxRepo, OutboxStatus,
    SealedBody,
};
pub use records::{AuditLog, BackupCodeRepo, ConsumedChallenges, StoredBackupCode};
pub use repos::{RepoError, SessionRepo, TenantRepo, UserRepo};
pub use short_lived::{
    Limit, RateDecision, ResendOutcome, ShortLivedStore, StoreError, VerifyOutcome,
};
pub use sms::{
    OutboxError, OutgoingSms, PermanentKind, SendError, SentSms, SmsOutbox, SmsSender, SmsText,
};

/// The error type adapters wrap their own errors in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

//! The durable SMS outbox: one row per message, committed before the RPC that wants the
//! message answers, and sent afterwards by a worker (issue 5, item 5).
//!
//! This port is the rows only. The `SmsOutbox` adapter in `sms-gateway` seals each message
//! (number and text, encrypted with the outbox key) into an opaque `body` before it gets
//! here, so the repository never sees a code and a database dump never holds one.
//!
//! A row's life:
//!
//! ```text
//!  enqueue ──▶ queued ──claim──▶ sending ──▶ sent ──receipt──▶ delivered
//!                ▲                  │  │      │                  ▲
//!                └──retry / lease ──┘  │      └──receipt──▶ failed ┘ (a later "delivered")
//!                                      └──▶ failed (permanent error)
//!  queued, or sending with its lease run out, past expires_at ──▶ expired
//! ```
//!
//! `sent`, `delivered`, `failed` and `expired` are final, and their body is erased. Final rows
//! are deleted after a retention period ([`OutboxRepo::prune_finished`]), so the table holds
//! recent history only. Only a
//! delivery receipt ([`OutboxRepo::record_receipt`]) changes a final row, and only forward:
//! `sent` → `delivered` or `failed`, and `failed` (by a receipt) → `delivered`, because a
//! handset's confirmation outranks an earlier failure report (carriers report out of order,
//! and some report a failure before a late delivery). `delivered` never changes again.
//!
//! **Contract** (the storage contract suite checks it on SQLite and PostgreSQL):
//! - `claim` is atomic across processes: of concurrent claims (other instances included),
//!   each row goes to at most one caller, and a claimed row is not claimed again until it is
//!   finished or its lease runs out;
//! - a row whose `expires_at` has passed is never claimed;
//! - `finish` and `extend_lease` change a row only while it is still `sending` under the
//!   caller's claim token, so a worker that lost its lease (it was too slow, the row was
//!   requeued and claimed elsewhere) cannot overwrite the new holder's result;
//! - absent is `Ok(None)`/`false`, an unreachable database is `RepoError::Unavailable`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::challenge::Purpose;
use crate::ids::TenantId;
use crate::ports::RepoError;

/// The expiry of a stand-in row: a message queued only so that a decoy costs what a real
/// code costs (R19), which must never be sent. It has expired before it is written, whatever
/// the clocks of the instances, so [`OutboxRepo::enqueue`] writes it already `expired`, with
/// no body: the same one insert as a real message, and nothing after it (no claim, no sweep,
/// no second version of the row).
pub const STAND_IN_EXPIRY: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

/// What one [`OutboxRepo::expire_due`] ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiredRows {
    /// Messages that were meant to be sent and ran out of time first (worth a warning).
    pub missed: u64,
    /// Stand-in rows ([`STAND_IN_EXPIRY`]), which were never meant to be sent: only those
    /// queued by versions that wrote them `queued` (today they are written `expired`).
    pub stand_ins: u64,
}

/// Where a row is in its life; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting for a worker (first try or a retry), from `next_attempt_at` on.
    Queued,
    /// Claimed by a worker until `lease_until`.
    Sending,
    /// A provider accepted it.
    Sent,
    /// A delivery receipt said it arrived.
    Delivered,
    /// A permanent error: no provider will take it.
    Failed,
    /// Its code expired before a provider accepted it; it is never sent.
    Expired,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 6] = [
        OutboxStatus::Queued,
        OutboxStatus::Sending,
        OutboxStatus::Sent,
        OutboxStatus::Delivered,
        OutboxStatus::Failed,
        OutboxStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Queued => "queued",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether nothing will change the row any more (a receipt may still turn `sent` into
    /// `delivered`).
    pub fn is_final(self) -> bool {
        !matches!(self, OutboxStatus::Queued | OutboxStatus::Sending)
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message sealed for storage by the outbox adapter (nonce, ciphertext and tag). Opaque
/// here: only the adapter holding the outbox key can open it; rows carry the key's id so a
/// worker claims only rows it can open.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBody(pub Vec<u8>);

impl fmt::Debug for SealedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedBody({} bytes)", self.0.len())
    }
}

/// A row to store, `queued` and due at once.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub id: uuid::Uuid,
    pub tenant: TenantId,
    /// Unique per tenant: a second enqueue with the same key stores nothing.
    pub idempotency_key: String,
    pub purpose: Option<Purpose>,
    /// The number as logs show it (`+1******0100`), for operators; the full number is only
    /// in the sealed body.
    pub masked_to: String,
    pub body: SealedBody,
    /// Which outbox key sealed `body` (a fingerprint, not the key).
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    /// After this the message is worthless and must not be sent.
    pub expires_at: DateTime<Utc>,
}

impl NewOutboxMessage {
    /// A decoy's stand-in (queued to expire at [`STAND_IN_EXPIRY`]): never to be sent.
    pub fn is_stand_in(&self) -> bool {
        self.expires_at <= STAND_IN_EXPIRY
    }
}

/// A row a worker claimed: it may send it until `lease_until` (or longer, by extending the
/// lease) and must then `finish` it with `claim`.
#[derive(Debug, Clone)]
pub struct ClaimedOutboxMessage {
    pub id: uuid::Uuid,
    pub tenant: TenantId,
    /// The claim token: proof that the caller still holds the row.
    pub claim: uuid::Uuid,
    pub idempotency_key: String,
    pub purpose: Option<Purpose>,
    pub masked_to: String,
    pub body: SealedBody,
    pub key_id: String,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
}

/// How a send ended, as `finish` records it. Every outcome but `Retry` is final and erases
/// the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxOutcome {
    /// Accepted by `provider` (the configured name), which calls it `provider_message_id`.
    Sent {
        provider: String,
        provider_message_id: String,
    },
    /// Try again from `next_attempt_at` (before `expires_at`, or it should be `Expired`).
    Retry {
        next_attempt_at: DateTime<Utc>,
        error: String,
    },
    /// A permanent error.
    Failed { error: String },
    /// The code expires before another try could be made.
    Expired { error: Option<String> },
}

/// What a provider's delivery receipt says about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// Still on its way (queued, accepted or sent on by the provider): nothing to record.
    Sent,
    /// The handset received it.
    Delivered,
    /// It will not arrive. `reason` is the provider's status and error code, never the text
    /// or the number.
    Failed { reason: String },
}

/// Whose rows a delivery receipt may reach. A provider's name alone does not say: a
/// tenant's own provider (SetSmsProviders) is named by an id that is unique in that tenant
/// only, and may equal another tenant's id or a configured provider's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptScope {
    /// A provider of the server's configuration, which sends for every tenant.
    AnyTenant,
    /// A provider of this tenant's own, which sends for it alone.
    Tenant(TenantId),
}

/// What [`OutboxRepo::record_receipt`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The row moved to this status.
    Recorded(OutboxStatus),
    /// The row exists and stays as it is (a repeat, a step back, or a `Sent` receipt).
    Unchanged(OutboxStatus),
    /// No sent row in scope carries this provider and message id.
    UnknownMessage,
}

/// What an operator may see of a row: everything but the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: uuid::Uuid,
    pub tenant: TenantId,
    pub idempotency_key: String,
    pub purpose: Option<Purpose>,
    pub masked_to: String,
    pub status: OutboxStatus,
    pub attempts: u32,
    /// The provider that accepted the message, once one did.
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    /// The last failure's reason (never the text or the full number).
    pub last_error: Option<String>,
    /// Whether the sealed body is still stored (only while queued or sending).
    pub has_body: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The outbox rows; see the module docs for the contract.
#[async_trait]
pub trait OutboxRepo: Send + Sync + 'static {
    /// Stores a `queued` row due at once. `Ok(false)` when the tenant already has a row with
    /// this idempotency key: nothing is stored, so a repeated enqueue never sends twice.
    /// A stand-in (`expires_at` at or before [`STAND_IN_EXPIRY`]) is stored `expired` with
    /// no body, in the same one statement.
    async fn enqueue(&self, message: &NewOutboxMessage) -> Result<bool, RepoError>;

    /// Claims at most `limit` rows that are `queued`, due (`next_attempt_at <= now`), not
    /// expired (`expires_at > now`) and sealed with one of `key_ids` (the keys the caller
    /// can open), oldest due first: in one atomic step each becomes `sending` with a fresh
    /// claim token, `lease_until = now + lease` and one more attempt.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
        key_ids: &[String],
    ) -> Result<Vec<ClaimedOutboxMessage>, RepoError>;

    /// Moves `lease_until` of a row still `sending` under `claim`; `false` if the claim is lost.
    async fn extend_lease(
        &self,
        id: uuid::Uuid,
        claim: uuid::Uuid,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Records how the send of a row still `sending` under `claim` ended; `false` (and
    /// nothing changed) if the claim is lost.
    async fn finish(
        &self,
        id: uuid::Uuid,
        claim: uuid::Uuid,
        outcome: &OutboxOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Rows left `sending` by a worker that died (`lease_until <= now`) go back to `queued`,
    /// due at once, their claim token cleared; rows under one of the caller's own `held`
    /// claims are left alone (the caller knows it is still working on them, however late its
    /// lease renewal). Returns how many.
    async fn requeue_abandoned(
        &self,
        now: DateTime<Utc>,
        held: &[uuid::Uuid],
    ) -> Result<u64, RepoError>;

    /// Rows past `expires_at` that no worker holds (`queued`, or `sending` with its lease run
    /// out and not under one of `held`) become `expired`, their body erased. Returns how many,
    /// with the stand-ins (queued to expire at [`STAND_IN_EXPIRY`]) counted apart.
    async fn expire_due(
        &self,
        now: DateTime<Utc>,
        held: &[uuid::Uuid],
    ) -> Result<ExpiredRows, RepoError>;

    /// Deletes at most `limit` final rows (`sent`, `delivered`, `failed`, `expired`) whose
    /// `expires_at` is before `before`; returns how many. Rows still `queued` or
    /// `sending` are never deleted, however old. `expires_at` dates a row's end (a code's
    /// lifetime after it was written), and stand-ins, which expire at [`STAND_IN_EXPIRY`],
    /// go at the first prune after they are written: they record nothing.
    async fn prune_finished(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, RepoError>;

    /// A delivery receipt for the row `provider` (a configured name, or a tenant's provider
    /// id) accepted as `provider_message_id`, received at `now`. With
    /// [`ReceiptScope::Tenant`] only that tenant's rows match: another tenant's row with the
    /// same provider name and message id stays as it is. Moves the row only forward (module
    /// docs): `Delivered` turns `sent` or `failed` into `delivered` (setting `delivered_at`);
    /// `Failed` turns `sent` into `failed` (the reason in `last_error`); `Sent` changes
    /// nothing. Idempotent: a repeated receipt answers `Unchanged`. A row not yet `sent` (or
    /// an empty id) is `UnknownMessage`, as is an id no row carries.
    async fn record_receipt(
        &self,
        scope: ReceiptScope,
        provider: &str,
        provider_message_id: &str,
        status: &ReceiptStatus,
        now: DateTime<Utc>,
    ) -> Result<ReceiptOutcome, RepoError>;

    /// One row without its body.
    async fn find(&self, id: uuid::Uuid) -> Result<Option<OutboxRecord>, RepoError>;

    /// The row of a tenant's idempotency key, without its body.
    async fn find_by_key(
        &self,
        tenant: TenantId,
        idempotency_key: &str,
    ) -> Result<Option<OutboxRecord>, RepoError>;
}

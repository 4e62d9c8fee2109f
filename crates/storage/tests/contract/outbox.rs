//! `OutboxRepo`: enqueue once per key, claims that never share a row, leases that lapse,
//! outcomes that erase the body, expiry that never sends.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use twostep_core::challenge::Purpose;
use twostep_core::ids::TenantId;
use twostep_core::ports::{
    ExpiredRows, NewOutboxMessage, OutboxOutcome, OutboxRecord, OutboxRepo, OutboxStatus,
    ReceiptOutcome, ReceiptScope, ReceiptStatus, STAND_IN_EXPIRY, SealedBody,
};
use twostep_storage::Database;

use crate::fixtures::now;

contract!(
    enqueue_stores_a_queued_row_with_its_body,
    a_repeated_idempotency_key_stores_nothing,
    claim_takes_due_rows_once_and_counts_attempts,
    claim_never_takes_expired_or_future_rows,
    claim_takes_only_rows_sealed_with_the_given_keys,
    sent_records_the_provider_and_erases_the_body,
    a_receipt_marks_a_sent_row_delivered,
    receipts_move_a_row_only_forward,
    a_tenant_scoped_receipt_reaches_only_that_tenants_row,
    concurrent_receipts_record_one_move,
    retry_keeps_the_body_and_waits_until_due,
    failed_and_expired_outcomes_erase_the_body,
    a_lapsed_lease_is_requeued_and_the_old_claim_is_void,
    a_held_lease_can_be_extended,
    the_callers_own_claims_are_neither_requeued_nor_expired,
    expire_due_ends_unheld_rows_past_their_expiry,
    prune_deletes_only_final_rows_past_the_cut_off,
    concurrent_claims_never_share_a_row,
);

/// Receipts of a configured provider, which may reach any tenant's rows.
const ANY: ReceiptScope = ReceiptScope::AnyTenant;
const LEASE: Duration = Duration::from_secs(30);
const KEY: &str = "k-current";

fn keys() -> Vec<String> {
    vec![KEY.to_owned()]
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn message(
    tenant: TenantId,
    key: &str,
    at: DateTime<Utc>,
    lifetime: TimeDelta,
) -> NewOutboxMessage {
    NewOutboxMessage {
        id: uuid::Uuid::now_v7(),
        tenant,
        idempotency_key: key.to_owned(),
        purpose: Some(Purpose::PhoneLogin),
        masked_to: "+1******0100".to_owned(),
        body: SealedBody(format!("sealed:{key}").into_bytes()),
        key_id: KEY.to_owned(),
        created_at: at,
        expires_at: at + lifetime,
    }
}

async fn record(db: &Database, id: uuid::Uuid) -> OutboxRecord {
    db.outbox().find(id).await.unwrap().unwrap()
}

async fn enqueue_stores_a_queued_row_with_its_body(db: Database) {
    let t = now();
    let msg = message(TenantId::random(), "k1", t, secs(300));
    assert!(db.outbox().enqueue(&msg).await.unwrap());
    let r = record(&db, msg.id).await;
    assert_eq!(r.status, OutboxStatus::Queued);
    assert_eq!(r.tenant, msg.tenant);
    assert_eq!(r.purpose, Some(Purpose::PhoneLogin));
    assert_eq!(r.masked_to, "+1******0100");
    assert_eq!(r.attempts, 0);
    assert!(r.has_body);
    assert_eq!((r.created_at, r.next_attempt_at), (t, t));
    assert_eq!(r.expires_at, t + secs(300));
    assert_eq!(
        (r.provider, r.provider_message_id, r.sent_at),
        (None, None, None)
    );
    let by_key = db
        .outbox()
        .find_by_key(msg.tenant, "k1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_key.id, msg.id);
    assert!(
        db.outbox()
            .find(uuid::Uuid::new_v4())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_repeated_idempotency_key_stores_nothing(db: Database) {
    let tenant = TenantId::random();
    let first = message(tenant, "same", now(), secs(300));
    assert!(db.outbox().enqueue(&first).await.unwrap());
    let again = message(tenant, "same", now(), secs(300));
    assert!(!db.outbox().enqueue(&again).await.unwrap());
    assert!(db.outbox().find(again.id).await.unwrap().is_none());
    // The key is unique per tenant only.
    let other = message(TenantId::random(), "same", now(), secs(300));
    assert!(db.outbox().enqueue(&other).await.unwrap());
    let claimed = db.outbox().claim(now(), LEASE, 10, &keys()).await.unwrap();
    assert_eq!(claimed.len(), 2);
}

async fn claim_takes_due_rows_once_and_counts_attempts(db: Database) {
    let t = now();
    let a = message(TenantId::random(), "a", t - secs(2), secs(300));
    let b = message(TenantId::random(), "b", t - secs(1), secs(300));
    db.outbox().enqueue(&b).await.unwrap();
    db.outbox().enqueue(&a).await.unwrap();

    let first = db.outbox().claim(t, LEASE, 1, &keys()).await.unwrap();
    assert_eq!(first.len(), 1);
    let c = &first[0];
    // Oldest due first.
    assert_eq!(c.id, a.id);
    assert_eq!(c.body, a.body);
    assert_eq!(c.attempts, 1);
    assert_eq!(c.idempotency_key, "a");
    assert_eq!(c.purpose, Some(Purpose::PhoneLogin));
    assert_eq!(c.expires_at, a.expires_at);
    assert_eq!(c.lease_until, t + secs(30));
    let r = record(&db, a.id).await;
    assert_eq!(r.status, OutboxStatus::Sending);
    assert_eq!(r.lease_until, Some(t + secs(30)));

    let second = db.outbox().claim(t, LEASE, 10, &keys()).await.unwrap();
    assert_eq!(second.iter().map(|c| c.id).collect::<Vec<_>>(), [b.id]);
    assert_ne!(second[0].claim, c.claim);
    assert!(
        db.outbox()
            .claim(t, LEASE, 10, &keys())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.outbox()
            .claim(t, LEASE, 0, &keys())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn claim_never_takes_expired_or_future_rows(db: Database) {
    let t = now();
    let expired = message(TenantId::random(), "old", t - secs(60), secs(60));
    db.outbox().enqueue(&expired).await.unwrap();
    let later = message(TenantId::random(), "later", t + secs(5), secs(60));
    db.outbox().enqueue(&later).await.unwrap();
    assert!(
        db.outbox()
            .claim(t, LEASE, 10, &keys())
            .await
            .unwrap()
            .is_empty()
    );
    let due = db
        .outbox()
        .claim(t + secs(5), LEASE, 10, &keys())
        .await
        .unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), [later.id]);
    assert_eq!(record(&db, expired.id).await.status, OutboxStatus::Queued);
}

async fn claim_takes_only_rows_sealed_with_the_given_keys(db: Database) {
    let t = now();
    let mut old = message(TenantId::random(), "old-key", t, secs(60));
    old.key_id = "k-old".to_owned();
    db.outbox().enqueue(&old).await.unwrap();
    assert!(
        db.outbox()
            .claim(t, LEASE, 10, &keys())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.outbox()
            .claim(t, LEASE, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let both = vec![KEY.to_owned(), "k-old".to_owned()];
    let claimed = db.outbox().claim(t, LEASE, 10, &both).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].key_id, "k-old");
}

async fn sent_records_the_provider_and_erases_the_body(db: Database) {
    let t = now();
    let msg = message(TenantId::random(), "s", t, secs(300));
    db.outbox().enqueue(&msg).await.unwrap();
    let c = db
        .outbox()
        .claim(t, LEASE, 10, &keys())
        .await
        .unwrap()
        .remove(0);
    let sent = OutboxOutcome::Sent {
        provider: "backup".to_owned(),
        provider_message_id: "SM123".to_owned(),
    };
    assert!(
        db.outbox()
            .finish(c.id, c.claim, &sent, t + secs(1))
            .await
            .unwrap()
    );
    let r = record(&db, msg.id).await;
    assert_eq!(r.status, OutboxStatus::Sent);
    assert_eq!(r.provider.as_deref(), Some("backup"));
    assert_eq!(r.provider_message_id.as_deref(), Some("SM123"));
    assert_eq!(r.sent_at, Some(t + secs(1)));
    assert_eq!(r.attempts, 1);
    assert!(!r.has_body);
    assert_eq!(r.lease_until, None);
    // Finishing twice changes nothing; a final row is never claimed again.
    let failed = OutboxOutcome::Failed {
        error: "late".to_owned(),
    };
    assert!(!db.outbox().finish(c.id, c.claim, &failed, t).await.unwrap());
    assert_eq!(record(&db, msg.id).await.status, OutboxStatus::Sent);
    assert!(
        db.outbox()
            .claim(t + secs(2), LEASE, 10, &keys())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Enqueues, claims and finishes a row as sent by `provider` under a fresh message id.
async fn sent_row(db: &Database, provider: &str, t: DateTime<Utc>) -> (uuid::Uuid, String) {
    let provider_message_id = format!("SM{}", uuid::Uuid::new_v4().simple());
    let id = sent_row_of(db, TenantId::random(), provider, &provider_message_id, t).await;
    (id, provider_message_id)
}

/// Enqueues, claims and finishes a row of `tenant` as sent by `provider` as
/// `provider_message_id`; returns the row's id.
async fn sent_row_of(
    db: &Database,
    tenant: TenantId,
    provider: &str,
    provider_message_id: &str,
    t: DateTime<Utc>,
) -> uuid::Uuid {
    let repo = db.outbox();
    let key = uuid::Uuid::new_v4().to_string();
    let msg = message(tenant, &key, t, secs(300));
    repo.enqueue(&msg).await.unwrap();
    let c = repo.claim(t, LEASE, 1, &keys()).await.unwrap().remove(0);
    assert_eq!(c.id, msg.id);
    let sent = OutboxOutcome::Sent {
        provider: provider.to_owned(),
        provider_message_id: provider_message_id.to_owned(),
    };
    assert!(repo.finish(c.id, c.claim, &sent, t).await.unwrap());
    msg.id
}

fn failed(reason: &str) -> ReceiptStatus {
    ReceiptStatus::Failed {
        reason: reason.to_owned(),
    }
}

async fn a_receipt_marks_a_sent_row_delivered(db: Database) {
    let t = now();
    let repo = db.outbox();
    // Not sent yet: no receipt applies (the row carries no provider id).
    let msg = message(TenantId::random(), "d", t, secs(300));
    repo.enqueue(&msg).await.unwrap();
    assert_eq!(
        repo.record_receipt(ANY, "twilio", "SM9", &ReceiptStatus::Delivered, t)
            .await
            .unwrap(),
        ReceiptOutcome::UnknownMessage
    );
    let _ = repo.claim(t, LEASE, 1, &keys()).await.unwrap();

    let (id, sid) = sent_row(&db, "twilio", t).await;
    let delivered = ReceiptStatus::Delivered;
    // Another provider's id space, and an empty id, match nothing.
    for (provider, message_id) in [("plivo", sid.as_str()), ("twilio", "")] {
        assert_eq!(
            repo.record_receipt(ANY, provider, message_id, &delivered, t)
                .await
                .unwrap(),
            ReceiptOutcome::UnknownMessage
        );
    }
    assert_eq!(
        repo.record_receipt(ANY, "twilio", &sid, &delivered, t + secs(3))
            .await
            .unwrap(),
        ReceiptOutcome::Recorded(OutboxStatus::Delivered)
    );
    let r = record(&db, id).await;
    assert_eq!(r.status, OutboxStatus::Delivered);
    assert_eq!(r.delivered_at, Some(t + secs(3)));
    assert_eq!(r.updated_at, t + secs(3));
    // A repeat is harmless and keeps the first time.
    assert_eq!(
        repo.record_receipt(ANY, "twilio", &sid, &delivered, t + secs(9))
            .await
            .unwrap(),
        ReceiptOutcome::Unchanged(OutboxStatus::Delivered)
    );
    assert_eq!(record(&db, id).await.delivered_at, Some(t + secs(3)));
}

async fn receipts_move_a_row_only_forward(db: Database) {
    let t = now();
    let repo = db.outbox();
    let (id, sid) = sent_row(&db, "plivo", t).await;
    // Progress reports change nothing.
    assert_eq!(
        repo.record_receipt(ANY, "plivo", &sid, &ReceiptStatus::Sent, t)
            .await
            .unwrap(),
        ReceiptOutcome::Unchanged(OutboxStatus::Sent)
    );
    assert_eq!(
        repo.record_receipt(
            ANY,
            "plivo",
            &sid,
            &failed("undelivered (30003)"),
            t + secs(1)
        )
        .await
        .unwrap(),
        ReceiptOutcome::Recorded(OutboxStatus::Failed)
    );
    let r = record(&db, id).await;
    assert_eq!(r.status, OutboxStatus::Failed);
    assert_eq!(r.last_error.as_deref(), Some("undelivered (30003)"));
    assert_eq!(r.delivered_at, None);
    // A repeated failure keeps the first reason; a progress report does not reopen the row.
    assert_eq!(
        repo.record_receipt(ANY, "plivo", &sid, &failed("other"), t + secs(2))
            .await
            .unwrap(),
        ReceiptOutcome::Unchanged(OutboxStatus::Failed)
    );
    assert_eq!(
        repo.record_receipt(ANY, "plivo", &sid, &ReceiptStatus::Sent, t + secs(2))
            .await
            .unwrap(),
        ReceiptOutcome::Unchanged(OutboxStatus::Failed)
    );
    assert_eq!(
        record(&db, id).await.last_error.as_deref(),
        Some("undelivered (30003)")
    );
    // A late delivery outranks the failure report; nothing moves a delivered row again.
    assert_eq!(
        repo.record_receipt(ANY, "plivo", &sid, &ReceiptStatus::Delivered, t + secs(4))
            .await
            .unwrap(),
        ReceiptOutcome::Recorded(OutboxStatus::Delivered)
    );
    assert_eq!(
        repo.record_receipt(ANY, "plivo", &sid, &failed("late failure"), t + secs(5))
            .await
            .unwrap(),
        ReceiptOutcome::Unchanged(OutboxStatus::Delivered)
    );
    let r = record(&db, id).await;
    assert_eq!(r.status, OutboxStatus::Delivered);
    assert_eq!(r.delivered_at, Some(t + secs(4)));
    // Rows failed by a send error carry no provider id, so no receipt can reach them.
    assert!(r.provider_message_id.is_some());
}

async fn a_tenant_scoped_receipt_reaches_only_that_tenants_row(db: Database) {
    let t = now();
    let repo = db.outbox();
    // Two tenants' own providers share an id, and their message ids collide (providers that
    // number messages per account do).
    let (a, b) = (TenantId::random(), TenantId::random());
    let message_id = format!("42-{}", uuid::Uuid::new_v4().simple());
    let row_a = sent_row_of(&db, a, "gateway", &message_id, t).await;
    let row_b = sent_row_of(&db, b, "gateway", &message_id, t).await;
    let delivered = ReceiptStatus::Delivered;

    // A third tenant's endpoint reaches neither row.
    let stranger = ReceiptScope::Tenant(TenantId::random());
    assert_eq!(
        repo.record_receipt(stranger, "gateway", &message_id, &delivered, t)
            .await
            .unwrap(),
        ReceiptOutcome::UnknownMessage
    );
    // Tenant a's endpoint moves a's row and leaves b's as it was.
    assert_eq!(
        repo.record_receipt(
            ReceiptScope::Tenant(a),
            "gateway",
            &message_id,
            &delivered,
            t + secs(1)
        )
        .await
        .unwrap(),
        ReceiptOutcome::Recorded(OutboxStatus::Delivered)
    );
    assert_eq!(record(&db, row_a).await.status, OutboxStatus::Delivered);
    assert_eq!(record(&db, row_b).await.status, OutboxStatus::Sent);
    assert_eq!(record(&db, row_b).await.delivered_at, None);
    // b's failure report moves b's row only (a's delivery is not undone)...
    assert_eq!(
        repo.record_receipt(
            ReceiptScope::Tenant(b),
            "gateway",
            &message_id,
            &failed("undelivered"),
            t + secs(2)
        )
        .await
        .unwrap(),
        ReceiptOutcome::Recorded(OutboxStatus::Failed)
    );
    // ...and a repeat answers with b's row's state, not a's.
    assert_eq!(
        repo.record_receipt(
            ReceiptScope::Tenant(b),
            "gateway",
            &message_id,
            &failed("again"),
            t + secs(3)
        )
        .await
        .unwrap(),
        ReceiptOutcome::Unchanged(OutboxStatus::Failed)
    );
    assert_eq!(record(&db, row_a).await.status, OutboxStatus::Delivered);
    // The scope adds to the provider's name, it does not replace it.
    assert_eq!(
        repo.record_receipt(
            ReceiptScope::Tenant(a),
            "twilio",
            &message_id,
            &delivered,
            t
        )
        .await
        .unwrap(),
        ReceiptOutcome::UnknownMessage
    );
}

async fn concurrent_receipts_record_one_move(db: Database) {
    let t = now();
    let (id, sid) = sent_row(&db, "twilio", t).await;
    let db = Arc::new(db);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = Arc::clone(&db);
        let sid = sid.clone();
        tasks.push(tokio::spawn(async move {
            let status = if i % 2 == 0 {
                ReceiptStatus::Delivered
            } else {
                failed("undelivered")
            };
            db.outbox()
                .record_receipt(ANY, "twilio", &sid, &status, t)
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let delivered = outcomes
        .iter()
        .filter(|o| **o == ReceiptOutcome::Recorded(OutboxStatus::Delivered))
        .count();
    // Whatever the interleaving, delivery is recorded once and is where the row ends.
    assert_eq!(delivered, 1, "{outcomes:?}");
    assert_eq!(record(&db, id).await.status, OutboxStatus::Delivered);
}

async fn retry_keeps_the_body_and_waits_until_due(db: Database) {
    let t = now();
    let msg = message(TenantId::random(), "r", t, secs(300));
    db.outbox().enqueue(&msg).await.unwrap();
    let c = db
        .outbox()
        .claim(t, LEASE, 1, &keys())
        .await
        .unwrap()
        .remove(0);
    let retry = OutboxOutcome::Retry {
        next_attempt_at: t + secs(10),
        error: "primary: connection failed".to_owned(),
    };
    assert!(db.outbox().finish(c.id, c.claim, &retry, t).await.unwrap());
    let r = record(&db, msg.id).await;
    assert_eq!(r.status, OutboxStatus::Queued);
    assert!(r.has_body);
    assert_eq!(r.next_attempt_at, t + secs(10));
    assert_eq!(r.last_error.as_deref(), Some("primary: connection failed"));
    assert!(
        db.outbox()
            .claim(t + secs(9), LEASE, 1, &keys())
            .await
            .unwrap()
            .is_empty()
    );
    let again = db
        .outbox()
        .claim(t + secs(10), LEASE, 1, &keys())
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].body, msg.body);
}

async fn failed_and_expired_outcomes_erase_the_body(db: Database) {
    let t = now();
    let tenant = TenantId::random();
    let f = message(tenant, "f", t, secs(300));
    let e = message(tenant, "e", t, secs(300));
    db.outbox().enqueue(&f).await.unwrap();
    db.outbox().enqueue(&e).await.unwrap();
    let claimed = db.outbox().claim(t, LEASE, 10, &keys()).await.unwrap();
    assert_eq!(claimed.len(), 2);
    for c in claimed {
        let outcome = if c.id == f.id {
            OutboxOutcome::Failed {
                error: "invalid number".to_owned(),
            }
        } else {
            OutboxOutcome::Expired {
                error: Some("expires before the next try".to_owned()),
            }
        };
        assert!(
            db.outbox()
                .finish(c.id, c.claim, &outcome, t)
                .await
                .unwrap()
        );
    }
    let rf = record(&db, f.id).await;
    assert_eq!(rf.status, OutboxStatus::Failed);
    assert_eq!(rf.last_error.as_deref(), Some("invalid number"));
    assert!(!rf.has_body);
    let re = record(&db, e.id).await;
    assert_eq!(re.status, OutboxStatus::Expired);
    assert!(!re.has_body);
    assert_eq!(re.provider, None);
}

async fn a_lapsed_lease_is_requeued_and_the_old_claim_is_void(db: Database) {
    let t = now();
    let msg = message(TenantId::random(), "l", t, secs(300));
    db.outbox().enqueue(&msg).await.unwrap();
    let dead = db
        .outbox()
        .claim(t, Duration::from_secs(5), 1, &keys())
        .await
        .unwrap()
        .remove(0);
    // Still held: nothing to requeue.
    assert_eq!(
        db.outbox()
            .requeue_abandoned(t + secs(4), &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.outbox()
            .requeue_abandoned(t + secs(5), &[])
            .await
            .unwrap(),
        1
    );
    let r = record(&db, msg.id).await;
    assert_eq!(r.status, OutboxStatus::Queued);
    assert!(r.has_body);
    assert_eq!(r.next_attempt_at, t + secs(5));

    let alive = db
        .outbox()
        .claim(t + secs(5), LEASE, 1, &keys())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(alive.attempts, 2);
    // The dead worker's claim no longer counts, whatever it reports.
    let sent = OutboxOutcome::Sent {
        provider: "p".to_owned(),
        provider_message_id: "late".to_owned(),
    };
    assert!(
        !db.outbox()
            .finish(dead.id, dead.claim, &sent, t)
            .await
            .unwrap()
    );
    assert!(
        !db.outbox()
            .extend_lease(dead.id, dead.claim, t + secs(60))
            .await
            .unwrap()
    );
    assert_eq!(record(&db, msg.id).await.status, OutboxStatus::Sending);
    assert!(
        db.outbox()
            .finish(alive.id, alive.claim, &sent, t)
            .await
            .unwrap()
    );
    assert_eq!(
        record(&db, msg.id).await.provider_message_id.as_deref(),
        Some("late")
    );
}

async fn a_held_lease_can_be_extended(db: Database) {
    let t = now();
    let msg = message(TenantId::random(), "x", t, secs(300));
    db.outbox().enqueue(&msg).await.unwrap();
    let c = db
        .outbox()
        .claim(t, Duration::from_secs(5), 1, &keys())
        .await
        .unwrap()
        .remove(0);
    assert!(
        db.outbox()
            .extend_lease(c.id, c.claim, t + secs(20))
            .await
            .unwrap()
    );
    assert_eq!(
        db.outbox()
            .requeue_abandoned(t + secs(10), &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(record(&db, msg.id).await.lease_until, Some(t + secs(20)));
    assert!(
        !db.outbox()
            .extend_lease(c.id, uuid::Uuid::new_v4(), t + secs(60))
            .await
            .unwrap()
    );
}

async fn the_callers_own_claims_are_neither_requeued_nor_expired(db: Database) {
    let t = now();
    let tenant = TenantId::random();
    let mine = message(tenant, "mine", t, secs(10));
    db.outbox().enqueue(&mine).await.unwrap();
    let c = db
        .outbox()
        .claim(t, Duration::from_secs(1), 1, &keys())
        .await
        .unwrap()
        .remove(0);
    let theirs = message(tenant, "theirs", t, secs(10));
    db.outbox().enqueue(&theirs).await.unwrap();
    let other = db
        .outbox()
        .claim(t, Duration::from_secs(1), 1, &keys())
        .await
        .unwrap()
        .remove(0);
    assert_ne!(c.claim, other.claim);
    // Both leases lapsed: only the row under someone else's claim is requeued.
    assert_eq!(
        db.outbox()
            .requeue_abandoned(t + secs(2), &[c.claim])
            .await
            .unwrap(),
        1
    );
    assert_eq!(record(&db, mine.id).await.status, OutboxStatus::Sending);
    assert_eq!(record(&db, theirs.id).await.status, OutboxStatus::Queued);
    // Past expiry, the held row is not expired under the holder either.
    assert_eq!(
        db.outbox()
            .expire_due(t + secs(10), &[c.claim])
            .await
            .unwrap()
            .missed,
        1
    );
    assert_eq!(record(&db, mine.id).await.status, OutboxStatus::Sending);
    let sent = OutboxOutcome::Sent {
        provider: "p".to_owned(),
        provider_message_id: "m".to_owned(),
    };
    assert!(
        db.outbox()
            .finish(c.id, c.claim, &sent, t + secs(11))
            .await
            .unwrap()
    );
}

async fn expire_due_ends_unheld_rows_past_their_expiry(db: Database) {
    let t = now();
    let tenant = TenantId::random();
    let queued = message(tenant, "q", t, secs(10));
    let held = message(tenant, "h", t, secs(10));
    let lapsed = message(tenant, "l", t, secs(10));
    let fresh = message(tenant, "f", t, secs(300));
    for m in [&held, &lapsed] {
        db.outbox().enqueue(m).await.unwrap();
    }
    let claims = db
        .outbox()
        .claim(t, Duration::from_secs(60), 10, &keys())
        .await
        .unwrap();
    let held_claim = claims.iter().find(|c| c.id == held.id).unwrap().claim;
    // Let `lapsed` lose its lease early.
    let lapsed_claim = claims.iter().find(|c| c.id == lapsed.id).unwrap().claim;
    db.outbox()
        .extend_lease(lapsed.id, lapsed_claim, t + secs(1))
        .await
        .unwrap();
    db.outbox().enqueue(&queued).await.unwrap();
    db.outbox().enqueue(&fresh).await.unwrap();
    // A decoy's stand-in: stored already ended, with no body, so no sweep has it to end.
    let stand_in = NewOutboxMessage {
        expires_at: STAND_IN_EXPIRY,
        ..message(tenant, "s", t, secs(300))
    };
    assert!(db.outbox().enqueue(&stand_in).await.unwrap());
    assert_eq!(record(&db, stand_in.id).await.status, OutboxStatus::Expired);
    assert!(!record(&db, stand_in.id).await.has_body);
    let none = ExpiredRows::default();
    assert_eq!(db.outbox().expire_due(t, &[]).await.unwrap(), none);

    assert_eq!(
        db.outbox().expire_due(t + secs(9), &[]).await.unwrap(),
        none
    );
    let two = ExpiredRows {
        missed: 2,
        stand_ins: 0,
    };
    assert_eq!(
        db.outbox().expire_due(t + secs(10), &[]).await.unwrap(),
        two
    );
    assert_eq!(record(&db, queued.id).await.status, OutboxStatus::Expired);
    assert!(!record(&db, queued.id).await.has_body);
    assert_eq!(record(&db, lapsed.id).await.status, OutboxStatus::Expired);
    // A worker still holding its row finishes it itself.
    assert_eq!(record(&db, held.id).await.status, OutboxStatus::Sending);
    assert_eq!(record(&db, fresh.id).await.status, OutboxStatus::Queued);
    // Lapsed past expiry: not requeued (it is expired), and the held one is not touched.
    assert_eq!(
        db.outbox()
            .requeue_abandoned(t + secs(10), &[])
            .await
            .unwrap(),
        0
    );
    let sent = OutboxOutcome::Sent {
        provider: "p".to_owned(),
        provider_message_id: "m".to_owned(),
    };
    assert!(
        db.outbox()
            .finish(held.id, held_claim, &sent, t + secs(11))
            .await
            .unwrap()
    );
}

async fn prune_deletes_only_final_rows_past_the_cut_off(db: Database) {
    let t = now();
    let tenant = TenantId::random();
    let repo = db.outbox();
    // Final rows: sent, delivered (by a receipt), expired (by the sweep), a stand-in; all
    // but the stand-in expire at t + 300 or before.
    let sent = sent_row_of(&db, tenant, "p", "m-sent", t).await;
    let delivered = sent_row_of(&db, tenant, "p", "m-delivered", t).await;
    let receipt = repo
        .record_receipt(ANY, "p", "m-delivered", &ReceiptStatus::Delivered, t)
        .await
        .unwrap();
    assert_eq!(receipt, ReceiptOutcome::Recorded(OutboxStatus::Delivered));
    // Not final, and past its expiry all the same: one in a worker's hands, one queued
    // that no sweep has ended yet.
    let sending = message(tenant, "h", t, secs(10));
    repo.enqueue(&sending).await.unwrap();
    let claimed = repo.claim(t, LEASE, 1, &keys()).await.unwrap();
    assert_eq!(claimed[0].id, sending.id);
    let expired = message(tenant, "e", t, secs(10));
    repo.enqueue(&expired).await.unwrap();
    repo.expire_due(t + secs(10), &[claimed[0].claim])
        .await
        .unwrap();
    assert_eq!(record(&db, expired.id).await.status, OutboxStatus::Expired);
    let queued = message(tenant, "q", t, secs(10));
    repo.enqueue(&queued).await.unwrap();
    let stand_in = NewOutboxMessage {
        expires_at: STAND_IN_EXPIRY,
        ..message(tenant, "s", t, secs(300))
    };
    repo.enqueue(&stand_in).await.unwrap();
    // Final, but recent: sent ten days later.
    let recent = sent_row_of(&db, tenant, "p", "m-recent", t + TimeDelta::days(10)).await;

    // The cut-off is strict: rows expiring at t + 300 stay at t + 300.
    assert_eq!(repo.prune_finished(t + secs(300), 100).await.unwrap(), 2);
    assert!(repo.find(expired.id).await.unwrap().is_none());
    assert!(repo.find(stand_in.id).await.unwrap().is_none());
    assert!(repo.find(sent).await.unwrap().is_some());
    // At most `limit` at a time.
    assert_eq!(repo.prune_finished(t + secs(301), 1).await.unwrap(), 1);
    assert_eq!(repo.prune_finished(t + secs(301), 100).await.unwrap(), 1);
    assert_eq!(repo.prune_finished(t + secs(301), 100).await.unwrap(), 0);
    for gone in [sent, delivered] {
        assert!(repo.find(gone).await.unwrap().is_none());
    }
    assert_eq!(record(&db, sending.id).await.status, OutboxStatus::Sending);
    assert_eq!(record(&db, queued.id).await.status, OutboxStatus::Queued);
    assert_eq!(record(&db, recent).await.status, OutboxStatus::Sent);
    // A pruned row's key is free again; a row still kept holds its own.
    assert!(repo.find_by_key(tenant, "e").await.unwrap().is_none());
    assert!(
        !repo
            .enqueue(&message(tenant, "q", t, secs(10)))
            .await
            .unwrap()
    );
}

async fn concurrent_claims_never_share_a_row(db: Database) {
    let t = now();
    let tenant = TenantId::random();
    let mut ids = HashSet::new();
    for i in 0..40 {
        let m = message(tenant, &format!("c{i}"), t, secs(300));
        ids.insert(m.id);
        db.outbox().enqueue(&m).await.unwrap();
    }
    let repo = Arc::new(db.outbox());
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let repo = Arc::clone(&repo);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = repo.claim(t, LEASE, 3, &keys()).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id), "row {id} was claimed twice");
        }
    }
    assert_eq!(seen, ids);
}

//! `AuditLog`: recording, filtering, paging newest first, tenant isolation; `AuditRetention`.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use twostep_core::audit::{Actor, AuditEvent, AuditFilter, AuditKind};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{AuditLog, AuditRetention};
use twostep_storage::Database;

use crate::fixtures::{audit_event, now, seeded_user};

contract!(
    record_then_list_round_trips_every_field,
    a_batch_round_trips_like_single_records,
    an_unknown_tenant_has_no_events,
    list_is_newest_first_across_fraction_lengths,
    filter_by_user,
    filter_by_kinds,
    since_is_inclusive_and_until_exclusive,
    filters_combine,
    paging_with_before_breaks_ties_by_id,
    paging_with_before_keeps_the_filter,
    tenants_see_only_their_own_events,
    a_cursor_of_another_tenant_or_of_nothing_gives_an_empty_page,
    prune_deletes_events_before_the_cut_off_of_every_tenant_a_batch_at_a_time,
);

/// A whole second, so that offsets from it exercise every fraction length SQLite stores.
fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

async fn list(
    db: &Database,
    tenant: TenantId,
    filter: &AuditFilter,
    before: Option<uuid::Uuid>,
    limit: u32,
) -> Vec<AuditEvent> {
    db.audit()
        .list(tenant, filter, before, limit)
        .await
        .unwrap()
}

fn ids(events: &[AuditEvent]) -> Vec<uuid::Uuid> {
    events.iter().map(|e| e.id).collect()
}

async fn record_all(db: &Database, events: &[&AuditEvent]) {
    for e in events {
        db.audit().record(e).await.unwrap();
    }
}

async fn record_then_list_round_trips_every_field(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let t = now();
    let by_user = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: t - Duration::seconds(3),
        tenant: tenant.id,
        actor: Actor::User(user.id),
        user: Some(user.id),
        kind: AuditKind::LoginSucceeded,
        masked_phone: Some("+1******0100".to_owned()),
        client_ip: Some("2001:db8::7".to_owned()),
        user_agent: "grpcurl/1.9 (Ünïcode; \"quoted\")".to_owned(),
        details: BTreeMap::from([
            ("method".to_owned(), "sms".to_owned()),
            ("session_id".to_owned(), uuid::Uuid::new_v4().to_string()),
            (
                "note".to_owned(),
                "a \"quote\", a \\ and ünïcode".to_owned(),
            ),
        ]),
    };
    let by_client = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: t - Duration::seconds(2),
        actor: Actor::ApiClient("shop-backend".to_owned()),
        user: Some(user.id),
        kind: AuditKind::UserLocked,
        client_ip: None,
        masked_phone: None,
        ..by_user.clone()
    };
    let by_system = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: t - Duration::seconds(1),
        actor: Actor::System,
        user: None,
        kind: AuditKind::TenantUpdated,
        masked_phone: None,
        client_ip: None,
        user_agent: String::new(),
        details: BTreeMap::new(),
        ..by_user.clone()
    };
    record_all(&db, &[&by_user, &by_client, &by_system]).await;

    let got = list(&db, tenant.id, &AuditFilter::default(), None, 10).await;
    assert_eq!(got, [by_system, by_client, by_user]);
}

/// `record_batch` (one statement) stores exactly what `record` would, and an empty batch
/// stores nothing.
async fn a_batch_round_trips_like_single_records(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let t = now();
    let events: Vec<AuditEvent> = (1..=3)
        .map(|i| AuditEvent {
            id: uuid::Uuid::now_v7(),
            at: t - Duration::seconds(i),
            tenant: tenant.id,
            actor: Actor::User(user.id),
            user: Some(user.id),
            kind: AuditKind::LoginFailed,
            masked_phone: Some("+1******0100".to_owned()),
            client_ip: Some("203.0.113.7".to_owned()),
            user_agent: format!("agent {i}"),
            details: BTreeMap::from([("n".to_owned(), i.to_string())]),
        })
        .collect();
    db.audit().record_batch(&[]).await.unwrap();
    db.audit().record_batch(&events).await.unwrap();
    let got = list(&db, tenant.id, &AuditFilter::default(), None, 10).await;
    assert_eq!(got, events);
}

async fn an_unknown_tenant_has_no_events(db: Database) {
    assert!(
        list(&db, TenantId::random(), &AuditFilter::default(), None, 10)
            .await
            .is_empty()
    );
}

async fn list_is_newest_first_across_fraction_lengths(db: Database) {
    let (tenant, _) = seeded_user(&db).await;
    let t = base();
    let offsets_us = [0, 1, 500_000, 500_001, 999_999, 1_000_000, 10_000_000];
    let mut events: Vec<_> = offsets_us
        .iter()
        .map(|us| {
            audit_event(
                tenant.id,
                t + Duration::microseconds(*us),
                AuditKind::CodeSent,
            )
        })
        .collect();
    // Recorded out of order.
    events.reverse();
    events.swap(1, 4);
    record_all(&db, &events.iter().collect::<Vec<_>>()).await;

    let got = list(&db, tenant.id, &AuditFilter::default(), None, 100).await;
    events.sort_by_key(|e| Reverse(e.at));
    assert_eq!(got, events);
    // The limit applies.
    assert_eq!(
        list(&db, tenant.id, &AuditFilter::default(), None, 3).await,
        events[..3]
    );
    assert!(
        list(&db, tenant.id, &AuditFilter::default(), None, 0)
            .await
            .is_empty()
    );
}

async fn filter_by_user(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let t = base();
    let mut mine = audit_event(tenant.id, t, AuditKind::LoginFailed);
    mine.user = Some(user.id);
    let mut by_me = audit_event(tenant.id, t + Duration::seconds(1), AuditKind::LoginFailed);
    by_me.actor = Actor::User(user.id);
    let mut someone_else = audit_event(tenant.id, t + Duration::seconds(2), AuditKind::LoginFailed);
    someone_else.user = Some(UserId::random());
    let nobody = audit_event(
        tenant.id,
        t + Duration::seconds(3),
        AuditKind::TenantUpdated,
    );
    record_all(&db, &[&mine, &by_me, &someone_else, &nobody]).await;

    let filter = AuditFilter {
        user: Some(user.id),
        ..AuditFilter::default()
    };
    // The filter is on the user the event is about, not on its actor.
    assert_eq!(
        ids(&list(&db, tenant.id, &filter, None, 10).await),
        [mine.id]
    );
    let filter = AuditFilter {
        user: Some(UserId::random()),
        ..AuditFilter::default()
    };
    assert!(list(&db, tenant.id, &filter, None, 10).await.is_empty());
}

async fn filter_by_kinds(db: Database) {
    let (tenant, _) = seeded_user(&db).await;
    let t = base();
    let kinds = [
        AuditKind::CodeSent,
        AuditKind::CodeVerified,
        AuditKind::CodeFailed,
        AuditKind::CodeSent,
    ];
    let events: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| audit_event(tenant.id, t + Duration::seconds(i as i64), *k))
        .collect();
    record_all(&db, &events.iter().collect::<Vec<_>>()).await;

    let with = |kinds: Vec<AuditKind>| AuditFilter {
        kinds,
        ..AuditFilter::default()
    };
    assert_eq!(
        ids(&list(&db, tenant.id, &with(vec![AuditKind::CodeSent]), None, 10).await),
        [events[3].id, events[0].id]
    );
    assert_eq!(
        ids(&list(
            &db,
            tenant.id,
            &with(vec![AuditKind::CodeFailed, AuditKind::CodeVerified]),
            None,
            10
        )
        .await),
        [events[2].id, events[1].id]
    );
    assert!(
        list(&db, tenant.id, &with(vec![AuditKind::UserLocked]), None, 10)
            .await
            .is_empty()
    );
    // No kinds: every kind.
    assert_eq!(
        list(&db, tenant.id, &with(Vec::new()), None, 10)
            .await
            .len(),
        4
    );
    assert_eq!(
        list(&db, tenant.id, &with(AuditKind::ALL.to_vec()), None, 10)
            .await
            .len(),
        4
    );
}

async fn since_is_inclusive_and_until_exclusive(db: Database) {
    let (tenant, _) = seeded_user(&db).await;
    let t = base();
    let at = [
        t - Duration::microseconds(1),
        t,
        t + Duration::microseconds(500_000),
        t + Duration::seconds(1) - Duration::microseconds(1),
        t + Duration::seconds(1),
    ];
    let events: Vec<_> = at
        .iter()
        .map(|at| audit_event(tenant.id, *at, AuditKind::CodeSent))
        .collect();
    record_all(&db, &events.iter().collect::<Vec<_>>()).await;

    let window = |since, until| AuditFilter {
        since,
        until,
        ..AuditFilter::default()
    };
    let got = list(&db, tenant.id, &window(Some(t), None), None, 10).await;
    assert_eq!(
        ids(&got),
        [events[4].id, events[3].id, events[2].id, events[1].id]
    );
    let got = list(
        &db,
        tenant.id,
        &window(None, Some(t + Duration::seconds(1))),
        None,
        10,
    )
    .await;
    assert_eq!(
        ids(&got),
        [events[3].id, events[2].id, events[1].id, events[0].id]
    );
    let got = list(
        &db,
        tenant.id,
        &window(Some(t), Some(t + Duration::seconds(1))),
        None,
        10,
    )
    .await;
    assert_eq!(ids(&got), [events[3].id, events[2].id, events[1].id]);
    assert!(
        list(&db, tenant.id, &window(Some(t), Some(t)), None, 10)
            .await
            .is_empty()
    );
}

async fn filters_combine(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let t = base();
    let mut events = Vec::new();
    for i in 0..8 {
        let kind = if i % 2 == 0 {
            AuditKind::LoginFailed
        } else {
            AuditKind::LoginSucceeded
        };
        let mut e = audit_event(tenant.id, t + Duration::seconds(i), kind);
        if i % 4 < 2 {
            e.user = Some(user.id);
        }
        events.push(e);
    }
    record_all(&db, &events.iter().collect::<Vec<_>>()).await;
    // About the user: 0, 1, 4, 5; failed: 0, 2, 4, 6; from second 1 up to second 5.
    let filter = AuditFilter {
        user: Some(user.id),
        kinds: vec![AuditKind::LoginFailed],
        since: Some(t + Duration::seconds(1)),
        until: Some(t + Duration::seconds(5)),
    };
    assert_eq!(
        ids(&list(&db, tenant.id, &filter, None, 10).await),
        [events[4].id]
    );
}

/// Pages through everything `filter` selects, `page` at a time; checks every page but the
/// last is full.
async fn all_pages(
    db: &Database,
    tenant: TenantId,
    filter: &AuditFilter,
    page: u32,
) -> (Vec<AuditEvent>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut before = None;
    loop {
        let got = list(db, tenant, filter, before, page).await;
        assert!(got.len() <= page as usize);
        pages += 1;
        let Some(last) = got.last() else { break };
        before = Some(last.id);
        let full = got.len() == page as usize;
        seen.extend(got);
        if !full {
            break;
        }
        assert!(pages < 100, "paging does not end");
    }
    (seen, pages)
}

async fn paging_with_before_breaks_ties_by_id(db: Database) {
    let (tenant, _) = seeded_user(&db).await;
    let t = base();
    let mut events = Vec::new();
    // Seven events of one microsecond, with random (not time-ordered) ids so that their order
    // comes from the ids alone, between events before and after them.
    events.push(audit_event(
        tenant.id,
        t - Duration::seconds(1),
        AuditKind::CodeSent,
    ));
    for _ in 0..7 {
        let mut e = audit_event(tenant.id, t, AuditKind::CodeSent);
        e.id = uuid::Uuid::new_v4();
        events.push(e);
    }
    events.push(audit_event(
        tenant.id,
        t + Duration::seconds(1),
        AuditKind::CodeSent,
    ));
    events.push(audit_event(
        tenant.id,
        t + Duration::seconds(2),
        AuditKind::CodeSent,
    ));
    record_all(&db, &events.iter().collect::<Vec<_>>()).await;

    let mut expected = events.clone();
    expected.sort_by_key(|e| Reverse((e.at, e.id)));
    let all = list(&db, tenant.id, &AuditFilter::default(), None, 100).await;
    assert_eq!(ids(&all), ids(&expected));

    for page in [1, 2, 3, 4] {
        let (seen, pages) = all_pages(&db, tenant.id, &AuditFilter::default(), page).await;
        assert_eq!(ids(&seen), ids(&expected), "page size {page}");
        assert!(pages > 2, "page size {page}: {pages} pages");
    }

    // The cursor may be any event, including one inside the tie.
    let cursor = &expected[4];
    let rest = list(
        &db,
        tenant.id,
        &AuditFilter::default(),
        Some(cursor.id),
        100,
    )
    .await;
    assert_eq!(ids(&rest), ids(&expected[5..]));
    // After the oldest there is nothing.
    let oldest = expected.last().unwrap().id;
    assert!(
        list(&db, tenant.id, &AuditFilter::default(), Some(oldest), 100)
            .await
            .is_empty()
    );
}

async fn paging_with_before_keeps_the_filter(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let t = base();
    let mut events = Vec::new();
    for i in 0..12 {
        let mut e = audit_event(
            tenant.id,
            t + Duration::seconds(i / 4),
            AuditKind::CodeFailed,
        );
        e.id = uuid::Uuid::new_v4();
        if i % 3 != 0 {
            e.user = Some(user.id);
        }
        events.push(e);
    }
    record_all(&db, &events.iter().collect::<Vec<_>>()).await;
    let filter = AuditFilter {
        user: Some(user.id),
        ..AuditFilter::default()
    };
    let mut expected: Vec<_> = events
        .into_iter()
        .filter(|e| e.user == Some(user.id))
        .collect();
    expected.sort_by_key(|e| Reverse((e.at, e.id)));
    let (seen, pages) = all_pages(&db, tenant.id, &filter, 3).await;
    assert_eq!(ids(&seen), ids(&expected));
    assert!(pages > 2);
}

async fn tenants_see_only_their_own_events(db: Database) {
    let (a, user_a) = seeded_user(&db).await;
    let (b, _) = seeded_user(&db).await;
    let t = base();
    let mut of_a = audit_event(a.id, t, AuditKind::LoginSucceeded);
    of_a.user = Some(user_a.id);
    let mut of_b = audit_event(b.id, t, AuditKind::LoginSucceeded);
    // Even an event of B that names A's user stays B's.
    of_b.user = Some(user_a.id);
    let of_b_later = audit_event(b.id, t + Duration::seconds(1), AuditKind::TenantUpdated);
    record_all(&db, &[&of_a, &of_b, &of_b_later]).await;

    assert_eq!(
        list(&db, a.id, &AuditFilter::default(), None, 10).await,
        [of_a.clone()]
    );
    let filter = AuditFilter {
        user: Some(user_a.id),
        ..AuditFilter::default()
    };
    assert_eq!(ids(&list(&db, a.id, &filter, None, 10).await), [of_a.id]);
    assert_eq!(
        ids(&list(&db, b.id, &AuditFilter::default(), None, 10).await),
        [of_b_later.id, of_b.id]
    );
}

async fn a_cursor_of_another_tenant_or_of_nothing_gives_an_empty_page(db: Database) {
    let (a, _) = seeded_user(&db).await;
    let (b, _) = seeded_user(&db).await;
    let t = base();
    let older_of_a = audit_event(a.id, t, AuditKind::CodeSent);
    let of_b = audit_event(b.id, t + Duration::seconds(1), AuditKind::CodeSent);
    record_all(&db, &[&older_of_a, &of_b]).await;

    assert!(
        list(&db, a.id, &AuditFilter::default(), Some(of_b.id), 10)
            .await
            .is_empty()
    );
    assert!(
        list(
            &db,
            a.id,
            &AuditFilter::default(),
            Some(uuid::Uuid::now_v7()),
            10
        )
        .await
        .is_empty()
    );
}

async fn prune_deletes_events_before_the_cut_off_of_every_tenant_a_batch_at_a_time(db: Database) {
    let (a, _) = seeded_user(&db).await;
    let (b, _) = seeded_user(&db).await;
    let t = base();
    let old_a = audit_event(a.id, t - Duration::days(2), AuditKind::LoginSucceeded);
    let old_b = audit_event(
        b.id,
        t - Duration::microseconds(1),
        AuditKind::TenantUpdated,
    );
    let at_cut_off = audit_event(a.id, t, AuditKind::LoginSucceeded);
    let newer = audit_event(
        b.id,
        t + Duration::milliseconds(1),
        AuditKind::TenantUpdated,
    );
    record_all(&db, &[&old_a, &old_b, &at_cut_off, &newer]).await;

    let audit = db.audit();
    // At most `limit` at a time, of any tenant; the cut-off is strict.
    assert_eq!(audit.prune_before(t, 1).await.unwrap(), 1);
    assert_eq!(audit.prune_before(t, 100).await.unwrap(), 1);
    assert_eq!(audit.prune_before(t, 100).await.unwrap(), 0);
    let all = AuditFilter::default();
    assert_eq!(ids(&list(&db, a.id, &all, None, 10).await), [at_cut_off.id]);
    assert_eq!(ids(&list(&db, b.id, &all, None, 10).await), [newer.id]);
}

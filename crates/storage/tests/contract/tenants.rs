//! `TenantRepo`: create, lookups, paging and policy updates.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use twostep_core::ids::TenantId;
use twostep_core::ports::{RepoError, TenantRepo, TenantUpdate};
use twostep_core::tenant::TwoStepMode;
use twostep_storage::Database;

use crate::fixtures::{now, tenant, tenant_fields};

contract!(
    create_then_get_and_get_by_slug,
    absent_tenants_are_none,
    a_taken_slug_is_a_conflict,
    list_pages_in_id_order,
    update_policy_round_trips,
    update_renames_and_changes_the_policy_in_one_write,
    timestamps_keep_microseconds,
);

async fn create_then_get_and_get_by_slug(db: Database) {
    let repo = db.tenants();
    let t = tenant("acme-shop");
    repo.create(&t).await.unwrap();
    let got = repo.get(t.id).await.unwrap().unwrap();
    assert_eq!(tenant_fields(&got), tenant_fields(&t));
    let got = repo.get_by_slug("acme-shop").await.unwrap().unwrap();
    assert_eq!(tenant_fields(&got), tenant_fields(&t));
}

async fn absent_tenants_are_none(db: Database) {
    let repo = db.tenants();
    assert!(repo.get(TenantId::random()).await.unwrap().is_none());
    assert!(repo.get_by_slug("nobody").await.unwrap().is_none());
    assert!(repo.list(None, 10).await.unwrap().is_empty());
}

async fn a_taken_slug_is_a_conflict(db: Database) {
    let repo = db.tenants();
    repo.create(&tenant("default")).await.unwrap();
    let err = repo.create(&tenant("default")).await.unwrap_err();
    assert!(
        matches!(err, RepoError::Conflict { field: "slug" }),
        "{err:?}"
    );
    assert_eq!(repo.list(None, 10).await.unwrap().len(), 1);
}

async fn list_pages_in_id_order(db: Database) {
    let repo = db.tenants();
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = tenant(&format!("t{i}"));
        repo.create(&t).await.unwrap();
        ids.push(t.id);
    }
    ids.sort();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = repo.list(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|t| t.id));
    }
    assert_eq!(seen, ids);
    assert!(repo.list(None, 0).await.unwrap().is_empty());
    assert_eq!(
        repo.list(Some(ids[2]), 10)
            .await
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        ids[3..]
    );
}

async fn update_policy_round_trips(db: Database) {
    let repo = db.tenants();
    let t = tenant("policy");
    repo.create(&t).await.unwrap();

    let mut policy = t.policy.clone();
    policy.two_step_customers = TwoStepMode::Required;
    policy.phone_login_allowed = false;
    policy.allowed_countries = vec!["US".into(), "CA".into()];
    policy.code.length = 8;
    policy.code.lifetime = Duration::from_secs(120);
    policy.session.idle_timeout = Duration::from_secs(7200);
    let later = now() + chrono::Duration::seconds(5);

    let updated = repo
        .update_policy(t.id, &policy, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.policy, policy);
    assert_eq!(updated.created_at, t.created_at);
    let got = repo.get(t.id).await.unwrap().unwrap();
    assert_eq!(got.policy, policy);
    assert_eq!((got.slug, got.name), (t.slug, t.name));

    assert!(
        repo.update_policy(TenantId::random(), &policy, later)
            .await
            .unwrap()
            .is_none()
    );
}

async fn update_renames_and_changes_the_policy_in_one_write(db: Database) {
    let repo = db.tenants();
    let t = tenant("rename");
    repo.create(&t).await.unwrap();
    let later = now() + chrono::Duration::seconds(5);

    // Only the name: the app name and policy stay.
    let renamed = repo
        .update(
            t.id,
            &TenantUpdate {
                name: Some("Acme Store"),
                ..TenantUpdate::default()
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Acme Store");
    assert_eq!(renamed.app_name, t.app_name);
    assert_eq!(renamed.policy, t.policy);

    // App name and policy together.
    let mut policy = t.policy.clone();
    policy.code.length = 7;
    let updated = repo
        .update(
            t.id,
            &TenantUpdate {
                app_name: Some("Acme"),
                policy: Some(&policy),
                ..TenantUpdate::default()
            },
            later,
        )
        .await
        .unwrap()
        .unwrap();
    let got = repo.get_by_slug("rename").await.unwrap().unwrap();
    for t2 in [&updated, &got] {
        assert_eq!(
            (t2.name.as_str(), t2.app_name.as_str()),
            ("Acme Store", "Acme")
        );
        assert_eq!(t2.policy, policy);
        assert_eq!((t2.id, t2.created_at), (t.id, t.created_at));
    }

    let nobody = TenantUpdate {
        name: Some("Ghost"),
        ..TenantUpdate::default()
    };
    assert!(
        repo.update(TenantId::random(), &nobody, later)
            .await
            .unwrap()
            .is_none()
    );
    assert!(repo.get_by_slug("rename").await.unwrap().is_some());
}

async fn timestamps_keep_microseconds(db: Database) {
    let repo = db.tenants();
    let mut t = tenant("precise");
    // Nanoseconds in, microseconds out (truncated, not rounded), on both engines.
    let base = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
    t.created_at = base + chrono::Duration::nanoseconds(123_456_789);
    repo.create(&t).await.unwrap();
    let got = repo.get(t.id).await.unwrap().unwrap();
    assert_eq!(
        got.created_at,
        base + chrono::Duration::microseconds(123_456)
    );
}

//! `UserRepo`: create, lookups by email and verified phone, uniqueness, updates.

use chrono::Duration;
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{RepoError, TenantRepo, UserRepo};
use twostep_core::user::Role;
use twostep_storage::Database;

use crate::fixtures::{email, new_user, now, phone, tenant, user_fields};

contract!(
    create_then_get,
    get_is_scoped_to_the_tenant,
    find_by_email_ignores_the_case_of_the_domain,
    a_taken_email_is_a_conflict_within_a_tenant_only,
    unverified_numbers_are_not_found,
    verified_numbers_are_unique_unverified_ones_are_not,
    update_round_trips_every_field,
    update_of_an_unknown_user_is_false,
    a_user_of_an_unknown_tenant_is_refused,
);

const NUMBER: &str = "+14155550100";

async fn stored_tenant(db: &Database) -> TenantId {
    let t = tenant(&format!("t-{}", uuid::Uuid::new_v4().simple()));
    db.tenants().create(&t).await.unwrap();
    t.id
}

async fn create_then_get(db: Database) {
    let tenant = stored_tenant(&db).await;
    let mut new = new_user(tenant, Some("ada@example.com"), Some(NUMBER));
    new.phone_verified_at = Some(now());
    new.two_step_enabled = true;
    new.role = Role::Admin;
    let created = db.users().create(&new).await.unwrap();
    assert_eq!(created.id, new.id);
    assert_eq!(
        created.email.as_ref().map(|e| e.as_str()),
        Some("ada@example.com")
    );
    assert_eq!(created.phone.as_ref().map(|p| p.e164()), Some(NUMBER));
    assert_eq!(created.phone_verified_at, new.phone_verified_at);
    assert!(
        created.two_step_enabled && !created.must_change_password && created.locked_at.is_none()
    );
    assert_eq!(
        (created.role, created.created_at, created.updated_at),
        (Role::Admin, new.created_at, new.created_at)
    );

    let got = db.users().get(tenant, new.id).await.unwrap().unwrap();
    assert_eq!(user_fields(&got), user_fields(&created));
}

async fn get_is_scoped_to_the_tenant(db: Database) {
    let (a, b) = (stored_tenant(&db).await, stored_tenant(&db).await);
    let user = db
        .users()
        .create(&new_user(a, Some("ada@example.com"), None))
        .await
        .unwrap();
    assert!(db.users().get(b, user.id).await.unwrap().is_none());
    assert!(db.users().get(a, UserId::random()).await.unwrap().is_none());
    assert!(
        db.users()
            .find_by_email(b, &email("ada@example.com"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn find_by_email_ignores_the_case_of_the_domain(db: Database) {
    let tenant = stored_tenant(&db).await;
    let user = db
        .users()
        .create(&new_user(tenant, Some("Ada@Example.COM"), None))
        .await
        .unwrap();
    let found = db
        .users()
        .find_by_email(tenant, &email("Ada@EXAMPLE.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    assert!(
        db.users()
            .find_by_email(tenant, &email("bob@example.com"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_taken_email_is_a_conflict_within_a_tenant_only(db: Database) {
    let (a, b) = (stored_tenant(&db).await, stored_tenant(&db).await);
    let users = db.users();
    users
        .create(&new_user(a, Some("ada@example.com"), None))
        .await
        .unwrap();
    let err = users
        .create(&new_user(a, Some("ada@EXAMPLE.com"), None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepoError::Conflict { field: "email" }),
        "{err:?}"
    );
    users
        .create(&new_user(b, Some("ada@example.com"), None))
        .await
        .unwrap();
    // Users without an email do not collide with each other.
    users
        .create(&new_user(a, None, Some(NUMBER)))
        .await
        .unwrap();
    users
        .create(&new_user(a, None, Some(NUMBER)))
        .await
        .unwrap();

    // An update that takes someone else's email is refused the same way.
    let mut other = users
        .create(&new_user(a, Some("bob@example.com"), None))
        .await
        .unwrap();
    other.email = Some(email("ada@example.com"));
    let err = users.update(&other).await.unwrap_err();
    assert!(
        matches!(err, RepoError::Conflict { field: "email" }),
        "{err:?}"
    );
}

async fn unverified_numbers_are_not_found(db: Database) {
    let tenant = stored_tenant(&db).await;
    let users = db.users();
    let mut user = users
        .create(&new_user(tenant, None, Some(NUMBER)))
        .await
        .unwrap();
    assert!(
        users
            .find_by_verified_phone(tenant, &phone(NUMBER))
            .await
            .unwrap()
            .is_none()
    );

    user.phone_verified_at = Some(now());
    assert!(users.update(&user).await.unwrap());
    let found = users
        .find_by_verified_phone(tenant, &phone(NUMBER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);
    let other_tenant = stored_tenant(&db).await;
    assert!(
        users
            .find_by_verified_phone(other_tenant, &phone(NUMBER))
            .await
            .unwrap()
            .is_none()
    );
}

async fn verified_numbers_are_unique_unverified_ones_are_not(db: Database) {
    let tenant = stored_tenant(&db).await;
    let users = db.users();
    let mut first = users
        .create(&new_user(tenant, None, Some(NUMBER)))
        .await
        .unwrap();
    let mut second = users
        .create(&new_user(tenant, None, Some(NUMBER)))
        .await
        .unwrap();

    first.phone_verified_at = Some(now());
    assert!(users.update(&first).await.unwrap());
    second.phone_verified_at = Some(now());
    let err = users.update(&second).await.unwrap_err();
    assert!(
        matches!(err, RepoError::Conflict { field: "phone" }),
        "{err:?}"
    );

    let mut third = new_user(tenant, None, Some(NUMBER));
    third.phone_verified_at = Some(now());
    let err = users.create(&third).await.unwrap_err();
    assert!(
        matches!(err, RepoError::Conflict { field: "phone" }),
        "{err:?}"
    );

    // The same verified number in another tenant is another account.
    let mut elsewhere = new_user(stored_tenant(&db).await, None, Some(NUMBER));
    elsewhere.phone_verified_at = Some(now());
    users.create(&elsewhere).await.unwrap();
}

async fn update_round_trips_every_field(db: Database) {
    let tenant = stored_tenant(&db).await;
    let users = db.users();
    let created = users
        .create(&new_user(tenant, Some("ada@example.com"), None))
        .await
        .unwrap();

    let t = now() + Duration::seconds(30);
    let mut changed = created.clone();
    changed.email = Some(email("lovelace@example.org"));
    changed.display_name = "Augusta Ada King".to_owned();
    changed.password_hash = Some("$argon2id$v=19$m=65536,t=3,p=1$bmV3$bmV3aGFzaA".to_owned());
    changed.phone = Some(phone("+442079460000"));
    changed.phone_verified_at = Some(t);
    changed.two_step_enabled = true;
    changed.role = Role::Admin;
    changed.must_change_password = true;
    changed.locked_at = Some(t + Duration::seconds(1));
    changed.updated_at = t + Duration::seconds(2);
    assert!(users.update(&changed).await.unwrap());
    let got = users.get(tenant, created.id).await.unwrap().unwrap();
    assert_eq!(user_fields(&got), user_fields(&changed));

    // And every optional field back to nothing.
    let mut cleared = changed.clone();
    cleared.email = None;
    cleared.password_hash = None;
    cleared.phone = None;
    cleared.phone_verified_at = None;
    cleared.locked_at = None;
    cleared.two_step_enabled = false;
    cleared.must_change_password = false;
    assert!(users.update(&cleared).await.unwrap());
    let got = users.get(tenant, created.id).await.unwrap().unwrap();
    assert_eq!(user_fields(&got), user_fields(&cleared));

    // Id, tenant and creation time are not mutable: another tenant's id matches nothing.
    let mut moved = cleared.clone();
    moved.tenant = stored_tenant(&db).await;
    assert!(!users.update(&moved).await.unwrap());
}

async fn update_of_an_unknown_user_is_false(db: Database) {
    let tenant = stored_tenant(&db).await;
    let mut user = db
        .users()
        .create(&new_user(tenant, None, None))
        .await
        .unwrap();
    user.id = UserId::random();
    assert!(!db.users().update(&user).await.unwrap());
}

async fn a_user_of_an_unknown_tenant_is_refused(db: Database) {
    let err = db
        .users()
        .create(&new_user(TenantId::random(), None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::Internal(_)), "{err:?}");
}

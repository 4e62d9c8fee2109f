//! `SessionRepo`: token lookups, rotation (and its reuse detection), revocation, listing.

use std::sync::Arc;

use chrono::Duration;
use twostep_core::ids::{SessionId, UserId};
use twostep_core::ports::{SessionRepo, UserRepo};
use twostep_core::token::{SecretToken, TokenKind};
use twostep_storage::Database;

use crate::fixtures::{new_user, now, seeded_user, session, session_fields, successor};

contract!(
    create_then_find_by_either_token,
    unknown_tokens_are_none,
    rotate_revokes_the_old_and_inserts_the_new,
    a_second_rotation_of_the_same_session_inserts_nothing,
    concurrent_rotations_of_one_session_let_exactly_one_through,
    rotation_of_an_unknown_session_is_false,
    revoke_is_once_only,
    revoke_family_leaves_other_families_alone,
    revoke_all_for_user_leaves_other_users_alone,
    list_live_excludes_revoked_and_expired,
    prune_deletes_only_families_past_their_absolute_expiry,
);

async fn create_then_find_by_either_token(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let s = session(&user, now());
    db.sessions().create(&s).await.unwrap();
    let by_access = db
        .sessions()
        .find_by_access(s.access_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session_fields(&by_access), session_fields(&s));
    let by_refresh = db
        .sessions()
        .find_by_refresh(s.refresh_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session_fields(&by_refresh), session_fields(&s));
    // The two kinds of token are looked up in their own columns.
    assert!(
        db.sessions()
            .find_by_access(s.refresh_hash)
            .await
            .unwrap()
            .is_none()
    );
}

async fn unknown_tokens_are_none(db: Database) {
    let hash = SecretToken::generate(TokenKind::Access).hash();
    assert!(db.sessions().find_by_access(hash).await.unwrap().is_none());
    assert!(db.sessions().find_by_refresh(hash).await.unwrap().is_none());
}

async fn rotate_revokes_the_old_and_inserts_the_new(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let repo = db.sessions();
    let old = session(&user, now());
    repo.create(&old).await.unwrap();

    let t = now() + Duration::minutes(10);
    let new = successor(&old, t);
    assert!(repo.rotate(old.id, &new, t).await.unwrap());

    let old_now = repo
        .find_by_refresh(old.refresh_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old_now.revoked_at, Some(t));
    let got = repo
        .find_by_refresh(new.refresh_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session_fields(&got), session_fields(&new));
    assert_eq!(got.family, old.family);
}

async fn a_second_rotation_of_the_same_session_inserts_nothing(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let repo = db.sessions();
    let old = session(&user, now());
    repo.create(&old).await.unwrap();
    let t = now();
    assert!(repo.rotate(old.id, &successor(&old, t), t).await.unwrap());

    let again = successor(&old, t + Duration::seconds(1));
    assert!(
        !repo
            .rotate(old.id, &again, t + Duration::seconds(1))
            .await
            .unwrap()
    );
    assert!(
        repo.find_by_access(again.access_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        repo.find_by_refresh(again.refresh_hash)
            .await
            .unwrap()
            .is_none()
    );
    // The first revocation time stands.
    let old_now = repo
        .find_by_refresh(old.refresh_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old_now.revoked_at, Some(t));
}

async fn concurrent_rotations_of_one_session_let_exactly_one_through(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let repo = Arc::new(db.sessions());
    let old = session(&user, now());
    repo.create(&old).await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (repo, new) = (repo.clone(), successor(&old, now()));
        tasks.push(tokio::spawn(async move {
            let won = repo.rotate(old.id, &new, now()).await.unwrap();
            (won, new)
        }));
    }
    let mut winners = 0;
    for task in tasks {
        let (won, new) = task.await.unwrap();
        let stored = repo.find_by_refresh(new.refresh_hash).await.unwrap();
        assert_eq!(stored.is_some(), won);
        winners += usize::from(won);
    }
    assert_eq!(winners, 1);
}

async fn rotation_of_an_unknown_session_is_false(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let new = session(&user, now());
    assert!(
        !db.sessions()
            .rotate(SessionId::random(), &new, now())
            .await
            .unwrap()
    );
    assert!(
        db.sessions()
            .find_by_access(new.access_hash)
            .await
            .unwrap()
            .is_none()
    );
}

async fn revoke_is_once_only(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let repo = db.sessions();
    let s = session(&user, now());
    repo.create(&s).await.unwrap();
    let t = now();
    assert!(repo.revoke(s.id, t).await.unwrap());
    assert!(!repo.revoke(s.id, t + Duration::seconds(1)).await.unwrap());
    assert!(!repo.revoke(SessionId::random(), t).await.unwrap());
    let got = repo.find_by_access(s.access_hash).await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(t));
    assert!(!got.access_valid_at(t));
}

async fn revoke_family_leaves_other_families_alone(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let repo = db.sessions();
    let first = session(&user, now());
    repo.create(&first).await.unwrap();
    let second = successor(&first, now());
    assert!(repo.rotate(first.id, &second, now()).await.unwrap());
    let third = successor(&second, now());
    assert!(repo.rotate(second.id, &third, now()).await.unwrap());
    let other = session(&user, now());
    repo.create(&other).await.unwrap();

    // Only `third` was still live in the family.
    assert_eq!(repo.revoke_family(first.family, now()).await.unwrap(), 1);
    assert!(
        repo.find_by_access(third.access_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        repo.find_by_access(other.access_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(repo.revoke_family(first.family, now()).await.unwrap(), 0);
}

async fn revoke_all_for_user_leaves_other_users_alone(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let other_user = db
        .users()
        .create(&new_user(tenant.id, Some("bob@example.com"), None))
        .await
        .unwrap();
    let repo = db.sessions();
    let mine = [
        session(&user, now()),
        session(&user, now()),
        session(&user, now()),
    ];
    for s in &mine {
        repo.create(s).await.unwrap();
    }
    assert!(repo.revoke(mine[0].id, now()).await.unwrap());
    let theirs = session(&other_user, now());
    repo.create(&theirs).await.unwrap();

    assert_eq!(
        repo.revoke_all_for_user(tenant.id, user.id, now())
            .await
            .unwrap(),
        2
    );
    assert!(
        repo.list_live_for_user(tenant.id, user.id, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.list_live_for_user(tenant.id, other_user.id, now())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        repo.revoke_all_for_user(tenant.id, UserId::random(), now())
            .await
            .unwrap(),
        0
    );
}

async fn list_live_excludes_revoked_and_expired(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let repo = db.sessions();
    let t = now();

    let older = session(&user, t - Duration::minutes(20));
    let newer = session(&user, t - Duration::minutes(5));
    let revoked = session(&user, t - Duration::minutes(4));
    let mut idle = session(&user, t - Duration::hours(2));
    idle.refresh_expires_at = t - Duration::seconds(1);
    let mut too_old = session(&user, t - Duration::hours(30));
    too_old.refresh_expires_at = t + Duration::hours(1);
    too_old.absolute_expires_at = t;
    for s in [&older, &newer, &revoked, &idle, &too_old] {
        repo.create(s).await.unwrap();
    }
    assert!(repo.revoke(revoked.id, t).await.unwrap());

    let live = repo
        .list_live_for_user(tenant.id, user.id, t)
        .await
        .unwrap();
    let ids: Vec<_> = live.iter().map(|s| s.id).collect();
    assert_eq!(ids, [newer.id, older.id]);
    assert_eq!(session_fields(&live[0]), session_fields(&newer));
    // The access token's own expiry does not matter; the refresh token keeps it live.
    let later = t + Duration::minutes(30);
    assert_eq!(
        repo.list_live_for_user(tenant.id, user.id, later)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn prune_deletes_only_families_past_their_absolute_expiry(db: Database) {
    let (_, user) = seeded_user(&db).await;
    let repo = db.sessions();
    let t = now();
    // A family born 30 hours ago (absolute expiry 24 h): its first session, rotated, and
    // the successor; both end at t - 6 h.
    let first = session(&user, t - Duration::hours(30));
    repo.create(&first).await.unwrap();
    let second = successor(&first, t - Duration::hours(29));
    assert!(
        repo.rotate(first.id, &second, t - Duration::hours(29))
            .await
            .unwrap()
    );
    // A family that is still live, and one revoked long ago but within its absolute expiry.
    let live = session(&user, t - Duration::hours(1));
    let revoked = session(&user, t - Duration::hours(20));
    for s in [&live, &revoked] {
        repo.create(s).await.unwrap();
    }
    assert!(
        repo.revoke(revoked.id, t - Duration::hours(19))
            .await
            .unwrap()
    );

    // The cut-off is strict: a family ending at t - 6 h stays at t - 6 h.
    assert_eq!(
        repo.prune_ended(t - Duration::hours(6), 100).await.unwrap(),
        0
    );
    // At most `limit` at a time.
    assert_eq!(repo.prune_ended(t, 1).await.unwrap(), 1);
    assert_eq!(repo.prune_ended(t, 100).await.unwrap(), 1);
    assert_eq!(repo.prune_ended(t, 100).await.unwrap(), 0);
    for gone in [&first, &second] {
        assert!(
            repo.find_by_refresh(gone.refresh_hash)
                .await
                .unwrap()
                .is_none()
        );
    }
    for kept in [&live, &revoked] {
        assert!(
            repo.find_by_refresh(kept.refresh_hash)
                .await
                .unwrap()
                .is_some()
        );
    }
}

//! `BackupCodeRepo`: batch replacement, listing the unused, once-only consumption, deletion.

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use twostep_core::ids::{TenantId, UserId};
use twostep_core::ports::{BackupCodeRepo, UserRepo};
use twostep_storage::Database;

use crate::fixtures::{new_user, now, seeded_user};

contract!(
    a_new_batch_invalidates_every_old_code,
    unused_excludes_used_codes,
    consume_is_once_only,
    concurrent_consumes_of_one_code_let_exactly_one_through,
    delete_all_leaves_other_users_alone,
    codes_go_with_their_user,
);

fn hashes(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${prefix}{i}"))
        .collect()
}

/// The hashes of the user's unused codes, sorted.
async fn unused_hashes(db: &Database, tenant: TenantId, user: UserId) -> Vec<String> {
    let mut got: Vec<_> = db
        .backup_codes()
        .unused(tenant, user)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.hash)
        .collect();
    got.sort();
    got
}

async fn a_new_batch_invalidates_every_old_code(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let repo = db.backup_codes();
    let first = hashes("first", 10);
    repo.replace_batch(tenant.id, user.id, &first, now())
        .await
        .unwrap();
    assert_eq!(unused_hashes(&db, tenant.id, user.id).await, first);
    let old = repo.unused(tenant.id, user.id).await.unwrap();
    assert!(repo.consume(old[0].id, now()).await.unwrap());

    let second = hashes("second", 10);
    repo.replace_batch(tenant.id, user.id, &second, now())
        .await
        .unwrap();
    assert_eq!(unused_hashes(&db, tenant.id, user.id).await, second);
    // No old code works any more, used or not.
    for code in &old {
        assert!(!repo.consume(code.id, now()).await.unwrap());
    }
    let new = repo.unused(tenant.id, user.id).await.unwrap();
    assert!(new.iter().all(|n| old.iter().all(|o| o.id != n.id)));

    // An empty batch leaves the user without codes.
    repo.replace_batch(tenant.id, user.id, &[], now())
        .await
        .unwrap();
    assert!(repo.unused(tenant.id, user.id).await.unwrap().is_empty());
}

async fn unused_excludes_used_codes(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let repo = db.backup_codes();
    assert!(repo.unused(tenant.id, user.id).await.unwrap().is_empty());
    repo.replace_batch(tenant.id, user.id, &hashes("c", 3), now())
        .await
        .unwrap();
    let codes = repo.unused(tenant.id, user.id).await.unwrap();
    assert_eq!(codes.len(), 3);
    assert!(repo.consume(codes[1].id, now()).await.unwrap());

    let left = repo.unused(tenant.id, user.id).await.unwrap();
    assert_eq!(left, [codes[0].clone(), codes[2].clone()]);
    // Another tenant's view of the same user id holds nothing.
    assert!(
        repo.unused(TenantId::random(), user.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn consume_is_once_only(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let repo = db.backup_codes();
    repo.replace_batch(tenant.id, user.id, &hashes("c", 1), now())
        .await
        .unwrap();
    let code = repo.unused(tenant.id, user.id).await.unwrap().remove(0);
    assert!(repo.consume(code.id, now()).await.unwrap());
    assert!(!repo.consume(code.id, now()).await.unwrap());
    assert!(!repo.consume(uuid::Uuid::new_v4(), now()).await.unwrap());
}

async fn concurrent_consumes_of_one_code_let_exactly_one_through(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let repo = Arc::new(db.backup_codes());
    repo.replace_batch(tenant.id, user.id, &hashes("c", 2), now())
        .await
        .unwrap();
    let codes = repo.unused(tenant.id, user.id).await.unwrap();
    let target = codes[0].id;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let repo = repo.clone();
        tasks.push(tokio::spawn(
            async move { repo.consume(target, now()).await },
        ));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(
        repo.unused(tenant.id, user.id).await.unwrap(),
        [codes[1].clone()]
    );
}

async fn delete_all_leaves_other_users_alone(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let other = db
        .users()
        .create(&new_user(tenant.id, Some("bob@example.com"), None))
        .await
        .unwrap();
    let repo = db.backup_codes();
    repo.replace_batch(tenant.id, user.id, &hashes("mine", 4), now())
        .await
        .unwrap();
    repo.replace_batch(tenant.id, other.id, &hashes("theirs", 4), now())
        .await
        .unwrap();
    let mine = repo.unused(tenant.id, user.id).await.unwrap();

    // The wrong tenant deletes nothing.
    repo.delete_all(TenantId::random(), user.id).await.unwrap();
    assert_eq!(repo.unused(tenant.id, user.id).await.unwrap().len(), 4);

    repo.delete_all(tenant.id, user.id).await.unwrap();
    assert!(repo.unused(tenant.id, user.id).await.unwrap().is_empty());
    assert!(!repo.consume(mine[0].id, now()).await.unwrap());
    assert_eq!(
        unused_hashes(&db, tenant.id, other.id).await,
        hashes("theirs", 4)
    );
    // Deleting when there is nothing to delete is fine.
    repo.delete_all(tenant.id, user.id).await.unwrap();
}

async fn codes_go_with_their_user(db: Database) {
    let (tenant, user) = seeded_user(&db).await;
    let repo = db.backup_codes();
    repo.replace_batch(tenant.id, user.id, &hashes("c", 3), now())
        .await
        .unwrap();
    // No port deletes users; this is the foreign key's ON DELETE CASCADE.
    let delete = Query::delete()
        .from_table(Alias::new("users"))
        .and_where(Expr::col(Alias::new("id")).eq(user.id.as_uuid()))
        .to_owned();
    db.connection().execute(&delete).await.unwrap();
    assert!(repo.unused(tenant.id, user.id).await.unwrap().is_empty());
    // And codes of a user that does not exist cannot be stored.
    assert!(
        repo.replace_batch(tenant.id, user.id, &hashes("c", 1), now())
            .await
            .is_err()
    );
}

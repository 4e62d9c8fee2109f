//! API clients: stored with the key's digest only, listed per tenant in id order, revoked once.

use twostep_core::api_client::{ApiClient, ApiKey, Scope, Scopes};
use twostep_core::ids::{ApiClientId, TenantId};
use twostep_core::ports::{ApiClientRepo, TenantRepo};
use twostep_storage::Database;

use crate::fixtures::{now, tenant};

contract!(
    api_client_round_trips_and_is_found_by_id,
    api_clients_list_per_tenant_in_id_order_with_paging,
    revoking_is_per_tenant_and_keeps_the_first_time,
    touch_records_last_use
);

async fn new_client(db: &Database, tenant: TenantId, name: &str) -> ApiClient {
    let id = ApiClientId::from_uuid(uuid::Uuid::now_v7());
    let client = ApiClient {
        id,
        tenant,
        name: name.to_owned(),
        scopes: Scopes::NONE.with(Scope::Auth).with(Scope::Admin),
        key_hash: ApiKey::generate(id).hash(),
        created_at: now(),
        revoked_at: None,
        last_used_at: None,
    };
    db.api_clients().create(&client).await.unwrap();
    client
}

async fn new_tenant(db: &Database, slug: &str) -> TenantId {
    let t = tenant(slug);
    db.tenants().create(&t).await.unwrap();
    t.id
}

async fn api_client_round_trips_and_is_found_by_id(db: Database) {
    let t = new_tenant(&db, "acme").await;
    let client = new_client(&db, t, "shop-backend").await;
    let found = db.api_clients().get(client.id).await.unwrap().unwrap();
    assert_eq!(found, client);
    assert!(
        db.api_clients()
            .get(ApiClientId::random())
            .await
            .unwrap()
            .is_none()
    );
}

async fn api_clients_list_per_tenant_in_id_order_with_paging(db: Database) {
    let (a, b) = (
        new_tenant(&db, "a-shop").await,
        new_tenant(&db, "b-shop").await,
    );
    let mut made = Vec::new();
    for i in 0..3 {
        made.push(new_client(&db, a, &format!("a{i}")).await.id);
    }
    new_client(&db, b, "b0").await;
    let repo = db.api_clients();
    let all: Vec<_> = repo
        .list(a, None, 10, false)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        all, made,
        "a tenant's clients, oldest first, no other tenant's"
    );
    let page: Vec<_> = repo
        .list(a, Some(made[0]), 1, false)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(page, vec![made[1]]);
    repo.revoke(a, made[1], now()).await.unwrap().unwrap();
    assert_eq!(repo.list(a, None, 10, false).await.unwrap().len(), 2);
    assert_eq!(repo.list(a, None, 10, true).await.unwrap().len(), 3);
}

async fn revoking_is_per_tenant_and_keeps_the_first_time(db: Database) {
    let (a, b) = (
        new_tenant(&db, "a-shop").await,
        new_tenant(&db, "b-shop").await,
    );
    let client = new_client(&db, a, "a0").await;
    let repo = db.api_clients();
    assert!(
        repo.revoke(b, client.id, now()).await.unwrap().is_none(),
        "another tenant cannot revoke it"
    );
    assert!(
        repo.get(client.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let first = now();
    let revoked = repo.revoke(a, client.id, first).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(first));
    let again = repo
        .revoke(a, client.id, first + chrono::Duration::seconds(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(first));
    assert!(
        repo.revoke(a, ApiClientId::random(), now())
            .await
            .unwrap()
            .is_none()
    );
}

async fn touch_records_last_use(db: Database) {
    let t = new_tenant(&db, "acme").await;
    let client = new_client(&db, t, "shop-backend").await;
    let at = now();
    db.api_clients().touch(client.id, at).await.unwrap();
    let found = db.api_clients().get(client.id).await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(at));
}

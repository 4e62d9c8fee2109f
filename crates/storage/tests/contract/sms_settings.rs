//! `SmsSettingsRepo`: absent is `None`, a put inserts then replaces the tenant's one row,
//! rows of tenants are separate, the sealed bytes and the timestamp come back as written.

use chrono::{SubsecRound, TimeDelta, Utc};
use twostep_core::ids::TenantId;
use twostep_core::ports::{SealedBody, SmsSettingsRecord, SmsSettingsRepo};
use twostep_storage::Database;

contract!(absent_then_inserted_then_replaced, tenants_are_separate);

fn record(tenant: TenantId, public: &str, sealed: &[u8]) -> SmsSettingsRecord {
    SmsSettingsRecord {
        tenant,
        public: public.to_owned(),
        sealed: SealedBody(sealed.to_vec()),
        key_id: "0123456789abcdef".to_owned(),
        updated_at: Utc::now(),
    }
}

async fn absent_then_inserted_then_replaced(db: Database) {
    let repo = db.sms_settings();
    let tenant = TenantId::random();
    assert_eq!(repo.get(tenant).await.unwrap(), None);

    let first = record(tenant, r#"{"v":1}"#, &[1, 0, 255, 7]);
    repo.put(&first).await.unwrap();
    let got = repo.get(tenant).await.unwrap().unwrap();
    assert_eq!(got.public, first.public);
    assert_eq!(got.sealed, first.sealed);
    assert_eq!(got.key_id, first.key_id);
    assert_eq!(got.updated_at, first.updated_at.trunc_subsecs(6));

    let mut second = record(tenant, r#"{"v":1,"templates":[]}"#, &[9; 64]);
    second.updated_at = first.updated_at + TimeDelta::seconds(1);
    repo.put(&second).await.unwrap();
    let got = repo.get(tenant).await.unwrap().unwrap();
    assert_eq!(got.public, second.public);
    assert_eq!(got.sealed, second.sealed);
    assert_eq!(got.updated_at, second.updated_at.trunc_subsecs(6));
}

async fn tenants_are_separate(db: Database) {
    let repo = db.sms_settings();
    let (a, b) = (TenantId::random(), TenantId::random());
    repo.put(&record(a, "a", b"sealed-a")).await.unwrap();
    repo.put(&record(b, "b", b"sealed-b")).await.unwrap();
    assert_eq!(repo.get(a).await.unwrap().unwrap().public, "a");
    assert_eq!(repo.get(b).await.unwrap().unwrap().sealed.0, b"sealed-b");
}

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::TimeDelta;
use twostep_core::otp::OtpCode;
use twostep_core::phone::{PhoneNumber, Region};
use twostep_core::ports::{ProviderEntry, TestNumber};
use twostep_core::templates::{SmsTemplate, TemplateKind};

use super::*;

/// The repo in memory, counting reads.
#[derive(Default)]
struct MemRepo {
    rows: Mutex<HashMap<TenantId, SmsSettingsRecord>>,
    reads: Mutex<usize>,
}

#[async_trait]
impl SmsSettingsRepo for MemRepo {
    async fn get(&self, tenant: TenantId) -> Result<Option<SmsSettingsRecord>, RepoError> {
        *self.reads.lock().unwrap() += 1;
        Ok(self.rows.lock().unwrap().get(&tenant).cloned())
    }
    async fn put(&self, record: &SmsSettingsRecord) -> Result<(), RepoError> {
        self.rows
            .lock()
            .unwrap()
            .insert(record.tenant, record.clone());
        Ok(())
    }
}

const TOKEN: &str = "auth-token-7f3a9c";

fn settings(now: DateTime<Utc>) -> TenantSmsSettings {
    TenantSmsSettings {
        providers: vec![ProviderEntry {
            id: "tw".into(),
            kind: "twilio".into(),
            settings: BTreeMap::from([("account_sid".into(), "AC1".into())]),
            secrets: BTreeMap::from([("auth_token".into(), SecretString::from(TOKEN))]),
            countries: vec![Region::parse("NL").unwrap()],
            timeout: Some(Duration::from_millis(1500)),
        }],
        test_numbers: vec![TestNumber {
            phone: PhoneNumber::from_e164("+14155550199").unwrap(),
            code: OtpCode::parse("246810").unwrap(),
            expires_at: Some(now + TimeDelta::days(30)),
        }],
        templates: vec![SmsTemplate::parse(TemplateKind::Code, "nl", "{code} voor {app}").unwrap()],
        webotp_domain: Some("login.acme.example".into()),
        updated_at: None,
    }
}

fn key() -> OutboxKey {
    OutboxKey::new([7; 32])
}

#[tokio::test]
async fn settings_round_trip_with_secrets_sealed_in_the_row() {
    let repo = Arc::new(MemRepo::default());
    let store = SealedSmsSettings::new(repo.clone(), Some(key()), Duration::from_secs(60));
    let tenant = TenantId::random();
    let now = Utc::now();
    store.put(tenant, settings(now), now).await.unwrap();

    let row = repo.rows.lock().unwrap().get(&tenant).cloned().unwrap();
    let raw = format!("{}{}", row.public, String::from_utf8_lossy(&row.sealed.0));
    assert!(!raw.contains(TOKEN) && !raw.contains("246810"), "{raw}");
    assert!(row.public.contains("auth_token") && row.public.contains("account_sid"));

    // A fresh store (another instance) reads it back from the row.
    let other = SealedSmsSettings::new(repo.clone(), Some(key()), Duration::from_secs(60));
    let got = other.get(tenant).await.unwrap();
    let p = &got.providers[0];
    assert_eq!(p.secrets["auth_token"].expose_secret(), TOKEN);
    assert_eq!(p.settings["account_sid"], "AC1");
    assert_eq!(p.countries, [Region::parse("NL").unwrap()]);
    assert_eq!(p.timeout, Some(Duration::from_millis(1500)));
    let phone = PhoneNumber::from_e164("+14155550199").unwrap();
    assert_eq!(
        got.test_code(&phone, now).unwrap().expose_for_sms(),
        "246810"
    );
    assert!(got.test_code(&phone, now + TimeDelta::days(31)).is_none());
    assert_eq!(got.templates[0].text, "{code} voor {app}");
    assert_eq!(got.webotp_domain.as_deref(), Some("login.acme.example"));
    assert_eq!(got.updated_at, Some(now.trunc_subsecs(6)));
    // Debug never shows a secret.
    assert!(!format!("{got:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_row_of_another_tenant_or_key_does_not_open_but_templates_survive() {
    let repo = Arc::new(MemRepo::default());
    let store = SealedSmsSettings::new(repo.clone(), Some(key()), Duration::from_secs(60));
    let (a, b) = (TenantId::random(), TenantId::random());
    let now = Utc::now();
    store.put(a, settings(now), now).await.unwrap();
    // The sealed part copied to another tenant's row.
    let mut copied = repo.rows.lock().unwrap()[&a].clone();
    copied.tenant = b;
    repo.put(&copied).await.unwrap();
    let got = store.get(b).await.unwrap();
    assert!(got.providers.is_empty() && got.test_numbers.is_empty());
    assert_eq!(got.templates.len(), 1);
    // Another key.
    let other = SealedSmsSettings::new(repo, Some(OutboxKey::new([8; 32])), Duration::ZERO);
    let got = other.get(a).await.unwrap();
    assert!(got.providers.is_empty() && got.test_numbers.is_empty());
}

#[tokio::test]
async fn without_a_key_nothing_is_stored() {
    let repo = Arc::new(MemRepo::default());
    let store = SealedSmsSettings::new(repo.clone(), None, Duration::from_secs(60));
    let now = Utc::now();
    let e = store
        .put(TenantId::random(), settings(now), now)
        .await
        .unwrap_err();
    assert!(matches!(e, SmsSettingsError::NoKey));
    assert!(repo.rows.lock().unwrap().is_empty());
}

#[tokio::test]
async fn reads_are_cached_for_the_ttl_and_a_put_replaces_the_cached_value() {
    let repo = Arc::new(MemRepo::default());
    let store = SealedSmsSettings::new(repo.clone(), Some(key()), Duration::from_secs(60));
    let tenant = TenantId::random();
    assert!(store.get(tenant).await.unwrap().providers.is_empty());
    assert!(store.get(tenant).await.unwrap().providers.is_empty());
    assert_eq!(*repo.reads.lock().unwrap(), 1);
    let now = Utc::now();
    store.put(tenant, settings(now), now).await.unwrap();
    assert_eq!(store.get(tenant).await.unwrap().providers.len(), 1);
    assert_eq!(*repo.reads.lock().unwrap(), 1);
    let uncached = SealedSmsSettings::new(repo.clone(), Some(key()), Duration::ZERO);
    uncached.get(tenant).await.unwrap();
    uncached.get(tenant).await.unwrap();
    assert_eq!(*repo.reads.lock().unwrap(), 3);
}

/// Past the TTL, the requests in flight are served the old copy and one background read
/// fetches the new one: no stampede on the database (issue 7), and a change made through
/// another instance still arrives.
#[tokio::test]
async fn an_old_copy_is_read_again_once_while_it_is_served() {
    let repo = Arc::new(MemRepo::default());
    let ttl = Duration::from_millis(300);
    let store = Arc::new(SealedSmsSettings::new(repo.clone(), Some(key()), ttl));
    let other = SealedSmsSettings::new(repo.clone(), Some(key()), ttl);
    let tenant = TenantId::random();
    assert!(store.get(tenant).await.unwrap().providers.is_empty());
    let now = Utc::now();
    other.put(tenant, settings(now), now).await.unwrap();
    tokio::time::sleep(ttl * 2).await;
    let reads_before = *repo.reads.lock().unwrap();

    let gets: Vec<_> = (0..20)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.get(tenant).await.unwrap().providers.len() })
        })
        .collect();
    for get in gets {
        assert!(get.await.unwrap() <= 1);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.get(tenant).await.unwrap().providers.len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the change never arrived"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        *repo.reads.lock().unwrap() - reads_before,
        1,
        "one read for twenty requests"
    );
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::flows::tenants::TenantCache;
use crate::ids::TenantId;
use crate::ports::TenantUpdate;
use crate::tenant::Policy;

/// Tenants kept in id order; `list` pages as the SQL repository does, and counts its calls.
struct Tenants {
    all: Mutex<Vec<Tenant>>,
    lists: Mutex<u32>,
}

impl Tenants {
    fn new(countries: impl IntoIterator<Item = (&'static str, Vec<&'static str>)>) -> Self {
        let mut all: Vec<Tenant> = countries
            .into_iter()
            .map(|(default, allowed)| tenant(default, &allowed))
            .collect();
        all.sort_by_key(|t| t.id);
        Self {
            all: Mutex::new(all),
            lists: Mutex::new(0),
        }
    }

    fn first(&self) -> Tenant {
        self.all.lock().unwrap()[0].clone()
    }

    /// Changes the stored policy, as another instance's UpdateTenantPolicy would.
    fn set_allowed(&self, id: TenantId, allowed: &[&str]) {
        let mut all = self.all.lock().unwrap();
        let tenant = all.iter_mut().find(|t| t.id == id).unwrap();
        tenant.policy.allowed_countries = allowed.iter().map(|c| (*c).to_owned()).collect();
    }
}

fn tenant(default: &str, allowed: &[&str]) -> Tenant {
    let id = TenantId::random();
    Tenant {
        id,
        slug: id.to_string(),
        name: "Shop".into(),
        app_name: "Shop".into(),
        policy: Policy {
            default_country: default.into(),
            allowed_countries: allowed.iter().map(|c| (*c).to_owned()).collect(),
            ..Policy::default()
        },
        created_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

#[async_trait]
impl TenantRepo for Tenants {
    async fn create(&self, _: &Tenant) -> Result<(), RepoError> {
        Ok(())
    }
    async fn get(&self, id: TenantId) -> Result<Option<Tenant>, RepoError> {
        Ok(self
            .all
            .lock()
            .unwrap()
            .iter()
            .find(|t| t.id == id)
            .cloned())
    }
    async fn get_by_slug(&self, _: &str) -> Result<Option<Tenant>, RepoError> {
        Ok(None)
    }
    async fn list(&self, after: Option<TenantId>, limit: u32) -> Result<Vec<Tenant>, RepoError> {
        *self.lists.lock().unwrap() += 1;
        Ok(self
            .all
            .lock()
            .unwrap()
            .iter()
            .filter(|t| after.is_none_or(|after| t.id > after))
            .take(limit as usize)
            .cloned()
            .collect())
    }
    async fn update_policy(
        &self,
        _: TenantId,
        _: &Policy,
        _: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError> {
        Ok(None)
    }
    async fn update(
        &self,
        _: TenantId,
        _: &TenantUpdate<'_>,
        _: DateTime<Utc>,
    ) -> Result<Option<Tenant>, RepoError> {
        Ok(None)
    }
}

fn regions(codes: &[&str]) -> HashSet<Region> {
    codes.iter().map(|c| Region::parse(c).unwrap()).collect()
}

/// Default and allowed countries of every tenant, past the first page; codes the metadata
/// does not know are skipped, not an error.
#[tokio::test]
async fn every_tenants_default_and_allowed_countries_are_read() {
    let many = (0..PAGE).map(|_| ("US", vec![]));
    let tenants = Tenants::new(many.chain([
        ("NL", vec!["NL", "BE"]),
        ("de", vec!["AT", "ZZ"]),
        ("XX", vec![]),
    ]));
    let countries = tenants_countries(&tenants).await.unwrap();
    assert_eq!(countries, regions(&["US", "NL", "BE", "DE", "AT"]));
    assert_eq!(*tenants.lists.lock().unwrap(), 2);
}

/// Exactly one page: a second, empty read ends the loop.
#[tokio::test]
async fn a_full_last_page_is_followed_by_an_empty_one() {
    let tenants = Tenants::new((0..PAGE).map(|_| ("GB", vec![])));
    assert_eq!(tenants_countries(&tenants).await.unwrap(), regions(&["GB"]));
    assert_eq!(*tenants.lists.lock().unwrap(), 2);
}

/// The plans are compiled before the first number of them is parsed. Saint Pierre and
/// Miquelon (+508) and Wallis and Futuna (+681): calling codes no other test parses.
#[tokio::test]
async fn the_tenants_plans_are_compiled_at_start_up() {
    let [pm, wf] = [Region::parse("PM").unwrap(), Region::parse("WF").unwrap()];
    assert!(!phone::numbering_plan_prepared(pm) && !phone::numbering_plan_prepared(wf));
    let tenants = Tenants::new([("PM", vec!["WF"])]);
    assert_eq!(prepare_tenants_countries(&tenants).await.unwrap(), 2);
    assert!(phone::numbering_plan_prepared(pm) && phone::numbering_plan_prepared(wf));
}

/// Waits, up to a bound far above the milliseconds a plan takes, until `region`'s plan is
/// compiled on the blocking thread the tenant's arrival started.
async fn prepared_soon(region: Region) -> bool {
    for _ in 0..1000 {
        if phone::numbering_plan_prepared(region) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// A tenant read into the cache after start-up (created since, or first asked for now) gets
/// its countries compiled; read again, it spawns nothing. Tokelau (+690) and Niue (+683):
/// calling codes no other test parses.
#[tokio::test]
async fn a_tenant_read_at_run_time_gets_its_plans_compiled() {
    let [tk, nu] = [Region::parse("TK").unwrap(), Region::parse("NU").unwrap()];
    assert!(!phone::numbering_plan_prepared(tk) && !phone::numbering_plan_prepared(nu));
    let tenants = Tenants::new([("TK", vec!["TK", "NU"])]);
    let tenant = tenants.first();
    let repo: Arc<dyn TenantRepo> = Arc::new(tenants);
    let cache = TenantCache::default();
    assert!(cache.get(&repo, tenant.id).await.unwrap().is_some());
    assert!(prepared_soon(tk).await && prepared_soon(nu).await);
    assert_eq!(prepare_new_countries(&tenant), 0);
}

/// A policy change made through another instance arrives with the background refresh, which
/// compiles the new country. Nauru (+674): a calling code no other test parses.
#[tokio::test]
async fn a_country_added_elsewhere_is_compiled_when_the_refresh_reads_it() {
    let nr = Region::parse("NR").unwrap();
    assert!(!phone::numbering_plan_prepared(nr));
    let tenants = Arc::new(Tenants::new([("US", vec!["US"])]));
    let id = tenants.first().id;
    let repo: Arc<dyn TenantRepo> = Arc::clone(&tenants) as _;
    // Every copy is old at once: each get after the first starts a refresh.
    let cache = TenantCache::with_ages(Duration::ZERO, Duration::from_secs(3600));
    cache.get(&repo, id).await.unwrap();
    tenants.set_allowed(id, &["US", "NR"]);
    cache.get(&repo, id).await.unwrap();
    assert!(prepared_soon(nr).await);
}

/// A tenant this instance changed (UpdateTenantPolicy) and put in its cache gets its new
/// country compiled. Tuvalu (+688): a calling code no other test parses.
#[tokio::test]
async fn a_tenant_put_in_the_cache_gets_its_plans_compiled() {
    let tv = Region::parse("TV").unwrap();
    assert!(!phone::numbering_plan_prepared(tv));
    TenantCache::default().put(tenant("US", &["US", "TV"]));
    assert!(prepared_soon(tv).await);
}

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::ids::TenantId;
use crate::ports::TenantUpdate;
use crate::tenant::Policy;

/// Tenants kept in id order; `list` pages as the SQL repository does, and counts its calls.
struct Tenants {
    all: Vec<Tenant>,
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
            all,
            lists: Mutex::new(0),
        }
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
    async fn get(&self, _: TenantId) -> Result<Option<Tenant>, RepoError> {
        Ok(None)
    }
    async fn get_by_slug(&self, _: &str) -> Result<Option<Tenant>, RepoError> {
        Ok(None)
    }
    async fn list(&self, after: Option<TenantId>, limit: u32) -> Result<Vec<Tenant>, RepoError> {
        *self.lists.lock().unwrap() += 1;
        Ok(self
            .all
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

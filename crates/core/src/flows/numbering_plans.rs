//! The numbering plans of the tenants' countries, compiled at start-up and whenever a tenant
//! read or changed at run time names a country not compiled yet.
//!
//! The first number of a calling code that a process parses compiles that code's
//! numbering-plan regexes (`phone::numbering_plan`): about 9 ms for `+1`, on the runtime
//! worker running that request, so every call on the worker waits behind the first request
//! after a start (a whole instance, when it runs on one core). The tenants say which countries
//! to expect: their default country (national numbers are read in it) and the countries they
//! allow. Compiling those on a blocking thread at start-up takes that wait out of the first
//! requests. A number of any other country is still prepared when it is first parsed.
//!
//! Start-up sees only the tenants that exist then. A tenant created later, or whose policy
//! names new countries, reaches this process as a copy read into the tenant cache (a first
//! read, or the background refresh, which is how a change made through another instance
//! arrives), as a copy this instance stores there after changing it, or as one it creates:
//! each goes through [`prepare_new_countries`], which hands the countries not compiled yet to
//! a blocking thread and awaits nothing. A copy served from the cache costs nothing; a copy
//! read again costs a lookup per country. A request that reads its tenant for the first time
//! still races the compile its read started (it waits for it, or compiles the plan itself, as
//! without this); the next ones do not.
//!
//! Memory: well under 1 MiB per calling code (`+1` 0.5 MiB); every country at once, 21 MiB.

use std::collections::HashSet;

use crate::phone::{self, Region};
use crate::ports::{RepoError, TenantRepo};
use crate::tenant::Tenant;

/// Tenants read per statement.
pub const PAGE: u32 = 500;

/// Compiles the numbering plans of every tenant's countries; returns how many countries.
/// A failed read leaves the plans to be compiled on first use, as without this.
pub async fn prepare_tenants_countries(tenants: &dyn TenantRepo) -> Result<usize, RepoError> {
    let countries = tenants_countries(tenants).await?;
    let count = countries.len();
    // Milliseconds of CPU per country: not on the runtime's workers, which serve requests.
    let compiled = tokio::task::spawn_blocking(move || {
        countries
            .into_iter()
            .for_each(phone::prepare_numbering_plan);
    })
    .await;
    if let Err(e) = compiled {
        tracing::warn!(error = %e, "compiling the tenants' numbering plans failed");
    }
    Ok(count)
}

/// Hands those of `tenant`'s countries whose plans are not compiled yet to a blocking thread;
/// returns how many. For a tenant this process learns about while it runs (see the module
/// doc). The check is a hash lookup and an atomic load per country, so a tenant read again
/// every few seconds spawns nothing once its countries are compiled. Not awaited: callers
/// may be on a request's path.
pub(crate) fn prepare_new_countries(tenant: &Tenant) -> usize {
    let missing: Vec<Region> = countries_of(tenant)
        .filter(|country| !phone::numbering_plan_prepared(*country))
        .collect();
    if missing.is_empty() {
        return 0;
    }
    // Outside a runtime (a synchronous test or tool) nothing is spawned: the first number of
    // each country compiles its plan, as without this.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return 0;
    };
    let count = missing.len();
    tracing::debug!(
        tenant = %tenant.id,
        countries = count,
        "compiling the numbering plans of a tenant's new countries"
    );
    // Detached: nobody waits for it. A country another thread compiles meanwhile waits here
    // for that one (`numbering_plan::prepare`), on this blocking thread, not on a worker.
    runtime.spawn_blocking(move || missing.into_iter().for_each(phone::prepare_numbering_plan));
    count
}

/// The default and allowed countries of every tenant, read a page at a time.
pub async fn tenants_countries(tenants: &dyn TenantRepo) -> Result<HashSet<Region>, RepoError> {
    let mut countries = HashSet::new();
    let mut after = None;
    loop {
        let page = tenants.list(after, PAGE).await?;
        countries.extend(page.iter().flat_map(countries_of));
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.id),
            _ => return Ok(countries),
        }
    }
}

/// A policy's countries; ones the metadata does not know (validation refuses them on write)
/// are skipped.
fn countries_of(tenant: &Tenant) -> impl Iterator<Item = Region> + '_ {
    let policy = &tenant.policy;
    std::iter::once(&policy.default_country)
        .chain(&policy.allowed_countries)
        .filter_map(|country| Region::parse(country).ok())
}

#[cfg(test)]
mod tests;

//! The numbering plans of the tenants' countries, compiled at start-up.
//!
//! The first number of a calling code that a process parses compiles that code's
//! numbering-plan regexes (`phone::numbering_plan`): about 9 ms for `+1`, on the runtime
//! worker running that request, so every call on the worker waits behind the first request
//! after a start (a whole instance, when it runs on one core). The tenants say which countries
//! to expect: their default country (national numbers are read in it) and the countries they
//! allow. Compiling those on a blocking thread at start-up takes that wait out of the first
//! requests. A number of any other country is still prepared when it is first parsed.
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

//! A tenant's own SMS providers (SetSmsProviders) into the sms-gateway factory's specs,
//! checked by the same code as `[[sms.providers]]` in the config file
//! (`config::provider_spec`), so both refuse the same settings with the same reasons.
//!
//! The API spells a few settings as the proto documents them: `auth_token` of
//! CLICKATELL_LEGACY is the file's `token`, `from` of PLIVO is `src`, `from` of
//! BULKSMS_EAPI is `sender`, `header.<Name>` of GENERIC_HTTP are entries of `headers`, and a
//! provider's countries become routes. Secrets must come in `secrets`; any setting may.
//! A `twilio_verify` entry is the tenant's code backend, not a text provider: at most one,
//! checked by `tenant_verify`, and left out of the routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::ExposeSecret;
use twostep_core::clock::Clock;
use twostep_core::error::CoreError;
use twostep_core::phone::Region;
use twostep_core::ports::ProviderEntry;
use twostep_sms_gateway::factory::{self, ProviderSpec, RouteSpec};
use twostep_sms_gateway::{Router, RouterPolicy};

use twostep_sms_gateway::verify_services;

use crate::config::{KeyError, RawProvider, provider_spec};
use crate::tenant_verify;

/// Keys that hold credentials, per kind: refused in `settings` (they would be returned).
fn secret_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "twilio" | "twilio_verify" | "plivo" => &["auth_token"],
        "clickatell" => &["api_key"],
        "clickatell_legacy" => &["auth_token", "token"],
        "vonage" => &["api_secret"],
        "bulksms" | "bulksms_eapi" => &["password"],
        "messagebird" => &["access_key"],
        _ => &[],
    }
}

/// The file's key for an API key of `kind`.
fn file_key<'a>(kind: &str, key: &'a str) -> &'a str {
    match (kind, key) {
        ("clickatell_legacy", "auth_token") => "token",
        ("plivo", "from") => "src",
        ("bulksms_eapi", "from") => "sender",
        _ => key,
    }
}

/// The request field each file key came from (`secrets.auth_token`).
type Origins = BTreeMap<String, (Source, String)>;

/// A tenant's providers as the factory takes them.
pub struct TenantSpecs {
    pub providers: Vec<ProviderSpec>,
    pub routes: Vec<RouteSpec>,
    /// Numbers of countries without a route: the providers serving every country.
    pub default_order: Vec<String>,
}

/// Where a key came from, to name the request field in an error.
#[derive(Clone, Copy)]
enum Source {
    Settings,
    Secrets,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Settings => "settings",
            Source::Secrets => "secrets",
        }
    }
}

fn invalid(i: usize, field: &str, reason: impl ToString) -> CoreError {
    CoreError::invalid(format!("providers[{i}].{field}"), reason)
}

/// One entry as the config file's raw provider, and which request map each file key came
/// from.
fn to_raw(i: usize, entry: &ProviderEntry) -> Result<(RawProvider, Origins), CoreError> {
    let kind = entry.kind.as_str();
    let mut raw = RawProvider {
        name: entry.id.clone(),
        kind: kind.to_owned(),
        timeout_ms: entry
            .timeout
            .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        ..RawProvider::default()
    };
    let mut origin = BTreeMap::new();
    let secrets = entry
        .secrets
        .iter()
        .map(|(k, v)| (k, v.expose_secret(), Source::Secrets));
    let settings = entry
        .settings
        .iter()
        .map(|(k, v)| (k, v.as_str(), Source::Settings));
    for (key, value, source) in settings.chain(secrets) {
        if matches!(source, Source::Settings) && secret_keys(kind).contains(&key.as_str()) {
            return Err(invalid(
                i,
                &format!("settings.{key}"),
                "is a secret: send it in secrets, which are never returned",
            ));
        }
        let field = format!("{}.{key}", source.as_str());
        if let Some(header) = key.strip_prefix("header.") {
            if kind != "generic_http" || header.is_empty() {
                return Err(invalid(
                    i,
                    &field,
                    format!("is not a setting of kind {kind}"),
                ));
            }
            raw.headers
                .get_or_insert_with(BTreeMap::new)
                .insert(header.to_owned(), value.to_owned());
            origin.insert("headers".to_owned(), (source, field));
            continue;
        }
        let file = file_key(kind, key);
        match file {
            "expected_status" => {
                let status = value
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| invalid(i, &field, "must be an HTTP status such as 201"))?;
                raw.expected_status = Some(status);
            }
            "success_pointer" => raw.success_pointer = Some(value.to_owned()),
            "success_equals" => raw.success_equals = Some(value.to_owned()),
            _ => {
                let slot = raw.string_mut(file).ok_or_else(|| {
                    invalid(i, &field, format!("is not a setting of kind {kind}"))
                })?;
                *slot = Some(value.to_owned());
            }
        }
        origin.insert(file.to_owned(), (source, field));
    }
    Ok((raw, origin))
}

/// The field of a refused file key: the request map it came from; for a missing key,
/// `secrets` when it is a secret of the kind, else `settings`.
fn field_of(kind: &str, e: &KeyError, origin: &Origins) -> String {
    match e.key.as_str() {
        "kind" => "kind".to_owned(),
        "timeout_ms" => "timeout".to_owned(),
        "name" => "provider_id".to_owned(),
        key => origin
            .get(key)
            .map(|(_, field)| field.clone())
            .unwrap_or_else(|| {
                let api_key = match (kind, key) {
                    ("clickatell_legacy", "token") => "auth_token",
                    ("plivo", "src") | ("bulksms_eapi", "sender") => "from",
                    _ => key,
                };
                if secret_keys(kind).contains(&api_key) {
                    format!("secrets.{api_key}")
                } else {
                    format!("settings.{api_key}")
                }
            }),
    }
}

/// The specs and routes of a tenant's entries: each checked as the config file's, and the
/// countries turned into routes (a country's providers: those serving it, in list order).
/// Also the default order: the providers serving every country.
pub fn specs(entries: &[ProviderEntry], production: bool) -> Result<TenantSpecs, CoreError> {
    let mut specs = Vec::with_capacity(entries.len());
    let mut code_provider = None;
    for (i, entry) in entries.iter().enumerate() {
        match entry.kind.as_str() {
            "console" if production => {
                return Err(CoreError::FailedPrecondition(
                    "the console provider is for development only",
                ));
            }
            // The code backend, not a text provider: checked on its own, left out of routes.
            verify_services::KIND => {
                if let Some(first) = code_provider {
                    return Err(invalid(
                        i,
                        "kind",
                        format!("providers[{first}] is already the tenant's twilio_verify"),
                    ));
                }
                tenant_verify::config(i, entry)?;
                code_provider = Some(i);
                continue;
            }
            _ => {}
        }
        let (mut raw, origin) = to_raw(i, entry)?;
        let spec = provider_spec(i, &mut raw, production)
            .map_err(|e| invalid(i, &field_of(&entry.kind, &e, &origin), &e.why))?;
        specs.push(spec);
    }
    let entries: Vec<&ProviderEntry> = entries
        .iter()
        .filter(|e| e.kind != verify_services::KIND)
        .collect();
    let mut regions: Vec<Region> = Vec::new();
    for region in entries.iter().flat_map(|e| e.countries.iter().copied()) {
        if !regions.contains(&region) {
            regions.push(region);
        }
    }
    let routes = regions
        .into_iter()
        .map(|region| RouteSpec {
            region,
            providers: entries
                .iter()
                .filter(|e| e.countries.is_empty() || e.countries.contains(&region))
                .map(|e| e.id.clone())
                .collect(),
        })
        .collect();
    let default_order = entries
        .iter()
        .filter(|e| e.countries.is_empty())
        .map(|e| e.id.clone())
        .collect();
    Ok(TenantSpecs {
        providers: specs,
        routes,
        default_order,
    })
}

/// Checks a tenant's entries for SetSmsProviders: as [`specs`], and the adapters build.
pub fn check(
    entries: &[ProviderEntry],
    production: bool,
    clock: Arc<dyn Clock>,
) -> Result<(), CoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let specs = specs(entries, production)?;
    if specs.providers.is_empty() {
        // Only a code provider: its entry was checked; notices use the global providers.
        return Ok(());
    }
    match factory::build_with_default_order(
        &specs.providers,
        &specs.routes,
        Some(&specs.default_order),
        RouterPolicy::default(),
        clock,
    ) {
        Ok(_) => Ok(()),
        Err(factory::FactoryError::GenericHttp { index, source, .. }) => {
            Err(invalid(index, "settings", source))
        }
        Err(e) => Err(CoreError::invalid("providers", e)),
    }
}

/// What `TenantRouting` calls to build a tenant's router.
pub fn router_builder(
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
    production: bool,
) -> Arc<twostep_sms_gateway::tenant_routing::BuildRouter> {
    Arc::new(move |entries: &[ProviderEntry]| -> Result<Router, String> {
        let specs = specs(entries, production).map_err(|e| e.to_string())?;
        factory::build_with_default_order(
            &specs.providers,
            &specs.routes,
            Some(&specs.default_order),
            policy,
            Arc::clone(&clock),
        )
        .map_err(|e| e.to_string())
    })
}

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
//!
//! The tenant's router ([`router_builder`]) and its receipt endpoints ([`receipt_verifier`],
//! for `http::tenant_receipts`) both take their specs from [`specs`], so a receipt is
//! checked with the credentials of the very provider that sent the message.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::ExposeSecret;
use twostep_core::clock::Clock;
use twostep_core::error::CoreError;
use twostep_core::ids::TenantId;
use twostep_core::phone::Region;
use twostep_core::ports::ProviderEntry;
use twostep_sms_gateway::factory::{self, ProviderSpec, RouteSpec};
use twostep_sms_gateway::receipts::ReceiptVerifier;
use twostep_sms_gateway::{Router, RouterPolicy};

use twostep_sms_gateway::verify_services;

use crate::config::{KeyError, RawProvider, default_callback, provider_spec, tenant_receipt_path};
use crate::tenant_verify;

/// Keys that hold credentials, per kind: refused in `settings` (they would be returned).
/// What proves a delivery receipt (`signature_secret`, `receipt_token`) is one: whoever
/// reads it can forge receipts for the tenant's messages.
fn secret_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "twilio" => &["auth_token", "signature_secret"],
        "twilio_verify" | "plivo" => &["auth_token"],
        "clickatell" => &["api_key", "receipt_token"],
        "clickatell_legacy" => &["auth_token", "token"],
        "vonage" => &["api_secret", "signature_secret", "receipt_token"],
        "bulksms" => &["password", "receipt_token"],
        "bulksms_eapi" => &["password"],
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

/// The specs of `tenant`'s entries as its router sends with them: [`specs`], with Twilio
/// and Plivo entries that set no `status_callback` pointed at their receipt endpoint under
/// `receipts_base` (`http.public_base_url`; `None` when the receipt listener is off).
pub fn tenant_specs(
    tenant: TenantId,
    entries: &[ProviderEntry],
    production: bool,
    receipts_base: Option<&str>,
) -> Result<TenantSpecs, CoreError> {
    let mut specs = specs(entries, production)?;
    if let Some(base) = receipts_base {
        for spec in &mut specs.providers {
            let url = format!("{base}{}", tenant_receipt_path(tenant, &spec.name));
            default_callback(spec, url);
        }
    }
    Ok(specs)
}

/// What checks the receipts of the entry `provider_id` among a tenant's `entries`: `None`
/// when there is no such entry or its kind takes no receipts (a `twilio_verify` entry
/// included). Only that entry is converted, so one entry a newer binary refuses does not
/// cost the others their receipts; the error is that entry's own.
pub fn receipt_verifier(
    entries: &[ProviderEntry],
    provider_id: &str,
    production: bool,
) -> Result<Option<ReceiptVerifier>, CoreError> {
    let Some(entry) = entries.iter().find(|e| e.id == provider_id) else {
        return Ok(None);
    };
    // [`specs`] without the callback URLs of [`tenant_specs`], which change what is sent,
    // not how a receipt is checked.
    let specs = specs(std::slice::from_ref(entry), production)?;
    Ok(specs
        .providers
        .first()
        .and_then(|spec| ReceiptVerifier::for_kind(&spec.kind)))
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

/// What `TenantRouting` calls to build a tenant's router; `receipts_base` as in
/// [`tenant_specs`].
pub fn router_builder(
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
    production: bool,
    receipts_base: Option<String>,
) -> Arc<twostep_sms_gateway::tenant_routing::BuildRouter> {
    Arc::new(
        move |tenant: TenantId, entries: &[ProviderEntry]| -> Result<Router, String> {
            let specs = tenant_specs(tenant, entries, production, receipts_base.as_deref())
                .map_err(|e| e.to_string())?;
            factory::build_with_default_order(
                &specs.providers,
                &specs.routes,
                Some(&specs.default_order),
                policy,
                Arc::clone(&clock),
            )
            .map_err(|e| e.to_string())
        },
    )
}

/// A provider entry as SetSmsProviders stores it, for tests.
#[cfg(test)]
pub(crate) fn test_entry(
    id: &str,
    kind: &str,
    settings: &[(&str, &str)],
    secrets: &[(&str, &str)],
) -> ProviderEntry {
    use secrecy::SecretString;
    ProviderEntry {
        id: id.to_owned(),
        kind: kind.to_owned(),
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        secrets: secrets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SecretString::from((*v).to_owned())))
            .collect(),
        countries: Vec::new(),
        timeout: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use twostep_sms_gateway::factory::ProviderKind;
    use twostep_sms_gateway::receipts::{Method, ReceiptError, WebhookRequest, twilio_signature};

    use super::*;

    fn twilio(id: &str, secrets: &[(&str, &str)]) -> ProviderEntry {
        test_entry(
            id,
            "twilio",
            &[("account_sid", "AC1"), ("from", "+15005550006")],
            secrets,
        )
    }

    fn callback(spec: &ProviderSpec) -> Option<&str> {
        match &spec.kind {
            ProviderKind::Twilio(c) => c.status_callback.as_deref(),
            ProviderKind::Plivo(c) => c.status_callback.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn a_tenants_twilio_and_plivo_report_to_the_tenants_own_endpoints() {
        let tenant = TenantId::random();
        let entries = [
            twilio("gateway", &[("auth_token", "t")]),
            test_entry(
                "pl",
                "plivo",
                &[
                    ("auth_id", "MA1"),
                    ("from", "+15005550006"),
                    ("status_callback", "https://elsewhere.example/cb"),
                ],
                &[("auth_token", "t")],
            ),
        ];
        let specs = tenant_specs(tenant, &entries, false, Some("https://r.example/sms")).unwrap();
        let callbacks: Vec<Option<&str>> = specs.providers.iter().map(callback).collect();
        let own = format!("https://r.example/sms/v1/receipts/tenants/{tenant}/gateway");
        assert_eq!(
            callbacks,
            [Some(own.as_str()), Some("https://elsewhere.example/cb")]
        );
        // Without the receipt listener nothing is added.
        let specs = tenant_specs(tenant, &entries, false, None).unwrap();
        assert_eq!(callback(&specs.providers[0]), None);
    }

    /// A Twilio status callback for `SM1`, signed with `token`.
    fn signed_callback(token: &str) -> WebhookRequest {
        let url = "https://r.example/v1/receipts/tenants/x/gateway".to_owned();
        let params = vec![
            ("MessageSid".to_owned(), "SM1".to_owned()),
            ("MessageStatus".to_owned(), "delivered".to_owned()),
        ];
        WebhookRequest {
            method: Method::Post,
            headers: vec![
                (
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ),
                (
                    "x-twilio-signature".to_owned(),
                    twilio_signature(token, &url, &params),
                ),
            ],
            url,
            body: b"MessageSid=SM1&MessageStatus=delivered".to_vec(),
        }
    }

    #[test]
    fn a_receipt_is_checked_with_the_entrys_own_secret() {
        let entries = [
            twilio("plain", &[("auth_token", "account-token")]),
            // An API key's secret as auth_token: Twilio signs with the account's Auth Token.
            twilio(
                "keyed",
                &[
                    ("auth_token", "key-secret"),
                    ("signature_secret", "account-token"),
                ],
            ),
            test_entry("gw", "generic_http", &[("url", "http://127.0.0.1:1/")], &[]),
        ];
        for id in ["plain", "keyed"] {
            let verifier = receipt_verifier(&entries, id, false).unwrap().unwrap();
            assert_eq!(
                verifier
                    .parse(&signed_callback("account-token"))
                    .unwrap()
                    .len(),
                1
            );
            assert!(matches!(
                verifier.parse(&signed_callback("key-secret")),
                Err(ReceiptError::BadSignature(_))
            ));
        }
        // No such entry, or a kind without receipts: no endpoint.
        assert!(receipt_verifier(&entries, "gw", false).unwrap().is_none());
        assert!(receipt_verifier(&entries, "nope", false).unwrap().is_none());
    }

    #[test]
    fn what_proves_a_receipt_is_a_secret() {
        let bulksms = test_entry(
            "b",
            "bulksms",
            &[("username", "u"), ("receipt_token", "x")],
            &[("password", "p")],
        );
        let e = specs(&[bulksms], false).err().unwrap();
        assert!(
            e.to_string()
                .contains("providers[0].settings.receipt_token"),
            "{e}"
        );
        let in_secrets = test_entry(
            "b",
            "bulksms",
            &[("username", "u")],
            &[("password", "p"), ("receipt_token", "x")],
        );
        assert!(
            receipt_verifier(&[in_secrets], "b", false)
                .unwrap()
                .is_some()
        );
    }
}

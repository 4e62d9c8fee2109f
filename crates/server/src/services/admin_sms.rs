//! AdminService's SMS settings: SetSmsProviders, GetSmsProviders and SendTestSms, with the
//! conversions only they use. Secrets go in and never come out: answers carry the names of
//! stored secrets, never their values.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use tonic::{Request, Response, Status};
use twostep_core::flows::sms_admin::{self, SmsSettingsInput, TestNumberInput};
use twostep_core::phone::Region;
use twostep_core::ports::{OutgoingSms, ProviderEntry, SendError, TenantSmsSettings};
use twostep_core::templates::{SmsTemplate, TemplateKind};
use twostep_proto::v1 as pb;

use super::admin::AdminApi;
use super::admin_convert::optional_time;
use crate::caller;
use crate::convert;
use crate::error::{IntoStatus, invalid_argument};
use crate::tenant_sms;

/// At most this many providers, test numbers and templates per tenant.
const MAX_ENTRIES: usize = 50;
/// How long SendTestSms waits for the providers (retries and failover included).
const TEST_SMS_WAIT: Duration = Duration::from_secs(20);

/// The kind's API spelling, as stored and as the config file names it.
fn kind_name(kind: i32) -> Option<&'static str> {
    use pb::SmsProviderKind as K;
    Some(match K::try_from(kind).ok()? {
        K::Unspecified => return None,
        K::Twilio => "twilio",
        K::TwilioVerify => "twilio_verify",
        K::Clickatell => "clickatell",
        K::ClickatellLegacy => "clickatell_legacy",
        K::Vonage => "vonage",
        K::Plivo => "plivo",
        K::Bulksms => "bulksms",
        K::BulksmsEapi => "bulksms_eapi",
        K::Messagebird => "messagebird",
        K::GenericHttp => "generic_http",
        K::Console => "console",
    })
}

fn kind_from_name(name: &str) -> pb::SmsProviderKind {
    use pb::SmsProviderKind as K;
    match name {
        "twilio" => K::Twilio,
        "twilio_verify" => K::TwilioVerify,
        "clickatell" => K::Clickatell,
        "clickatell_legacy" => K::ClickatellLegacy,
        "vonage" => K::Vonage,
        "plivo" => K::Plivo,
        "bulksms" => K::Bulksms,
        "bulksms_eapi" => K::BulksmsEapi,
        "messagebird" => K::Messagebird,
        "generic_http" => K::GenericHttp,
        "console" => K::Console,
        _ => K::Unspecified,
    }
}

fn template_kind(kind: i32) -> Option<TemplateKind> {
    use pb::SmsTemplateKind as K;
    match K::try_from(kind).ok()? {
        K::Unspecified => None,
        K::Code => Some(TemplateKind::Code),
        K::RegistrationAttempt => Some(TemplateKind::RegistrationAttempt),
        K::BackupCodeUsed => Some(TemplateKind::BackupCodeUsed),
        K::SuspiciousLogin => Some(TemplateKind::SuspiciousLogin),
    }
}

fn template_kind_to(kind: TemplateKind) -> pb::SmsTemplateKind {
    match kind {
        TemplateKind::Code => pb::SmsTemplateKind::Code,
        TemplateKind::RegistrationAttempt => pb::SmsTemplateKind::RegistrationAttempt,
        TemplateKind::BackupCodeUsed => pb::SmsTemplateKind::BackupCodeUsed,
        TemplateKind::SuspiciousLogin => pb::SmsTemplateKind::SuspiciousLogin,
    }
}

fn at_most<T>(field: &str, items: &[T]) -> Result<(), Status> {
    if items.len() > MAX_ENTRIES {
        return Err(invalid_argument(field, "must have at most 50 entries"));
    }
    Ok(())
}

fn provider_entry(i: usize, p: &pb::SmsProviderConfig) -> Result<ProviderEntry, Status> {
    let field = |f: &str| format!("providers[{i}].{f}");
    let kind = kind_name(p.kind).ok_or_else(|| invalid_argument(&field("kind"), "must be set"))?;
    let mut countries = Vec::with_capacity(p.countries.len());
    for (j, c) in p.countries.iter().enumerate() {
        let region = Region::parse(c).map_err(|_| {
            invalid_argument(
                &field(&format!("countries[{j}]")),
                "is not an ISO 3166 country code such as NL",
            )
        })?;
        countries.push(region);
    }
    let timeout = match &p.timeout {
        None => None,
        Some(d) => {
            let d = convert::from_duration(&field("timeout"), d)?;
            if d.is_zero() || d > Duration::from_secs(60) {
                return Err(invalid_argument(
                    &field("timeout"),
                    "must be positive and at most 60 s",
                ));
            }
            Some(d)
        }
    };
    for (key, value) in p.settings.iter().chain(p.secrets.iter()) {
        convert::bounded(&field(key), key, 200)?;
        convert::bounded(&field(key), value, 4096)?;
    }
    Ok(ProviderEntry {
        id: p.provider_id.clone(),
        kind: kind.to_owned(),
        settings: p
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        secrets: p
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), SecretString::from(v.clone())))
            .collect::<BTreeMap<_, _>>(),
        countries,
        timeout,
    })
}

fn template(i: usize, t: &pb::SmsTemplate) -> Result<SmsTemplate, Status> {
    let kind = template_kind(t.kind)
        .ok_or_else(|| invalid_argument(&format!("templates[{i}].kind"), "must be set"))?;
    SmsTemplate::parse(kind, &t.locale, &t.text)
        .map_err(|e| invalid_argument(&format!("templates[{i}].{}", e.field), &e.reason))
}

fn provider_view(p: &ProviderEntry) -> pb::SmsProvider {
    pb::SmsProvider {
        provider_id: p.id.clone(),
        kind: kind_from_name(&p.kind).into(),
        settings: p.settings.clone().into_iter().collect(),
        secret_keys: p.secrets.keys().cloned().collect(),
        countries: p.countries.iter().map(|r| r.as_str().to_owned()).collect(),
        timeout: Some(convert::duration(
            p.timeout
                .unwrap_or(twostep_sms_gateway::transport::DEFAULT_TIMEOUT),
        )),
    }
}

struct Views {
    providers: Vec<pb::SmsProvider>,
    test_numbers: Vec<pb::TestNumberInfo>,
    templates: Vec<pb::SmsTemplate>,
    webotp_domain: String,
}

fn views(s: &TenantSmsSettings) -> Views {
    Views {
        providers: s.providers.iter().map(provider_view).collect(),
        test_numbers: s
            .test_numbers
            .iter()
            .map(|t| pb::TestNumberInfo {
                masked_phone: t.phone.masked(),
                expires_at: t.expires_at.map(convert::timestamp),
            })
            .collect(),
        templates: s
            .templates
            .iter()
            .map(|t| pb::SmsTemplate {
                kind: template_kind_to(t.kind).into(),
                locale: t.language.clone(),
                text: t.text.clone(),
            })
            .collect(),
        webotp_domain: s.webotp_domain.clone().unwrap_or_default(),
    }
}

/// A failed test send as UNAVAILABLE: the providers' reasons (never a secret or the number).
fn send_failed(e: &SendError) -> Status {
    Status::unavailable(format!("the test SMS was not accepted: {e}"))
}

impl AdminApi {
    pub(super) async fn set_sms_providers_rpc(
        &self,
        request: Request<pb::SetSmsProvidersRequest>,
    ) -> Result<Response<pb::SetSmsProvidersResponse>, Status> {
        let actor = caller::actor(&request);
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        at_most("providers", &req.providers)?;
        at_most("test_numbers", &req.test_numbers)?;
        at_most("templates", &req.templates)?;
        let providers = req
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| provider_entry(i, p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut test_numbers = Vec::with_capacity(req.test_numbers.len());
        for (i, t) in req.test_numbers.iter().enumerate() {
            convert::bounded(
                &format!("test_numbers[{i}].phone_number"),
                &t.phone_number,
                64,
            )?;
            test_numbers.push(TestNumberInput {
                phone: t.phone_number.clone(),
                code: t.code.clone(),
                expires_at: optional_time(
                    &format!("test_numbers[{i}].expires_at"),
                    t.expires_at.as_ref(),
                )?,
            });
        }
        let templates = req
            .templates
            .iter()
            .enumerate()
            .map(|(i, t)| template(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        convert::bounded("webotp_domain", &req.webotp_domain, 253)?;
        let input = SmsSettingsInput {
            providers,
            test_numbers,
            templates,
            webotp_domain: Some(req.webotp_domain),
        };
        let production = self.state.production;
        let clock = std::sync::Arc::clone(&self.state.deps.clock);
        let check = move |entries: &[ProviderEntry]| {
            tenant_sms::check(entries, production, std::sync::Arc::clone(&clock))
        };
        let outcome = sms_admin::set_sms_settings(
            &self.state.deps,
            tenant,
            input,
            production,
            &check,
            &actor,
        )
        .await
        .into_status()?;
        let v = views(&outcome.settings);
        Ok(Response::new(pb::SetSmsProvidersResponse {
            providers: v.providers,
            test_numbers: v.test_numbers,
            templates: v.templates,
            webotp_domain: v.webotp_domain,
            warnings: outcome.warnings,
        }))
    }

    pub(super) async fn get_sms_providers_rpc(
        &self,
        request: Request<pb::GetSmsProvidersRequest>,
    ) -> Result<Response<pb::GetSmsProvidersResponse>, Status> {
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let settings = sms_admin::get_sms_settings(&self.state.deps, tenant)
            .await
            .into_status()?;
        let v = views(&settings);
        Ok(Response::new(pb::GetSmsProvidersResponse {
            providers: v.providers,
            test_numbers: v.test_numbers,
            templates: v.templates,
            webotp_domain: v.webotp_domain,
        }))
    }

    pub(super) async fn send_test_sms_rpc(
        &self,
        request: Request<pb::SendTestSmsRequest>,
    ) -> Result<Response<pb::SendTestSmsResponse>, Status> {
        let actor = caller::actor(&request);
        let field = request.get_ref().tenant_id.clone();
        let tenant = caller::target_tenant(&self.state, &request, "tenant_id", &field).await?;
        let req = request.into_inner();
        convert::bounded("phone_number", &req.phone_number, 64)?;
        convert::bounded("provider_id", &req.provider_id, 64)?;
        let deps = &self.state.deps;
        let (tenant, phone, text) = sms_admin::prepare_test_sms(deps, tenant, &req.phone_number)
            .await
            .into_status()?;
        let route = self
            .state
            .sms_routing
            .route(tenant.id)
            .await
            .map_err(|e| send_failed(&e))?;
        if route.router.as_ref().is_some_and(|r| !r.serves(&phone)) {
            return Err(Status::failed_precondition(
                "no provider of the routing serves the number's country",
            ));
        }
        let message_id = uuid::Uuid::now_v7().to_string();
        let sms = OutgoingSms {
            tenant: tenant.id,
            to: phone.clone(),
            text,
            provider_code: false,
            purpose: None,
            idempotency_key: format!("test:{message_id}"),
            expires_at: deps.clock.now() + chrono::Duration::minutes(1),
        };
        let provider_id = req.provider_id.trim();
        let sent = if provider_id.is_empty() {
            tokio::time::timeout(TEST_SMS_WAIT, route.sender.send(&sms)).await
        } else {
            let (sender, _) = route
                .provider(provider_id)
                .ok_or(Status::failed_precondition(
                    "provider_id names no provider of the tenant (or of the global list)",
                ))?;
            tokio::time::timeout(TEST_SMS_WAIT, sender.send(&sms)).await
        };
        let sent = match sent {
            Ok(Ok(sent)) => sent,
            Ok(Err(e)) => {
                tracing::warn!(tenant = %tenant.id, to = ?phone, error = %e, "test SMS failed");
                return Err(send_failed(&e));
            }
            Err(_) => return Err(Status::unavailable("the providers did not answer in time")),
        };
        // An adapter reports its own name; a single provider is the one asked for.
        let provider = if provider_id.is_empty() {
            sent.provider.clone()
        } else {
            provider_id.to_owned()
        };
        let kind = route.kinds.get(&provider).cloned().unwrap_or_default();
        tracing::info!(tenant = %tenant.id, to = ?phone, %provider, %message_id, "test SMS sent");
        sms_admin::record_test_sms(deps, &tenant, &phone, &provider, &message_id, &actor).await;
        Ok(Response::new(pb::SendTestSmsResponse {
            message_id,
            provider_id: provider,
            provider_kind: kind_from_name(&kind).into(),
            provider_message_id: sent.provider_message_id,
        }))
    }
}

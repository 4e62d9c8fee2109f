//! Conversions between the generated proto types and domain types. Parsing of request fields
//! happens here, once, at the edge; field names in errors are the proto's.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tonic::Status;
use twostep_core::challenge::Purpose;
use twostep_core::flows::ClientInfo;
use twostep_core::flows::codes::ChallengeView;
use twostep_core::flows::sessions::IssuedSession;
use twostep_core::ids::InvalidId;
use twostep_core::session::{AuthMethod, Session};
use twostep_core::tenant::{CodePolicy, Policy, SessionPolicy, Tenant, TwoStepMode};
use twostep_core::token::SecretToken;
use twostep_core::user::{Role, User};
use twostep_proto::v1 as pb;

use crate::error::{invalid_argument, missing};

mod abuse;

/// Parses the client context every AuthService request carries. It is optional; what is
/// given must be well-formed.
pub fn client_info(ctx: Option<&pb::ClientContext>) -> Result<ClientInfo, Status> {
    let Some(ctx) = ctx else {
        return Ok(ClientInfo::default());
    };
    let ip = match ctx.ip_address.trim() {
        "" => None,
        s => Some(
            s.parse::<IpAddr>()
                .map_err(|_| invalid_argument("client.ip_address", "is not an IP address"))?,
        ),
    };
    bounded("client.user_agent", &ctx.user_agent, 512)?;
    bounded("client.locale", &ctx.locale, 35)?;
    bounded("client.device_id", &ctx.device_id, 128)?;
    Ok(ClientInfo {
        ip,
        user_agent: ctx.user_agent.clone(),
        locale: ctx.locale.clone(),
        device_id: ctx.device_id.clone(),
    })
}

pub fn bounded(field: &str, value: &str, max_bytes: usize) -> Result<(), Status> {
    if value.len() > max_bytes {
        return Err(invalid_argument(
            field,
            &format!("must be at most {max_bytes} bytes"),
        ));
    }
    Ok(())
}

/// Parses a required id field. Malformed is INVALID_ARGUMENT; a well-formed id that matches
/// nothing is the flow's business.
pub fn required_id<T: std::str::FromStr<Err = InvalidId>>(
    field: &str,
    value: &str,
) -> Result<T, Status> {
    let value = value.trim();
    if value.is_empty() {
        return Err(missing(field));
    }
    value
        .parse()
        .map_err(|_| invalid_argument(field, "is not a valid id"))
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

pub fn from_duration(field: &str, d: &prost_types::Duration) -> Result<Duration, Status> {
    if d.seconds < 0 || d.nanos < 0 {
        return Err(invalid_argument(field, "must not be negative"));
    }
    Ok(Duration::new(
        u64::try_from(d.seconds).unwrap_or(0),
        u32::try_from(d.nanos).unwrap_or(0),
    ))
}

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn purpose(p: Purpose) -> pb::ChallengePurpose {
    match p {
        Purpose::SecondFactor => pb::ChallengePurpose::SecondFactor,
        Purpose::PhoneLogin => pb::ChallengePurpose::PhoneLogin,
        Purpose::Registration => pb::ChallengePurpose::Registration,
        Purpose::PhoneVerification => pb::ChallengePurpose::PhoneVerification,
        Purpose::StepUp => pb::ChallengePurpose::StepUp,
    }
}

pub fn auth_method(m: AuthMethod) -> pb::AuthMethod {
    match m {
        AuthMethod::Password => pb::AuthMethod::Password,
        AuthMethod::PasswordAndSms => pb::AuthMethod::PasswordAndSms,
        AuthMethod::Sms => pb::AuthMethod::Sms,
        AuthMethod::PasswordAndBackupCode => pb::AuthMethod::PasswordAndBackupCode,
        AuthMethod::Registration => pb::AuthMethod::Registration,
    }
}

pub fn role(r: Role) -> pb::Role {
    match r {
        Role::Customer => pb::Role::Customer,
        Role::Admin => pb::Role::Admin,
    }
}

/// A role from a request; unspecified means customer.
pub fn role_from(value: i32) -> Result<Role, Status> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Unspecified | pb::Role::Customer) => Ok(Role::Customer),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Err(_) => Err(invalid_argument("role", "is not a known role")),
    }
}

pub fn challenge(view: &ChallengeView) -> pb::Challenge {
    pb::Challenge {
        challenge_id: view.id.to_string(),
        purpose: purpose(view.purpose).into(),
        masked_destination: view.masked_destination.clone(),
        expires_in: Some(duration(view.expires_in)),
        resend_after: Some(duration(view.resend_after)),
        code_length: u32::from(view.code_length),
        backup_code_only: view.backup_code_only,
    }
}

pub fn session(issued: &IssuedSession) -> pb::Session {
    let s: &Session = &issued.session;
    pb::Session {
        session_id: s.id.to_string(),
        user_id: s.user.to_string(),
        access_token: issued.access_token.expose().to_owned(),
        refresh_token: issued.refresh_token.expose().to_owned(),
        access_expires_at: Some(timestamp(s.access_expires_at)),
        refresh_expires_at: Some(timestamp(s.refresh_expires_at)),
        auth_method: auth_method(s.auth_method).into(),
        absolute_expires_at: Some(timestamp(s.absolute_expires_at)),
    }
}

pub fn ticket(token: &SecretToken, ttl: Duration) -> pb::RestrictedTicket {
    pb::RestrictedTicket {
        ticket: token.expose().to_owned(),
        expires_in: Some(duration(ttl)),
    }
}

pub fn user(u: &User) -> pb::User {
    pb::User {
        user_id: u.id.to_string(),
        tenant_id: u.tenant.to_string(),
        email: u
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        display_name: u.display_name.clone(),
        masked_phone: u.phone.as_ref().map(|p| p.masked()).unwrap_or_default(),
        phone_verified: u.phone_verified_at.is_some(),
        two_step_enabled: u.two_step_enabled,
        role: role(u.role).into(),
        must_change_password: u.must_change_password,
        locked: u.is_locked(),
        created_at: Some(timestamp(u.created_at)),
        has_password: u.password_hash.is_some(),
    }
}

pub fn tenant(t: &Tenant) -> pb::Tenant {
    pb::Tenant {
        tenant_id: t.id.to_string(),
        slug: t.slug.clone(),
        name: t.name.clone(),
        app_name: t.app_name.clone(),
        policy: Some(policy(&t.policy)),
        created_at: Some(timestamp(t.created_at)),
    }
}

fn mode(m: TwoStepMode) -> pb::TwoStepMode {
    match m {
        TwoStepMode::Disabled => pb::TwoStepMode::Disabled,
        TwoStepMode::Optional => pb::TwoStepMode::Optional,
        TwoStepMode::Required => pb::TwoStepMode::Required,
    }
}

pub fn policy(p: &Policy) -> pb::TenantPolicy {
    pb::TenantPolicy {
        two_step_customers: mode(p.two_step_customers).into(),
        two_step_admins: mode(p.two_step_admins).into(),
        phone_registration_allowed: p.phone_registration_allowed,
        phone_login_allowed: p.phone_login_allowed,
        users_may_disable_two_step: p.users_may_disable_two_step,
        remind_to_enable_two_step: p.remind_to_enable_two_step,
        default_country: p.default_country.clone(),
        allowed_countries: p.allowed_countries.clone(),
        code: Some(pb::CodePolicy {
            length: u32::from(p.code.length),
            lifetime: Some(duration(p.code.lifetime)),
            max_attempts: p.code.max_attempts,
            resend_cooldown: Some(duration(p.code.resend_cooldown)),
            max_sends: p.code.max_sends,
        }),
        password_min_length: p.password_min_length,
        session: Some(pb::SessionPolicy {
            access_token_ttl: Some(duration(p.session.access_token_ttl)),
            idle_timeout: Some(duration(p.session.idle_timeout)),
            absolute_lifetime: Some(duration(p.session.absolute_lifetime)),
            admin_idle_timeout: Some(duration(p.session.admin_idle_timeout)),
            admin_absolute_lifetime: Some(duration(p.session.admin_absolute_lifetime)),
        }),
        limits: Some(abuse::limits(&p.limits)),
        lockout: Some(abuse::lockout(&p.lockout)),
        pumping: Some(abuse::pumping(&p.pumping)),
    }
}

fn mode_from(field: &str, value: i32, default: TwoStepMode) -> Result<TwoStepMode, Status> {
    match pb::TwoStepMode::try_from(value) {
        Ok(pb::TwoStepMode::Unspecified) => Ok(default),
        Ok(pb::TwoStepMode::Disabled) => Ok(TwoStepMode::Disabled),
        Ok(pb::TwoStepMode::Optional) => Ok(TwoStepMode::Optional),
        Ok(pb::TwoStepMode::Required) => Ok(TwoStepMode::Required),
        Err(_) => Err(invalid_argument(field, "is not a known mode")),
    }
}

/// A whole policy from a request. Zero values (unspecified enums, 0, empty strings, unset
/// durations) take the default; booleans are taken as given. Bounds are checked by the flow.
pub fn policy_from(p: &pb::TenantPolicy) -> Result<Policy, Status> {
    let d = Policy::default();
    let code = p.code.unwrap_or_default();
    let sess = p.session.unwrap_or_default();
    let dur = |field: &str, v: &Option<prost_types::Duration>, default: Duration| match v {
        Some(v) => from_duration(field, v),
        None => Ok(default),
    };
    let nonzero = |v: u32, default: u32| if v == 0 { default } else { v };
    Ok(Policy {
        two_step_customers: mode_from(
            "policy.two_step_customers",
            p.two_step_customers,
            d.two_step_customers,
        )?,
        two_step_admins: mode_from(
            "policy.two_step_admins",
            p.two_step_admins,
            d.two_step_admins,
        )?,
        phone_registration_allowed: p.phone_registration_allowed,
        phone_login_allowed: p.phone_login_allowed,
        users_may_disable_two_step: p.users_may_disable_two_step,
        remind_to_enable_two_step: p.remind_to_enable_two_step,
        default_country: if p.default_country.trim().is_empty() {
            d.default_country.clone()
        } else {
            p.default_country.trim().to_ascii_uppercase()
        },
        allowed_countries: p
            .allowed_countries
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect(),
        code: CodePolicy {
            length: u8::try_from(nonzero(code.length, u32::from(d.code.length))).unwrap_or(u8::MAX),
            lifetime: dur("policy.code.lifetime", &code.lifetime, d.code.lifetime)?,
            max_attempts: nonzero(code.max_attempts, d.code.max_attempts),
            resend_cooldown: dur(
                "policy.code.resend_cooldown",
                &code.resend_cooldown,
                d.code.resend_cooldown,
            )?,
            max_sends: nonzero(code.max_sends, d.code.max_sends),
        },
        password_min_length: nonzero(p.password_min_length, d.password_min_length),
        session: SessionPolicy {
            access_token_ttl: dur(
                "policy.session.access_token_ttl",
                &sess.access_token_ttl,
                d.session.access_token_ttl,
            )?,
            idle_timeout: dur(
                "policy.session.idle_timeout",
                &sess.idle_timeout,
                d.session.idle_timeout,
            )?,
            absolute_lifetime: dur(
                "policy.session.absolute_lifetime",
                &sess.absolute_lifetime,
                d.session.absolute_lifetime,
            )?,
            admin_idle_timeout: dur(
                "policy.session.admin_idle_timeout",
                &sess.admin_idle_timeout,
                d.session.admin_idle_timeout,
            )?,
            admin_absolute_lifetime: dur(
                "policy.session.admin_absolute_lifetime",
                &sess.admin_absolute_lifetime,
                d.session.admin_absolute_lifetime,
            )?,
        },
        limits: abuse::limits_from(p.limits.as_ref())?,
        lockout: abuse::lockout_from(p.lockout.as_ref())?,
        pumping: abuse::pumping_from(p.pumping.as_ref())?,
    })
}

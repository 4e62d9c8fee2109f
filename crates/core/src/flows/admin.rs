//! Admin actions on tenants and users. Callers are operators' tools, so unlike the end-user
//! flows these may say that something does not exist.

use std::sync::Arc;

use crate::email::Email;
use crate::error::CoreError;
use crate::flows::{Deps, tenants};
use crate::ids::{TenantId, UserId};
use crate::password::Password;
use crate::phone::PhoneNumber;
use crate::tenant::{Policy, Tenant};
use crate::user::{NewUser, Role, User};

/// Display names and tenant names are bounded so nobody stores novels in them.
const MAX_NAME_CHARS: usize = 200;

pub struct NewTenantInput {
    pub slug: String,
    pub name: String,
    pub app_name: String,
    pub policy: Policy,
}

pub async fn create_tenant(deps: &Deps, input: NewTenantInput) -> Result<Tenant, CoreError> {
    let slug = input.slug.trim();
    let slug_ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !slug_ok {
        return Err(CoreError::invalid(
            "slug",
            "must be 2 to 63 of a-z, 0-9 and inner '-'",
        ));
    }
    let name = bounded_name("name", &input.name)?;
    let app_name = if input.app_name.trim().is_empty() {
        name.clone()
    } else {
        bounded_name("app_name", &input.app_name)?
    };
    input
        .policy
        .validate()
        .map_err(|e| CoreError::invalid(format!("policy.{}", e.field), e.reason))?;
    let tenant = Tenant {
        id: TenantId::random(),
        slug: slug.to_owned(),
        name,
        app_name,
        policy: input.policy,
        created_at: deps.clock.now(),
    };
    deps.tenants.create(&tenant).await?;
    tracing::info!(tenant = %tenant.id, slug = %tenant.slug, "tenant created");
    Ok(tenant)
}

/// The tenant start-up creates when the database has none with the default slug, so the
/// embedded default works without any set-up.
pub async fn ensure_default_tenant(deps: &Deps) -> Result<Tenant, CoreError> {
    if let Some(t) = deps.tenants.get_by_slug(Tenant::DEFAULT_SLUG).await? {
        return Ok(t);
    }
    let input = NewTenantInput {
        slug: Tenant::DEFAULT_SLUG.to_owned(),
        name: "Default".to_owned(),
        app_name: "twostep".to_owned(),
        policy: Policy::default(),
    };
    match create_tenant(deps, input).await {
        Ok(t) => Ok(t),
        // Another instance created it at the same moment.
        Err(CoreError::AlreadyExists(_)) => deps
            .tenants
            .get_by_slug(Tenant::DEFAULT_SLUG)
            .await?
            .ok_or(CoreError::Internal("default tenant vanished".into())),
        Err(e) => Err(e),
    }
}

pub async fn get_tenant(deps: &Deps, id: TenantId) -> Result<Tenant, CoreError> {
    deps.tenants
        .get(id)
        .await?
        .ok_or(CoreError::NotFound("tenant"))
}

pub struct NewUserInput {
    pub email: Option<String>,
    pub display_name: String,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub password: Option<String>,
    pub role: Role,
    pub two_step_enabled: bool,
}

pub async fn create_user(
    deps: &Deps,
    tenant: TenantId,
    input: NewUserInput,
) -> Result<User, CoreError> {
    let tenant: Arc<Tenant> = tenants::caller_tenant(deps, tenant).await?;
    let email = input
        .email
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(Email::parse)
        .transpose()
        .map_err(|e| CoreError::invalid("email", e))?;
    let phone = input
        .phone
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|p| PhoneNumber::parse(p, tenant.policy.default_region()))
        .transpose()
        .map_err(|e| CoreError::invalid("phone_number", e))?;
    if email.is_none() && phone.is_none() {
        return Err(CoreError::invalid(
            "email",
            "an email or a phone number is required",
        ));
    }
    if input.phone_verified && phone.is_none() {
        return Err(CoreError::invalid(
            "phone_verified",
            "requires phone_number",
        ));
    }
    if input.two_step_enabled && !input.phone_verified {
        return Err(CoreError::invalid(
            "two_step_enabled",
            "requires a verified phone number",
        ));
    }
    let display_name = bounded_name("display_name", &input.display_name)?;
    let password_hash = match input.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let pw = Password::new_checked(p, tenant.policy.password_min_length)
                .map_err(|e| CoreError::invalid("password", e))?;
            Some(deps.passwords.hash(&pw).await?)
        }
        None => None,
    };
    let now = deps.clock.now();
    let new = NewUser {
        id: UserId::random(),
        tenant: tenant.id,
        email,
        display_name,
        password_hash,
        phone,
        phone_verified_at: input.phone_verified.then_some(now),
        two_step_enabled: input.two_step_enabled,
        role: input.role,
        created_at: now,
    };
    let user = deps.users.create(&new).await?;
    tracing::info!(tenant = %tenant.id, user = %user.id, "user created");
    Ok(user)
}

pub async fn get_user(deps: &Deps, tenant: TenantId, id: UserId) -> Result<User, CoreError> {
    deps.users
        .get(tenant, id)
        .await?
        .ok_or(CoreError::NotFound("user"))
}

fn bounded_name(field: &'static str, input: &str) -> Result<String, CoreError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "must be at most 200 printable characters",
        ));
    }
    Ok(s.to_owned())
}

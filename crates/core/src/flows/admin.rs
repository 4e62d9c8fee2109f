//! Admin actions on tenants and users. Callers are operators' tools, so unlike the end-user
//! flows these may say that something does not exist.
//!
//! Every state change writes an audit event naming the actor (the API client that called).
//! Users are changed by read-modify-write of the whole record (`UserRepo::update`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::audit::{Actor, AuditEvent, AuditFilter, AuditKind};
use crate::email::Email;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::codes::otp_account;
use crate::flows::password_login::password_account;
use crate::flows::{Deps, numbering_plans, tenants};
use crate::ids::{TenantId, UserId};
use crate::password_policy::{self, Context};
use crate::phone::PhoneNumber;
use crate::ports::{OutgoingSms, SmsText, TenantUpdate};
use crate::tenant::{Policy, Tenant};
use crate::user::{NewUser, Role, User};

/// Display names and tenant names are bounded so nobody stores novels in them.
const MAX_NAME_CHARS: usize = 200;
/// A lock reason is for the audit log; it is bounded like any stored free text.
const MAX_REASON_CHARS: usize = 500;
/// A notice that could not be sent within this time is no longer worth sending.
const NOTICE_LIFETIME: Duration = Duration::from_secs(3600);

pub struct NewTenantInput {
    pub slug: String,
    pub name: String,
    pub app_name: String,
    pub policy: Policy,
}

pub async fn create_tenant(
    deps: &Deps,
    input: NewTenantInput,
    actor: &Actor,
) -> Result<Tenant, CoreError> {
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
    validate_policy(&input.policy)?;
    let tenant = Tenant {
        id: TenantId::random(),
        slug: slug.to_owned(),
        name,
        app_name,
        policy: input.policy,
        created_at: deps.clock.now(),
    };
    deps.tenants.create(&tenant).await?;
    // Not in the tenant cache yet (its first request reads it), so its countries' plans are
    // compiled now, before that request would (`numbering_plans`).
    numbering_plans::prepare_new_countries(&tenant);
    tracing::info!(tenant = %tenant.id, slug = %tenant.slug, "tenant created");
    let event = Event::new(AuditKind::TenantCreated)
        .actor(actor.clone())
        .detail("slug", tenant.slug.clone());
    audit::record(deps, tenant.id, event).await;
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
    match create_tenant(deps, input, &Actor::System).await {
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

/// A tenant read from the database (not the cache): admin reads must see the latest write.
pub async fn get_tenant(deps: &Deps, id: TenantId) -> Result<Tenant, CoreError> {
    deps.tenants
        .get(id)
        .await?
        .ok_or(CoreError::NotFound("tenant"))
}

/// What UpdateTenantPolicy changes. `None` keeps the current value.
pub struct TenantChange {
    pub policy: Option<PolicyChange>,
    pub name: Option<String>,
    pub app_name: Option<String>,
}

pub enum PolicyChange {
    /// The whole policy is replaced.
    Replace(Policy),
    /// Only the fields named by `paths` (`code.length`, `session`, `allowed_countries`, ...)
    /// are copied from `from`; the others keep their current value.
    Fields { from: Policy, paths: Vec<String> },
}

pub async fn update_tenant(
    deps: &Deps,
    id: TenantId,
    change: TenantChange,
    actor: &Actor,
) -> Result<Tenant, CoreError> {
    // Validated as CreateTenant validates them; every field is checked before anything is
    // written.
    let name = change
        .name
        .as_deref()
        .map(|n| bounded_name("name", n))
        .transpose()?;
    let app_name = change
        .app_name
        .as_deref()
        .map(|n| bounded_name("app_name", n))
        .transpose()?;
    if change.policy.is_none() && name.is_none() && app_name.is_none() {
        return Err(CoreError::invalid(
            "policy",
            "is required: nothing to change",
        ));
    }
    let mut fields = Vec::new();
    let policy = match change.policy {
        None => None,
        Some(policy_change) => {
            let current = get_tenant(deps, id).await?;
            let policy = match policy_change {
                PolicyChange::Replace(policy) => {
                    fields.push("*".to_owned());
                    policy
                }
                PolicyChange::Fields { from, paths } => {
                    let policy = apply_policy_paths(&current.policy, &from, &paths)?;
                    fields.extend(paths);
                    policy
                }
            };
            validate_policy(&policy)?;
            Some(policy)
        }
    };
    if name.is_some() {
        fields.push("name".to_owned());
    }
    if app_name.is_some() {
        fields.push("app_name".to_owned());
    }
    let update = TenantUpdate {
        name: name.as_deref(),
        app_name: app_name.as_deref(),
        policy: policy.as_ref(),
    };
    let updated = deps
        .tenants
        .update(id, &update, deps.clock.now())
        .await?
        .ok_or(CoreError::NotFound("tenant"))?;
    // This instance sees the change at once (SMS texts carry the app name); others within
    // `tenant_cache::FRESH_FOR` plus one read.
    deps.tenant_cache.put(updated.clone());
    let fields = fields.join(",");
    tracing::info!(tenant = %id, fields = %fields, "tenant updated");
    let event = Event::new(AuditKind::TenantUpdated)
        .actor(actor.clone())
        .detail("fields", fields);
    audit::record(deps, id, event).await;
    Ok(updated)
}

/// Copies the fields named by `paths` from `from` onto `current`. Paths are the policy's
/// field names, nested ones joined with `.`; an unknown path is an error naming
/// `update_mask`.
pub fn apply_policy_paths(
    current: &Policy,
    from: &Policy,
    paths: &[String],
) -> Result<Policy, CoreError> {
    let mut p = current.clone();
    for path in paths {
        match path.trim() {
            "two_step_customers" => p.two_step_customers = from.two_step_customers,
            "two_step_admins" => p.two_step_admins = from.two_step_admins,
            "phone_registration_allowed" => {
                p.phone_registration_allowed = from.phone_registration_allowed;
            }
            "phone_login_allowed" => p.phone_login_allowed = from.phone_login_allowed,
            "users_may_disable_two_step" => {
                p.users_may_disable_two_step = from.users_may_disable_two_step;
            }
            "remind_to_enable_two_step" => {
                p.remind_to_enable_two_step = from.remind_to_enable_two_step;
            }
            "default_country" => p.default_country.clone_from(&from.default_country),
            "allowed_countries" => p.allowed_countries.clone_from(&from.allowed_countries),
            "code" => p.code = from.code.clone(),
            "code.length" => p.code.length = from.code.length,
            "code.lifetime" => p.code.lifetime = from.code.lifetime,
            "code.max_attempts" => p.code.max_attempts = from.code.max_attempts,
            "code.resend_cooldown" => p.code.resend_cooldown = from.code.resend_cooldown,
            "code.max_sends" => p.code.max_sends = from.code.max_sends,
            "password_min_length" => p.password_min_length = from.password_min_length,
            "session" => p.session = from.session.clone(),
            "session.access_token_ttl" => {
                p.session.access_token_ttl = from.session.access_token_ttl
            }
            "session.idle_timeout" => p.session.idle_timeout = from.session.idle_timeout,
            "session.absolute_lifetime" => {
                p.session.absolute_lifetime = from.session.absolute_lifetime;
            }
            "session.admin_idle_timeout" => {
                p.session.admin_idle_timeout = from.session.admin_idle_timeout;
            }
            "session.admin_absolute_lifetime" => {
                p.session.admin_absolute_lifetime = from.session.admin_absolute_lifetime;
            }
            abuse if crate::tenant::copy_abuse_path(&mut p, from, abuse) => {}
            "*" => {
                return Err(CoreError::invalid(
                    "update_mask",
                    "`*` must be the only path",
                ));
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(CoreError::invalid(
                    "update_mask",
                    format!("unknown path `{shown}`"),
                ));
            }
        }
    }
    Ok(p)
}

fn validate_policy(policy: &Policy) -> Result<(), CoreError> {
    policy
        .validate()
        .map_err(|e| CoreError::invalid(format!("policy.{}", e.field), e.reason))
}

pub struct NewUserInput {
    pub email: Option<String>,
    pub display_name: String,
    pub phone: Option<String>,
    pub phone_verified: bool,
    pub password: Option<String>,
    pub role: Role,
    pub two_step_enabled: bool,
    pub must_change_password: bool,
}

pub async fn create_user(
    deps: &Deps,
    tenant: TenantId,
    input: NewUserInput,
    actor: &Actor,
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
        .map(|p| parse_phone(&tenant, p))
        .transpose()?;
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
    let password = input.password.as_deref().filter(|p| !p.is_empty());
    if input.must_change_password && password.is_none() {
        return Err(CoreError::invalid(
            "must_change_password",
            "requires password",
        ));
    }
    let password_hash = match password {
        Some(p) => {
            let ctx = Context {
                email: email.as_ref(),
                phone: phone.as_ref(),
                app_name: Some(&tenant.app_name),
            };
            let pw = password_policy::check_new(p, tenant.policy.password_min_length, ctx)
                .map_err(|r| CoreError::password("password", r))?;
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
        must_change_password: input.must_change_password,
        created_at: now,
    };
    let user = deps.users.create(&new).await?;
    tracing::info!(tenant = %tenant.id, user = %user.id, "user created");
    let mut event = Event::new(AuditKind::UserCreated)
        .user(user.id)
        .actor(actor.clone())
        .detail("role", user.role.as_str())
        .detail("two_step_enabled", user.two_step_enabled.to_string())
        .detail(
            "must_change_password",
            user.must_change_password.to_string(),
        );
    if let Some(phone) = &user.phone {
        event = event.phone(phone).detail(
            "phone_verified",
            user.phone_verified_at.is_some().to_string(),
        );
    }
    audit::record(deps, tenant.id, event).await;
    Ok(user)
}

pub async fn get_user(deps: &Deps, tenant: TenantId, id: UserId) -> Result<User, CoreError> {
    deps.users
        .get(tenant, id)
        .await?
        .ok_or(CoreError::NotFound("user"))
}

/// What FindUser looks a user up by.
pub enum UserLookup {
    Email(String),
    /// Parsed with the tenant's default country; only a verified number finds its user.
    Phone(String),
}

pub async fn find_user(
    deps: &Deps,
    tenant: TenantId,
    lookup: UserLookup,
) -> Result<User, CoreError> {
    let found = match lookup {
        UserLookup::Email(input) => {
            let email = Email::parse(&input).map_err(|e| CoreError::invalid("email", e))?;
            deps.users.find_by_email(tenant, &email).await?
        }
        UserLookup::Phone(input) => {
            let tenant = get_tenant(deps, tenant).await?;
            let phone = PhoneNumber::parse(&input, tenant.policy.default_region())
                .map_err(|e| CoreError::invalid("phone_number", e))?;
            deps.users.find_by_verified_phone(tenant.id, &phone).await?
        }
    };
    found.ok_or(CoreError::NotFound("user"))
}

/// What SetUserPhone asks for.
pub struct PhoneChange {
    /// The new number as typed; `None` (or empty) clears the phone.
    pub phone: Option<String>,
    pub mark_verified: bool,
    pub enable_two_step: bool,
}

/// Sets or clears a user's number. Verification belongs to the exact number (R29): a new
/// number is unverified unless `mark_verified`, and two-step is off whenever the user ends up
/// without a verified number. The old verified number, when it changes, gets a notice (R28).
pub async fn set_user_phone(
    deps: &Deps,
    tenant: TenantId,
    id: UserId,
    change: PhoneChange,
    actor: &Actor,
) -> Result<User, CoreError> {
    let tenant = get_tenant(deps, tenant).await?;
    let phone = change
        .phone
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|p| parse_phone(&tenant, p))
        .transpose()?;
    if change.mark_verified && phone.is_none() {
        return Err(CoreError::invalid("mark_verified", "requires phone_number"));
    }
    if change.enable_two_step && phone.is_none() {
        return Err(CoreError::invalid(
            "enable_two_step",
            "requires phone_number",
        ));
    }
    let mut user = get_user(deps, tenant.id, id).await?;
    let before = user.clone();
    let now = deps.clock.now();
    let number_changed = user.phone != phone;
    if number_changed {
        user.phone.clone_from(&phone);
        user.phone_verified_at = None;
    }
    if change.mark_verified && user.phone_verified_at.is_none() {
        user.phone_verified_at = Some(now);
    }
    if change.enable_two_step {
        if user.verified_phone().is_none() {
            return Err(CoreError::invalid(
                "enable_two_step",
                "requires a verified number: set mark_verified",
            ));
        }
        user.two_step_enabled = true;
    }
    if user.verified_phone().is_none() {
        user.two_step_enabled = false;
    }
    let verified_now =
        user.phone_verified_at.is_some() && (number_changed || before.phone_verified_at.is_none());
    let two_step_changed = user.two_step_enabled != before.two_step_enabled;
    if !number_changed && !verified_now && !two_step_changed {
        return Ok(user);
    }
    save(deps, &mut user).await?;
    tracing::info!(tenant = %tenant.id, user = %user.id, "phone set by an admin");

    if number_changed {
        let mut event = Event::new(AuditKind::PhoneChanged)
            .user(user.id)
            .actor(actor.clone());
        event = match (&user.phone, &before.phone) {
            (Some(new), _) => event.phone(new).detail("change", "set"),
            (None, Some(old)) => event.phone(old).detail("change", "cleared"),
            (None, None) => event,
        };
        audit::record(deps, tenant.id, event).await;
    }
    if verified_now && let Some(phone) = &user.phone {
        let event = Event::new(AuditKind::PhoneVerified)
            .user(user.id)
            .actor(actor.clone())
            .phone(phone)
            .detail("method", "admin");
        audit::record(deps, tenant.id, event).await;
    }
    if two_step_changed {
        let kind = if user.two_step_enabled {
            AuditKind::TwoStepEnabled
        } else {
            AuditKind::TwoStepDisabled
        };
        let event = Event::new(kind).user(user.id).actor(actor.clone());
        audit::record(deps, tenant.id, event).await;
    }
    if number_changed && let Some(old) = before.verified_phone() {
        notify_phone_changed(deps, &tenant, &user, old, now).await;
    }
    Ok(user)
}

/// Tells the owner of the old number that it was replaced or removed. Best effort: the change
/// has happened, so a full outbox is logged rather than returned.
async fn notify_phone_changed(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    old: &PhoneNumber,
    now: DateTime<Utc>,
) {
    if super::texts::is_test_number(deps, tenant, old).await {
        return;
    }
    let message = OutgoingSms {
        tenant: tenant.id,
        to: old.clone(),
        text: phone_changed_notice(&tenant.app_name),
        provider_code: false,
        purpose: None,
        idempotency_key: format!("phone-changed:{}:{}", user.id, now.timestamp_micros()),
        expires_at: now + NOTICE_LIFETIME,
    };
    if let Err(e) = deps.outbox.enqueue(message).await {
        tracing::warn!(user = %user.id, error = %e, "phone change notice not queued");
    }
}

/// No code, no link, no number (R35).
fn phone_changed_notice(app_name: &str) -> SmsText {
    SmsText::new(format!(
        "The phone number of your {app_name} account was changed. If you did not expect this, contact support."
    ))
}

/// Makes the user choose a new password at the next login.
pub async fn force_password_change(
    deps: &Deps,
    tenant: TenantId,
    id: UserId,
    revoke_sessions: bool,
    actor: &Actor,
) -> Result<User, CoreError> {
    let mut user = get_user(deps, tenant, id).await?;
    if user.password_hash.is_none() {
        return Err(CoreError::FailedPrecondition("the user has no password"));
    }
    user.must_change_password = true;
    save(deps, &mut user).await?;
    let mut event = Event::new(AuditKind::PasswordChangeForced)
        .user(user.id)
        .actor(actor.clone());
    if revoke_sessions {
        let revoked = revoke_all(deps, &user).await?;
        event = event.detail("revoked_count", revoked.to_string());
    }
    audit::record(deps, tenant, event).await;
    Ok(user)
}

/// What ResetTwoStep does besides turning two-step off.
pub struct TwoStepReset {
    pub clear_phone: bool,
    pub revoke_sessions: bool,
}

/// Turns two-step off, deletes the backup codes and clears the code failure counter, for a
/// user who lost the phone and the backup codes.
pub async fn reset_two_step(
    deps: &Deps,
    tenant: TenantId,
    id: UserId,
    reset: TwoStepReset,
    actor: &Actor,
) -> Result<User, CoreError> {
    let mut user = get_user(deps, tenant, id).await?;
    let old_phone = user.phone.clone();
    user.two_step_enabled = false;
    if reset.clear_phone {
        user.phone = None;
        user.phone_verified_at = None;
    }
    save(deps, &mut user).await?;
    deps.backup_codes.delete_all(tenant, user.id).await?;
    deps.store.clear_failures(&otp_account(user.id)).await?;
    let mut event = Event::new(AuditKind::TwoStepDisabled)
        .user(user.id)
        .actor(actor.clone())
        .detail("reason", "admin_reset");
    if reset.revoke_sessions {
        let revoked = revoke_all(deps, &user).await?;
        event = event.detail("revoked_count", revoked.to_string());
    }
    audit::record(deps, tenant, event).await;
    if let (true, Some(old)) = (reset.clear_phone, &old_phone) {
        let event = Event::new(AuditKind::PhoneChanged)
            .user(user.id)
            .actor(actor.clone())
            .phone(old)
            .detail("change", "cleared");
        audit::record(deps, tenant, event).await;
    }
    tracing::info!(tenant = %tenant, user = %user.id, "two-step reset by an admin");
    Ok(user)
}

/// Locks a user and ends every session at once (R34). `reason` goes to the audit log only.
pub async fn lock_user(
    deps: &Deps,
    tenant: TenantId,
    id: UserId,
    reason: &str,
    actor: &Actor,
) -> Result<User, CoreError> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "reason",
            "must be at most 500 printable characters",
        ));
    }
    let mut user = get_user(deps, tenant, id).await?;
    if user.locked_at.is_none() {
        user.locked_at = Some(deps.clock.now());
    }
    save(deps, &mut user).await?;
    let revoked = revoke_all(deps, &user).await?;
    let mut event = Event::new(AuditKind::UserLocked)
        .user(user.id)
        .actor(actor.clone())
        .detail("revoked_count", revoked.to_string());
    if !reason.is_empty() {
        event = event.detail("reason", reason);
    }
    audit::record(deps, tenant, event).await;
    tracing::info!(tenant = %tenant, user = %user.id, revoked, "user locked by an admin");
    Ok(user)
}

/// Unlocks a user and clears the password and code failure counters.
pub async fn unlock_user(
    deps: &Deps,
    tenant: TenantId,
    id: UserId,
    actor: &Actor,
) -> Result<User, CoreError> {
    let mut user = get_user(deps, tenant, id).await?;
    user.locked_at = None;
    save(deps, &mut user).await?;
    deps.store.clear_failures(&otp_account(user.id)).await?;
    deps.store.clear_failures(&password_account(&user)).await?;
    // The durable counters and locks too, or the account would stay locked (R39 b).
    crate::flows::lockout::unlock(deps, tenant, user.id).await?;
    let event = Event::new(AuditKind::UserUnlocked)
        .user(user.id)
        .actor(actor.clone());
    audit::record(deps, tenant, event).await;
    tracing::info!(tenant = %tenant, user = %user.id, "user unlocked by an admin");
    Ok(user)
}

/// One page of a tenant's audit events, newest first, older than `before` when given.
pub async fn list_audit_events(
    deps: &Deps,
    tenant: TenantId,
    filter: &AuditFilter,
    before: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Vec<AuditEvent>, CoreError> {
    get_tenant(deps, tenant).await?;
    Ok(deps.audit.list(tenant, filter, before, limit).await?)
}

/// Stores `user` with `updated_at` bumped; a user deleted meanwhile is `NotFound`.
async fn save(deps: &Deps, user: &mut User) -> Result<(), CoreError> {
    user.updated_at = deps.clock.now();
    if deps.users.update(user).await? {
        Ok(())
    } else {
        Err(CoreError::NotFound("user"))
    }
}

async fn revoke_all(deps: &Deps, user: &User) -> Result<u64, CoreError> {
    Ok(deps
        .sessions
        .revoke_all_for_user(user.tenant, user.id, deps.clock.now())
        .await?)
}

/// A number typed by an admin: parsed with the tenant's default country, and in a country the
/// tenant may send SMS to.
fn parse_phone(tenant: &Tenant, input: &str) -> Result<PhoneNumber, CoreError> {
    let phone = PhoneNumber::parse(input, tenant.policy.default_region())
        .map_err(|e| CoreError::invalid("phone_number", e))?;
    if !tenant.policy.allows_region(phone.region()) {
        return Err(CoreError::invalid(
            "phone_number",
            "country is not allowed for this tenant",
        ));
    }
    Ok(phone)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::tenant::TwoStepMode;

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_the_named_fields_change() {
        let current = Policy::default();
        let mut from = Policy::default();
        from.code.length = 8;
        from.code.max_attempts = 3;
        from.two_step_customers = TwoStepMode::Required;
        from.session.idle_timeout = Duration::from_secs(600);
        let out = apply_policy_paths(
            &current,
            &from,
            &paths(&["code.length", "session.idle_timeout"]),
        )
        .unwrap();
        assert_eq!(out.code.length, 8);
        assert_eq!(out.session.idle_timeout, Duration::from_secs(600));
        assert_eq!(out.code.max_attempts, current.code.max_attempts);
        assert_eq!(out.two_step_customers, current.two_step_customers);
    }

    #[test]
    fn a_parent_path_copies_the_whole_sub_policy() {
        let mut from = Policy::default();
        from.code.length = 4;
        from.code.max_sends = 2;
        let out = apply_policy_paths(&Policy::default(), &from, &paths(&["code"])).unwrap();
        assert_eq!(out.code, from.code);
    }

    #[test]
    fn unknown_paths_and_a_mixed_star_name_update_mask() {
        for bad in [
            &["code.colour"][..],
            &["code.length", "*"][..],
            &["policy.code"][..],
        ] {
            match apply_policy_paths(&Policy::default(), &Policy::default(), &paths(bad)) {
                Err(CoreError::InvalidArgument { field, .. }) => assert_eq!(field, "update_mask"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_phone_change_notice_fits_one_segment_and_has_no_digits() {
        let text = phone_changed_notice("Acme Shop");
        assert!(text.expose().len() <= 160);
        assert!(!text.expose().chars().any(|c| c.is_ascii_digit()));
    }
}

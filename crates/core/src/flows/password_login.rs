//! Login with a password, then the second factor when the user or the tenant's policy asks
//! for it. The password step is an oracle (R13), so an unknown login costs the same as a known
//! one (a dummy argon2 verify) and every failure is the same `Unauthenticated`.

use crate::audit::AuditKind;
use crate::challenge::Purpose;
use crate::email::Email;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::codes::{ChallengeView, NewCode};
use crate::flows::sessions::{self, IssuedSession};
use crate::flows::tickets::{self, Grant};
use crate::flows::{ClientInfo, Deps, limits, lockout, sim_swap, tenants};
use crate::ids::TenantId;
use crate::password::Password;
use crate::phone::PhoneNumber;
use crate::ports::Factor;
use crate::session::AuthMethod;
use crate::tenant::{Tenant, TwoStepMode};
use crate::token::SecretToken;
use crate::user::User;

/// The next step after a right password.
#[derive(Debug)]
pub enum LoginStep {
    /// A code went to the user's verified phone; `VerifyCode` finishes the login.
    Challenge(ChallengeView),
    Session(Box<IssuedSession>),
    /// Two-step is required but the user has no verified phone: the ticket only allows
    /// `StartPhoneVerification`.
    EnrollmentRequired(SecretToken, std::time::Duration),
    /// An admin forced a password change: the ticket only allows `ChangePassword`.
    PasswordChangeRequired(SecretToken, std::time::Duration),
}

#[derive(Debug)]
pub struct LoginOutcome {
    pub step: LoginStep,
    /// The tenant wants callers to remind this user to enable two-step.
    pub remind_two_step: bool,
}

pub async fn start(
    deps: &Deps,
    tenant: TenantId,
    login: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<LoginOutcome, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let password =
        Password::for_login(password).map_err(|e| CoreError::invalid("password.password", e))?;
    // Per-IP throttle of the password step, charged before the lookup (R13).
    limits::charge_password_attempt(deps, &tenant, client).await?;
    let user = find_by_login(deps, &tenant, login).await?;

    // Always one argon2 verify, against the dummy hash when there is no user or no password.
    let check = deps
        .passwords
        .verify(
            &password,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        )
        .await?;
    // Admitted before the result is used; a locked account answers exactly like a wrong
    // password, after the same argon2 work (R11, R13). A right password is admitted and ends
    // the run in one statement; anything else is counted as a failure.
    let admitted = match &user {
        Some(u) if check.matches && !u.is_locked() => {
            lockout::admit_success(deps, &tenant, u.id, Factor::Password).await?
        }
        Some(u) => {
            if let Some(ticket) =
                lockout::admit(deps, &tenant, u.id, Factor::Password, false).await?
            {
                lockout::failed(deps, &tenant, ticket).await;
            }
            false
        }
        None => {
            lockout::admit_phantom(deps, &tenant, Factor::Password).await?;
            false
        }
    };
    let user = match user {
        Some(u) if admitted => u,
        other => {
            if let Some(u) = &other {
                audit::record(
                    deps,
                    tenant.id,
                    Event::new(AuditKind::LoginFailed).user(u.id).client(client),
                )
                .await;
            }
            return Err(CoreError::Unauthenticated);
        }
    };
    let user = if check.needs_rehash {
        rehash(deps, user, &password).await?
    } else {
        user
    };
    let remind_two_step = tenant.policy.remind_to_enable_two_step
        && !user.two_step_enabled
        && tenant.policy.two_step_mode(user.role) != TwoStepMode::Disabled;
    let step = next_step(deps, &tenant, &user, client).await?;
    Ok(LoginOutcome {
        step,
        remind_two_step,
    })
}

/// After the password: second factor, then forced password change, then enrollment, then a
/// session. Each answer names only the next step.
async fn next_step(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    client: &ClientInfo,
) -> Result<LoginStep, CoreError> {
    let mode = tenant.policy.two_step_mode(user.role);
    let wants_second_factor =
        mode == TwoStepMode::Required || (mode == TwoStepMode::Optional && user.two_step_enabled);
    if wants_second_factor && let Some(phone) = user.verified_phone() {
        {
            let new = NewCode {
                purpose: Purpose::SecondFactor,
                user: Some(user.id),
                phone,
                decoy: false,
                decoy_stand_in: true,
                context: client.device_id.clone(),
                locale: &client.locale,
            };
            // A recent SIM swap withholds the SMS: backup code only (R30).
            let view = sim_swap::second_factor(deps, tenant, new).await?;
            deps.abandoned.watch(view.id, tenant.id, user.id, phone);
            audit::record(
                deps,
                tenant.id,
                Event::new(AuditKind::CodeSent)
                    .user(user.id)
                    .phone(phone)
                    .client(client),
            )
            .await;
            return Ok(LoginStep::Challenge(view));
        }
    }
    let must_enroll = mode == TwoStepMode::Required && user.verified_phone().is_none();
    if user.must_change_password {
        let grant = Grant::PasswordChange {
            user: user.id,
            method: AuthMethod::Password,
            then_enroll: must_enroll,
        };
        let (token, ttl) = tickets::issue(deps, tenant.id, &grant).await?;
        return Ok(LoginStep::PasswordChangeRequired(token, ttl));
    }
    if must_enroll {
        let grant = Grant::Enrollment {
            user: user.id,
            method: AuthMethod::Password,
        };
        let (token, ttl) = tickets::issue(deps, tenant.id, &grant).await?;
        return Ok(LoginStep::EnrollmentRequired(token, ttl));
    }
    let issued = sessions::start(deps, tenant, user, AuthMethod::Password, client).await?;
    audit::record(
        deps,
        tenant.id,
        Event::new(AuditKind::LoginSucceeded)
            .user(user.id)
            .client(client)
            .detail("method", AuthMethod::Password.as_str()),
    )
    .await;
    Ok(LoginStep::Session(Box::new(issued)))
}

/// The user a login names: an email address, or a phone number (only a verified one logs in).
/// Input that is neither is `InvalidArgument`; that reveals nothing about accounts.
async fn find_by_login(
    deps: &Deps,
    tenant: &Tenant,
    login: &str,
) -> Result<Option<User>, CoreError> {
    let login = login.trim();
    if login.contains('@') {
        let email = Email::parse(login).map_err(|e| CoreError::invalid("password.login", e))?;
        return Ok(deps.users.find_by_email(tenant.id, &email).await?);
    }
    let phone = PhoneNumber::parse(login, tenant.policy.default_region()).map_err(|_| {
        CoreError::invalid(
            "password.login",
            "must be an email address or a phone number",
        )
    })?;
    Ok(deps.users.find_by_verified_phone(tenant.id, &phone).await?)
}

/// The stored hash used weaker parameters than configured: replace it now that we know the
/// password (R21). A failure to store is logged; the login itself succeeded.
async fn rehash(deps: &Deps, mut user: User, password: &Password) -> Result<User, CoreError> {
    let hash = deps.passwords.hash(password).await?;
    user.password_hash = Some(hash);
    user.updated_at = deps.clock.now();
    if let Err(e) = deps.users.update(&user).await {
        tracing::warn!(user = %user.id, error = %e, "password rehash not stored");
    }
    Ok(user)
}

/// The account-wide failure counter's key for passwords.
pub fn password_account(user: &User) -> String {
    format!("pw:{}", user.id)
}

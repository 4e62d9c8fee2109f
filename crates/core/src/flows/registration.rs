//! Registration: with an email and a password, or with a phone number (code, then a ticket,
//! then name and email). A number that is already registered gets the same answer as a new
//! one, no account is created, and its owner gets a notice under the same limits (R20).

use serde::{Deserialize, Serialize};

use crate::audit::AuditKind;
use crate::challenge::{Challenge, Purpose};
use crate::email::Email;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::codes::{self, ChallengeView, NewCode};
use crate::flows::input::{display_name, parse_phone};
use crate::flows::sessions::{self, IssuedSession};
use crate::flows::tickets::{self, Grant};
use crate::flows::{ClientInfo, Deps, login, tenants, texts};
use crate::ids::{TenantId, UserId};
use crate::password_policy::{self, Context};
use crate::phone::PhoneNumber;
use crate::session::AuthMethod;
use crate::tenant::{Tenant, TwoStepMode};
use crate::token::SecretToken;
use crate::user::{NewUser, Role, User};

pub struct EmailRegistration {
    pub email: String,
    pub password: String,
    pub display_name: String,
    /// Required when the tenant requires two-step for customers.
    pub phone: Option<String>,
}

#[derive(Debug)]
pub enum RegistrationStart {
    /// A code went to the number; `VerifyCode` continues.
    Challenge(ChallengeView),
    Session(Box<IssuedSession>),
}

/// An email registration waiting for its phone code, kept in the challenge's context (only a
/// password hash, never the password).
#[derive(Serialize, Deserialize)]
struct Pending {
    email: String,
    display_name: String,
    password_hash: String,
}

pub async fn start_with_email(
    deps: &Deps,
    tenant: TenantId,
    input: EmailRegistration,
    client: &ClientInfo,
) -> Result<RegistrationStart, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let email = Email::parse(&input.email)
        .map_err(|e| CoreError::invalid_with_code("email.email", "INVALID_EMAIL", e))?;
    let display_name = display_name("email.display_name", &input.display_name)?;
    let phone = match input
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(parse_phone(&tenant, "email.phone_number", p)?),
        None if tenant.policy.two_step_customers == TwoStepMode::Required => {
            return Err(CoreError::invalid_with_code(
                "email.phone_number",
                "REQUIRED",
                "is required: this tenant requires two-step",
            ));
        }
        None => None,
    };
    let ctx = Context {
        email: Some(&email),
        phone: phone.as_ref(),
        app_name: Some(&tenant.app_name),
    };
    let password =
        password_policy::check_new(&input.password, tenant.policy.password_min_length, ctx)
            .map_err(|r| CoreError::password("email.password", r))?;
    // Without email verification there is no way to hide that an address is taken.
    if deps.users.find_by_email(tenant.id, &email).await?.is_some() {
        return Err(CoreError::invalid_with_code(
            "email.email",
            "EMAIL_TAKEN",
            "is already registered",
        ));
    }
    let password_hash = deps.passwords.hash(&password).await?;
    match phone {
        Some(phone) => {
            let pending = Pending {
                email: email.as_str().to_owned(),
                display_name,
                password_hash,
            };
            let context =
                serde_json::to_string(&pending).map_err(|e| CoreError::Internal(e.into()))?;
            let view = send_registration_code(deps, &tenant, &phone, context, client).await?;
            Ok(RegistrationStart::Challenge(view))
        }
        None => {
            let user = create(
                deps,
                &tenant,
                Some(email),
                display_name,
                Some(password_hash),
                None,
            )
            .await?;
            Ok(RegistrationStart::Session(Box::new(
                welcome(deps, &tenant, &user, client).await?,
            )))
        }
    }
}

pub async fn start_with_phone(
    deps: &Deps,
    tenant: TenantId,
    phone: &str,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    if !tenant.policy.phone_registration_allowed {
        return Err(CoreError::FailedPrecondition(
            "registration by phone is disabled for this tenant",
        ));
    }
    let phone = parse_phone(&tenant, "phone.phone_number", phone)?;
    send_registration_code(deps, &tenant, &phone, String::new(), client).await
}

/// Sends a registration code, or, when the number already belongs to a user, a notice to its
/// owner and a decoy challenge: the caller sees the same answer either way.
async fn send_registration_code(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
    context: String,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    login::charge_send_limits(deps, tenant, phone, client).await?;
    let owner = deps.users.find_by_verified_phone(tenant.id, phone).await?;
    let new = NewCode {
        purpose: Purpose::Registration,
        user: None,
        phone,
        decoy: owner.is_some(),
        // The notice to the owner takes the code's place in the outbox.
        decoy_stand_in: false,
        context,
        locale: &client.locale,
    };
    let view = codes::issue(deps, tenant, new).await?;
    // One audit row either way, so both answers cost the same (R19).
    let Some(owner) = owner else {
        let event = Event::new(AuditKind::CodeSent)
            .phone(phone)
            .client(client)
            .detail("purpose", Purpose::Registration.as_str());
        audit::record(deps, tenant.id, event).await;
        return Ok(view);
    };
    texts::send_notice(
        deps,
        tenant,
        phone,
        &client.locale,
        texts::Notice::RegistrationAttempt,
        format!("{}:notice", view.id),
        deps.clock.now() + chrono::Duration::hours(1),
    )
    .await?;
    let event = Event::new(AuditKind::RegistrationOfExistingNumber)
        .user(owner.id)
        .phone(phone)
        .client(client);
    audit::record(deps, tenant.id, event).await;
    Ok(view)
}

/// What a verified registration code yields.
#[derive(Debug)]
pub enum RegistrationVerified {
    /// Phone registration: the ticket allows `CompleteRegistration`.
    Ticket(SecretToken, std::time::Duration),
    /// Email registration whose phone is now verified: the account exists.
    Session(Box<IssuedSession>),
}

/// Called by `VerifyCode` for a consumed `Registration` challenge.
pub async fn code_verified(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
    client: &ClientInfo,
) -> Result<RegistrationVerified, CoreError> {
    let Some(phone) = challenge.phone.clone() else {
        return Err(CoreError::Unauthenticated);
    };
    if challenge.context.is_empty() {
        let (token, ttl) = tickets::issue(deps, tenant.id, &Grant::Registration { phone }).await?;
        return Ok(RegistrationVerified::Ticket(token, ttl));
    }
    let pending: Pending =
        serde_json::from_str(&challenge.context).map_err(|e| CoreError::Internal(e.into()))?;
    let email =
        Email::parse(&pending.email).map_err(|e| CoreError::Internal(e.to_string().into()))?;
    let user = create(
        deps,
        tenant,
        Some(email),
        pending.display_name,
        Some(pending.password_hash),
        Some(phone),
    )
    .await?;
    Ok(RegistrationVerified::Session(Box::new(
        welcome(deps, tenant, &user, client).await?,
    )))
}

pub struct Completion {
    pub ticket: String,
    pub display_name: String,
    pub email: String,
    pub password: Option<String>,
}

/// `CompleteRegistration`: every field is checked before the ticket is spent, so a typo does
/// not cost the user a new code. The ticket is peeked first (it names the verified number,
/// which the password must not contain), and spent only once everything is valid; the spend
/// is the one atomic use, so two concurrent completions create at most one account.
pub async fn complete(
    deps: &Deps,
    tenant: TenantId,
    input: Completion,
    client: &ClientInfo,
) -> Result<IssuedSession, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let display_name = display_name("display_name", &input.display_name)?;
    let email = Email::parse(&input.email)
        .map_err(|e| CoreError::invalid_with_code("email", "INVALID_EMAIL", e))?;
    let Grant::Registration { phone } = tickets::peek(deps, tenant.id, &input.ticket).await? else {
        return Err(CoreError::Unauthenticated);
    };
    let password = match input.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => {
            let ctx = Context {
                email: Some(&email),
                phone: Some(&phone),
                app_name: Some(tenant.app_name.as_str()),
            };
            Some(
                password_policy::check_new(p, tenant.policy.password_min_length, ctx)
                    .map_err(|r| CoreError::password("password", r))?,
            )
        }
        None => None,
    };
    if deps.users.find_by_email(tenant.id, &email).await?.is_some() {
        return Err(CoreError::invalid_with_code(
            "email",
            "EMAIL_TAKEN",
            "is already registered",
        ));
    }
    let password_hash = match password {
        Some(checked) => Some(deps.passwords.hash(&checked).await?),
        None => None,
    };
    // Spend it now. Tickets never change, so what was peeked is what is taken; a ticket
    // spent in between (a concurrent completion) is simply gone.
    match tickets::redeem(deps, tenant.id, &input.ticket).await? {
        Grant::Registration { phone: taken } if taken == phone => {}
        _ => return Err(CoreError::Unauthenticated),
    }
    let user = create(
        deps,
        &tenant,
        Some(email),
        display_name,
        password_hash,
        Some(phone),
    )
    .await?;
    welcome(deps, &tenant, &user, client).await
}

async fn create(
    deps: &Deps,
    tenant: &Tenant,
    email: Option<Email>,
    display_name: String,
    password_hash: Option<String>,
    verified_phone: Option<PhoneNumber>,
) -> Result<User, CoreError> {
    let now = deps.clock.now();
    let new = NewUser {
        id: UserId::random(),
        tenant: tenant.id,
        email,
        display_name,
        password_hash,
        phone_verified_at: verified_phone.as_ref().map(|_| now),
        two_step_enabled: verified_phone.is_some()
            && tenant.policy.two_step_customers == TwoStepMode::Required,
        phone: verified_phone,
        role: Role::Customer,
        must_change_password: false,
        created_at: now,
    };
    match deps.users.create(&new).await {
        Ok(user) => Ok(user),
        Err(crate::ports::RepoError::Conflict { field: "email" }) => Err(
            CoreError::invalid_with_code("email", "EMAIL_TAKEN", "is already registered"),
        ),
        Err(e) => Err(e.into()),
    }
}

async fn welcome(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    client: &ClientInfo,
) -> Result<IssuedSession, CoreError> {
    let mut event = Event::new(AuditKind::UserCreated)
        .user(user.id)
        .client(client)
        .detail("via", "registration");
    if let Some(phone) = &user.phone {
        event = event.phone(phone);
    }
    audit::record(deps, tenant.id, event).await;
    sessions::start(deps, tenant, user, AuthMethod::Registration, client).await
}

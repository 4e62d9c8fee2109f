//! The end user's own account (AccountService), and the end of a phone verification.
//!
//! Every call is authenticated by an access token of the caller's tenant (or, for the two
//! login continuations, by a restricted ticket). Binding a new phone, disabling two-step and
//! new backup codes also need re-authentication (`flows::reauth`); every state change writes
//! an audit event, and security changes send a notice (no secrets) to the verified phone (R35).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::AuditKind;
use crate::challenge::{Challenge, Purpose};
use crate::email::Email;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::codes::{self, ChallengeView, NewCode};
use crate::flows::input::{check_phone, display_name, parse_phone};
use crate::flows::reauth::{self, Action, Reauth, Reauthed};
use crate::flows::sessions::{self, IssuedSession};
use crate::flows::tickets::{self, Grant};
use crate::flows::{ClientInfo, Deps, backup_codes, login, password_login, tenants};
use crate::ids::{TenantId, UserId};
use crate::password::Password;
use crate::password_policy::{self, Context};
use crate::phone::PhoneNumber;
use crate::ports::{OutgoingSms, RepoError, SmsText};
use crate::session::{AuthMethod, Session};
use crate::tenant::{Tenant, TwoStepMode};
use crate::token::SecretToken;
use crate::user::User;

/// A notice is worth sending for a day; after that the provider may drop it.
const NOTICE_TTL: Duration = Duration::from_secs(24 * 3600);

/// What verifying a phone-verification code did.
#[derive(Debug)]
pub struct PhoneVerifiedOutcome {
    pub masked_phone: String,
    pub two_step_enabled: bool,
    /// A fresh batch, in clear, on the first enrollment only; shown once (R31).
    pub backup_codes: Vec<String>,
    /// Set when the verification was started with an enrollment ticket: the login it
    /// interrupted is complete.
    pub session: Option<IssuedSession>,
}

/// How a call proves who the user is.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    AccessToken(&'a str),
    /// A restricted ticket from a login (enrollment or password change).
    Ticket(&'a str),
}

/// The user behind a valid access token of the caller's tenant.
#[derive(Debug)]
pub struct Caller {
    pub tenant: Arc<Tenant>,
    pub session: Session,
    pub user: User,
}

/// The live session of `access_token` and its unlocked user; anything else, including a token
/// of another tenant, is `Unauthenticated`.
pub async fn authenticate(
    deps: &Deps,
    tenant: TenantId,
    access_token: &str,
) -> Result<Caller, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let session = sessions::validate(deps, access_token).await?;
    if session.tenant != tenant.id {
        return Err(CoreError::Unauthenticated);
    }
    let user = live_user(deps, &tenant, session.user).await?;
    Ok(Caller {
        tenant,
        session,
        user,
    })
}

async fn live_user(deps: &Deps, tenant: &Tenant, id: UserId) -> Result<User, CoreError> {
    match deps.users.get(tenant.id, id).await? {
        Some(user) if !user.is_locked() => Ok(user),
        _ => Err(CoreError::Unauthenticated),
    }
}

// ---------------------------------------------------------------------------------------
// GetProfile

#[derive(Debug)]
pub struct Profile {
    pub user: User,
    pub remaining_backup_codes: usize,
    pub remind_two_step: bool,
    pub may_disable_two_step: bool,
}

pub async fn get_profile(
    deps: &Deps,
    tenant: TenantId,
    access_token: &str,
) -> Result<Profile, CoreError> {
    let Caller { tenant, user, .. } = authenticate(deps, tenant, access_token).await?;
    let remaining_backup_codes = deps.backup_codes.unused(tenant.id, user.id).await?.len();
    let policy = &tenant.policy;
    let mode = policy.two_step_mode(user.role);
    Ok(Profile {
        remind_two_step: policy.remind_to_enable_two_step
            && !user.two_step_enabled
            && mode != TwoStepMode::Disabled,
        may_disable_two_step: may_disable(&tenant, &user),
        remaining_backup_codes,
        user,
    })
}

/// Whether the tenant lets this user turn two-step off (whatever its current state).
fn may_disable(tenant: &Tenant, user: &User) -> bool {
    tenant.policy.users_may_disable_two_step
        && tenant.policy.two_step_mode(user.role) != TwoStepMode::Required
}

// ---------------------------------------------------------------------------------------
// StartPhoneVerification, UpdateProfile

/// What a request to set or change the phone started.
#[derive(Debug)]
pub enum PhoneStart {
    /// A PHONE_VERIFICATION code went to the new number; `VerifyCode` finishes.
    Verification(ChallengeView),
    /// `reauth.send_step_up_code`: a STEP_UP code went to the current verified number and
    /// nothing else happened.
    StepUp(ChallengeView),
}

/// Kept in a PHONE_VERIFICATION challenge's context: how the verification was started.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct VerificationContext {
    /// Set when started with an enrollment ticket: what the interrupted login proved so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enroll_method: Option<String>,
    /// The user re-authenticated to replace a verified number (R28).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reauthenticated: bool,
}

impl VerificationContext {
    fn parse(context: &str) -> Result<Self, CoreError> {
        if context.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(context).map_err(|e| CoreError::Internal(e.into()))
    }
}

/// Sends a PHONE_VERIFICATION code to `phone_input` (empty: the number on the profile), for the
/// user of an access token or of an enrollment ticket. Replacing a verified number needs
/// `reauth` (R28). A number another user of the tenant has verified gets the same answer and
/// no SMS (a decoy challenge that no code matches), so this never reveals whose number it is.
pub async fn start_phone_verification(
    deps: &Deps,
    tenant: TenantId,
    credential: Credential<'_>,
    phone_input: &str,
    reauth: &Reauth,
    client: &ClientInfo,
) -> Result<PhoneStart, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    // Parse before a ticket is redeemed, so a typo does not burn it.
    let requested = match phone_input.trim() {
        "" => None,
        input => Some(parse_phone(&tenant, "phone_number", input)?),
    };
    let (user, enroll_method) = match credential {
        Credential::AccessToken(token) => (authenticate(deps, tenant.id, token).await?.user, None),
        Credential::Ticket(ticket) => match tickets::redeem(deps, tenant.id, ticket).await? {
            Grant::Enrollment { user, method } => {
                (live_user(deps, &tenant, user).await?, Some(method))
            }
            _ => return Err(CoreError::Unauthenticated),
        },
    };
    let phone = match requested {
        Some(phone) => phone,
        None => {
            let Some(phone) = user.phone.clone() else {
                return Err(CoreError::invalid_with_code(
                    "phone_number",
                    "REQUIRED",
                    "is required: there is no number on the profile",
                ));
            };
            check_phone(&tenant, "phone_number", phone)?
        }
    };
    let reauthenticated =
        match authorize_phone(deps, &tenant, &user, &phone, reauth, client).await? {
            Authorized::StepUpSent(view) => return Ok(PhoneStart::StepUp(view)),
            Authorized::Yes { reauthenticated } => reauthenticated,
        };
    let context = VerificationContext {
        enroll_method: enroll_method.map(|m| m.as_str().to_owned()),
        reauthenticated,
    };
    issue_verification(deps, &tenant, &user, &phone, &context, client)
        .await
        .map(PhoneStart::Verification)
}

enum Authorized {
    StepUpSent(ChallengeView),
    Yes { reauthenticated: bool },
}

/// Re-authentication when `phone` would replace a verified number (or when a step-up code is
/// asked for), then the per-number send budget.
async fn authorize_phone(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    phone: &PhoneNumber,
    reauth: &Reauth,
    client: &ClientInfo,
) -> Result<Authorized, CoreError> {
    let replaces_verified = user.verified_phone().is_some_and(|v| v != phone);
    let mut reauthenticated = false;
    if replaces_verified || matches!(reauth, Reauth::SendStepUpCode) {
        match reauth::check(deps, tenant, user, reauth, Action::ChangePhone, client).await? {
            Reauthed::StepUpSent(view) => return Ok(Authorized::StepUpSent(view)),
            Reauthed::Proven(_) => reauthenticated = true,
        }
    }
    login::charge_send_limits(deps, tenant, phone, client).await?;
    Ok(Authorized::Yes { reauthenticated })
}

async fn issue_verification(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    phone: &PhoneNumber,
    context: &VerificationContext,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    let taken = deps
        .users
        .find_by_verified_phone(tenant.id, phone)
        .await?
        .is_some_and(|other| other.id != user.id);
    let context = serde_json::to_string(context).map_err(|e| CoreError::Internal(e.into()))?;
    let new = NewCode {
        purpose: Purpose::PhoneVerification,
        user: Some(user.id),
        phone,
        decoy: taken,
        decoy_stand_in: true,
        context,
        locale: &client.locale,
    };
    let view = codes::issue(deps, tenant, new).await?;
    if taken {
        tracing::info!(user = %user.id, phone = ?phone, "phone verification for a number verified by another user: decoy");
    } else {
        let event = Event::new(AuditKind::CodeSent)
            .user(user.id)
            .phone(phone)
            .client(client)
            .detail("purpose", Purpose::PhoneVerification.as_str());
        audit::record(deps, tenant.id, event).await;
    }
    Ok(view)
}

/// Unset fields are left as they are.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

#[derive(Debug)]
pub struct ProfileUpdated {
    /// The profile after the change, still with the old phone until the new one is verified.
    pub user: User,
    pub challenge: Option<PhoneStart>,
}

/// Changes the display name and the email at once; a new phone number only starts its
/// verification (same rules as `start_phone_verification`). Everything is checked before
/// anything changes; with `reauth.send_step_up_code` nothing changes at all.
pub async fn update_profile(
    deps: &Deps,
    tenant: TenantId,
    access_token: &str,
    changes: ProfileChanges,
    reauth: &Reauth,
    client: &ClientInfo,
) -> Result<ProfileUpdated, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let display_name = changes
        .display_name
        .as_deref()
        .map(|n| display_name("display_name", n))
        .transpose()?;
    let email = changes
        .email
        .as_deref()
        .map(|e| {
            Email::parse(e)
                .map_err(|err| CoreError::invalid_with_code("email", "INVALID_EMAIL", err))
        })
        .transpose()?;
    let phone = changes
        .phone_number
        .as_deref()
        .map(|p| parse_phone(&tenant, "phone_number", p))
        .transpose()?;
    let Caller { mut user, .. } = authenticate(deps, tenant.id, access_token).await?;

    let email_changes = email
        .as_ref()
        .is_some_and(|e| user.email.as_ref() != Some(e));
    if let Some(email) = email.as_ref().filter(|_| email_changes)
        && deps
            .users
            .find_by_email(tenant.id, email)
            .await?
            .is_some_and(|other| other.id != user.id)
    {
        return Err(email_taken());
    }
    let reauthenticated = match &phone {
        Some(phone) => match authorize_phone(deps, &tenant, &user, phone, reauth, client).await? {
            Authorized::StepUpSent(view) => {
                return Ok(ProfileUpdated {
                    user,
                    challenge: Some(PhoneStart::StepUp(view)),
                });
            }
            Authorized::Yes { reauthenticated } => reauthenticated,
        },
        None => false,
    };

    let mut fields = Vec::new();
    if let Some(name) = display_name.filter(|n| *n != user.display_name) {
        user.display_name = name;
        fields.push("display_name");
    }
    if email_changes {
        user.email = email;
        fields.push("email");
    }
    if !fields.is_empty() {
        user.updated_at = deps.clock.now();
        match deps.users.update(&user).await {
            Ok(true) => {}
            Ok(false) => return Err(CoreError::Unauthenticated),
            Err(RepoError::Conflict { field: "email" }) => return Err(email_taken()),
            Err(e) => return Err(e.into()),
        }
        let event = Event::new(AuditKind::ProfileUpdated)
            .user(user.id)
            .client(client)
            .detail("fields", fields.join(","));
        audit::record(deps, tenant.id, event).await;
    }
    let challenge = match &phone {
        Some(phone) => {
            let context = VerificationContext {
                enroll_method: None,
                reauthenticated,
            };
            let view = issue_verification(deps, &tenant, &user, phone, &context, client).await?;
            Some(PhoneStart::Verification(view))
        }
        None => None,
    };
    Ok(ProfileUpdated { user, challenge })
}

fn email_taken() -> CoreError {
    CoreError::invalid_with_code("email", "EMAIL_TAKEN", "is already used by another account")
}

// ---------------------------------------------------------------------------------------
// VerifyCode on a PHONE_VERIFICATION challenge

/// Called by `VerifyCode` once a `PhoneVerification` challenge's code matched. The number the
/// code went to becomes the user's verified number (R29) and two-step is enabled (unless the
/// tenant disables it for the role). A user without unused backup codes gets a fresh batch
/// (R31). Started with an enrollment ticket, the interrupted login completes with a session.
pub async fn finish_phone_verification(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
    client: &ClientInfo,
) -> Result<PhoneVerifiedOutcome, CoreError> {
    let Some(user_id) = challenge.user else {
        return Err(CoreError::Unauthenticated);
    };
    let Some(phone) = challenge.phone.clone() else {
        return Err(CoreError::Internal(
            "phone verification without a number".into(),
        ));
    };
    let context = VerificationContext::parse(&challenge.context)?;
    let mut user = live_user(deps, tenant, user_id).await?;
    let previous = user.phone.clone();
    let previous_verified = user.verified_phone().cloned();
    // A verified number was bound after this challenge started without re-authentication:
    // replacing it now would skip R28.
    if previous_verified.as_ref().is_some_and(|v| *v != phone) && !context.reauthenticated {
        return Err(CoreError::FailedPrecondition(
            "the verified number changed since this code was sent; start again",
        ));
    }
    if deps
        .users
        .find_by_verified_phone(tenant.id, &phone)
        .await?
        .is_some_and(|other| other.id != user.id)
    {
        return Err(number_unavailable());
    }

    let now = deps.clock.now();
    let was_two_step = user.two_step_enabled;
    let mode = tenant.policy.two_step_mode(user.role);
    user.phone = Some(phone.clone());
    user.phone_verified_at = Some(now);
    user.two_step_enabled = was_two_step || mode != TwoStepMode::Disabled;
    user.updated_at = now;
    match deps.users.update(&user).await {
        Ok(true) => {}
        Ok(false) => return Err(CoreError::Unauthenticated),
        // Another user verified the same number in the meantime.
        Err(RepoError::Conflict { field: "phone" }) => return Err(number_unavailable()),
        Err(e) => return Err(e.into()),
    }

    let event = Event::new(AuditKind::PhoneVerified)
        .user(user.id)
        .phone(&phone)
        .client(client);
    audit::record(deps, tenant.id, event).await;
    if let Some(old) = previous.as_ref().filter(|old| **old != phone) {
        let event = Event::new(AuditKind::PhoneChanged)
            .user(user.id)
            .phone(&phone)
            .client(client)
            .detail("previous", old.masked());
        audit::record(deps, tenant.id, event).await;
    }
    if let Some(old) = previous_verified.as_ref().filter(|old| **old != phone) {
        // The old number learns that it no longer guards the account (R28, R35).
        let text = notice(
            &tenant.app_name,
            "the phone number of your account was changed",
        );
        notify(
            deps,
            tenant,
            old,
            text,
            format!("phone-changed:{}", challenge.id),
        )
        .await;
    }
    if user.two_step_enabled && !was_two_step {
        let event = Event::new(AuditKind::TwoStepEnabled)
            .user(user.id)
            .client(client);
        audit::record(deps, tenant.id, event).await;
    }

    let backup_codes = if user.two_step_enabled
        && deps
            .backup_codes
            .unused(tenant.id, user.id)
            .await?
            .is_empty()
    {
        let codes = backup_codes::regenerate(deps, tenant.id, user.id).await?;
        let event = Event::new(AuditKind::BackupCodesRegenerated)
            .user(user.id)
            .client(client)
            .detail("reason", "enrollment");
        audit::record(deps, tenant.id, event).await;
        codes
    } else {
        Vec::new()
    };

    let session = match context.enroll_method.as_deref() {
        None => None,
        Some(method) => {
            let method = AuthMethod::parse(method).ok_or(CoreError::Internal(
                "unknown method in a verification context".into(),
            ))?;
            let method = with_sms(method);
            let issued = sessions::start(deps, tenant, &user, method, client).await?;
            let event = Event::new(AuditKind::LoginSucceeded)
                .user(user.id)
                .client(client)
                .detail("method", method.as_str());
            audit::record(deps, tenant.id, event).await;
            Some(issued)
        }
    };
    Ok(PhoneVerifiedOutcome {
        masked_phone: phone.masked(),
        two_step_enabled: user.two_step_enabled,
        backup_codes,
        session,
    })
}

/// The number was verified by someone else between the code and now. Only someone who
/// received the code to that number ever sees this.
fn number_unavailable() -> CoreError {
    CoreError::FailedPrecondition("this number cannot be used for this account")
}

/// What a login that proved `method` and then an SMS code to the new number proved.
fn with_sms(method: AuthMethod) -> AuthMethod {
    match method {
        AuthMethod::Password => AuthMethod::PasswordAndSms,
        other => other,
    }
}

// ---------------------------------------------------------------------------------------
// DisableTwoStep, RegenerateBackupCodes

#[derive(Debug)]
pub enum TwoStepDisabled {
    StepUp(ChallengeView),
    /// The profile after the change.
    Done(User),
}

/// Turns two-step off where the tenant allows it, after re-authentication. The phone stays;
/// the backup codes are deleted.
pub async fn disable_two_step(
    deps: &Deps,
    tenant: TenantId,
    access_token: &str,
    reauth: &Reauth,
    client: &ClientInfo,
) -> Result<TwoStepDisabled, CoreError> {
    let Caller {
        tenant, mut user, ..
    } = authenticate(deps, tenant, access_token).await?;
    if !may_disable(&tenant, &user) {
        return Err(CoreError::FailedPrecondition(
            "the tenant does not let this user disable two-step",
        ));
    }
    let proof =
        match reauth::check(deps, &tenant, &user, reauth, Action::DisableTwoStep, client).await? {
            Reauthed::StepUpSent(view) => return Ok(TwoStepDisabled::StepUp(view)),
            Reauthed::Proven(proof) => proof,
        };
    if !user.two_step_enabled {
        return Ok(TwoStepDisabled::Done(user));
    }
    user.two_step_enabled = false;
    user.updated_at = deps.clock.now();
    if !deps.users.update(&user).await? {
        return Err(CoreError::Unauthenticated);
    }
    deps.backup_codes.delete_all(tenant.id, user.id).await?;
    let event = Event::new(AuditKind::TwoStepDisabled)
        .user(user.id)
        .client(client)
        .detail("reauth", proof.as_str());
    audit::record(deps, tenant.id, event).await;
    if let Some(phone) = user.verified_phone() {
        let text = notice(
            &tenant.app_name,
            "two-step verification was turned off for your account",
        );
        let key = format!(
            "two-step-off:{}:{}",
            user.id,
            user.updated_at.timestamp_micros()
        );
        notify(deps, &tenant, phone, text, key).await;
    }
    Ok(TwoStepDisabled::Done(user))
}

#[derive(Debug)]
pub enum BackupCodesRegenerated {
    StepUp(ChallengeView),
    /// The new batch in clear, shown once; every older code is invalid.
    Codes(Vec<String>),
}

pub async fn regenerate_backup_codes(
    deps: &Deps,
    tenant: TenantId,
    access_token: &str,
    reauth: &Reauth,
    client: &ClientInfo,
) -> Result<BackupCodesRegenerated, CoreError> {
    let Caller { tenant, user, .. } = authenticate(deps, tenant, access_token).await?;
    if !user.two_step_enabled {
        return Err(CoreError::FailedPrecondition("two-step is not enabled"));
    }
    let proof = match reauth::check(
        deps,
        &tenant,
        &user,
        reauth,
        Action::RegenerateBackupCodes,
        client,
    )
    .await?
    {
        Reauthed::StepUpSent(view) => return Ok(BackupCodesRegenerated::StepUp(view)),
        Reauthed::Proven(proof) => proof,
    };
    let codes = backup_codes::regenerate(deps, tenant.id, user.id).await?;
    let event = Event::new(AuditKind::BackupCodesRegenerated)
        .user(user.id)
        .client(client)
        .detail("reauth", proof.as_str());
    audit::record(deps, tenant.id, event).await;
    if let Some(phone) = user.verified_phone() {
        let text = notice(
            &tenant.app_name,
            "new backup codes were created for your account and the old ones no longer work",
        );
        let key = format!(
            "backup-codes:{}:{}",
            user.id,
            deps.clock.now().timestamp_micros()
        );
        notify(deps, &tenant, phone, text, key).await;
    }
    Ok(BackupCodesRegenerated::Codes(codes))
}

// ---------------------------------------------------------------------------------------
// ChangePassword

#[derive(Debug)]
pub struct PasswordChangeRequest<'a> {
    pub credential: Credential<'a>,
    /// Checked with an access token when the user has a password; ignored with a ticket.
    pub current_password: &'a str,
    pub new_password: &'a str,
    /// With an access token: every other session ends. With a ticket: every session.
    pub revoke_other_sessions: bool,
}

#[derive(Debug)]
pub enum AfterPasswordChange {
    /// With an access token: the calling session stays valid.
    Nothing,
    /// With a ticket: the login is complete.
    Session(Box<IssuedSession>),
    /// With a ticket: two-step is required and the user has no verified phone yet.
    EnrollmentRequired(SecretToken, Duration),
}

#[derive(Debug)]
pub struct PasswordChanged {
    pub next: AfterPasswordChange,
    pub revoked_sessions: u64,
}

/// Sets a new password: with an access token and the current password (R25), or with a
/// password-change ticket from a login. The new password is checked (length, blocklist, the
/// user's own email and phone; R22, R24) before anything is spent or changed.
pub async fn change_password(
    deps: &Deps,
    tenant: TenantId,
    request: PasswordChangeRequest<'_>,
    client: &ClientInfo,
) -> Result<PasswordChanged, CoreError> {
    match request.credential {
        Credential::AccessToken(token) => {
            let Caller {
                tenant,
                session,
                user,
            } = authenticate(deps, tenant, token).await?;
            let password = check_new_password(&tenant, Some(&user), request.new_password)?;
            if user.password_hash.is_some() {
                let current = match request.current_password {
                    "" => {
                        return Err(CoreError::PermissionDenied(
                            "the current password is required",
                        ));
                    }
                    current => Password::for_login(current).map_err(|_| {
                        CoreError::PermissionDenied("the current password is wrong")
                    })?,
                };
                match reauth::check(
                    deps,
                    &tenant,
                    &user,
                    &Reauth::Password(current),
                    Action::ChangePassword,
                    client,
                )
                .await
                {
                    Ok(_) => {}
                    Err(CoreError::PermissionDenied(_)) => {
                        return Err(CoreError::PermissionDenied("the current password is wrong"));
                    }
                    Err(e) => return Err(e),
                }
            }
            let user = store_password(deps, &tenant, user, &password, client).await?;
            let revoked_sessions = if request.revoke_other_sessions {
                revoke_others(deps, &tenant, &user, Some(&session)).await?
            } else {
                0
            };
            Ok(PasswordChanged {
                next: AfterPasswordChange::Nothing,
                revoked_sessions,
            })
        }
        Credential::Ticket(ticket) => {
            let tenant = tenants::caller_tenant(deps, tenant).await?;
            // Everything that does not depend on the user is checked before the single-use
            // ticket is spent.
            check_new_password(&tenant, None, request.new_password)?;
            let Grant::PasswordChange {
                user,
                method,
                then_enroll,
            } = tickets::redeem(deps, tenant.id, ticket).await?
            else {
                return Err(CoreError::Unauthenticated);
            };
            let user = live_user(deps, &tenant, user).await?;
            let password = check_new_password(&tenant, Some(&user), request.new_password)?;
            let user = store_password(deps, &tenant, user, &password, client).await?;
            let revoked_sessions = if request.revoke_other_sessions {
                revoke_others(deps, &tenant, &user, None).await?
            } else {
                0
            };
            let next = if then_enroll && user.verified_phone().is_none() {
                let grant = Grant::Enrollment {
                    user: user.id,
                    method,
                };
                let (token, ttl) = tickets::issue(deps, tenant.id, &grant).await?;
                AfterPasswordChange::EnrollmentRequired(token, ttl)
            } else {
                let issued = sessions::start(deps, &tenant, &user, method, client).await?;
                let event = Event::new(AuditKind::LoginSucceeded)
                    .user(user.id)
                    .client(client)
                    .detail("method", method.as_str());
                audit::record(deps, tenant.id, event).await;
                AfterPasswordChange::Session(Box::new(issued))
            };
            Ok(PasswordChanged {
                next,
                revoked_sessions,
            })
        }
    }
}

fn check_new_password(
    tenant: &Tenant,
    user: Option<&User>,
    input: &str,
) -> Result<Password, CoreError> {
    let ctx = Context {
        email: user.and_then(|u| u.email.as_ref()),
        phone: user.and_then(|u| u.phone.as_ref()),
        app_name: Some(&tenant.app_name),
    };
    password_policy::check_new(input, tenant.policy.password_min_length, ctx)
        .map_err(|r| CoreError::password("new_password", r))
}

async fn store_password(
    deps: &Deps,
    tenant: &Tenant,
    mut user: User,
    password: &Password,
    client: &ClientInfo,
) -> Result<User, CoreError> {
    user.password_hash = Some(deps.passwords.hash(password).await?);
    user.must_change_password = false;
    user.updated_at = deps.clock.now();
    if !deps.users.update(&user).await? {
        return Err(CoreError::Unauthenticated);
    }
    deps.store
        .clear_failures(&password_login::password_account(&user))
        .await?;
    let event = Event::new(AuditKind::PasswordChanged)
        .user(user.id)
        .client(client);
    audit::record(deps, tenant.id, event).await;
    if let Some(phone) = user.verified_phone() {
        let text = notice(&tenant.app_name, "the password of your account was changed");
        let key = format!(
            "password-changed:{}:{}",
            user.id,
            user.updated_at.timestamp_micros()
        );
        notify(deps, tenant, phone, text, key).await;
    }
    Ok(user)
}

/// Revokes every live session of the user but `keep` (R25, R34); returns how many ended.
async fn revoke_others(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    keep: Option<&Session>,
) -> Result<u64, CoreError> {
    let now = deps.clock.now();
    let revoked = match keep {
        None => {
            deps.sessions
                .revoke_all_for_user(tenant.id, user.id, now)
                .await?
        }
        Some(keep) => {
            let mut revoked = 0;
            for s in deps
                .sessions
                .list_live_for_user(tenant.id, user.id, now)
                .await?
            {
                if s.id != keep.id && deps.sessions.revoke(s.id, now).await? {
                    revoked += 1;
                }
            }
            revoked
        }
    };
    if revoked > 0 {
        let event = Event::new(AuditKind::SessionRevoked)
            .user(user.id)
            .detail("count", revoked.to_string())
            .detail("reason", "password_changed");
        audit::record(deps, tenant.id, event).await;
    }
    Ok(revoked)
}

// ---------------------------------------------------------------------------------------
// ListSessions

#[derive(Debug)]
pub struct SessionList {
    /// Live sessions, newest first.
    pub sessions: Vec<Session>,
    /// The session of the presented access token.
    pub current: Session,
}

pub async fn list_sessions(
    deps: &Deps,
    tenant: TenantId,
    access_token: &str,
) -> Result<SessionList, CoreError> {
    let Caller {
        tenant,
        session,
        user,
    } = authenticate(deps, tenant, access_token).await?;
    let sessions = deps
        .sessions
        .list_live_for_user(tenant.id, user.id, deps.clock.now())
        .await?;
    Ok(SessionList {
        sessions,
        current: session,
    })
}

/// A security notice: what happened, and what to do if it was not the user. Never a code,
/// a link or a full number.
fn notice(app_name: &str, what: &str) -> SmsText {
    SmsText::new(format!(
        "{app_name}: {what}. If this was not you, contact {app_name} support now."
    ))
}

/// Queues a notice. The change it reports has already happened, so a failure is logged, not
/// returned.
async fn notify(deps: &Deps, tenant: &Tenant, to: &PhoneNumber, text: SmsText, key: String) {
    if super::texts::is_test_number(deps, tenant, to).await {
        return;
    }
    let message = OutgoingSms {
        tenant: tenant.id,
        to: to.clone(),
        text,
        provider_code: false,
        purpose: None,
        idempotency_key: key,
        expires_at: deps.clock.now() + NOTICE_TTL,
    };
    if let Err(e) = deps.outbox.enqueue(message).await {
        tracing::warn!(phone = ?to, error = %e, "security notice not queued");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_context_is_small_json() {
        let plain = VerificationContext::default();
        assert_eq!(serde_json::to_string(&plain).unwrap(), "{}");
        let enroll = VerificationContext {
            enroll_method: Some("password".into()),
            reauthenticated: false,
        };
        assert_eq!(
            serde_json::to_string(&enroll).unwrap(),
            r#"{"enroll_method":"password"}"#
        );
        assert_eq!(VerificationContext::parse("").unwrap(), plain);
        assert_eq!(
            VerificationContext::parse(r#"{"enroll_method":"sms","reauthenticated":true}"#)
                .unwrap(),
            VerificationContext {
                enroll_method: Some("sms".into()),
                reauthenticated: true
            }
        );
    }

    #[test]
    fn an_enrollment_after_a_password_is_password_and_sms() {
        assert_eq!(with_sms(AuthMethod::Password), AuthMethod::PasswordAndSms);
        assert_eq!(with_sms(AuthMethod::Sms), AuthMethod::Sms);
        assert_eq!(with_sms(AuthMethod::Registration), AuthMethod::Registration);
    }

    #[test]
    fn notices_hold_no_digits_and_fit_one_segment() {
        let text = notice("Acme Shop", "the password of your account was changed");
        assert!(!text.expose().chars().any(|c| c.is_ascii_digit()));
        assert!(text.expose().len() <= 160, "{}", text.expose());
    }
}

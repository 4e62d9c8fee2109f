//! Re-authentication: proof, on top of a valid session, that the user is present before a
//! sensitive change (binding a new phone, disabling two-step, new backup codes). A session
//! alone is never enough for those (R28); a missing or failed proof is `PermissionDenied`, so
//! callers can tell it from a dead session.

use std::time::Duration;

use crate::audit::AuditKind;
use crate::challenge::Purpose;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::codes::{self, ChallengeView, NewCode};
use crate::flows::{ClientInfo, Deps, backup_codes, login, password_login};
use crate::ids::ChallengeId;
use crate::otp::OtpCode;
use crate::password::Password;
use crate::ports::{Limit, RateDecision};
use crate::tenant::Tenant;
use crate::user::User;

/// Password and backup-code proofs per user in any 15 minutes: each costs an argon2 hash, and
/// a stolen session must not become an unlimited password oracle.
const ATTEMPTS_PER_WINDOW: u32 = 10;
const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// What the caller offered as proof, already parsed at the edge.
#[derive(Debug)]
pub enum Reauth {
    /// Nothing was offered.
    Missing,
    Password(Password),
    /// A code of a STEP_UP challenge sent by an earlier call for the same action.
    StepUpCode {
        challenge: ChallengeId,
        code: OtpCode,
    },
    BackupCode(String),
    /// Only send a STEP_UP code to the verified phone; change nothing.
    SendStepUpCode,
}

impl Reauth {
    pub fn is_missing(&self) -> bool {
        matches!(self, Reauth::Missing)
    }
}

/// The sensitive action a proof is for. A step-up code is bound to its action, so a code sent
/// for one cannot authorise another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ChangePhone,
    DisableTwoStep,
    RegenerateBackupCodes,
    /// Only with the current password (`ChangePassword`); never with a step-up code.
    ChangePassword,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ChangePhone => "change_phone",
            Action::DisableTwoStep => "disable_two_step",
            Action::RegenerateBackupCodes => "regenerate_backup_codes",
            Action::ChangePassword => "change_password",
        }
    }

    fn context(self) -> String {
        format!("step_up:{}", self.as_str())
    }
}

/// How the user proved presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Password,
    StepUpCode,
    BackupCode,
}

impl Proof {
    pub fn as_str(self) -> &'static str {
        match self {
            Proof::Password => "password",
            Proof::StepUpCode => "step_up_code",
            Proof::BackupCode => "backup_code",
        }
    }
}

#[derive(Debug)]
pub enum Reauthed {
    Proven(Proof),
    /// `SendStepUpCode`: a STEP_UP code went to the verified phone; nothing else may happen.
    StepUpSent(ChallengeView),
}

const REQUIRED: CoreError = CoreError::PermissionDenied("re-authentication required");
const FAILED: CoreError = CoreError::PermissionDenied("re-authentication failed");

/// Checks `reauth` for `user` before `action`. A missing or wrong proof is `PermissionDenied`;
/// a step-up code asked for by a user without a verified phone is `FailedPrecondition`.
pub async fn check(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    reauth: &Reauth,
    action: Action,
    client: &ClientInfo,
) -> Result<Reauthed, CoreError> {
    match reauth {
        Reauth::Missing => Err(REQUIRED),
        Reauth::SendStepUpCode => send_step_up(deps, tenant, user, action, client)
            .await
            .map(Reauthed::StepUpSent),
        Reauth::Password(password) => {
            charge_attempt(deps, tenant, user).await?;
            let check = deps
                .passwords
                .verify(password, user.password_hash.as_deref())
                .await?;
            if !check.matches {
                deps.store
                    .record_failure(
                        &password_login::password_account(user),
                        Duration::from_secs(3600),
                    )
                    .await?;
                return Err(FAILED);
            }
            Ok(Reauthed::Proven(Proof::Password))
        }
        Reauth::BackupCode(code) => {
            charge_attempt(deps, tenant, user).await?;
            match backup_codes::consume(deps, tenant.id, user.id, code).await? {
                Some(remaining) => {
                    let event = Event::new(AuditKind::BackupCodeUsed)
                        .user(user.id)
                        .client(client)
                        .detail("remaining", remaining.to_string())
                        .detail("for", action.as_str());
                    audit::record(deps, tenant.id, event).await;
                    Ok(Reauthed::Proven(Proof::BackupCode))
                }
                None => {
                    // Backup-code guesses count toward the account-wide code lockout (R26, R9).
                    deps.store
                        .record_failure(
                            &codes::otp_account(user.id),
                            Duration::from_secs(24 * 3600),
                        )
                        .await?;
                    Err(FAILED)
                }
            }
        }
        Reauth::StepUpCode { challenge, code } => {
            let consumed = match codes::verify(deps, tenant, *challenge, code).await {
                Ok(c) => c,
                Err(CoreError::Unauthenticated) => return Err(FAILED),
                Err(e) => return Err(e),
            };
            let bound = consumed.purpose == Purpose::StepUp
                && consumed.user == Some(user.id)
                && consumed.context == action.context()
                && consumed.phone.is_some()
                && consumed.phone.as_ref() == user.verified_phone();
            if !bound {
                return Err(FAILED);
            }
            Ok(Reauthed::Proven(Proof::StepUpCode))
        }
    }
}

async fn send_step_up(
    deps: &Deps,
    tenant: &Tenant,
    user: &User,
    action: Action,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    let Some(phone) = user.verified_phone() else {
        return Err(CoreError::FailedPrecondition(
            "the user has no verified phone for a step-up code",
        ));
    };
    login::charge_send_limits(deps, tenant, phone, client).await?;
    let new = NewCode {
        purpose: Purpose::StepUp,
        user: Some(user.id),
        phone,
        decoy: false,
        decoy_stand_in: true,
        context: action.context(),
        locale: &client.locale,
    };
    let view = codes::issue(deps, tenant, new).await?;
    let event = Event::new(AuditKind::CodeSent)
        .user(user.id)
        .phone(phone)
        .client(client)
        .detail("purpose", Purpose::StepUp.as_str())
        .detail("for", action.as_str());
    audit::record(deps, tenant.id, event).await;
    Ok(view)
}

async fn charge_attempt(deps: &Deps, tenant: &Tenant, user: &User) -> Result<(), CoreError> {
    let limits = [Limit {
        key: format!("reauth:{}", user.id),
        max: ATTEMPTS_PER_WINDOW,
        window: ATTEMPT_WINDOW,
    }];
    match deps
        .store
        .check_limits(&tenant.id.to_string(), &limits, deps.clock.now())
        .await?
    {
        RateDecision::Allowed => Ok(()),
        RateDecision::Denied { retry_after, .. } => Err(CoreError::RateLimited { retry_after }),
    }
}

//! `UseBackupCode`: a backup code in place of the SMS code of a second-factor challenge, for a
//! user whose phone is lost (R27). A wrong backup code counts against the account like a wrong
//! SMS code (R9, R26); a right one ends the challenge, so its SMS code no longer works.

use crate::audit::AuditKind;
use crate::challenge::Purpose;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::verify::{self, Verified};
use crate::flows::{ClientInfo, Deps, backup_codes, lockout, tenants, texts};
use crate::ids::{ChallengeId, TenantId};
use crate::ports::Factor;
use crate::session::AuthMethod;

pub async fn use_backup_code(
    deps: &Deps,
    tenant: TenantId,
    challenge: ChallengeId,
    backup_code: &str,
    client: &ClientInfo,
) -> Result<(Verified, usize), CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let now = deps.clock.now();
    let Some(pending) = deps.store.get_challenge(challenge, now).await? else {
        return Err(CoreError::Unauthenticated);
    };
    if pending.tenant != tenant.id || pending.purpose != Purpose::SecondFactor || pending.decoy {
        return Err(CoreError::Unauthenticated);
    }
    let user = verify::challenge_user(deps, &tenant, &pending).await?;
    // Backup codes count towards the code counter (R26) and obey its soft-lock delays, but
    // pass its hard lock: they are the way out of it (R9).
    let Some(ticket) = lockout::admit(deps, &tenant, user.id, Factor::Otp, true).await? else {
        return Err(CoreError::Unauthenticated);
    };
    let Some(remaining) = backup_codes::consume(deps, tenant.id, user.id, backup_code).await?
    else {
        lockout::failed(deps, &tenant, ticket).await;
        let event = Event::new(AuditKind::CodeFailed)
            .user(user.id)
            .client(client)
            .detail("factor", "backup_code");
        audit::record(deps, tenant.id, event).await;
        return Err(CoreError::Unauthenticated);
    };
    // Whoever removes the challenge first finishes the login; a concurrent SMS code or another
    // backup code for the same challenge loses.
    if !deps.store.delete_challenge(challenge).await? {
        return Err(CoreError::Unauthenticated);
    }
    // Recorded like an accepted SMS code: a Redis failover cannot revive the challenge
    // (R39 a), and the abandoned-login watch sees it answered (R13); the failure run ends in
    // the same step (R10).
    if !deps
        .consumed
        .record(tenant.id, challenge, now, Some(ticket.run()))
        .await?
    {
        return Err(CoreError::Unauthenticated);
    }
    let mut event = Event::new(AuditKind::BackupCodeUsed)
        .user(user.id)
        .client(client)
        .detail("remaining", remaining.to_string());
    if let Some(phone) = user.verified_phone() {
        event = event.phone(phone);
        texts::send_notice(
            deps,
            &tenant,
            phone,
            &client.locale,
            texts::Notice::BackupCodeUsed { remaining },
            format!("{challenge}:backup-notice"),
            now + chrono::Duration::hours(1),
        )
        .await?;
    }
    audit::record(deps, tenant.id, event).await;
    let verified = verify::finish_login(
        deps,
        &tenant,
        &user,
        AuthMethod::PasswordAndBackupCode,
        client,
    )
    .await?;
    Ok((verified, remaining))
}

//! The SIM-swap and porting hook on the second factor (R30). Before a second-factor code is
//! sent, the configured risk source is asked about the number; on a signal no SMS is sent
//! (it would go to whoever holds the new SIM) and the challenge is answered with
//! `backup_code_only`, so only `UseBackupCode` can finish the login.
//!
//! A backup-code-only challenge is a real challenge of the user (not a decoy: `UseBackupCode`
//! accepts it) whose MAC matches no code and whose send cap is already reached, so neither
//! `VerifyCode` nor `ResendCode` can turn it back into an SMS.

use crate::challenge::Challenge;
use crate::error::CoreError;
use crate::flows::Deps;
use crate::flows::codes::{self, ChallengeView, NewCode};
use crate::ids::ChallengeId;
use crate::otp::CodeMac;
use crate::phone::PhoneNumber;
use crate::ports::NumberRisk;
use crate::tenant::Tenant;

/// Issues a second-factor challenge: an SMS code, or a backup-code-only challenge when the
/// number shows a risk signal.
pub(crate) async fn second_factor(
    deps: &Deps,
    tenant: &Tenant,
    new: NewCode<'_>,
) -> Result<ChallengeView, CoreError> {
    if !withholds_sms(deps, new.phone).await {
        return codes::issue(deps, tenant, new).await;
    }
    let now = deps.clock.now();
    let policy = &tenant.policy;
    let challenge = Challenge {
        id: ChallengeId::random(),
        tenant: tenant.id,
        purpose: new.purpose,
        user: new.user,
        phone: Some(new.phone.clone()),
        decoy: false,
        context: new.context,
        code_mac: CodeMac::unmatchable(),
        attempts_left: policy.code.max_attempts,
        // The send cap is reached from the start: ResendCode never sends to this number.
        sends: 1,
        max_sends: 1,
        created_at: now,
        expires_at: now + policy.code.lifetime,
        resend_at: now + policy.code.lifetime,
        resend_cooldown: policy.code.resend_cooldown,
    };
    deps.store.create_challenge(&challenge).await?;
    let mut view = codes::view(&challenge, tenant, now);
    view.backup_code_only = true;
    Ok(view)
}

/// Whether texts to `phone` are withheld: the risk source shows a signal, so an SMS would
/// reach whoever holds the new SIM. Used by the security notices too (R13): an alert sent to
/// a swapped SIM tells the attacker, not the user.
pub(crate) async fn withholds_sms(deps: &Deps, phone: &PhoneNumber) -> bool {
    risk(deps, phone).await.is_signal()
}

/// The risk source's answer. A source that does not answer is treated as no signal, with a
/// warning: the hook is defence in depth (63B-4 says SHOULD), and an outage of an external
/// lookup must not turn every login into a backup-code login.
async fn risk(deps: &Deps, phone: &PhoneNumber) -> NumberRisk {
    match deps.number_risk.check(phone).await {
        Ok(risk) => {
            if risk.is_signal() {
                tracing::warn!(
                    phone = ?phone,
                    signal = risk.as_str(),
                    "second-factor SMS withheld: the number shows a risk signal; backup code only"
                );
            }
            risk
        }
        Err(e) => {
            tracing::warn!(phone = ?phone, error = %e, "number risk check failed; sending the SMS");
            NumberRisk::NoSignal
        }
    }
}

//! R13: the code step reveals that the password was right, so a right password followed by
//! a failed code is worth telling the user about: someone may hold their password. The
//! password step itself is throttled per account ([`super::lockout`]) and per IP
//! ([`super::limits`]); this is the alert.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::AuditKind;
use crate::challenge::{Challenge, Purpose};
use crate::flows::audit::{self, Event};
use crate::flows::{Deps, sim_swap, tenants, texts};
use crate::ids::{ChallengeId, TenantId, UserId};
use crate::phone::PhoneNumber;
use crate::tenant::Tenant;

/// Records `suspicious_login` and texts the user on the first wrong code of a second-factor
/// challenge (the caller calls this on that code only). Other purposes are not a password
/// login and are ignored. Failures are logged, never returned: the caller's answer is the
/// same `Unauthenticated` either way.
pub(crate) async fn second_factor_failed(
    deps: &Deps,
    tenant: &Tenant,
    challenge: &Challenge,
    reason: &'static str,
) {
    if challenge.purpose != Purpose::SecondFactor || challenge.decoy {
        return;
    }
    let (Some(user), Some(phone)) = (challenge.user, challenge.phone.as_ref()) else {
        return;
    };
    deps.abandoned.alerted(challenge.id);
    alert(deps, tenant, challenge.id, user, phone, reason).await;
}

async fn alert(
    deps: &Deps,
    tenant: &Tenant,
    challenge: ChallengeId,
    user: UserId,
    phone: &PhoneNumber,
    reason: &'static str,
) {
    tracing::warn!(user = %user, challenge = %challenge, reason, "right password, failed second factor");
    let event = Event::new(AuditKind::SuspiciousLogin)
        .user(user)
        .phone(phone)
        .detail("reason", reason)
        .detail("challenge", challenge.to_string());
    audit::record(deps, tenant.id, event).await;
    if sim_swap::withholds_sms(deps, phone).await {
        // The audit event stands; the text would go to the new SIM's holder (R30).
        return;
    }
    let sent = texts::send_notice(
        deps,
        tenant,
        phone,
        "",
        texts::Notice::SuspiciousLogin,
        format!("{challenge}:suspicious-notice"),
        deps.clock.now() + chrono::Duration::hours(1),
    )
    .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "suspicious-login notice not queued");
    }
}

/// The in-process watch for abandoned second factors: a right password whose challenge then
/// expired without a right code or a backup code. Held in [`Deps`]; the [`AbandonedWatcher`]
/// half runs as one task.
///
/// It is best effort by design: a watch lives in the memory of the instance that issued the
/// challenge, so a restart forgets the watches of the challenges then open, and a full queue
/// drops new ones (logged). Whether the challenge was finished is read from SQL (the
/// consumed-challenge record), so a code entered through another instance counts. A wrong
/// code entered through this instance already alerted and ends the watch; through another
/// instance, the audit log may show both, but the notice's idempotency key is shared, so the
/// user gets one text per challenge.
#[derive(Debug, Clone)]
pub struct AbandonedWatch {
    tx: tokio::sync::mpsc::Sender<Message>,
}

/// The task half of [`AbandonedWatch`]; see [`AbandonedWatcher::run`].
#[derive(Debug)]
pub struct AbandonedWatcher {
    rx: tokio::sync::mpsc::Receiver<Message>,
}

#[derive(Debug)]
enum Message {
    Watch(Watched),
    Alerted(ChallengeId),
}

#[derive(Debug, Clone)]
struct Watched {
    tenant: TenantId,
    challenge: ChallengeId,
    user: UserId,
    phone: PhoneNumber,
}

/// How long after a challenge's expiry it is checked: past any clock skew between instances
/// and past an answer still in flight at the deadline.
const GRACE: chrono::Duration = chrono::Duration::seconds(2);

/// A watch queue of at most `capacity` messages in flight to the task.
pub fn abandoned_watch(capacity: usize) -> (AbandonedWatch, AbandonedWatcher) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    (AbandonedWatch { tx }, AbandonedWatcher { rx })
}

impl AbandonedWatch {
    /// Watches the second-factor challenge `challenge` of a right password.
    pub(crate) fn watch(
        &self,
        challenge: ChallengeId,
        tenant: TenantId,
        user: UserId,
        phone: &PhoneNumber,
    ) {
        let watched = Watched {
            tenant,
            challenge,
            user,
            phone: phone.clone(),
        };
        self.send(Message::Watch(watched), challenge);
    }

    /// The challenge already alerted (a wrong code): no second alert when it expires.
    fn alerted(&self, challenge: ChallengeId) {
        self.send(Message::Alerted(challenge), challenge);
    }

    fn send(&self, message: Message, challenge: ChallengeId) {
        if self.tx.try_send(message).is_err() {
            tracing::warn!(challenge = %challenge, "abandoned-login watch full or stopped");
        }
    }
}

impl AbandonedWatcher {
    /// Checks each watched challenge when it is due: still open (a resend extended it), it is
    /// checked again at its new expiry; gone without being consumed, it is an abandoned second
    /// factor and alerts like a wrong code. Returns when every [`AbandonedWatch`] is dropped.
    pub async fn run(mut self, deps: Arc<Deps>) {
        let mut due: BinaryHeap<Reverse<(DateTime<Utc>, ChallengeId)>> = BinaryHeap::new();
        let mut open: HashMap<ChallengeId, Watched> = HashMap::new();
        loop {
            let wait = due
                .peek()
                .map(|Reverse((at, _))| (*at - deps.clock.now()).to_std().unwrap_or_default());
            tokio::select! {
                received = self.rx.recv() => match received {
                    Some(Message::Watch(w)) => {
                        let at = first_check(&deps, &w).await;
                        due.push(Reverse((at, w.challenge)));
                        open.insert(w.challenge, w);
                    }
                    Some(Message::Alerted(id)) => {
                        open.remove(&id);
                    }
                    None => return,
                },
                () = sleep_or_forever(wait) => {
                    let Some(Reverse((_, id))) = due.pop() else { continue };
                    let Some(w) = open.remove(&id) else { continue };
                    if let Some(again) = check(&deps, &w).await {
                        due.push(Reverse((again, id)));
                        open.insert(id, w);
                    }
                }
            }
        }
    }
}

async fn sleep_or_forever(wait: Option<std::time::Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// When a new watch is first due: the challenge's expiry, read back from the store.
async fn first_check(deps: &Deps, w: &Watched) -> DateTime<Utc> {
    let now = deps.clock.now();
    match deps.store.get_challenge(w.challenge, now).await {
        Ok(Some(c)) => c.expires_at + GRACE,
        // Already gone (answered at once) or unreadable: check soon.
        _ => now + GRACE,
    }
}

/// One due check; `Some(when)` when the challenge is still open and must be checked again.
async fn check(deps: &Deps, w: &Watched) -> Option<DateTime<Utc>> {
    let skipped = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, challenge = %w.challenge, "abandoned-login check skipped");
    };
    match deps
        .store
        .get_challenge(w.challenge, deps.clock.now())
        .await
    {
        Ok(Some(c)) => return Some(c.expires_at + GRACE),
        Ok(None) => {}
        Err(e) => {
            skipped(&e);
            return None;
        }
    }
    match deps.consumed.contains(w.tenant, w.challenge).await {
        Ok(false) => {}
        Ok(true) => return None,
        Err(e) => {
            skipped(&e);
            return None;
        }
    }
    match tenants::caller_tenant(deps, w.tenant).await {
        Ok(tenant) => alert(deps, &tenant, w.challenge, w.user, &w.phone, "abandoned").await,
        Err(e) => skipped(&e),
    }
    None
}

//! Revocation events: how every instance learns at once that sessions ended elsewhere, so that
//! a cache of validated sessions never outlives a revocation (R34).
//!
//! Contract for every implementation:
//! - [`SessionEvents::publish`] returns after the event has been handed to every subscribed
//!   instance's transport (Redis: `PUBLISH` answered); it is called after the SQL revoke
//!   committed.
//! - [`SessionEvents::subscribe`] delivers every event published while the subscription is
//!   up, in order, to the listener, including events this instance published itself.
//! - A listener starts *not* subscribed. [`RevocationListener::resumed`] is called each time a
//!   subscription is confirmed; [`RevocationListener::lost`] as soon as the implementation
//!   cannot promise delivery (connection dropped, a ping unanswered). Between `lost` and the
//!   next `resumed`, events may be missed: the listener must not trust anything it learned
//!   before `lost`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::{FamilyId, SessionId, TenantId, UserId};
use crate::ports::StoreError;

/// What ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// One session (logout, rotation of its refresh token, revoke one).
    Session(SessionId),
    /// Every session of a refresh-token family (reuse of a rotated token).
    Family(FamilyId),
    /// Every session of a user (revoke all, lock, password or factor change).
    User { tenant: TenantId, user: UserId },
}

/// Receives the events of a subscription. Called from the implementation's task: must not
/// block for long.
pub trait RevocationListener: Send + Sync + 'static {
    fn revoked(&self, revocation: &Revocation);
    /// Delivery can no longer be promised: forget everything revocations could invalidate.
    fn lost(&self);
    /// Subscribed (again): from now on every event is delivered.
    fn resumed(&self);
}

#[async_trait]
pub trait SessionEvents: Send + Sync + 'static {
    /// Tells every instance (this one included) that `revocation` happened.
    async fn publish(&self, revocation: &Revocation) -> Result<(), StoreError>;
    /// Starts delivering events to `listener` (in the background; keeps resubscribing after
    /// failures for as long as the process runs).
    fn subscribe(&self, listener: Arc<dyn RevocationListener>);
}

/// Why a revocation message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a revocation message")]
pub struct BadRevocation;

/// The wire form shared by the adapters: `s:<session>`, `f:<family>`, `u:<tenant>:<user>`.
/// Ids only: nothing secret travels.
impl fmt::Display for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revocation::Session(id) => write!(f, "s:{id}"),
            Revocation::Family(id) => write!(f, "f:{id}"),
            Revocation::User { tenant, user } => write!(f, "u:{tenant}:{user}"),
        }
    }
}

impl FromStr for Revocation {
    type Err = BadRevocation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s.split_once(':').ok_or(BadRevocation)?;
        match kind {
            "s" => rest
                .parse()
                .map(Revocation::Session)
                .map_err(|_| BadRevocation),
            "f" => rest
                .parse()
                .map(Revocation::Family)
                .map_err(|_| BadRevocation),
            "u" => {
                let (tenant, user) = rest.split_once(':').ok_or(BadRevocation)?;
                Ok(Revocation::User {
                    tenant: tenant.parse().map_err(|_| BadRevocation)?,
                    user: user.parse().map_err(|_| BadRevocation)?,
                })
            }
            _ => Err(BadRevocation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revocation_round_trips_through_its_wire_form() {
        let all = [
            Revocation::Session(SessionId::random()),
            Revocation::Family(FamilyId::random()),
            Revocation::User {
                tenant: TenantId::random(),
                user: UserId::random(),
            },
        ];
        for r in all {
            assert_eq!(r.to_string().parse::<Revocation>(), Ok(r));
        }
    }

    #[test]
    fn garbage_is_refused() {
        for s in ["", "s", "s:", "x:1", "u:abc", "f:not-a-uuid", "u:1:2"] {
            assert_eq!(s.parse::<Revocation>(), Err(BadRevocation), "{s}");
        }
    }
}

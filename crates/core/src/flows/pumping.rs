//! SMS-pumping defences that are not plain rate limits (security requirements §3): the global
//! kill switch for sending. Allowed countries and refused number types are checked when the
//! number is parsed (`input::check_phone`).
//!
//! Every check here runs before any limit is charged, any account is looked up and any outbox
//! row is written, and depends only on the number and the tenant, so a refusal looks the same
//! for a known and an unknown number (R18).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::CoreError;
use crate::flows::Deps;
use crate::flows::flood_log::FloodLog;
use crate::phone::PhoneNumber;
use crate::tenant::Tenant;

/// The global kill switch for sending codes (`abuse.sms_kill_switch` in the configuration).
/// While it is on, every send path answers UNAVAILABLE ("SMS sending is switched off"),
/// retryable, like any other outage of the SMS path. Shared, so it can be flipped at run time.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    pub fn new(on: bool) -> Self {
        Self(Arc::new(AtomicBool::new(on)))
    }

    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sends refused by the kill switch come in floods while it is on: one summary line a second.
static KILL_SWITCH_REFUSALS: FloodLog = FloodLog::new();

/// Refuses a send the pumping defences forbid.
pub(crate) async fn check_send(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
) -> Result<(), CoreError> {
    if deps.kill_switch.is_on() {
        tracing::debug!(tenant = %tenant.id, phone = ?phone, "send refused: the SMS kill switch is on");
        if let Some(refused) = KILL_SWITCH_REFUSALS.event(deps.clock.now()) {
            tracing::warn!(
                tenant = %tenant.id,
                refused_since_last_line = refused,
                "sends refused: the SMS kill switch is on"
            );
        }
        return Err(CoreError::Unavailable("sms sending is switched off".into()));
    }
    Ok(())
}

/// Counts a send that passed every check.
pub(crate) async fn record_send(
    _deps: &Deps,
    _tenant: &Tenant,
    _phone: &PhoneNumber,
) -> Result<(), CoreError> {
    Ok(())
}

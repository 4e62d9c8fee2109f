//! Starting a login. By phone alone: a code goes out only if a user with that verified number
//! exists and the tenant allows phone login, but the answer has the same shape, the same
//! limits and the same store traffic either way (R18).

use std::time::Duration;

use crate::challenge::Purpose;
use crate::error::CoreError;
use crate::flows::codes::{self, ChallengeView, NewCode};
use crate::flows::{ClientInfo, Deps, input, tenants};
use crate::ids::TenantId;
use crate::phone::PhoneNumber;
use crate::ports::{Limit, RateDecision};
use crate::tenant::Tenant;

/// At most this many code SMS per number per day (security requirements §2).
const SENDS_PER_NUMBER_PER_DAY: u32 = 10;

pub async fn start_phone_login(
    deps: &Deps,
    tenant: TenantId,
    phone_input: &str,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let phone = input::parse_phone(&tenant, "phone.phone_number", phone_input)?;
    charge_send_limits(deps, &tenant, &phone).await?;

    let user = deps.users.find_by_verified_phone(tenant.id, &phone).await?;
    let real = tenant.policy.phone_login_allowed && user.as_ref().is_some_and(|u| !u.is_locked());
    let new = NewCode {
        purpose: Purpose::PhoneLogin,
        user: if real { user.map(|u| u.id) } else { None },
        phone: &phone,
        decoy: !real,
        context: client.device_id.clone(),
    };
    tracing::info!(phone = ?phone, "phone login started");
    codes::issue(deps, &tenant, new).await
}

/// Counts one send against the number's daily budget, for known and unknown numbers alike.
pub(crate) async fn charge_send_limits(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
) -> Result<(), CoreError> {
    let limits = [Limit {
        key: format!("send:num:{}", phone.e164()),
        max: SENDS_PER_NUMBER_PER_DAY,
        window: Duration::from_secs(24 * 3600),
    }];
    let scope = tenant.id.to_string();
    match deps
        .store
        .check_limits(&scope, &limits, deps.clock.now())
        .await?
    {
        RateDecision::Allowed => Ok(()),
        RateDecision::Denied { retry_after, .. } => Err(CoreError::RateLimited { retry_after }),
    }
}

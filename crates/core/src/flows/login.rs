//! Starting a login. By phone alone: a code goes out only if a user with that verified number
//! exists and the tenant allows phone login, but the answer has the same shape, the same
//! limits and the same store traffic either way (R18).

use crate::audit::AuditKind;
use crate::challenge::Purpose;
use crate::error::CoreError;
use crate::flows::audit::{self, Event};
use crate::flows::codes::{self, ChallengeView, NewCode};
use crate::flows::{ClientInfo, Deps, input, limits, tenants};
use crate::ids::TenantId;
use crate::phone::PhoneNumber;
use crate::tenant::Tenant;

pub async fn start_phone_login(
    deps: &Deps,
    tenant: TenantId,
    phone_input: &str,
    client: &ClientInfo,
) -> Result<ChallengeView, CoreError> {
    let tenant = tenants::caller_tenant(deps, tenant).await?;
    let phone = input::parse_phone(&tenant, "phone.phone_number", phone_input)?;
    charge_send_limits(deps, &tenant, &phone, client).await?;

    let user = deps.users.find_by_verified_phone(tenant.id, &phone).await?;
    let real = tenant.policy.phone_login_allowed && user.as_ref().is_some_and(|u| !u.is_locked());
    let new = NewCode {
        purpose: Purpose::PhoneLogin,
        user: if real {
            user.as_ref().map(|u| u.id)
        } else {
            None
        },
        phone: &phone,
        decoy: !real,
        decoy_stand_in: true,
        context: client.device_id.clone(),
        locale: &client.locale,
    };
    tracing::info!(phone = ?phone, "phone login started");
    let view = codes::issue(deps, &tenant, new).await?;
    // One audit row either way, so both answers cost the same (R19).
    let event = match (real, &user) {
        (true, Some(u)) => Event::new(AuditKind::CodeSent).user(u.id),
        (_, found) => Event::new(AuditKind::LoginFailed).detail(
            "reason",
            if found.is_some() {
                "phone_login_not_allowed"
            } else {
                "unknown_number"
            },
        ),
    };
    let event = event
        .phone(&phone)
        .client(client)
        .detail("purpose", Purpose::PhoneLogin.as_str());
    audit::record(deps, tenant.id, event).await;
    Ok(view)
}

/// Charges one send against every send limit (`limits::charge_send`), for known and unknown
/// numbers alike.
pub(crate) async fn charge_send_limits(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
    client: &ClientInfo,
) -> Result<(), CoreError> {
    limits::charge_send(deps, tenant, phone, client, None).await
}

//! Proto ↔ domain for the abuse settings of a tenant policy (limits, lockout, pumping). Zero
//! values and unset durations take the defaults; bounds are checked by `Policy::validate`.

use std::time::Duration;

use tonic::Status;
use twostep_core::tenant::{LimitsPolicy, LockoutPolicy, PumpingPolicy};
use twostep_proto::v1 as pb;

use super::{duration, from_duration};

fn nonzero(v: u32, default: u32) -> u32 {
    if v == 0 { default } else { v }
}

fn dur(
    field: &str,
    v: Option<&prost_types::Duration>,
    default: Duration,
) -> Result<Duration, Status> {
    v.map_or(Ok(default), |v| from_duration(field, v))
}

pub fn limits(p: &LimitsPolicy) -> pb::LimitsPolicy {
    pb::LimitsPolicy {
        per_number_per_day: p.per_number_per_day,
        per_ip_per_hour: p.per_ip_per_hour,
        per_prefix_per_hour: p.per_prefix_per_hour,
        per_country_per_day: p.per_country_per_day,
        per_tenant_per_hour: p.per_tenant_per_hour,
        per_api_client_per_hour: p.per_api_client_per_hour,
        password_per_ip_per_hour: p.password_per_ip_per_hour,
        resend_backoff_max: Some(duration(p.resend_backoff_max)),
        resend_jitter_percent: p.resend_jitter_percent,
    }
}

pub fn limits_from(p: Option<&pb::LimitsPolicy>) -> Result<LimitsPolicy, Status> {
    let d = LimitsPolicy::default();
    let Some(p) = p else { return Ok(d) };
    Ok(LimitsPolicy {
        per_number_per_day: nonzero(p.per_number_per_day, d.per_number_per_day),
        per_ip_per_hour: nonzero(p.per_ip_per_hour, d.per_ip_per_hour),
        per_prefix_per_hour: nonzero(p.per_prefix_per_hour, d.per_prefix_per_hour),
        per_country_per_day: nonzero(p.per_country_per_day, d.per_country_per_day),
        per_tenant_per_hour: nonzero(p.per_tenant_per_hour, d.per_tenant_per_hour),
        per_api_client_per_hour: nonzero(p.per_api_client_per_hour, d.per_api_client_per_hour),
        password_per_ip_per_hour: nonzero(p.password_per_ip_per_hour, d.password_per_ip_per_hour),
        resend_backoff_max: dur(
            "policy.limits.resend_backoff_max",
            p.resend_backoff_max.as_ref(),
            d.resend_backoff_max,
        )?,
        resend_jitter_percent: nonzero(p.resend_jitter_percent, d.resend_jitter_percent),
    })
}

pub fn lockout(p: &LockoutPolicy) -> pb::LockoutPolicy {
    pb::LockoutPolicy {
        otp_soft_lock_at: p.otp_soft_lock_at,
        otp_hard_lock_at: p.otp_hard_lock_at,
        password_soft_lock_at: p.password_soft_lock_at,
        password_hard_lock_at: p.password_hard_lock_at,
        first_delay: Some(duration(p.first_delay)),
        max_delay: Some(duration(p.max_delay)),
    }
}

pub fn lockout_from(p: Option<&pb::LockoutPolicy>) -> Result<LockoutPolicy, Status> {
    let d = LockoutPolicy::default();
    let Some(p) = p else { return Ok(d) };
    Ok(LockoutPolicy {
        otp_soft_lock_at: nonzero(p.otp_soft_lock_at, d.otp_soft_lock_at),
        otp_hard_lock_at: nonzero(p.otp_hard_lock_at, d.otp_hard_lock_at),
        password_soft_lock_at: nonzero(p.password_soft_lock_at, d.password_soft_lock_at),
        password_hard_lock_at: nonzero(p.password_hard_lock_at, d.password_hard_lock_at),
        first_delay: dur(
            "policy.lockout.first_delay",
            p.first_delay.as_ref(),
            d.first_delay,
        )?,
        max_delay: dur(
            "policy.lockout.max_delay",
            p.max_delay.as_ref(),
            d.max_delay,
        )?,
    })
}

pub fn pumping(p: &PumpingPolicy) -> pb::PumpingPolicy {
    pb::PumpingPolicy {
        refused_number_types: p.refused_number_types.clone(),
        breaker_disabled: p.breaker_disabled,
        breaker_window: Some(duration(p.breaker_window)),
        breaker_min_sends: p.breaker_min_sends,
        breaker_min_conversion_percent: p.breaker_min_conversion_percent,
    }
}

pub fn pumping_from(p: Option<&pb::PumpingPolicy>) -> Result<PumpingPolicy, Status> {
    let d = PumpingPolicy::default();
    let Some(p) = p else { return Ok(d) };
    Ok(PumpingPolicy {
        refused_number_types: if p.refused_number_types.is_empty() {
            d.refused_number_types
        } else {
            p.refused_number_types
                .iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .collect()
        },
        breaker_disabled: p.breaker_disabled,
        breaker_window: dur(
            "policy.pumping.breaker_window",
            p.breaker_window.as_ref(),
            d.breaker_window,
        )?,
        breaker_min_sends: nonzero(p.breaker_min_sends, d.breaker_min_sends),
        breaker_min_conversion_percent: nonzero(
            p.breaker_min_conversion_percent,
            d.breaker_min_conversion_percent,
        ),
    })
}

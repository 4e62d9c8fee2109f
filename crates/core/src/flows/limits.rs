//! Layered send limits (R15, R36, security requirements §3.2) and the escalating resend
//! backoff (R15).
//!
//! Every path that sends a code charges [`charge_send`] before it looks anything up, so known
//! and unknown numbers spend the same budget and get the same refusal (R18). The limits are
//! per number, per end-user IP, per number prefix, per country, per tenant and per API
//! client, all sliding windows.
//!
//! **Atomicity on Redis Cluster.** All limits of one send share one scope, the tenant, so
//! they are one `check_limits` call: one Lua script on one hash tag (`{l:<tenant>}`), which
//! checks every limit and counts all or none. No refunds, no check-then-charge race. The
//! trade-off is locality: all of one tenant's send counters live on one cluster slot, so one
//! tenant's send traffic is served by one master. Sends cost money and are far below what one
//! Redis master scripts per second; the per-number limits of many tenants still spread over
//! the cluster by tenant.

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;

use crate::challenge::Challenge;
use crate::error::CoreError;
use crate::flows::flood_log::FloodLog;
use crate::flows::{ClientInfo, Deps, pumping};
use crate::phone::PhoneNumber;
use crate::ports::{Limit, RateDecision};
use crate::tenant::Tenant;

/// Sends refused by a limit come in floods under abuse: one summary line a second.
static REFUSED_SENDS: FloodLog = FloodLog::new();

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// The prefix a pumping limit counts: the number minus this many trailing digits.
pub const PREFIX_DROP_DIGITS: usize = 4;
/// The first backoff step after the plain cooldown (R15: 1, 2, 4 … 32 min).
const BACKOFF_BASE: Duration = Duration::from_secs(60);

/// Charges one code send to `phone` against every limit, all or nothing, after the pumping
/// checks (kill switch, conversion breaker). Refusals happen before any outbox row exists.
/// `api_client` is the calling API client's id, when the call has one.
pub(crate) async fn charge_send(
    deps: &Deps,
    tenant: &Tenant,
    phone: &PhoneNumber,
    client: &ClientInfo,
    api_client: Option<&str>,
) -> Result<(), CoreError> {
    pumping::check_send(deps, tenant, phone).await?;
    let limits = send_limits(tenant, phone, client.ip, api_client);
    charge(deps, tenant, &limits).await?;
    pumping::record_send(deps, tenant, phone).await
}

/// Before a resend of `existing`: refuses while the challenge cools down or has had its
/// sends (RESOURCE_EXHAUSTED with the wait), charges the send limits, and returns the wait to
/// set after this resend (the escalating backoff).
pub(crate) async fn before_resend(
    deps: &Deps,
    tenant: &Tenant,
    existing: &Challenge,
    client: &ClientInfo,
) -> Result<Duration, CoreError> {
    let now = deps.clock.now();
    let until = |t: chrono::DateTime<chrono::Utc>| (t - now).to_std().unwrap_or_default();
    if now < existing.resend_at {
        return Err(CoreError::RateLimited {
            retry_after: until(existing.resend_at),
        });
    }
    if existing.sends >= existing.max_sends {
        // A new challenge is needed; this one ends at its expiry.
        return Err(CoreError::RateLimited {
            retry_after: until(existing.expires_at),
        });
    }
    if let Some(phone) = &existing.phone {
        charge_send(deps, tenant, phone, client, None).await?;
    }
    Ok(resend_wait(
        tenant,
        existing.sends.saturating_add(1),
        &mut rand::rng(),
    ))
}

/// Charges one password attempt against the per-IP budget (R13), before the account is
/// looked up, so known and unknown logins spend alike.
pub(crate) async fn charge_password_attempt(
    deps: &Deps,
    tenant: &Tenant,
    client: &ClientInfo,
) -> Result<(), CoreError> {
    let Some(ip) = client.ip else { return Ok(()) };
    let limits = [Limit {
        key: format!("pw:ip:{}", ip_key(ip)),
        max: tenant.policy.limits.password_per_ip_per_hour,
        window: HOUR,
    }];
    charge(deps, tenant, &limits).await
}

/// The limits of one send, most specific first (the first full one names the retry-after).
pub(crate) fn send_limits(
    tenant: &Tenant,
    phone: &PhoneNumber,
    ip: Option<IpAddr>,
    api_client: Option<&str>,
) -> Vec<Limit> {
    let p = &tenant.policy.limits;
    let mut limits = vec![Limit {
        key: format!("send:num:{}", phone.e164()),
        max: p.per_number_per_day,
        window: DAY,
    }];
    if let Some(ip) = ip {
        limits.push(Limit {
            key: format!("send:ip:{}", ip_key(ip)),
            max: p.per_ip_per_hour,
            window: HOUR,
        });
    }
    limits.push(Limit {
        key: format!("send:pre:{}", phone.prefix(PREFIX_DROP_DIGITS)),
        max: p.per_prefix_per_hour,
        window: HOUR,
    });
    limits.push(Limit {
        key: match phone.region() {
            Some(r) => format!("send:cc:{}", r.as_str()),
            None => "send:cc:ZZ".to_owned(),
        },
        max: p.per_country_per_day,
        window: DAY,
    });
    if let Some(id) = api_client {
        limits.push(Limit {
            key: format!("send:api:{id}"),
            max: p.per_api_client_per_hour,
            window: HOUR,
        });
    }
    limits.push(Limit {
        key: "send:tenant".to_owned(),
        max: p.per_tenant_per_hour,
        window: HOUR,
    });
    limits
}

async fn charge(deps: &Deps, tenant: &Tenant, limits: &[Limit]) -> Result<(), CoreError> {
    let scope = tenant.id.to_string();
    match deps
        .store
        .check_limits(&scope, limits, deps.clock.now())
        .await?
    {
        RateDecision::Allowed => Ok(()),
        RateDecision::Denied {
            limit_index,
            retry_after,
        } => {
            let which = limits
                .get(limit_index)
                .and_then(|l| l.key.split(':').nth(1))
                .unwrap_or("?");
            tracing::debug!(tenant = %tenant.id, limit = which, "send refused by a rate limit");
            if let Some(refused) = REFUSED_SENDS.event(deps.clock.now()) {
                tracing::info!(
                    tenant = %tenant.id,
                    limit = which,
                    refused_since_last_line = refused,
                    "sends refused by rate limits (tenant and limit: of the latest)"
                );
            }
            Err(CoreError::RateLimited { retry_after })
        }
    }
}

/// IPv6 clients are counted per /64: one end user usually holds a whole /64.
fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The wait before the next resend once a challenge has had `sends` sends (R15): the
/// tenant's plain cooldown after the first send, then 1, 2, 4 … minutes up to
/// `resend_backoff_max`, each ± `resend_jitter_percent`, never below the plain cooldown and
/// never above the cap; the waits never decrease.
pub fn resend_wait(tenant: &Tenant, sends: u32, rng: &mut impl Rng) -> Duration {
    let cooldown = tenant.policy.code.resend_cooldown;
    let p = &tenant.policy.limits;
    if sends <= 1 {
        return cooldown;
    }
    // Jitter applies to the uncapped step and the cap after it: adjacent steps differ by 2×,
    // more than the jitter's 1.5× spread, so the waits never decrease, even at the cap.
    let Some(nominal) = 1u32
        .checked_shl(sends - 2)
        .and_then(|factor| BACKOFF_BASE.checked_mul(factor))
        .filter(|d| *d <= p.resend_backoff_max.saturating_mul(2))
    else {
        return p.resend_backoff_max;
    };
    let jitter = f64::from(p.resend_jitter_percent.min(30)) / 100.0;
    let scale = if jitter > 0.0 {
        rng.random_range(1.0 - jitter..=1.0 + jitter)
    } else {
        1.0
    };
    nominal
        .mul_f64(scale)
        .clamp(cooldown.min(p.resend_backoff_max), p.resend_backoff_max)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ids::TenantId;
    use crate::tenant::Policy;

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::random(),
            slug: "t".into(),
            name: "T".into(),
            app_name: "T".into(),
            policy: Policy::default(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn r15_resend_backoff_escalates() {
        let t = tenant();
        let mut rng = rand::rng();
        for _ in 0..1000 {
            let waits: Vec<Duration> = (1..=10).map(|n| resend_wait(&t, n, &mut rng)).collect();
            assert_eq!(waits[0], Duration::from_secs(60));
            for pair in waits.windows(2) {
                assert!(pair[0] <= pair[1], "{waits:?}");
            }
            assert!(waits.iter().all(|w| *w <= Duration::from_secs(32 * 60)));
            // 1 min ± 20 %, but never below the cooldown; 2 min ± 20 %.
            assert!((Duration::from_secs(60)..=Duration::from_secs(72)).contains(&waits[1]));
            assert!((Duration::from_secs(96)..=Duration::from_secs(144)).contains(&waits[2]));
            assert_eq!(waits[9], Duration::from_secs(32 * 60));
        }
    }

    #[test]
    fn pumping_prefix_limit_keys_adjacent_numbers_together() {
        let t = tenant();
        let a = PhoneNumber::parse("+14155550100", None).unwrap();
        let b = PhoneNumber::parse("+14155550199", None).unwrap();
        let key = |p| {
            send_limits(&t, p, None, None)
                .into_iter()
                .find(|l| l.key.starts_with("send:pre:"))
                .unwrap()
                .key
        };
        assert_eq!(key(&a), key(&b));
        assert_eq!(key(&a), "send:pre:+1415555");
    }

    #[test]
    fn every_layer_is_charged_and_ipv6_counts_per_64() {
        let t = tenant();
        let p = PhoneNumber::parse("+14155550100", None).unwrap();
        let ip: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let keys: Vec<String> = send_limits(&t, &p, Some(ip), Some("api-1"))
            .into_iter()
            .map(|l| l.key)
            .collect();
        assert_eq!(
            keys,
            [
                "send:num:+14155550100",
                "send:ip:2001:db8:1:2::/64",
                "send:pre:+1415555",
                "send:cc:US",
                "send:api:api-1",
                "send:tenant",
            ]
        );
    }
}

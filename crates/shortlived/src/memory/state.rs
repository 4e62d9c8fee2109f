//! The in-memory store's data and its decisions, one method per contract method, all
//! synchronous: the caller holds the lock for exactly one call.
//!
//! Each decision mirrors the Redis store's Lua script of the same name, in the same order of
//! checks and in the same unit (milliseconds), so both stores answer alike.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use twostep_core::challenge::Challenge;
use twostep_core::ids::ChallengeId;
use twostep_core::otp::CodeMac;
use twostep_core::ports::{Limit, RateDecision, ResendOutcome, VerifyOutcome};
use twostep_core::token::TokenHash;

use crate::{TTL_MARGIN, millis};

#[derive(Default)]
pub(super) struct State {
    challenges: HashMap<ChallengeId, Challenge>,
    /// Sliding-window logs by `(scope, limit key)`.
    limits: HashMap<(String, String), HitLog>,
    failures: HashMap<String, Failures>,
    tickets: HashMap<TokenHash, Ticket>,
    next_sweep_ms: i64,
}

/// The hit times (ms) of one limit still inside its window, in no particular order: callers
/// may pass slightly different `now`s, so the log is not assumed to be sorted.
struct HitLog {
    hits: Vec<i64>,
    window_ms: i64,
}

struct Failures {
    count: u32,
    expires_ms: i64,
}

struct Ticket {
    payload: String,
    expires_ms: i64,
}

// === impl State ===

impl State {
    pub(super) fn create(&mut self, challenge: &Challenge) {
        let mut c = challenge.clone();
        c.sends = 1;
        c.created_at = millis::truncate(c.created_at);
        c.expires_at = millis::truncate(c.expires_at);
        c.resend_at = millis::truncate(c.resend_at);
        c.resend_cooldown = millis::to_duration(millis::from_duration(c.resend_cooldown));
        self.challenges.insert(c.id, c);
    }

    pub(super) fn resend(
        &mut self,
        id: ChallengeId,
        new_mac: CodeMac,
        now: i64,
        new_expires_at: DateTime<Utc>,
        next_wait: Option<Duration>,
    ) -> ResendOutcome {
        let Some(c) = self.challenges.get_mut(&id) else {
            return ResendOutcome::NotFound;
        };
        if millis::from_time(c.expires_at) <= now {
            return ResendOutcome::NotFound;
        }
        if c.attempts_left == 0 {
            self.challenges.remove(&id);
            return ResendOutcome::NotFound;
        }
        if c.sends >= c.max_sends {
            return ResendOutcome::SendCapReached;
        }
        let resend_at = millis::from_time(c.resend_at);
        if now < resend_at {
            return ResendOutcome::Cooldown {
                retry_after: millis::to_duration(resend_at - now),
            };
        }
        let wait = next_wait.unwrap_or(c.resend_cooldown);
        let next_resend = now.saturating_add(millis::from_duration(wait));
        let Some(resend_at) = millis::to_time(next_resend) else {
            return ResendOutcome::NotFound;
        };
        c.code_mac = new_mac;
        c.sends = c.sends.saturating_add(1);
        c.resend_at = resend_at;
        c.expires_at = millis::truncate(new_expires_at);
        ResendOutcome::Resent(c.clone())
    }

    pub(super) fn verify(
        &mut self,
        id: ChallengeId,
        candidate: &CodeMac,
        now: i64,
    ) -> VerifyOutcome {
        let Some(c) = self.challenges.get_mut(&id) else {
            return VerifyOutcome::NotFound;
        };
        if millis::from_time(c.expires_at) <= now {
            return VerifyOutcome::NotFound;
        }
        if c.attempts_left == 0 {
            self.challenges.remove(&id);
            return VerifyOutcome::NotFound;
        }
        if c.code_mac.ct_eq(candidate) {
            return match self.challenges.remove(&id) {
                Some(c) => VerifyOutcome::Verified(c),
                None => VerifyOutcome::NotFound,
            };
        }
        c.attempts_left -= 1;
        let (attempts_left, user) = (c.attempts_left, c.user);
        if attempts_left == 0 {
            self.challenges.remove(&id);
        }
        VerifyOutcome::Rejected {
            attempts_left,
            user,
        }
    }

    pub(super) fn get(&self, id: ChallengeId, now: i64) -> Option<Challenge> {
        self.challenges
            .get(&id)
            .filter(|c| millis::from_time(c.expires_at) > now && c.attempts_left > 0)
            .cloned()
    }

    pub(super) fn check_limits(&mut self, scope: &str, limits: &[Limit], now: i64) -> RateDecision {
        for (limit_index, limit) in limits.iter().enumerate() {
            let window = millis::from_duration(limit.window);
            let Some(log) = self.limits.get_mut(&(scope.to_owned(), limit.key.clone())) else {
                if limit.max == 0 {
                    return RateDecision::Denied {
                        limit_index,
                        retry_after: limit.window,
                    };
                }
                continue;
            };
            log.trim(now, window);
            if log.hits.len() >= usize::try_from(limit.max).unwrap_or(usize::MAX) {
                let retry_after = match log.hits.iter().min() {
                    Some(oldest) => millis::to_duration(oldest + window - now),
                    None => limit.window,
                };
                return RateDecision::Denied {
                    limit_index,
                    retry_after,
                };
            }
        }
        for limit in limits {
            let log = self
                .limits
                .entry((scope.to_owned(), limit.key.clone()))
                .or_insert_with(|| HitLog {
                    hits: Vec::new(),
                    window_ms: 0,
                });
            log.window_ms = millis::from_duration(limit.window);
            log.hits.push(now);
        }
        RateDecision::Allowed
    }

    pub(super) fn record_failure(&mut self, account: &str, window: Duration, now: i64) -> u32 {
        let expires_ms = now.saturating_add(millis::from_duration(window));
        let entry = self.failures.entry(account.to_owned()).or_insert(Failures {
            count: 0,
            expires_ms,
        });
        if entry.expires_ms <= now {
            *entry = Failures {
                count: 0,
                expires_ms,
            };
        }
        entry.count = entry.count.saturating_add(1);
        entry.count
    }

    pub(super) fn failure_count(&self, account: &str, now: i64) -> u32 {
        self.failures
            .get(account)
            .filter(|f| f.expires_ms > now)
            .map_or(0, |f| f.count)
    }

    pub(super) fn delete_challenge(&mut self, id: ChallengeId) -> bool {
        self.challenges.remove(&id).is_some()
    }

    pub(super) fn clear_failures(&mut self, account: &str) {
        self.failures.remove(account);
    }

    pub(super) fn put_ticket(&mut self, hash: TokenHash, payload: &str, expires_ms: i64, now: i64) {
        self.tickets.remove(&hash);
        if expires_ms > now {
            self.tickets.insert(
                hash,
                Ticket {
                    payload: payload.to_owned(),
                    expires_ms,
                },
            );
        }
    }

    pub(super) fn peek_ticket(&self, hash: TokenHash, now: i64) -> Option<String> {
        self.tickets
            .get(&hash)
            .filter(|t| t.expires_ms > now)
            .map(|t| t.payload.clone())
    }

    pub(super) fn take_ticket(&mut self, hash: TokenHash, now: i64) -> Option<String> {
        self.tickets
            .remove(&hash)
            .filter(|t| t.expires_ms > now)
            .map(|t| t.payload)
    }

    /// Drops every entry that can no longer be used, at most once per `every_ms` of clock
    /// time. Challenges are kept for the same margin after expiry as their Redis keys.
    pub(super) fn sweep_if_due(&mut self, now: i64, every_ms: i64) {
        if now < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now.saturating_add(every_ms);
        let margin = millis::from_duration(TTL_MARGIN);
        self.challenges.retain(|_, c| {
            c.attempts_left > 0 && millis::from_time(c.expires_at).saturating_add(margin) > now
        });
        self.limits.retain(|_, log| {
            log.trim(now, log.window_ms);
            !log.hits.is_empty()
        });
        self.failures.retain(|_, f| f.expires_ms > now);
        self.tickets.retain(|_, t| t.expires_ms > now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.challenges.len() + self.limits.len() + self.failures.len() + self.tickets.len()
    }
}

// === impl HitLog ===

impl HitLog {
    /// Forgets the hits that have left the window: those at or before `now - window`.
    fn trim(&mut self, now: i64, window_ms: i64) {
        let cutoff = now.saturating_sub(window_ms);
        self.hits.retain(|&t| t > cutoff);
    }
}

#[cfg(test)]
mod tests;

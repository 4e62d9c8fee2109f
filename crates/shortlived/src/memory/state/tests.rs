use std::time::Duration;

use chrono::Utc;
use twostep_core::challenge::{Challenge, Purpose};
use twostep_core::ids::{ChallengeId, TenantId};
use twostep_core::otp::CodeMac;
use twostep_core::ports::Limit;
use twostep_core::token::TokenHash;

use super::State;
use crate::{TTL_MARGIN, millis};

fn challenge(now: i64, lifetime_ms: i64) -> Challenge {
    let at = |ms| millis::to_time(ms).unwrap();
    Challenge {
        id: ChallengeId::random(),
        tenant: TenantId::random(),
        purpose: Purpose::PhoneLogin,
        user: None,
        phone: None,
        decoy: false,
        context: String::new(),
        code_mac: CodeMac::unmatchable(),
        attempts_left: 5,
        sends: 1,
        max_sends: 5,
        created_at: at(now),
        expires_at: at(now + lifetime_ms),
        resend_at: at(now),
        resend_cooldown: Duration::ZERO,
    }
}

#[test]
fn the_sweep_drops_what_nobody_came_back_for() {
    let now = millis::from_time(Utc::now());
    let mut state = State::default();
    state.create(&challenge(now, 1_000));
    let limit = Limit {
        key: "k".into(),
        max: 3,
        window: Duration::from_secs(1),
    };
    state.check_limits("s", &[limit], now);
    state.record_failure("a", Duration::from_secs(1), now);
    state.put_ticket(TokenHash::from_bytes([7; 32]), "p", now + 1_000, now);
    state.sweep_if_due(now, 10_000);
    assert_eq!(state.len(), 4, "nothing is due yet");

    state.sweep_if_due(now + 5_000, 10_000);
    assert_eq!(state.len(), 4, "a sweep runs at most once per interval");
    state.sweep_if_due(now + 10_000, 10_000);
    assert_eq!(state.len(), 1, "only the challenge is kept, for its margin");
    state.sweep_if_due(now + 1_000 + millis::from_duration(TTL_MARGIN), 10_000);
    assert_eq!(state.len(), 0);
}

#[test]
fn a_limit_of_zero_denies_with_the_window() {
    let mut state = State::default();
    let limit = Limit {
        key: "k".into(),
        max: 0,
        window: Duration::from_secs(9),
    };
    let decision = state.check_limits("s", &[limit], 0);
    assert_eq!(
        decision,
        twostep_core::ports::RateDecision::Denied {
            limit_index: 0,
            retry_after: Duration::from_secs(9)
        }
    );
}

//! Challenges and MACs for the cases.

use std::time::Duration;

use chrono::{DateTime, Utc};
use twostep_core::challenge::{Challenge, Purpose};
use twostep_core::ids::{ChallengeId, TenantId, UserId};
use twostep_core::otp::CodeMac;
use twostep_core::phone::PhoneNumber;

pub const LIFETIME: Duration = Duration::from_secs(300);
pub const COOLDOWN: Duration = Duration::from_secs(60);

/// A MAC standing for "code number `n`".
pub fn mac(n: u8) -> CodeMac {
    CodeMac::from_bytes([n; 32])
}

/// A live challenge created at `now` whose right code is `mac(1)`: 5 attempts, 5 sends,
/// a 5-minute lifetime and a 60-second resend cooldown.
pub fn challenge(now: DateTime<Utc>) -> Challenge {
    Challenge {
        id: ChallengeId::random(),
        tenant: TenantId::random(),
        purpose: Purpose::PhoneLogin,
        user: Some(UserId::random()),
        phone: Some(PhoneNumber::from_e164("+14155550100").unwrap()),
        decoy: false,
        context: String::new(),
        code_mac: mac(1),
        attempts_left: 5,
        sends: 1,
        max_sends: 5,
        created_at: now,
        expires_at: now + LIFETIME,
        resend_at: now + COOLDOWN,
        resend_cooldown: COOLDOWN,
    }
}

/// `t` as a store gives it back: truncated to the millisecond.
pub fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
}

/// `c` as a store gives it back.
pub fn stored(c: &Challenge) -> Challenge {
    Challenge {
        created_at: ms(c.created_at),
        expires_at: ms(c.expires_at),
        resend_at: ms(c.resend_at),
        ..c.clone()
    }
}

pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

//! The Lua scripts (one per decision, in `lua/`) and the KEYS and ARGV of each call.
//!
//! A `redis::Script` sends EVALSHA and, on NOSCRIPT (a restarted or failed-over Redis lost
//! its script cache), loads the script and sends EVALSHA again. On a cluster the load goes
//! to every primary.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::{Script, ScriptInvocation};
use twostep_core::challenge::Challenge;
use twostep_core::ids::ChallengeId;
use twostep_core::otp::CodeMac;
use twostep_core::ports::Limit;
use twostep_core::token::TokenHash;

use super::codec::challenge_fields;
use super::keys::Keys;
use crate::{TTL_MARGIN, millis};

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(super) static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(include_str!(concat!("lua/", $file))));
    };
}

script!(CREATE_CHALLENGE, "create_challenge.lua");
script!(VERIFY_CHALLENGE, "verify_challenge.lua");
script!(RESEND_CHALLENGE, "resend_challenge.lua");
script!(GET_CHALLENGE, "get_challenge.lua");
script!(CHECK_LIMITS, "check_limits.lua");
script!(RECORD_FAILURE, "record_failure.lua");
script!(PUT_TICKET, "put_ticket.lua");
script!(TAKE_TICKET, "take_ticket.lua");

/// One script call: the script and its KEYS and ARGV.
pub(super) struct Call {
    pub(super) script: &'static Script,
    pub(super) keys: Vec<String>,
    pub(super) args: Vec<String>,
}

impl Call {
    pub(super) fn invocation(&self) -> ScriptInvocation<'static> {
        let mut inv = self.script.prepare_invoke();
        for key in &self.keys {
            inv.key(key);
        }
        for arg in &self.args {
            inv.arg(arg);
        }
        inv
    }
}

fn margin_ms() -> i64 {
    millis::from_duration(TTL_MARGIN)
}

pub(super) fn create_challenge(keys: &Keys, c: &Challenge) -> Call {
    let fields = challenge_fields(c);
    let mut args = Vec::with_capacity(1 + 2 * fields.len());
    args.push(
        millis::from_time(c.expires_at)
            .saturating_add(margin_ms())
            .to_string(),
    );
    for (name, value) in fields {
        args.push(name.to_owned());
        args.push(value);
    }
    Call {
        script: &CREATE_CHALLENGE,
        keys: vec![keys.challenge(c.id)],
        args,
    }
}

pub(super) fn verify_challenge(
    keys: &Keys,
    id: ChallengeId,
    candidate: &CodeMac,
    now: DateTime<Utc>,
) -> Call {
    Call {
        script: &VERIFY_CHALLENGE,
        keys: vec![keys.challenge(id)],
        args: vec![candidate.to_hex(), millis::from_time(now).to_string()],
    }
}

pub(super) fn resend_challenge(
    keys: &Keys,
    id: ChallengeId,
    new_mac: &CodeMac,
    now: DateTime<Utc>,
    new_expires_at: DateTime<Utc>,
) -> Call {
    Call {
        script: &RESEND_CHALLENGE,
        keys: vec![keys.challenge(id)],
        args: vec![
            new_mac.to_hex(),
            millis::from_time(now).to_string(),
            millis::from_time(new_expires_at).to_string(),
            margin_ms().to_string(),
        ],
    }
}

pub(super) fn get_challenge(keys: &Keys, id: ChallengeId, now: DateTime<Utc>) -> Call {
    Call {
        script: &GET_CHALLENGE,
        keys: vec![keys.challenge(id)],
        args: vec![millis::from_time(now).to_string()],
    }
}

/// `member` must be unique to this call (a random id): it makes each hit a distinct
/// sorted-set member even when two calls share a millisecond.
pub(super) fn check_limits(
    keys: &Keys,
    scope: &str,
    limits: &[Limit],
    now: DateTime<Utc>,
    member: &str,
) -> Call {
    let mut args = Vec::with_capacity(3 + 2 * limits.len());
    args.push(millis::from_time(now).to_string());
    args.push(member.to_owned());
    args.push(margin_ms().to_string());
    for limit in limits {
        args.push(limit.max.to_string());
        args.push(millis::from_duration(limit.window).to_string());
    }
    Call {
        script: &CHECK_LIMITS,
        keys: limits.iter().map(|l| keys.limit(scope, &l.key)).collect(),
        args,
    }
}

pub(super) fn record_failure(keys: &Keys, account: &str, window: Duration) -> Call {
    Call {
        script: &RECORD_FAILURE,
        keys: vec![keys.failures(account)],
        args: vec![millis::from_duration(window).to_string()],
    }
}

pub(super) fn put_ticket(
    keys: &Keys,
    hash: &TokenHash,
    payload: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Call {
    Call {
        script: &PUT_TICKET,
        keys: vec![keys.ticket(hash)],
        args: vec![
            payload.to_owned(),
            millis::from_time(expires_at).to_string(),
            millis::from_time(now).to_string(),
        ],
    }
}

pub(super) fn take_ticket(keys: &Keys, hash: &TokenHash, now: DateTime<Utc>) -> Call {
    Call {
        script: &TAKE_TICKET,
        keys: vec![keys.ticket(hash)],
        args: vec![millis::from_time(now).to_string()],
    }
}

//! The Lua scripts (one per decision, in `lua/`) and the EVALSHA command of each call.
//!
//! Each call is built once, straight into one command buffer (no intermediate strings), and
//! sent as EVALSHA; when Redis answers NOSCRIPT (a restarted or failed-over server lost its
//! script cache) the script is loaded with `redis::Script::load_async` (on a cluster: on
//! every primary) and the same command is sent again, as `redis::Script::invoke_async` does.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind};
use twostep_core::challenge::Challenge;
use twostep_core::ids::ChallengeId;
use twostep_core::otp::CodeMac;
use twostep_core::ports::Limit;
use twostep_core::token::TokenHash;

use super::codec::{hex32, write_challenge_fields};
use super::keys::Keys;
use crate::{TTL_MARGIN, millis};

macro_rules! script {
    ($name:ident, $file:literal) => {
        static $name: LazyLock<Script> =
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

/// One script call: `EVALSHA <sha> <numkeys> KEYS... ARGV...`, and the script to load should
/// Redis not know it.
pub(super) struct Call {
    script: &'static Script,
    cmd: Cmd,
    replay: Replay,
}

/// Whether a call may be sent again when its reply was lost (the connection broke after it
/// was sent): the first one may have run. Counting and consuming scripts must not run twice
/// (a limit hit counted twice, a right code consumed and then answered "not found"); a
/// read, or a write that replaces a whole key, can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    Safe,
    Unsafe,
}

impl Call {
    /// Starts `EVALSHA` of `script` with these keys; the caller appends `argc` ARGV of
    /// about `arg_bytes` bytes in all (sizing the buffer once; a wrong guess only costs a
    /// reallocation).
    fn new<K: AsRef<str>>(
        script: &'static Script,
        replay: Replay,
        keys: &[K],
        argc: usize,
        arg_bytes: usize,
    ) -> Self {
        let key_bytes: usize = keys.iter().map(|k| k.as_ref().len()).sum();
        let mut cmd = Cmd::with_capacity(3 + keys.len() + argc, 7 + 40 + 4 + key_bytes + arg_bytes);
        cmd.arg("EVALSHA");
        cmd.arg(script.get_hash()).arg(keys.len());
        for key in keys {
            cmd.arg(key.as_ref());
        }
        Self {
            script,
            cmd,
            replay,
        }
    }

    pub(super) fn cmd(&self) -> &Cmd {
        &self.cmd
    }

    pub(super) fn replay(&self) -> Replay {
        self.replay
    }

    pub(super) async fn invoke<T, C>(&self, conn: &mut C) -> RedisResult<T>
    where
        T: FromRedisValue,
        C: ConnectionLike,
    {
        match self.cmd.query_async(conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script.load_async(conn).await?;
                self.cmd.query_async(conn).await
            }
            res => res,
        }
    }
}

fn margin_ms() -> i64 {
    millis::from_duration(TTL_MARGIN)
}

pub(super) fn create_challenge(keys: &Keys, c: &Challenge) -> Call {
    let mut call = Call::new(
        &CREATE_CHALLENGE,
        Replay::Safe,
        &[keys.challenge(c.id)],
        29,
        420 + c.context.len(),
    );
    call.cmd
        .arg(millis::from_time(c.expires_at).saturating_add(margin_ms()));
    write_challenge_fields(&mut call.cmd, c);
    call
}

pub(super) fn verify_challenge(
    keys: &Keys,
    id: ChallengeId,
    candidate: &CodeMac,
    now: DateTime<Utc>,
) -> Call {
    let mut call = Call::new(
        &VERIFY_CHALLENGE,
        Replay::Unsafe,
        &[keys.challenge(id)],
        2,
        80,
    );
    call.cmd
        .arg(&hex32(candidate.as_bytes())[..])
        .arg(millis::from_time(now));
    call
}

pub(super) fn resend_challenge(
    keys: &Keys,
    id: ChallengeId,
    new_mac: &CodeMac,
    now: DateTime<Utc>,
    new_expires_at: DateTime<Utc>,
    next_wait: Option<Duration>,
) -> Call {
    let mut call = Call::new(
        &RESEND_CHALLENGE,
        Replay::Unsafe,
        &[keys.challenge(id)],
        5,
        130,
    );
    call.cmd
        .arg(&hex32(new_mac.as_bytes())[..])
        .arg(millis::from_time(now))
        .arg(millis::from_time(new_expires_at))
        .arg(margin_ms())
        // -1: the challenge's own cooldown.
        .arg(next_wait.map_or(-1, millis::from_duration));
    call
}

pub(super) fn get_challenge(keys: &Keys, id: ChallengeId, now: DateTime<Utc>) -> Call {
    let mut call = Call::new(&GET_CHALLENGE, Replay::Safe, &[keys.challenge(id)], 1, 16);
    call.cmd.arg(millis::from_time(now));
    call
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
    let limit_keys: Vec<String> = limits.iter().map(|l| keys.limit(scope, &l.key)).collect();
    let mut call = Call::new(
        &CHECK_LIMITS,
        Replay::Unsafe,
        &limit_keys,
        3 + 2 * limits.len(),
        64 + 24 * limits.len(),
    );
    call.cmd
        .arg(millis::from_time(now))
        .arg(member)
        .arg(margin_ms());
    for limit in limits {
        call.cmd
            .arg(limit.max)
            .arg(millis::from_duration(limit.window));
    }
    call
}

pub(super) fn record_failure(keys: &Keys, account: &str, window: Duration) -> Call {
    let mut call = Call::new(
        &RECORD_FAILURE,
        Replay::Unsafe,
        &[keys.failures(account)],
        1,
        16,
    );
    call.cmd.arg(millis::from_duration(window));
    call
}

pub(super) fn put_ticket(
    keys: &Keys,
    hash: &TokenHash,
    payload: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Call {
    let mut call = Call::new(
        &PUT_TICKET,
        Replay::Safe,
        &[keys.ticket(hash)],
        3,
        32 + payload.len(),
    );
    call.cmd
        .arg(payload)
        .arg(millis::from_time(expires_at))
        .arg(millis::from_time(now));
    call
}

pub(super) fn take_ticket(keys: &Keys, hash: &TokenHash, now: DateTime<Utc>) -> Call {
    let mut call = Call::new(&TAKE_TICKET, Replay::Unsafe, &[keys.ticket(hash)], 1, 16);
    call.cmd.arg(millis::from_time(now));
    call
}

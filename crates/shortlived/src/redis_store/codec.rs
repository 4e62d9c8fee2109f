//! Challenges as Redis hash fields, and the replies of the scripts as outcomes.
//!
//! Times are whole milliseconds since the epoch, durations whole milliseconds, the MAC is
//! hex, an absent user or phone is the empty string, `decoy` is `0` or `1`.

use super::error::Failure;
use super::phones::PhoneCache;
use crate::millis;
use redis::{Cmd, Value};
use twostep_core::challenge::{Challenge, Purpose};
use twostep_core::ids::{ChallengeId, UserId};
use twostep_core::otp::CodeMac;
use uuid::Uuid;

/// Appends the fields of a stored challenge to `cmd` as `field, value, ...` (`HSET` order),
/// written straight into the command's buffer. `sends` is always 1: the contract stores a
/// new challenge with one send.
pub(super) fn write_challenge_fields(cmd: &mut Cmd, c: &Challenge) {
    let mut uuid = Uuid::encode_buffer();
    cmd.arg("tenant")
        .arg(&*c.tenant.as_uuid().hyphenated().encode_lower(&mut uuid));
    cmd.arg("purpose").arg(c.purpose.as_str());
    match c.user {
        Some(user) => cmd
            .arg("user")
            .arg(&*user.as_uuid().hyphenated().encode_lower(&mut uuid)),
        None => cmd.arg("user").arg(""),
    };
    cmd.arg("phone")
        .arg(c.phone.as_ref().map_or("", |p| p.e164()));
    cmd.arg("decoy").arg(if c.decoy { "1" } else { "0" });
    cmd.arg("context").arg(&c.context);
    cmd.arg("mac").arg(&hex32(c.code_mac.as_bytes())[..]);
    cmd.arg("attempts_left").arg(c.attempts_left);
    cmd.arg("sends").arg(1u32);
    cmd.arg("max_sends").arg(c.max_sends);
    cmd.arg("created").arg(millis::from_time(c.created_at));
    cmd.arg("expires").arg(millis::from_time(c.expires_at));
    cmd.arg("resend_at").arg(millis::from_time(c.resend_at));
    cmd.arg("cooldown")
        .arg(millis::from_duration(c.resend_cooldown));
}

/// Lowercase hex of 32 bytes (a MAC or a token hash), without allocating. The same encoding
/// as `CodeMac::to_hex`, which `from_hex` reads back.
pub(super) fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

/// A challenge from `field, value, ...` as `HGETALL` lists them.
pub(super) fn challenge_from_fields(
    id: ChallengeId,
    flat: &[Value],
    phones: &PhoneCache,
) -> Result<Challenge, Failure> {
    let mut f = Fields::default();
    for pair in flat.chunks(2) {
        let [name, value] = pair else {
            return Err(Failure::Decode("odd number of challenge fields"));
        };
        let value = text(value).ok_or(Failure::Decode("challenge field is not text"))?;
        match text(name).ok_or(Failure::Decode("challenge field name is not text"))? {
            "tenant" => f.tenant = Some(value),
            "purpose" => f.purpose = Some(value),
            "user" => f.user = Some(value),
            "phone" => f.phone = Some(value),
            "decoy" => f.decoy = Some(value),
            "context" => f.context = Some(value),
            "mac" => f.mac = Some(value),
            "attempts_left" => f.attempts_left = Some(value),
            "sends" => f.sends = Some(value),
            "max_sends" => f.max_sends = Some(value),
            "created" => f.created = Some(value),
            "expires" => f.expires = Some(value),
            "resend_at" => f.resend_at = Some(value),
            "cooldown" => f.cooldown = Some(value),
            _ => {}
        }
    }
    f.into_challenge(id, phones)
}

/// The first element of a script's array reply (its status) and the rest.
pub(super) fn status(reply: &Value) -> Result<(i64, &[Value]), Failure> {
    match reply {
        Value::Array(items) => match items.split_first() {
            Some((first, rest)) => Ok((int(first)?, rest)),
            None => Err(Failure::Decode("empty script reply")),
        },
        _ => Err(Failure::Decode("script reply is not an array")),
    }
}

pub(super) fn int(v: &Value) -> Result<i64, Failure> {
    match v {
        Value::Int(n) => Ok(*n),
        other => text(other)
            .and_then(|s| s.parse().ok())
            .ok_or(Failure::Decode("expected an integer")),
    }
}

/// An integer reply as a count, clamped to `0..=u32::MAX`.
pub(super) fn count(v: &Value) -> Result<u32, Failure> {
    Ok(u32::try_from(int(v)?.max(0)).unwrap_or(u32::MAX))
}

pub(super) fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

/// A user id as the verify script returns it: empty for none.
pub(super) fn user(v: &Value) -> Result<Option<UserId>, Failure> {
    if matches!(v, Value::Nil) {
        return Ok(None);
    }
    match text(v).ok_or(Failure::Decode("user is not text"))? {
        "" => Ok(None),
        s => s
            .parse()
            .map(Some)
            .map_err(|_| Failure::Decode("user is not an id")),
    }
}

#[derive(Default)]
struct Fields<'a> {
    tenant: Option<&'a str>,
    purpose: Option<&'a str>,
    user: Option<&'a str>,
    phone: Option<&'a str>,
    decoy: Option<&'a str>,
    context: Option<&'a str>,
    mac: Option<&'a str>,
    attempts_left: Option<&'a str>,
    sends: Option<&'a str>,
    max_sends: Option<&'a str>,
    created: Option<&'a str>,
    expires: Option<&'a str>,
    resend_at: Option<&'a str>,
    cooldown: Option<&'a str>,
}

impl Fields<'_> {
    fn into_challenge(self, id: ChallengeId, phones: &PhoneCache) -> Result<Challenge, Failure> {
        fn need<'a>(v: Option<&'a str>, what: &'static str) -> Result<&'a str, Failure> {
            v.ok_or(Failure::Decode(what))
        }
        fn num<T: std::str::FromStr>(v: Option<&str>, what: &'static str) -> Result<T, Failure> {
            need(v, what)?.parse().map_err(|_| Failure::Decode(what))
        }
        fn time(
            v: Option<&str>,
            what: &'static str,
        ) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
            millis::to_time(num(v, what)?).ok_or(Failure::Decode(what))
        }
        let user = match need(self.user, "challenge user")? {
            "" => None,
            s => Some(s.parse().map_err(|_| Failure::Decode("challenge user"))?),
        };
        let phone = match need(self.phone, "challenge phone")? {
            "" => None,
            s => Some(phones.parse(s).ok_or(Failure::Decode("challenge phone"))?),
        };
        let attempts_left: i64 = num(self.attempts_left, "challenge attempts_left")?;
        Ok(Challenge {
            id,
            tenant: need(self.tenant, "challenge tenant")?
                .parse()
                .map_err(|_| Failure::Decode("challenge tenant"))?,
            purpose: Purpose::parse(need(self.purpose, "challenge purpose")?)
                .ok_or(Failure::Decode("challenge purpose"))?,
            user,
            phone,
            decoy: need(self.decoy, "challenge decoy")? == "1",
            context: need(self.context, "challenge context")?.to_owned(),
            code_mac: CodeMac::from_hex(need(self.mac, "challenge mac")?)
                .ok_or(Failure::Decode("challenge mac"))?,
            attempts_left: u32::try_from(attempts_left.max(0)).unwrap_or(u32::MAX),
            sends: num(self.sends, "challenge sends")?,
            max_sends: num(self.max_sends, "challenge max_sends")?,
            created_at: time(self.created, "challenge created")?,
            expires_at: time(self.expires, "challenge expires")?,
            resend_at: time(self.resend_at, "challenge resend_at")?,
            resend_cooldown: millis::to_duration(num(self.cooldown, "challenge cooldown")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use twostep_core::ids::TenantId;
    use twostep_core::phone::PhoneNumber;

    use super::*;

    fn flat(c: &Challenge) -> Vec<Value> {
        let mut cmd = redis::cmd("HSET");
        write_challenge_fields(&mut cmd, c);
        cmd.args_iter()
            .skip(1)
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => Value::BulkString(bytes.to_vec()),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn hex_is_that_of_code_mac() {
        let mac = CodeMac::unmatchable();
        assert_eq!(
            std::str::from_utf8(&hex32(mac.as_bytes())).unwrap(),
            mac.to_hex()
        );
    }

    #[test]
    fn a_challenge_round_trips_through_its_fields() {
        let now = millis::truncate(Utc::now());
        let mut c = Challenge {
            id: ChallengeId::random(),
            tenant: TenantId::random(),
            purpose: Purpose::StepUp,
            user: Some(UserId::random()),
            phone: Some(PhoneNumber::from_e164("+14155550100").unwrap()),
            decoy: true,
            context: "device=ä;{x}".into(),
            code_mac: CodeMac::unmatchable(),
            attempts_left: 3,
            sends: 1,
            max_sends: 5,
            created_at: now,
            expires_at: now + chrono::Duration::minutes(5),
            resend_at: now + chrono::Duration::seconds(60),
            resend_cooldown: Duration::from_secs(60),
        };
        assert_eq!(
            challenge_from_fields(c.id, &flat(&c), &PhoneCache::default()).unwrap(),
            c
        );
        c.user = None;
        c.phone = None;
        c.decoy = false;
        assert_eq!(
            challenge_from_fields(c.id, &flat(&c), &PhoneCache::default()).unwrap(),
            c
        );
        let mut broken = flat(&c);
        broken.pop();
        assert!(challenge_from_fields(c.id, &broken, &PhoneCache::default()).is_err());
    }

    #[test]
    fn replies_decode_or_fail_without_panicking() {
        assert!(status(&Value::Array(vec![])).is_err());
        assert!(status(&Value::Nil).is_err());
        assert_eq!(count(&Value::Int(-3)).unwrap(), 0);
        assert_eq!(user(&Value::BulkString(vec![])).unwrap(), None);
        assert!(user(&Value::BulkString(b"nope".to_vec())).is_err());
    }
}

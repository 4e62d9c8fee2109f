//! One request of each scenario, against twostepd (S1 to S6) or the hello-world (B0).

use std::sync::Arc;

use tonic::Status;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use twostep_proto::v1 as pb;

use crate::engine::{Op, Sample};
use crate::numbers::Numbers;
use crate::target::{self, Conns, Tenant, code_name};

fn failed(status: &Status) -> Sample {
    let code = code_name(status.code());
    crate::errors::note(code, status.message());
    Sample::Done {
        code,
        expected: false,
    }
}

/// `grpc.health.v1.Health/Check` of the whole server: B0 on the hello-world, and the same
/// call on twostepd (through its layers) as a diagnostic.
pub struct HealthCheck {
    pub conns: Conns,
}

impl Op for HealthCheck {
    async fn call(&self, seq: u64) -> Sample {
        let mut client = HealthClient::new(self.conns.get(seq));
        match client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
        {
            Ok(_) => Sample::ok(),
            Err(s) => failed(&s),
        }
    }
}

/// Which number a phone StartLogin uses.
pub enum Phones {
    /// A new number every call (S1): no user has it, so the server stores a decoy
    /// challenge; the work is the same as for a user's number except that nothing is sent.
    Distinct { numbers: Arc<Numbers>, offset: u64 },
    /// Numbers of existing users, in turn (S1 with `--known`): codes really go out. Each
    /// number takes 10 sends a day, then the answer is RESOURCE_EXHAUSTED.
    Known(Vec<String>),
    /// One number, over and over (S2): after 10 sends, every answer is RESOURCE_EXHAUSTED.
    One(String),
    /// Numbers of countries the tenant does not allow, in turn (`s2-countries`): every
    /// answer is INVALID_ARGUMENT, after the number is parsed.
    OtherCountries(Vec<String>),
}

pub struct PhoneLogin {
    pub conns: Conns,
    pub tenant: Tenant,
    pub phones: Phones,
}

impl Op for PhoneLogin {
    async fn call(&self, seq: u64) -> Sample {
        let in_turn = |list: &Vec<String>| {
            let i = usize::try_from(seq % list.len().max(1) as u64).unwrap_or(0);
            list.get(i).cloned().unwrap_or_default()
        };
        let (phone, refusal) = match &self.phones {
            Phones::Distinct { numbers, offset } => (numbers.get(offset + seq), None),
            Phones::Known(list) => (in_turn(list), None),
            Phones::One(n) => (n.clone(), Some(tonic::Code::ResourceExhausted)),
            Phones::OtherCountries(list) => (in_turn(list), Some(tonic::Code::InvalidArgument)),
        };
        let req = self.tenant.req(target::phone_login_request(&phone));
        match self.conns.auth(seq).start_login(req).await {
            Ok(resp) => match resp.into_inner().result {
                Some(pb::start_login_response::Result::Challenge(_)) => Sample::ok(),
                _ => Sample::Done {
                    code: "OK_BUT_NO_CHALLENGE",
                    expected: false,
                },
            },
            Err(s) if refusal == Some(s.code()) => Sample::Done {
                code: if s.code() == tonic::Code::ResourceExhausted {
                    "RESOURCE_EXHAUSTED"
                } else {
                    "INVALID_ARGUMENT"
                },
                expected: true,
            },
            Err(s) => failed(&s),
        }
    }
}

/// A challenge and the code that was sent for it.
#[derive(Debug, Clone)]
pub struct Coded {
    pub challenge_id: String,
    pub code: String,
}

/// Wrong attempts sent to each victim challenge: the cap (5 by default) and two past it.
pub const WRONG_PER_VICTIM: u64 = 7;

/// S3: 80 % right codes (each on a fresh challenge, which it consumes and turns into a
/// session) and 20 % wrong codes, sent in bursts of [`WRONG_PER_VICTIM`] to victim
/// challenges, so attempts past the per-challenge cap are part of the mix.
pub struct VerifyMix {
    pub conns: Conns,
    pub tenant: Tenant,
    pub pool: Pool<Coded>,
}

/// How `challenges` prepared challenges divide between fresh ones and victims:
/// `(right, victims)`. Every 5 calls: 4 right (4 challenges) and 1 wrong (1/7 of a victim),
/// so 28 right challenges per victim.
pub const fn split(challenges: usize) -> (usize, usize) {
    let victims = challenges.div_ceil(29);
    let victims = if victims == 0 { 1 } else { victims };
    (challenges.saturating_sub(victims), victims)
}

/// Prepared challenges for the 80/20 verify mix (S3, and B1 of the verify script).
pub struct Pool<T> {
    pub right: Vec<T>,
    pub victims: Vec<T>,
}

impl<T> Pool<T> {
    /// The challenge and code of call `seq`, and whether the code is the right one.
    pub fn pick(&self, seq: u64) -> Option<(&T, bool)> {
        let block = seq / 5;
        if seq % 5 == 4 {
            let i = usize::try_from(block / WRONG_PER_VICTIM).ok()?;
            Some((self.victims.get(i)?, false))
        } else {
            let i = usize::try_from(block * 4 + seq % 5).ok()?;
            Some((self.right.get(i)?, true))
        }
    }
}

/// A code of the same length that is not `code`.
pub fn wrong_code(code: &str) -> String {
    code.chars()
        .map(|c| match c {
            '9' => '0',
            d if d.is_ascii_digit() => char::from(d as u8 + 1),
            other => other,
        })
        .collect()
}

impl Op for VerifyMix {
    async fn call(&self, seq: u64) -> Sample {
        let Some((coded, right)) = self.pool.pick(seq) else {
            return Sample::Exhausted;
        };
        let code = if right {
            coded.code.clone()
        } else {
            wrong_code(&coded.code)
        };
        let req = self.tenant.req(pb::VerifyCodeRequest {
            client: Some(target::client_context()),
            challenge_id: coded.challenge_id.clone(),
            code,
        });
        match self.conns.auth(seq).verify_code(req).await {
            Ok(_) if right => Sample::ok(),
            Ok(_) => Sample::Done {
                code: "OK_FOR_A_WRONG_CODE",
                expected: false,
            },
            Err(s) if !right && s.code() == tonic::Code::Unauthenticated => Sample::Done {
                code: "UNAUTHENTICATED",
                expected: true,
            },
            Err(s) => failed(&s),
        }
    }
}

/// S4: password logins of users without two-step; each answer is a session.
pub struct PasswordLogin {
    pub conns: Conns,
    pub tenant: Tenant,
    pub emails: Vec<String>,
}

impl Op for PasswordLogin {
    async fn call(&self, seq: u64) -> Sample {
        let i = usize::try_from(seq % self.emails.len().max(1) as u64).unwrap_or(0);
        let Some(email) = self.emails.get(i) else {
            return Sample::Exhausted;
        };
        let req = self.tenant.req(target::login_request(email));
        match self.conns.auth(seq).start_login(req).await {
            Ok(resp) => match resp.into_inner().result {
                Some(pb::start_login_response::Result::Session(_)) => Sample::ok(),
                _ => Sample::Done {
                    code: "OK_BUT_NO_SESSION",
                    expected: false,
                },
            },
            Err(s) => failed(&s),
        }
    }
}

/// S6: ValidateSession on live access tokens.
pub struct Validate {
    pub conns: Conns,
    pub tenant: Tenant,
    pub tokens: Vec<String>,
}

impl Op for Validate {
    async fn call(&self, seq: u64) -> Sample {
        let i = usize::try_from(seq % self.tokens.len().max(1) as u64).unwrap_or(0);
        let Some(token) = self.tokens.get(i) else {
            return Sample::Exhausted;
        };
        let req = self.tenant.req(pb::ValidateSessionRequest {
            access_token: token.clone(),
        });
        match self.conns.auth(seq).validate_session(req).await {
            Ok(_) => Sample::ok(),
            Err(s) => failed(&s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_code_differs_in_every_digit() {
        assert_eq!(wrong_code("049917"), "150028");
        assert_eq!(wrong_code("999999"), "000000");
    }

    #[test]
    fn the_mix_is_four_right_to_one_wrong_with_seven_wrongs_per_victim() {
        let (right, victims) = split(290);
        assert_eq!((right, victims), (280, 10));
        let coded = |i: usize| Coded {
            challenge_id: format!("c{i}"),
            code: "123456".into(),
        };
        let mix = Pool {
            right: (0..right).map(coded).collect(),
            victims: (0..victims).map(coded).collect(),
        };
        let picks: Vec<_> = (0..350).map(|s| mix.pick(s).map(|(_, r)| r)).collect();
        let wrong = picks.iter().filter(|p| **p == Some(false)).count();
        let right_n = picks.iter().filter(|p| **p == Some(true)).count();
        assert_eq!((right_n, wrong), (280, 70));
        assert!(mix.pick(350).is_none(), "the right pool is used up");
        // Seven wrong attempts land on each victim in turn.
        assert_eq!(mix.pick(4).unwrap().0.challenge_id, "c0");
        assert_eq!(mix.pick(34).unwrap().0.challenge_id, "c0");
        assert_eq!(mix.pick(39).unwrap().0.challenge_id, "c1");
    }
}

//! R18/R19 measured: for each call an attacker could use to learn whether an account or a
//! number exists, the answers for "exists" and "does not exist" must be identical apart from
//! random ids, and their latencies must come from one distribution (two-sample KS test,
//! p > 0.01, medians within 5 ms). This is a measurement, not a test: it runs against a
//! twostepd started by `scripts/bench` (or by hand) and never inside `scripts/test`.

use std::time::{Duration, Instant};

use serde::Serialize;
use tonic::Status;
use twostep_proto::v1 as pb;

use crate::ks;
use crate::numbers::Numbers;
use crate::target::{self, Conns, Tenant};

/// The R19 bounds.
const MIN_P: f64 = 0.01;
const MAX_MEDIAN_GAP_MS: f64 = 5.0;

/// One probe: the same call for an existing and for a missing subject.
#[derive(Clone, Copy, Debug)]
enum Probe {
    PhoneLogin,
    PasswordLogin,
    PhoneRegistration,
}

impl Probe {
    const ALL: [Self; 3] = [
        Self::PhoneLogin,
        Self::PasswordLogin,
        Self::PhoneRegistration,
    ];

    const fn name(self) -> &'static str {
        match self {
            Self::PhoneLogin => "StartLogin by phone",
            Self::PasswordLogin => "StartLogin by password (wrong password)",
            Self::PhoneRegistration => "StartRegistration by phone",
        }
    }
}

/// What one probe measured.
#[derive(Serialize)]
pub struct ProbeResult {
    pub probe: &'static str,
    pub samples: usize,
    pub known_median_ms: f64,
    pub unknown_median_ms: f64,
    pub ks_d: f64,
    pub ks_p: f64,
    /// The distinct answers (status or response with ids blanked) seen for each case.
    pub known_answers: Vec<String>,
    pub unknown_answers: Vec<String>,
    pub pass: bool,
}

/// Runs every probe with `samples` pairs; fails when any probe misses R18 or R19.
pub async fn run(target: &str, samples: usize, pause: Duration) -> anyhow::Result<()> {
    let conns = Conns::connect(target, 1).await?;
    let tenant = target::create_tenant(&conns).await?;
    let numbers = Numbers::new()?;
    let mut results = Vec::new();
    for probe in Probe::ALL {
        eprintln!("twostep-load: enumeration: preparing {}", probe.name());
        let subjects = Subjects::prepare(probe, &conns, &tenant, &numbers, samples).await?;
        let result = measure(probe, &conns, &tenant, &subjects, samples, pause).await?;
        eprintln!(
            "{:<42} n={:<4} known {:>7.2} ms  unknown {:>7.2} ms  D={:.3} p={:.3}  answers {}  {}",
            result.probe,
            result.samples,
            result.known_median_ms,
            result.unknown_median_ms,
            result.ks_d,
            result.ks_p,
            if result.known_answers == result.unknown_answers {
                "identical"
            } else {
                "DIFFER"
            },
            if result.pass { "pass" } else { "FAIL" }
        );
        println!("{}", serde_json::to_string(&result)?);
        results.push(result);
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| !r.pass)
        .map(|r| r.probe)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("R18/R19 missed by: {}", failed.join(", "))
    }
}

/// The subjects of a probe: `samples` existing ones and `samples` missing ones, each used
/// once so that no per-number or per-account limit is reached.
struct Subjects {
    known: Vec<String>,
    unknown: Vec<String>,
}

impl Subjects {
    async fn prepare(
        probe: Probe,
        conns: &Conns,
        tenant: &Tenant,
        numbers: &Numbers,
        samples: usize,
    ) -> anyhow::Result<Self> {
        let offset = match probe {
            Probe::PhoneLogin => 0,
            Probe::PasswordLogin => 1,
            Probe::PhoneRegistration => 2,
        } * 2
            * samples as u64;
        match probe {
            Probe::PhoneLogin | Probe::PhoneRegistration => {
                let known: Vec<String> = (0..samples as u64)
                    .map(|i| numbers.get(offset + i))
                    .collect();
                let unknown = (0..samples as u64)
                    .map(|i| numbers.get(offset + samples as u64 + i))
                    .collect();
                target::create_phone_users(conns, tenant, &known, 8).await?;
                Ok(Self { known, unknown })
            }
            Probe::PasswordLogin => {
                let known = target::create_password_users(conns, tenant, samples).await?;
                let unknown = (0..samples)
                    .map(|i| format!("nobody{i}@bench.example.com"))
                    .collect();
                Ok(Self { known, unknown })
            }
        }
    }
}

async fn measure(
    probe: Probe,
    conns: &Conns,
    tenant: &Tenant,
    subjects: &Subjects,
    samples: usize,
    pause: Duration,
) -> anyhow::Result<ProbeResult> {
    let mut known_ms = Vec::with_capacity(samples);
    let mut unknown_ms = Vec::with_capacity(samples);
    let mut known_answers = std::collections::BTreeSet::new();
    let mut unknown_answers = std::collections::BTreeSet::new();
    for i in 0..samples {
        // Which case goes first is random, so that drift and the other case's background
        // work (an SMS being sent) fall on both alike.
        let known_first = rand::random::<bool>();
        for known in [known_first, !known_first] {
            let subject = if known {
                &subjects.known[i]
            } else {
                &subjects.unknown[i]
            };
            // A distinct documentation address per call, so that per-IP limits stay out of
            // the measurement (they are charged alike either way).
            let ip = format!(
                "198.18.{}.{}",
                (2 * i + usize::from(known)) / 250,
                (2 * i + usize::from(known)) % 250 + 1
            );
            let (ms, answer) = call(probe, conns, tenant, subject, &ip).await;
            if known {
                known_ms.push(ms);
                known_answers.insert(answer);
            } else {
                unknown_ms.push(ms);
                unknown_answers.insert(answer);
            }
            tokio::time::sleep(pause).await;
        }
    }
    let ks = ks::two_sample(&known_ms, &unknown_ms)
        .ok_or_else(|| anyhow::anyhow!("no samples for {}", probe.name()))?;
    let (km, um) = (ks::median(&known_ms), ks::median(&unknown_ms));
    let known_answers: Vec<String> = known_answers.into_iter().collect();
    let unknown_answers: Vec<String> = unknown_answers.into_iter().collect();
    let pass =
        ks.p > MIN_P && (km - um).abs() < MAX_MEDIAN_GAP_MS && known_answers == unknown_answers;
    Ok(ProbeResult {
        probe: probe.name(),
        samples,
        known_median_ms: km,
        unknown_median_ms: um,
        ks_d: ks.d,
        ks_p: ks.p,
        known_answers,
        unknown_answers,
        pass,
    })
}

/// One call: its latency in ms and its answer with the random parts blanked.
async fn call(
    probe: Probe,
    conns: &Conns,
    tenant: &Tenant,
    subject: &str,
    ip: &str,
) -> (f64, String) {
    let mut client = target::client_context();
    ip.clone_into(&mut client.ip_address);
    let mut auth = conns.auth(0);
    let started = Instant::now();
    let answer = match probe {
        Probe::PhoneLogin => {
            let mut req = target::phone_login_request(subject);
            req.client = Some(client);
            auth.start_login(tenant.req(req))
                .await
                .map(|r| login_shape(r.into_inner()))
        }
        Probe::PasswordLogin => {
            let mut req = target::login_request(subject);
            req.client = Some(client);
            if let Some(pb::start_login_request::Method::Password(p)) = req.method.as_mut() {
                "not-the-password-of-anyone-here".clone_into(&mut p.password);
            }
            auth.start_login(tenant.req(req))
                .await
                .map(|r| login_shape(r.into_inner()))
        }
        Probe::PhoneRegistration => {
            let req = pb::StartRegistrationRequest {
                client: Some(client),
                method: Some(pb::start_registration_request::Method::Phone(
                    pb::PhoneRegistration {
                        phone_number: subject.to_owned(),
                    },
                )),
            };
            auth.start_registration(tenant.req(req))
                .await
                .map(|r| match r.into_inner().result {
                    Some(pb::start_registration_response::Result::Challenge(c)) => {
                        challenge_shape(c)
                    }
                    other => format!("{other:?}"),
                })
        }
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    (ms, answer.unwrap_or_else(|s: Status| status_shape(&s)))
}

fn login_shape(resp: pb::StartLoginResponse) -> String {
    match resp.result {
        Some(pb::start_login_response::Result::Challenge(c)) => {
            format!(
                "challenge {} remind={}",
                challenge_shape(c),
                resp.remind_two_step
            )
        }
        other => format!("{other:?}"),
    }
}

/// The challenge with its random id and the digits of the masked number blanked.
fn challenge_shape(mut c: pb::Challenge) -> String {
    c.challenge_id = "<id>".to_owned();
    c.masked_destination = c
        .masked_destination
        .chars()
        .map(|ch| if ch.is_ascii_digit() { '#' } else { ch })
        .collect();
    format!("{c:?}")
}

fn status_shape(s: &Status) -> String {
    format!(
        "{} {:?} details={}",
        target::code_name(s.code()),
        s.message(),
        s.details().len()
    )
}

//! Adapter overhead (issue 3, item 7): ops/s of create-challenge and verify through
//! `RedisStore` divided by ops/s of the same Lua script sent as raw EVALSHA on the same
//! `ConnectionManager`, at 16 and 64 concurrent callers. Target: ≥ 0.8.
//!
//! The raw baseline is as cheap as it can be: its commands are built before the clock
//! starts and its replies are not decoded, so the ratio charges the adapter with all of its
//! own work (building arguments, the timeout, the connection lookup, decoding the reply).
//!
//! Run: `scripts/test --services-only -- cargo bench -p twostep-shortlived --bench scripts`
//! (needs `TWOSTEP_TEST_REDIS_URL`). Not part of `cargo test`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a benchmark binary: any failure should stop it loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use redis::aio::ConnectionManager;
use twostep_core::challenge::{Challenge, Purpose};
use twostep_core::ids::{ChallengeId, TenantId, UserId};
use twostep_core::otp::CodeMac;
use twostep_core::phone::PhoneNumber;
use twostep_core::ports::{ShortLivedStore, VerifyOutcome};
use twostep_shortlived::{RedisConfig, RedisStore, bench};

/// Operations per run (`TWOSTEP_BENCH_OPS` overrides) and runs per figure. Each pair is a
/// raw run and an adapter run back to back (alternating which goes first); the ratio is the
/// median of the pairs' ratios, so load from other processes on the machine, which drifts
/// slowly, mostly cancels out.
const OPS: usize = 10_000;
const PAIRS: usize = 15;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Create,
    Verify,
}

#[derive(Clone, Copy, PartialEq)]
enum Via {
    Adapter,
    Raw,
}

fn main() {
    let Ok(url) = std::env::var("TWOSTEP_TEST_REDIS_URL") else {
        eprintln!(
            "TWOSTEP_TEST_REDIS_URL is not set: run this through scripts/test --services-only"
        );
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(url));
}

async fn run(url: String) {
    let config = RedisConfig {
        url,
        sentinel_password: None,
        key_prefix: format!("bench:{}:", uuid::Uuid::new_v4().simple()),
        command_timeout: Duration::from_secs(5),
    };
    let store = Arc::new(RedisStore::connect(config).await.unwrap());
    // Parsed once: libphonenumber is slow, and the fixtures are not what is measured.
    let phone = PhoneNumber::from_e164("+14155550100").unwrap();
    // Loads both scripts into Redis, so raw EVALSHA finds them.
    let c = challenge(&phone);
    store.create_challenge(&c).await.unwrap();
    store
        .verify_challenge(c.id, right(), Utc::now())
        .await
        .unwrap();
    let conn = bench::connection(&store).await.unwrap();
    let ops = std::env::var("TWOSTEP_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPS);

    println!("{ops} ops per run, {PAIRS} raw/adapter pairs per row, medians");
    println!(
        "{:<8} {:>5} {:>14} {:>14} {:>7} {:>13}",
        "script", "conc", "adapter ops/s", "raw ops/s", "ratio", "ratio range"
    );
    for concurrency in [16, 64] {
        // [op][via] -> ops/s of each run; [op] -> ratio of each pair.
        let mut rates = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
        let mut ratios = [Vec::new(), Vec::new()];
        for pair in 0..PAIRS {
            let order = if pair % 2 == 0 {
                [Via::Raw, Via::Adapter]
            } else {
                [Via::Adapter, Via::Raw]
            };
            let mut this = [[0f64; 2]; 2];
            for via in order {
                let challenges: Arc<Vec<Challenge>> =
                    Arc::new((0..ops).map(|_| challenge(&phone)).collect());
                for (i, op) in [Op::Create, Op::Verify].into_iter().enumerate() {
                    let rate = measure(&store, &conn, &challenges, op, via, concurrency).await;
                    this[i][usize::from(via == Via::Raw)] = rate;
                    rates[i][usize::from(via == Via::Raw)].push(rate);
                }
            }
            for i in 0..2 {
                ratios[i].push(this[i][0] / this[i][1]);
            }
        }
        for (i, name) in ["create", "verify"].into_iter().enumerate() {
            let (lo, hi) = (min(&ratios[i]), max(&ratios[i]));
            println!(
                "{name:<8} {concurrency:>5} {:>14.0} {:>14.0} {:>7.2} {:>13}",
                median(&mut rates[i][0]),
                median(&mut rates[i][1]),
                median(&mut ratios[i]),
                format!("{lo:.2}-{hi:.2}"),
            );
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Runs `op` once for every challenge with `concurrency` callers; returns ops/s.
async fn measure(
    store: &Arc<RedisStore>,
    conn: &ConnectionManager,
    challenges: &Arc<Vec<Challenge>>,
    op: Op,
    via: Via,
    concurrency: usize,
) -> f64 {
    let now = Utc::now();
    let raw: Arc<Vec<redis::Cmd>> = Arc::new(match via {
        Via::Adapter => Vec::new(),
        Via::Raw => challenges
            .iter()
            .map(|c| match op {
                Op::Create => bench::create_challenge(store, c).cmd(),
                Op::Verify => bench::verify_challenge(store, c.id, &right(), now).cmd(),
            })
            .collect(),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, challenges, raw, next) =
                (store.clone(), challenges.clone(), raw.clone(), next.clone());
            let mut conn = conn.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = challenges.get(i) else { break };
                    match (via, op) {
                        (Via::Adapter, Op::Create) => store.create_challenge(c).await.unwrap(),
                        (Via::Adapter, Op::Verify) => {
                            let outcome = store.verify_challenge(c.id, right(), now).await.unwrap();
                            assert!(matches!(outcome, VerifyOutcome::Verified(_)));
                        }
                        (Via::Raw, _) => {
                            let _: redis::Value = raw[i].query_async(&mut conn).await.unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    challenges.len() as f64 / start.elapsed().as_secs_f64()
}

fn right() -> CodeMac {
    CodeMac::from_bytes([1; 32])
}

fn challenge(phone: &PhoneNumber) -> Challenge {
    let now = Utc::now();
    Challenge {
        id: ChallengeId::random(),
        tenant: TenantId::random(),
        purpose: Purpose::PhoneLogin,
        user: Some(UserId::random()),
        phone: Some(phone.clone()),
        decoy: false,
        context: "device=bench".to_owned(),
        code_mac: right(),
        attempts_left: 5,
        sends: 1,
        max_sends: 5,
        created_at: now,
        expires_at: now + chrono::Duration::minutes(5),
        resend_at: now + chrono::Duration::minutes(1),
        resend_cooldown: Duration::from_secs(60),
    }
}

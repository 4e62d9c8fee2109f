//! Each subcommand: set up what the scenario needs (tenant, users, codes, sessions), run the
//! load, emit the result.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use twostep_proto::v1 as pb;

use crate::baselines::{self, HashCost, Scripts};
use crate::engine::{self, Collected, Op};
use crate::numbers::{self, Numbers};
use crate::ops::{self, Coded, Phones, Pool};
use crate::procstat::Watch;
use crate::result::{self, RunResult};
use crate::sink::Sink;
use crate::target::{self, Conns, Tenant};
use crate::{CostArgs, LoadArgs, PasswordArgs, SmsArgs, TargetArgs};

/// How one run is driven.
struct Plan {
    label: String,
    warmup: Duration,
    window: Duration,
    open_rate: Option<f64>,
    /// The fraction of the peak that gave `open_rate`, when it was given that way.
    rate_frac: Option<f64>,
    concurrency: usize,
    max_inflight: usize,
    watch: Arc<Watch>,
}

fn secs(v: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| anyhow::anyhow!("--{what} {v}: not a duration"))
}

fn plan(scenario: &str, load: &LoadArgs) -> anyhow::Result<Plan> {
    let open_rate = match (load.rate, load.rate_frac, &load.peak_from) {
        (Some(r), _, _) => Some(r),
        (None, Some(frac), Some(file)) => {
            let of = load.peak_scenario.as_deref().unwrap_or(scenario);
            let peak = peak(file, of, &load.label)?;
            eprintln!(
                "twostep-load: {scenario}: open loop at {frac} x {of} peak {peak:.0}/s = {:.0}/s",
                frac * peak
            );
            Some(frac * peak)
        }
        _ => None,
    };
    Ok(Plan {
        label: load.label.clone(),
        warmup: secs(load.warmup, "warmup")?,
        window: secs(load.window, "window")?,
        open_rate,
        rate_frac: if load.rate.is_none() {
            load.rate_frac
        } else {
            None
        },
        concurrency: load.concurrency.max(1),
        max_inflight: load.max_inflight,
        watch: Arc::new(
            Watch::parse(&load.watch)?.with_window_command(load.window_command.as_deref()),
        ),
    })
}

/// The highest closed-loop rate of `scenario` with this label in a results file.
fn peak(file: &Path, scenario: &str, label: &str) -> anyhow::Result<f64> {
    result::read_all(file)?
        .iter()
        .filter(|r| {
            r.scenario == scenario && r.label == label && r.mode == "closed" && r.skipped.is_none()
        })
        .map(|r| r.rps)
        .fold(None, |best: Option<f64>, r| {
            Some(best.map_or(r, |b| b.max(r)))
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no closed-loop run of {scenario} labelled {label:?} in {}",
                file.display()
            )
        })
}

async fn collect<O: Op>(op: Arc<O>, plan: &Plan) -> anyhow::Result<Collected> {
    match plan.open_rate {
        Some(rate) => {
            engine::open(
                op,
                rate,
                plan.warmup,
                plan.window,
                plan.max_inflight,
                Arc::clone(&plan.watch),
            )
            .await
        }
        None => {
            engine::closed(
                op,
                plan.concurrency,
                plan.warmup,
                plan.window,
                Arc::clone(&plan.watch),
            )
            .await
        }
    }
}

fn finish(scenario: &str, plan: &Plan, c: &Collected) -> RunResult {
    let mut r = RunResult::from_collected(scenario, &plan.label, c);
    r.warmup_s = plan.warmup.as_secs_f64();
    match plan.open_rate {
        Some(rate) => {
            r.mode = "open".to_owned();
            r.rate = Some(rate);
            if let Some(f) = plan.rate_frac {
                r.extra.insert("rate_frac".to_owned(), f);
            }
            let lag = &c.rec.lag;
            r.extra.insert(
                "send_lag_p50_us".to_owned(),
                lag.value_at_quantile(0.5) as f64,
            );
            r.extra.insert(
                "send_lag_p99_us".to_owned(),
                lag.value_at_quantile(0.99) as f64,
            );
        }
        None => {
            r.mode = "closed".to_owned();
            r.concurrency = Some(plan.concurrency);
        }
    }
    r
}

async fn drive<O: Op>(scenario: &str, op: Arc<O>, load: &LoadArgs) -> anyhow::Result<RunResult> {
    let plan = plan(scenario, load)?;
    let c = collect(op, &plan).await?;
    Ok(finish(scenario, &plan, &c))
}

async fn connect(target: &TargetArgs) -> anyhow::Result<Conns> {
    Conns::connect(&target.target, target.connections).await
}

// === baselines ===

pub async fn b0(target: Option<String>, connections: usize, load: &LoadArgs) -> anyhow::Result<()> {
    let url = match target {
        Some(url) => url,
        None => {
            let addr = baselines::spawn_hello("127.0.0.1:0".parse()?).await?;
            format!("http://{addr}")
        }
    };
    let conns = Conns::connect(&url, connections).await?;
    let r = drive("b0", Arc::new(ops::HealthCheck { conns }), load).await?;
    r.emit(load.json.as_deref())
}

pub async fn s0(target: &TargetArgs, load: &LoadArgs) -> anyhow::Result<()> {
    let conns = connect(target).await?;
    let r = drive("s0", Arc::new(ops::HealthCheck { conns }), load).await?;
    r.emit(load.json.as_deref())
}

#[derive(Clone, Copy)]
pub enum B1Script {
    StartLogin,
    Denied,
    Verify,
}

pub async fn b1(url: &str, script: B1Script, pool: usize, load: &LoadArgs) -> anyhow::Result<()> {
    let numbers = Arc::new(Numbers::new()?);
    let scripts = Arc::new(Scripts::connect(url, Arc::clone(&numbers)).await?);
    let r = match script {
        B1Script::StartLogin => {
            let op = baselines::StartLoginScripts(scripts);
            drive("b1-start-login", Arc::new(op), load).await?
        }
        B1Script::Denied => {
            let op = baselines::DeniedLimit::new(scripts, numbers.get(1)).await?;
            drive("b1-denied", Arc::new(op), load).await?
        }
        B1Script::Verify => {
            let started = Instant::now();
            let op = baselines::VerifyScript::prepare(scripts, pool).await?;
            eprintln!(
                "twostep-load: b1-verify: {pool} challenges stored in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            drive("b1-verify", Arc::new(op), load).await?
        }
    };
    r.emit(load.json.as_deref())
}

fn cost(c: CostArgs) -> HashCost {
    HashCost {
        m_kib: c.argon2_m_kib,
        t: c.argon2_t,
        p: c.argon2_p,
    }
}

pub async fn b2(
    c: CostArgs,
    samples: usize,
    label: &str,
    json: Option<&Path>,
) -> anyhow::Result<()> {
    let times = baselines::argon2_samples(cost(c), samples).await?;
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let (median, best) = baselines::b2_summary(times);
    let mut r = RunResult::skipped("b2", label, "");
    r.skipped = None;
    r.mode = "serial".to_owned();
    r.requests = samples as u64;
    r.expected = samples as u64;
    r.rps = 1e3 / median;
    r.mean_us = mean * 1e3;
    r.p50_us = (median * 1e3) as u64;
    r.extra.insert("b2_ms".to_owned(), median);
    r.extra.insert("b2_best_ms".to_owned(), best);
    r.note = format!(
        "argon2id m={} KiB t={} p={}",
        c.argon2_m_kib, c.argon2_t, c.argon2_p
    );
    r.emit(json)
}

pub async fn b3(url: &str, pool_size: u32, load: &LoadArgs) -> anyhow::Result<()> {
    let op = baselines::SessionInsert::connect(url, pool_size).await?;
    let mut r = drive("b3", Arc::new(op), load).await?;
    r.note = format!("pool of {pool_size} connections");
    r.emit(load.json.as_deref())
}

// === scenarios ===

pub async fn s1(
    target: &TargetArgs,
    known: Option<usize>,
    sms: &SmsArgs,
    load: &LoadArgs,
) -> anyhow::Result<()> {
    let conns = connect(target).await?;
    let tenant = target::create_tenant(&conns).await?;
    let numbers = Arc::new(Numbers::new()?);
    let (scenario, phones, sink) = match known {
        None => ("s1", Phones::Distinct { numbers, offset: 0 }, None),
        Some(users) => {
            // Codes really go out: the provider must find a listener.
            let (sink, _) = Sink::start(
                sms.sms_listen,
                Duration::from_millis(sms.sms_delay_ms),
                &tenant.tag,
            )
            .await?;
            let phones: Vec<String> = (0..users as u64).map(|i| numbers.get(i)).collect();
            let started = Instant::now();
            target::create_phone_users(&conns, &tenant, &phones, 32).await?;
            eprintln!(
                "twostep-load: {users} users with verified numbers in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            let name = if sms.sms_delay_ms > 0 {
                "s1-known-slow-sms"
            } else {
                "s1-known"
            };
            (name, Phones::Known(phones), Some(sink))
        }
    };
    let op = ops::PhoneLogin {
        conns,
        tenant,
        phones,
    };
    let mut r = drive(scenario, Arc::new(op), load).await?;
    if let (Some(sink), Some(users)) = (&sink, known) {
        let sent = sink.received.load(std::sync::atomic::Ordering::Relaxed);
        r.extra.insert("sms_received".to_owned(), sent as f64);
        r.note = format!(
            "{users} users' numbers in turn; SMS answered after {} ms",
            sms.sms_delay_ms
        );
    }
    r.emit(load.json.as_deref())
}

pub async fn s2(target: &TargetArgs, load: &LoadArgs) -> anyhow::Result<()> {
    let conns = connect(target).await?;
    let tenant = target::create_tenant(&conns).await?;
    let numbers = Numbers::new()?;
    let op = ops::PhoneLogin {
        conns,
        tenant,
        phones: Phones::One(numbers.get(0)),
    };
    let r = drive("s2", Arc::new(op), load).await?;
    r.emit(load.json.as_deref())
}

/// StartLogin for numbers of every country but the tenant's own, in turn: each refused once
/// parsed (country not allowed), as an SMS-pumping spray across countries is.
pub async fn s2_countries(target: &TargetArgs, load: &LoadArgs) -> anyhow::Result<()> {
    let conns = connect(target).await?;
    let tenant = target::create_tenant(&conns).await?;
    let phones = numbers::of_other_countries(target::TENANT_COUNTRY);
    let countries = phones.len();
    let op = ops::PhoneLogin {
        conns,
        tenant,
        phones: Phones::OtherCountries(phones),
    };
    let mut r = drive("s2-countries", Arc::new(op), load).await?;
    r.note = format!("{countries} countries' numbers in turn");
    r.emit(load.json.as_deref())
}

/// A tenant with a listener for its codes, once a first code has come back.
struct CodeSetup {
    conns: Conns,
    tenant: Tenant,
    sink: Arc<Sink>,
    numbers: Numbers,
    timeout: Duration,
}

const NOT_WIRED: &str = "no code reached the driver's SMS listener: twostepd must be configured \
    with a generic_http SMS provider posting to http://<--sms-listen>/sms";

impl CodeSetup {
    /// `Ok(None)` when codes do not come back (twostepd is not wired to the listener).
    async fn new(target: &TargetArgs, sms: &SmsArgs) -> anyhow::Result<Option<Self>> {
        let conns = connect(target).await?;
        let tenant = target::create_tenant(&conns).await?;
        let delay = Duration::from_millis(sms.sms_delay_ms);
        let (sink, addr) = Sink::start(sms.sms_listen, delay, &tenant.tag).await?;
        eprintln!("twostep-load: SMS listener on http://{addr}/sms");
        let setup = Self {
            conns,
            tenant,
            sink,
            numbers: Numbers::new()?,
            timeout: secs(sms.code_timeout, "code-timeout")?,
        };
        let probe = setup.numbers.get(0);
        target::create_phone_users(&setup.conns, &setup.tenant, std::slice::from_ref(&probe), 1)
            .await?;
        match setup.challenge(&probe, 0).await {
            Ok(_) => Ok(Some(setup)),
            Err(e) => {
                eprintln!("twostep-load: {e:#}");
                Ok(None)
            }
        }
    }

    /// One phone login for `phone` and the code that came back for it.
    async fn challenge(&self, phone: &str, seq: u64) -> anyhow::Result<Coded> {
        let rx = self.sink.expect(phone);
        let resp = self
            .conns
            .auth(seq)
            .start_login(self.tenant.req(target::phone_login_request(phone)))
            .await
            .map_err(|s| {
                anyhow::anyhow!(
                    "StartLogin for a code: {} {}",
                    target::code_name(s.code()),
                    s.message()
                )
            })?
            .into_inner();
        let Some(pb::start_login_response::Result::Challenge(ch)) = resp.result else {
            anyhow::bail!("StartLogin answered no challenge");
        };
        let code = tokio::time::timeout(self.timeout, rx)
            .await
            .map_err(|_| anyhow::anyhow!("{NOT_WIRED} (waited {:?})", self.timeout))?
            .map_err(|_| anyhow::anyhow!("the SMS listener dropped the waiter"))?;
        Ok(Coded {
            challenge_id: ch.challenge_id,
            code,
        })
    }

    /// `count` challenges with their codes: users with verified numbers (each number takes
    /// 10 sends a day), then their logins, 64 users at a time, each user's in sequence so
    /// every code is matched to its challenge. Interleaved across users.
    async fn prepare(&self, first_number: u64, count: usize) -> anyhow::Result<Vec<Coded>> {
        let started = Instant::now();
        let users = count.div_ceil(10);
        let phones: Vec<String> = (0..users as u64)
            .map(|i| self.numbers.get(first_number + i))
            .collect();
        target::create_phone_users(&self.conns, &self.tenant, &phones, 32).await?;
        let created = started.elapsed();
        let per_user: Vec<Vec<Coded>> = stream::iter(phones.iter().enumerate())
            .map(|(u, phone)| async move {
                let n = count.saturating_sub(u * 10).min(10);
                let mut out = Vec::with_capacity(n);
                for k in 0..n {
                    out.push(self.challenge(phone, (u * 10 + k) as u64).await?);
                }
                Ok::<_, anyhow::Error>(out)
            })
            .buffer_unordered(64)
            .try_collect()
            .await?;
        let mut all = Vec::with_capacity(count);
        for k in 0..10 {
            all.extend(per_user.iter().filter_map(|v| v.get(k).cloned()));
        }
        eprintln!(
            "twostep-load: {} challenges with codes for {users} users in {:.1}s (users {:.1}s)",
            all.len(),
            started.elapsed().as_secs_f64(),
            created.as_secs_f64()
        );
        Ok(all)
    }
}

fn mix(setup: &CodeSetup, mut coded: Vec<Coded>) -> ops::VerifyMix {
    let (right, _) = ops::split(coded.len());
    let victims = coded.split_off(right.min(coded.len()));
    ops::VerifyMix {
        conns: setup.conns.clone(),
        tenant: setup.tenant.clone(),
        pool: Pool {
            right: coded,
            victims,
        },
    }
}

pub async fn s3(
    target: &TargetArgs,
    sms: &SmsArgs,
    pool: usize,
    load: &LoadArgs,
) -> anyhow::Result<()> {
    let Some(setup) = CodeSetup::new(target, sms).await? else {
        return RunResult::skipped("s3", &load.label, NOT_WIRED).emit(load.json.as_deref());
    };
    let coded = setup.prepare(1, pool).await?;
    let op = mix(&setup, coded);
    let r = drive("s3", Arc::new(op), load).await?;
    r.emit(load.json.as_deref())
}

/// Users with passwords.
async fn password_users(
    conns: &Conns,
    tenant: &Tenant,
    p: PasswordArgs,
) -> anyhow::Result<Vec<String>> {
    target::create_password_users(conns, tenant, p.users.max(1)).await
}

/// Half of the B2 samples; the other half is taken after the load, and B2 is the median
/// of both halves.
async fn b2_half(p: PasswordArgs) -> anyhow::Result<Vec<f64>> {
    baselines::argon2_samples(cost(p.cost), p.b2_samples.div_ceil(2)).await
}

pub async fn s4(target: &TargetArgs, p: PasswordArgs, load: &LoadArgs) -> anyhow::Result<()> {
    let conns = connect(target).await?;
    let tenant = target::create_tenant(&conns).await?;
    let emails = password_users(&conns, &tenant, p).await?;
    let mut times = b2_half(p).await?;
    let op = ops::PasswordLogin {
        conns,
        tenant,
        emails,
    };
    let mut r = drive("s4", Arc::new(op), load).await?;
    times.extend(b2_half(p).await?);
    let (b2_ms, b2_best) = baselines::b2_summary(times);
    let hash_rate = p.hash_permits as f64 * 1e3 / b2_ms;
    r.extra.insert("b2_ms".to_owned(), b2_ms);
    r.extra.insert("b2_best_ms".to_owned(), b2_best);
    r.extra
        .insert("hash_permits".to_owned(), p.hash_permits as f64);
    r.extra.insert("hash_rate".to_owned(), hash_rate);
    r.extra.insert("ratio".to_owned(), r.rps / hash_rate);
    r.emit(load.json.as_deref())
}

pub async fn s5(
    target: &TargetArgs,
    sms: &SmsArgs,
    p: PasswordArgs,
    load: &LoadArgs,
) -> anyhow::Result<()> {
    let mut load = load.clone();
    if load.peak_scenario.is_none() {
        load.peak_scenario = Some("s3".to_owned());
    }
    let Some(setup) = CodeSetup::new(target, sms).await? else {
        return RunResult::skipped("s5", &load.label, NOT_WIRED).emit(load.json.as_deref());
    };
    let plan = plan("s5", &load)?;
    let Some(rate) = plan.open_rate else {
        anyhow::bail!("s5 needs the VerifyCode rate: --rate, or --rate-frac with --peak-from");
    };
    // Two phases of warm-up and window each, with 20 % to spare.
    let phase = (plan.warmup + plan.window).as_secs_f64();
    let per_phase = (rate * phase * 1.2).ceil().max(100.0) as usize;
    let mut coded = setup.prepare(1, 2 * per_phase).await?;
    let second = coded.split_off(coded.len() / 2);
    let emails = password_users(&setup.conns, &setup.tenant, p).await?;
    let mut times = b2_half(p).await?;

    let alone_op = Arc::new(mix(&setup, coded));
    let alone = collect(alone_op, &plan).await?;
    let alone = finish("s5-alone", &plan, &alone);
    alone.emit(load.json.as_deref())?;

    let beside_op = Arc::new(mix(&setup, second));
    let logins = Arc::new(ops::PasswordLogin {
        conns: setup.conns.clone(),
        tenant: setup.tenant.clone(),
        emails,
    });
    let s4_plan = Plan {
        open_rate: None,
        watch: Arc::new(Watch::default()),
        ..plan_copy(&plan)
    };
    let (verify, s4) = tokio::join!(collect(beside_op, &plan), collect(logins, &s4_plan));
    let s4 = finish("s5-s4", &s4_plan, &s4?);
    times.extend(b2_half(p).await?);
    let (b2_ms, _) = baselines::b2_summary(times);
    s4.emit(load.json.as_deref())?;
    let mut r = finish("s5", &plan, &verify?);
    r.extra
        .insert("p99_alone_us".to_owned(), alone.p99_us as f64);
    r.extra.insert("p99_beside_us".to_owned(), r.p99_us as f64);
    r.extra.insert(
        "isolation".to_owned(),
        r.p99_us as f64 / (alone.p99_us.max(1)) as f64,
    );
    r.extra.insert("s4_rps_beside".to_owned(), s4.rps);
    r.extra.insert(
        "s4_ratio_beside".to_owned(),
        s4.rps / (p.hash_permits as f64 * 1e3 / b2_ms),
    );
    r.note = format!(
        "VerifyCode open loop at {rate:.0}/s beside S4 at c={}",
        plan.concurrency
    );
    r.emit(load.json.as_deref())
}

fn plan_copy(p: &Plan) -> Plan {
    Plan {
        label: p.label.clone(),
        warmup: p.warmup,
        window: p.window,
        open_rate: p.open_rate,
        rate_frac: p.rate_frac,
        concurrency: p.concurrency,
        max_inflight: p.max_inflight,
        watch: Arc::clone(&p.watch),
    }
}

pub async fn s6(target: &TargetArgs, tokens: usize, load: &LoadArgs) -> anyhow::Result<()> {
    let conns = connect(target).await?;
    let tenant = target::create_tenant(&conns).await?;
    let emails = target::create_password_users(&conns, &tenant, 1).await?;
    let email = emails.first().cloned().unwrap_or_default();
    let mut list = Vec::with_capacity(tokens.max(1));
    for _ in 0..tokens.max(1) {
        list.push(target::password_login(&conns, &tenant, &email).await?);
    }
    let op = ops::Validate {
        conns,
        tenant,
        tokens: list,
    };
    let r = drive("s6", Arc::new(op), load).await?;
    r.emit(load.json.as_deref())
}

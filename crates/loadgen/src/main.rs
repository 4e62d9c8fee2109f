//! `twostep-load`: the load driver of the performance method
//! (`../shared/reference/performance-method.md`). One invocation runs one scenario or
//! baseline at one load (closed loop at a concurrency, or open loop at a rate) and prints one
//! JSON line on stdout and a table row on stderr; `report` turns a file of such lines into
//! the ratio table of BENCHMARKS.md. `scripts/bench` runs the whole set.

mod baselines;
mod engine;
mod enumeration;
mod errors;
mod ks;
mod numbers;
mod ops;
mod procstat;
mod report;
mod result;
mod runs;
mod sink;
mod target;
mod window_command;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "twostep-load",
    about = "Load driver of twostep: scenarios S1-S6 against twostepd, baselines B0-B3",
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the B0 hello-world (grpc.health.v1.Health, tonic-health) until killed; prints
    /// `listening ADDR` on stdout.
    HelloServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// B0: Health/Check on the hello-world (--target, else one started in this process).
    B0 {
        /// A running `twostep-load hello-server`, e.g. http://127.0.0.1:7000.
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 1)]
        connections: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Health/Check on twostepd itself: the tonic stack with twostepd's layers.
    S0 {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// B1: the project's Lua scripts by raw EVALSHA on one ConnectionManager.
    B1 {
        #[arg(long)]
        redis_url: String,
        #[arg(long, value_enum)]
        script: Script,
        /// Challenges stored beforehand for `--script verify` (the window ends when they
        /// run out).
        #[arg(long, default_value_t = 400_000)]
        pool: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// B2: argon2id hashes, one at a time, in this process (median and best time).
    B2 {
        #[command(flatten)]
        cost: CostArgs,
        #[arg(long, default_value_t = 20)]
        samples: usize,
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// B3: insert-and-commit of a session-shaped row in PostgreSQL.
    B3 {
        #[arg(long)]
        database_url: String,
        /// Pool size (twostepd's default is 10).
        #[arg(long, default_value_t = 10)]
        pool_size: u32,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// S1: StartLogin by phone, accepted (a distinct number per call).
    S1 {
        #[command(flatten)]
        target: TargetArgs,
        /// Use the numbers of this many users created beforehand (each takes 10 sends a
        /// day), so that codes are really sent; default: numbers nobody has.
        #[arg(long)]
        known: Option<usize>,
        #[command(flatten)]
        sms: SmsArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// S2: StartLogin by phone on one number, rejected by the per-number limit.
    S2 {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Diagnostic beside S2: StartLogin for numbers of every country but the tenant's own, in
    /// turn, each refused once parsed (INVALID_ARGUMENT: country not allowed).
    S2Countries {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// S3: VerifyCode, 80 % right and 20 % wrong codes (needs the SMS provider of twostepd
    /// pointed at --sms-listen).
    S3 {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        sms: SmsArgs,
        /// Challenges prepared beforehand (the window ends when they run out).
        #[arg(long, default_value_t = 30_000)]
        pool: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// S4: password logins at saturation, beside B2 measured in this process.
    S4 {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// S5: VerifyCode (open loop at --rate, or --rate-frac of the S3 peak) alone, then
    /// beside S4 at --concurrency: the p99 ratio.
    S5 {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        sms: SmsArgs,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// S6: ValidateSession on warm access tokens.
    S6 {
        #[command(flatten)]
        target: TargetArgs,
        /// Live sessions to validate in turn (each costs one password login to make).
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// R18/R19: answers and latencies of StartLogin (phone, password) and StartRegistration
    /// for existing and missing accounts, compared (KS test p > 0.01, medians within 5 ms).
    /// Exits non-zero when a probe misses.
    Enumeration {
        #[command(flatten)]
        target: TargetArgs,
        /// Pairs (existing, missing) per probe.
        #[arg(long, default_value_t = 500)]
        samples: usize,
        /// Pause after each call, ms, so that the SMS sent for an existing subject is out of
        /// the way before the next call.
        #[arg(long, default_value_t = 10)]
        pause_ms: u64,
    },
    /// Writes the ratio table (markdown) from a JSON-lines file of runs.
    Report {
        #[arg(long)]
        input: PathBuf,
        /// Markdown to write; default: stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Lines of text (machine, placement) to put above the tables.
        #[arg(long)]
        preamble: Option<PathBuf>,
        /// Hash permits of twostepd, for the S4 target.
        #[arg(long, default_value_t = 1)]
        hash_permits: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Script {
    /// check_limits (allowed) then create_challenge: what an accepted StartLogin runs.
    StartLogin,
    /// check_limits on a full number (denied): what a rate-limited StartLogin runs.
    Denied,
    /// verify_challenge in the S3 mix.
    Verify,
}

#[derive(Args, Clone)]
pub struct TargetArgs {
    /// twostepd's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// HTTP/2 connections to spread the calls over.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
}

#[derive(Args, Clone)]
pub struct SmsArgs {
    /// Where the SMS listener binds: twostepd's generic HTTP provider must post here
    /// (`url = "http://ADDR/sms"`).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sms_listen: SocketAddr,
    /// How long to wait for a code to arrive, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub code_timeout: f64,
    /// The listener answers each SMS after this many ms (a slow provider).
    #[arg(long, default_value_t = 0)]
    pub sms_delay_ms: u64,
}

#[derive(Args, Clone, Copy)]
pub struct CostArgs {
    #[arg(long, default_value_t = 19_456)]
    pub argon2_m_kib: u32,
    #[arg(long, default_value_t = 2)]
    pub argon2_t: u32,
    #[arg(long, default_value_t = 1)]
    pub argon2_p: u32,
}

#[derive(Args, Clone, Copy)]
pub struct PasswordArgs {
    /// Users logging in, in turn.
    #[arg(long, default_value_t = 16)]
    pub users: usize,
    /// twostepd's concurrent hashes (security.password_hash_permits; default cores - 1).
    #[arg(long, default_value_t = 1)]
    pub hash_permits: usize,
    /// Hashes timed for B2 (half before the load, half after; B2 is their median).
    #[arg(long, default_value_t = 20)]
    pub b2_samples: usize,
    #[command(flatten)]
    pub cost: CostArgs,
}

#[derive(Args, Clone)]
pub struct LoadArgs {
    /// Closed loop: callers, each waiting for its answer before the next call.
    #[arg(short, long, default_value_t = 16)]
    pub concurrency: usize,
    /// Open loop: requests per second on a fixed schedule (latency from the intended send
    /// time).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop at this fraction of the peak closed-loop rate found in --peak-from for the
    /// same scenario (or --peak-scenario) and --label.
    #[arg(long, requires = "peak_from")]
    pub rate_frac: Option<f64>,
    #[arg(long)]
    pub peak_from: Option<PathBuf>,
    #[arg(long)]
    pub peak_scenario: Option<String>,
    /// Open loop: the most requests outstanding at once. Beyond it, sending waits (and the
    /// wait counts in latency, measured from the intended time). Kept under the servers'
    /// limits (1024 concurrent requests, HTTP/2 stream limits): past them a burst turns into
    /// refused streams and a dropped connection instead of queueing.
    #[arg(long, default_value_t = 256)]
    pub max_inflight: usize,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 30.0)]
    pub window: f64,
    /// Free text carried into the result (placement, repetition).
    #[arg(long, default_value = "")]
    pub label: String,
    /// A server process to measure (CPU per request, RSS), with its direct children:
    /// NAME=PID, repeatable.
    #[arg(long)]
    pub watch: Vec<String>,
    /// Also append the JSON line to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A command (run by `sh -c`) to run over the measured window only: started when the
    /// window starts, interrupted with SIGINT when it ends. For a profile of the load and
    /// nothing else: `--window-command 'perf record -C 0 -g -o s3.data'`. `{n}` in it
    /// becomes the window's number in this run (S5 has two windows: alone, then beside S4).
    #[arg(long)]
    pub window_command: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("twostep-load: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twostep-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::HelloServer { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("listening {}", listener.local_addr()?);
            baselines::serve_hello(listener).await
        }
        Command::B0 {
            target,
            connections,
            load,
        } => runs::b0(target, connections, &load).await,
        Command::S0 { target, load } => runs::s0(&target, &load).await,
        Command::B1 {
            redis_url,
            script,
            pool,
            load,
        } => {
            let script = match script {
                Script::StartLogin => runs::B1Script::StartLogin,
                Script::Denied => runs::B1Script::Denied,
                Script::Verify => runs::B1Script::Verify,
            };
            runs::b1(&redis_url, script, pool, &load).await
        }
        Command::B2 {
            cost,
            samples,
            label,
            json,
        } => runs::b2(cost, samples, &label, json.as_deref()).await,
        Command::B3 {
            database_url,
            pool_size,
            load,
        } => runs::b3(&database_url, pool_size, &load).await,
        Command::S1 {
            target,
            known,
            sms,
            load,
        } => runs::s1(&target, known, &sms, &load).await,
        Command::S2 { target, load } => runs::s2(&target, &load).await,
        Command::S2Countries { target, load } => runs::s2_countries(&target, &load).await,
        Command::S3 {
            target,
            sms,
            pool,
            load,
        } => runs::s3(&target, &sms, pool, &load).await,
        Command::S4 {
            target,
            password,
            load,
        } => runs::s4(&target, password, &load).await,
        Command::S5 {
            target,
            sms,
            password,
            load,
        } => runs::s5(&target, &sms, password, &load).await,
        Command::S6 {
            target,
            tokens,
            load,
        } => runs::s6(&target, tokens, &load).await,
        Command::Enumeration {
            target,
            samples,
            pause_ms,
        } => {
            enumeration::run(
                &target.target,
                samples,
                std::time::Duration::from_millis(pause_ms),
            )
            .await
        }
        Command::Report {
            input,
            output,
            preamble,
            hash_permits,
        } => report::write(&input, output.as_deref(), preamble.as_deref(), hash_permits),
    }
}

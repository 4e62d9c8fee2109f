//! The `twostepd` binary: parses the command line, loads configuration, and runs the server or
//! a maintenance command. `anyhow` lives here and in start-up only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use twostep_server::{config, startup, telemetry};

#[derive(Parser)]
#[command(
    name = "twostepd",
    version,
    about = "Two-step SMS authentication over gRPC"
)]
struct Cli {
    /// A TOML configuration file; `TWOSTEP_*` environment variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and exit.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("twostepd: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log_level, settings.log_format, std::io::stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("twostepd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                let app = startup::Application::build(settings).await?;
                app.run_until_stopped(startup::shutdown_signal()).await
            }
            Command::Migrate => {
                let db = startup::connect_database(&settings).await?;
                db.migrate()
                    .await
                    .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
                eprintln!("twostepd: migrations applied");
                Ok(())
            }
            Command::CheckConfig => {
                eprintln!("twostepd: configuration is valid");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "twostepd failed");
            eprintln!("twostepd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

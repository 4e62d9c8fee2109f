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
    /// Create an API client (migrating the database first) and print its key, once, on
    /// standard output. Without options: an operator key of the default tenant.
    CreateApiClient(CreateApiClientArgs),
}

#[derive(clap::Args)]
struct CreateApiClientArgs {
    /// The tenant, by slug or id (default: the default tenant, created if missing).
    #[arg(long)]
    tenant: Option<String>,
    /// A name for operators.
    #[arg(long, default_value = "admin")]
    name: String,
    /// Comma-separated scopes: auth, account, admin, operator (default: admin,operator for
    /// the default tenant, admin for another).
    #[arg(long)]
    scopes: Option<String>,
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
    // Held to the end of `main`, so what is queued is written before the process exits.
    let _log_writer = telemetry::init(&settings.log_level, settings.log_format, std::io::stderr());
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
            Command::CreateApiClient(args) => create_api_client(&settings, args).await,
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

/// `twostepd create-api-client`: the first admin key (or any other). The key goes to standard
/// output and nowhere else; everything else goes to standard error.
async fn create_api_client(
    settings: &config::Settings,
    args: CreateApiClientArgs,
) -> anyhow::Result<()> {
    use std::sync::Arc;
    use twostep_core::api_client::{Scope, Scopes};
    use twostep_core::audit::Actor;

    let db = startup::connect_database(settings).await?;
    db.migrate()
        .await
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
    let clients = startup::api_clients(
        &db,
        Arc::new(twostep_core::clock::SystemClock),
        std::time::Duration::ZERO,
    );
    let (tenant, is_default) = match args.tenant.as_deref() {
        None => (clients.default_tenant().await?, true),
        Some(reference) => {
            let t = clients
                .tenant_by_ref(reference)
                .await
                .map_err(|e| anyhow::anyhow!("--tenant {reference}: {e}"))?;
            let is_default = t.slug == twostep_core::tenant::Tenant::DEFAULT_SLUG;
            (t, is_default)
        }
    };
    let scopes = match args.scopes.as_deref() {
        Some(list) => Scopes::parse_list(list).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?,
        None if is_default => Scopes::NONE.with(Scope::Admin).with(Scope::Operator),
        None => Scopes::NONE.with(Scope::Admin),
    };
    let actor = Actor::ApiClient("twostepd create-api-client".into());
    let (client, key) = clients
        .create(tenant.id, &args.name, scopes, &actor)
        .await
        .map_err(|e| anyhow::anyhow!("creating the API client: {e}"))?;
    eprintln!(
        "twostepd: API client {} ({}) for tenant {} with scopes {}; its key follows, shown \
         only this once",
        client.id,
        client.name,
        tenant.slug,
        scopes.to_list()
    );
    println!("{}", key.expose());
    Ok(())
}

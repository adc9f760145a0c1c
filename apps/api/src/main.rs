//! `chom-api`: serves the HTTP API (and runs jobs in-process on the embedded default).

use chom_api::config::Settings;
use chom_api::startup::Application;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// CHOM control-plane API.
///
/// Configuration comes from built-in defaults, then `chom.toml` (or --config), then environment
/// variables `CHOM_<SECTION>__<KEY>`, e.g. `CHOM_SERVER__PORT=9000`,
/// `CHOM_DATABASE__URL=postgres://…`, `CHOM_REDIS__URL=redis://…`. With no configuration it runs
/// on a SQLite file under ./var with an in-process worker and an in-memory cache.
#[derive(Debug, Parser)]
#[command(name = "chom-api", version, about, long_about)]
struct Cli {
    /// Configuration file (TOML). Default: ./chom.toml if it exists.
    #[arg(long, short = 'c', env = "CHOM_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted) and exit.
    Config,
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Administration from the command line.
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk every organization's hash chain (and the operators') from its first entry and
    /// report the first broken link of each; exit 1 if any chain is broken.
    Verify,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a super admin. The password is read from the terminal (not echoed), or from the
    /// first line of standard input when it is not a terminal. There are no default
    /// credentials: this is how the first operator account is made.
    Create {
        /// E-mail (the login).
        #[arg(long)]
        email: String,
        /// Username (3–32 characters).
        #[arg(long)]
        username: String,
        /// First name.
        #[arg(long, default_value = "Super")]
        first_name: String,
        /// Last name.
        #[arg(long, default_value = "Admin")]
        last_name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chom-api: {e}");
            eprintln!(
                "  (set it in chom.toml or as CHOM_{}; see `chom-api --help`)",
                e.key.to_ascii_uppercase().replace('.', "__")
            );
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Config => match serde_json::to_string_pretty(&settings) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.into()),
        },
        Command::Openapi => match chom_api::openapi::document_json() {
            Ok(doc) => {
                print!("{doc}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Migrate => run(async move {
            chom_api::telemetry::init_logging(&settings.log);
            chom_api::wiring::Services::from_settings(&settings).await?;
            eprintln!("chom-api: migrations applied");
            Ok(())
        }),
        Command::Serve => run(serve(settings)),
        Command::Audit {
            action: AuditCommand::Verify,
        } => run(async move {
            let services = chom_api::wiring::Services::from_settings(&settings).await?;
            let chains = services.audit.verify_all().await?;
            let broken = chom_api::audit_report(&chains, &mut std::io::stdout())?;
            if broken > 0 {
                anyhow::bail!("{broken} audit chain(s) broken");
            }
            Ok(())
        }),
        Command::Admin {
            action:
                AdminCommand::Create {
                    email,
                    username,
                    first_name,
                    last_name,
                },
        } => {
            let password = match read_password() {
                Ok(p) => p,
                Err(e) => return fail(&e),
            };
            run(async move {
                let services = chom_api::wiring::Services::from_settings(&settings).await?;
                let user = services
                    .admin
                    .create_super_admin(&username, &first_name, &last_name, &email, &password)
                    .await
                    .map_err(|e| match e {
                        chom_tenancy::identity::IdentityError::Invalid(errors) => anyhow::anyhow!(
                            "invalid: {}",
                            errors
                                .iter()
                                .map(|(f, e)| format!("{f}: {e}"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        other => anyhow::anyhow!("{other}"),
                    })?;
                println!(
                    "super admin {} <{}> created (id {})",
                    user.username, user.email, user.id
                );
                Ok(())
            })
        }
    }
}

/// Reads a password: from the terminal without echo, or the first line of piped stdin.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("Password: ");
        std::io::stderr().flush()?;
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if tty {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password given on standard input");
    Ok(password)
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("chom-api: {e:#}");
    ExitCode::FAILURE
}

fn run(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e.into()),
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    chom_api::telemetry::init_logging(&settings.log);
    let app = Application::build(settings.clone()).await?;
    let url = app.base_url();
    tracing::info!(%url, database = app.services().store.backend(), cache = app.services().cache.backend(),
        embedded_worker = app.has_embedded_worker(), "chom-api listening");
    println!("CHOM API:  {url}/api/v1");
    println!("API docs:  {url}/api/docs/");
    println!("OpenAPI:   {url}/api/openapi.json");
    println!("Health:    {url}/health/ready");
    if app.has_embedded_worker() {
        println!(
            "Worker:    in-process ({} database)",
            app.services().store.backend()
        );
    }
    app.run_until_stopped().await
}

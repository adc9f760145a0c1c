#![doc = include_str!("../README.md")]

mod bench;
mod boundaries;
mod breaking;
mod client_test;
mod db;
mod imports;
mod secrets;
mod services;
mod util;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "CHOM developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Everything CI checks: fmt, clippy, no unused dependency, rustdoc without warnings, doc
    /// tests, boundaries, no tracked key, OpenAPI freshness and no breaking change since the
    /// release, the generated-client test, the whole test suite.
    Ci,
    /// Start the services tests need (if missing), then run the whole test suite (the
    /// workspace's, then the patched vendored crates' own).
    Test {
        /// Extra arguments for `cargo nextest run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the system: API + worker. Default: the embedded SQLite set-up in one process;
    /// with --postgres, chom-api and chom-worker against the local PostgreSQL and Redis.
    Dev {
        /// Use the local PostgreSQL and Redis, with a separate worker process.
        #[arg(long)]
        postgres: bool,
    },
    /// Database tasks, on the database the configuration selects (CHOM_DATABASE__URL…).
    Db {
        #[command(subcommand)]
        action: db::Action,
    },
    /// Write docs/openapi.json from the code (or, with --check, fail if it is stale; with
    /// --breaking PREVIOUS, fail on a breaking change since that document).
    Openapi {
        /// Compare instead of writing.
        #[arg(long)]
        check: bool,
        /// Compare the document the code generates with this earlier one (the last release's:
        /// docs/openapi/released.json) and fail listing every breaking change; writes nothing.
        #[arg(long, value_name = "PREVIOUS")]
        breaking: Option<std::path::PathBuf>,
    },
    /// Generate a Python client from docs/openapi.json (openapi-python-client) and drive a real
    /// chom-api with it: onboarding, then one refusal of each kind.
    ClientTest,
    /// Fail on any crate dependency that docs/ARCHITECTURE.md §3 forbids.
    CheckBoundaries {
        /// Check this `cargo metadata` JSON instead of the workspace's.
        #[arg(long)]
        metadata: Option<std::path::PathBuf>,
    },
    /// Fail when a private key (an armoured `PRIVATE KEY` block, an OpenSSH key file) is tracked.
    CheckSecrets,
    /// Run `chom-api admin …` (e.g. `cargo xtask admin create --email … --username …`; the
    /// password is read from the terminal or standard input).
    Admin {
        /// Arguments for `chom-api admin`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Make sure PostgreSQL and Redis (and the test tools) are available, starting them if installed.
    Services,
    /// Benchmarks, with figures side by side in one run.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Ci => ci(),
        Cmd::Test { args } => services::ensure().and_then(|()| test(&args)),
        Cmd::Dev { postgres } => dev(postgres),
        Cmd::Db { action } => db::run(action),
        Cmd::Openapi { check, breaking } => match breaking {
            Some(previous) => openapi_breaking(&previous),
            None => openapi(check),
        },
        Cmd::ClientTest => client_test::run(),
        Cmd::CheckBoundaries { metadata } => boundaries::run(metadata.as_deref()),
        Cmd::CheckSecrets => secrets::check(),
        Cmd::Admin { args } => {
            let mut full = vec![
                "run",
                "--quiet",
                "--package",
                "chom-api",
                "--bin",
                "chom-api",
                "--",
                "admin",
            ];
            full.extend(args.iter().map(String::as_str));
            util::cargo(&full)
        }
        Cmd::Services => services::ensure(),
        Cmd::Bench { which } => bench::run(which),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    // End-to-end tests run the real binaries of other packages (chom-agent over SSH, chom-api
    // and chom-worker as processes): build them all first.
    util::cargo(&["build", "--workspace", "--bins", "--quiet"])?;
    let mut args = vec!["nextest", "run", "--workspace", "--no-fail-fast"];
    args.extend(extra.iter().map(String::as_str));
    util::cargo(&args)?;
    // Vendored third-party code we patched is outside the workspace: its own tests.
    let root = util::root()?;
    for vendored in VENDORED {
        let manifest = root.join(vendored).join("Cargo.toml");
        let target = root.join("target").join(vendored);
        util::cargo(&[
            "test",
            "--quiet",
            "--locked",
            "--manifest-path",
            &manifest.display().to_string(),
            "--target-dir",
            &target.display().to_string(),
        ])?;
    }
    Ok(())
}

/// Patched third-party crates (`[patch.crates-io]`), each with its own tests.
const VENDORED: &[&str] = &["vendor/rustic_cdc"];

fn ci() -> anyhow::Result<()> {
    // What `.ci/run` does, step for step.
    util::step("toolchain", || {
        if !util::succeeds("cargo", &["nextest", "--version"]) {
            util::cargo(&["install", "cargo-nextest", "--locked"])?;
        }
        services::ensure_cargo_tool("cargo-machete")
    })?;
    util::step("fmt", || util::cargo(&["fmt", "--all", "--", "--check"]))?;
    util::step("clippy", || {
        util::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    util::step("machete", || util::cargo(&["machete"]))?;
    util::step("doc", || {
        util::cargo_env(
            &["doc", "--workspace", "--no-deps"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    })?;
    // nextest does not run doc tests.
    util::step("doc tests", || {
        util::cargo(&["test", "--workspace", "--doc"])
    })?;
    util::step("check-boundaries", || boundaries::run(None))?;
    util::step("check-secrets", secrets::check)?;
    util::step("openapi --check", || openapi(true))?;
    util::step("openapi --breaking docs/openapi/released.json", || {
        openapi_breaking(&util::root()?.join(RELEASED))
    })?;
    util::step("client-test (a generated Python client)", client_test::run)?;
    // The README's test command, in its own process so that the variable reaches the service
    // check as it does under .ci/run.
    util::step("tests (the README's test command)", || {
        util::cargo_env(&["xtask", "test"], &[("CHOM_REQUIRE_CHROMIUM", "1")])
    })
}

/// The document of the last release, which `openapi --breaking` compares with in CI.
const RELEASED: &str = "docs/openapi/released.json";

/// The OpenAPI document the code generates now.
fn generated_document() -> anyhow::Result<String> {
    // The document is the API binary's to print: xtask does not link the HTTP app.
    util::cargo_output(&[
        "run",
        "--quiet",
        "--package",
        "chom-api",
        "--bin",
        "chom-api",
        "--",
        "openapi",
    ])
}

fn openapi_breaking(previous: &std::path::Path) -> anyhow::Result<()> {
    let read = |what: &str, text: &str| -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{what} is not JSON: {e}"))
    };
    let old_text = std::fs::read_to_string(previous)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", previous.display()))?;
    let old = read(&previous.display().to_string(), &old_text)?;
    let new = read("the generated document", &generated_document()?)?;
    let found = breaking::breaking_changes(&old, &new);
    if found.is_empty() {
        println!(
            "no breaking change since {} (additions are fine)",
            previous.display()
        );
        return Ok(());
    }
    for f in &found {
        eprintln!("  {f}");
    }
    anyhow::bail!(
        "{} breaking change(s) since {} (listed above): keep what clients rely on, or make it a \
         new API version (docs/API.md, Versioning)",
        found.len(),
        previous.display()
    )
}

fn openapi(check: bool) -> anyhow::Result<()> {
    let path = util::root()?.join("docs/openapi.json");
    let fresh = generated_document()?;
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        anyhow::ensure!(
            committed == fresh,
            "{} is stale: run `cargo xtask openapi` and commit it",
            path.display()
        );
        println!("docs/openapi.json is up to date");
    } else {
        std::fs::write(&path, fresh)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn dev(postgres: bool) -> anyhow::Result<()> {
    if !postgres {
        return util::cargo(&["run", "--package", "chom-api", "--bin", "chom-api"]);
    }
    services::ensure_core()?;
    let envs = [
        (
            "CHOM_DATABASE__URL",
            "postgres://postgres@127.0.0.1:5432/chom_dev",
        ),
        ("CHOM_REDIS__URL", "redis://127.0.0.1:6379"),
        // A development machine has no mail server: e-mails go to var/outbox (0600), the log
        // carries them without their tokens.
        ("CHOM_MAIL__LOG_ONLY", "true"),
        ("CHOM_MAIL__OUTBOX_DIR", "var/outbox"),
    ];
    db::create_postgres_database("chom_dev")?;
    util::cargo(&["build", "--package", "chom-api", "--package", "chom-worker"])?;
    let target = util::target_dir()?.join("debug");
    let mut worker = std::process::Command::new(target.join("chom-worker"))
        .envs(envs)
        .spawn()?;
    let status = std::process::Command::new(target.join("chom-api"))
        .envs(envs)
        .env("CHOM_WORKER__EMBEDDED", "off")
        .status();
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(worker.id().to_string())
        .status();
    let _ = worker.wait();
    anyhow::ensure!(status?.success(), "chom-api failed");
    Ok(())
}

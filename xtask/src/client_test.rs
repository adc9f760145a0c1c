//! `cargo xtask client-test`: a Python client generated from the committed `docs/openapi.json`
//! by `openapi-python-client` (PyPI) drives a real `chom-api` through onboarding and one refusal
//! of each kind (`xtask/client-test/flow.py`). An answer whose status the document does not
//! declare for its operation fails the run: the generated client raises "unexpected status".
//!
//! The Python tools live in a virtual environment under the cargo target directory
//! (`client-test/venv`), re-created when `xtask/client-test/requirements.txt` changes. The
//! client, the server's SQLite database and its outbox are in a temporary directory.

use crate::util;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_EMAIL: &str = "admin@client-test.example.com";
const ADMIN_PASSWORD: &str = "client-test admin password";

pub fn run() -> anyhow::Result<()> {
    let root = util::root()?;
    let here = root.join("xtask/client-test");
    crate::services::ensure_python_venv()?;

    let started = Instant::now();
    let target = target_dir()?;
    let venv = ensure_venv(
        &target.join("client-test/venv"),
        &here.join("requirements.txt"),
    )?;
    println!(
        "    python tools ready ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    // The same build as `openapi`'s `cargo run --package chom-api` (in CI, the step before this
    // one): nothing to build again there.
    util::cargo(&[
        "build",
        "--quiet",
        "--package",
        "chom-api",
        "--bin",
        "chom-api",
    ])?;
    let api = target.join("debug/chom-api");
    println!(
        "    chom-api built ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let tmp = tempfile::Builder::new()
        .prefix("chom-client-test")
        .tempdir()?;
    let started = Instant::now();
    let client = tmp.path().join("client");
    std::fs::create_dir_all(&client)?;
    generate(
        &venv,
        &root.join("docs/openapi.json"),
        &here.join("generator.yml"),
        &client.join("chom_client"),
    )?;
    println!(
        "    client generated from docs/openapi.json ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let server = tmp.path().join("server");
    std::fs::create_dir_all(&server)?;
    let config = write_config(&server)?;
    create_super_admin(&api, &config)?;
    let mut api = Server::start(&api, &config, &server)?;
    let url = api.wait_for_url(Duration::from_secs(60))?;
    println!("    chom-api listening on {url}");

    let started = Instant::now();
    let status = Command::new(venv.join("bin/python"))
        .arg(here.join("flow.py"))
        .args(["--base-url", &url])
        .arg("--outbox")
        .arg(server.join("outbox"))
        .arg("--database")
        .arg(server.join("var/chom.db"))
        .args(["--admin-email", ADMIN_EMAIL])
        .args(["--admin-password", ADMIN_PASSWORD])
        .arg("--pending")
        .arg(here.join("pending.txt"))
        .env("PYTHONPATH", &client)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .status()
        .context("running xtask/client-test/flow.py")?;
    println!("    flow ran in {:.1} s", started.elapsed().as_secs_f64());
    if !status.success() {
        eprintln!("--- chom-api log (last 60 lines)\n{}", api.log_tail(60));
    }
    api.stop();
    anyhow::ensure!(
        status.success(),
        "the generated client's flow failed (see the checks above)"
    );
    Ok(())
}

/// The cargo target directory (`CARGO_TARGET_DIR`, configuration, or `target/`).
fn target_dir() -> anyhow::Result<PathBuf> {
    let metadata = util::cargo_output(&["metadata", "--format-version", "1", "--no-deps"])?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata)?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata names no target_directory")
}

/// The virtual environment at `venv` with `requirements` installed, made (again) when its
/// record of the requirements differs from the file.
fn ensure_venv(venv: &Path, requirements: &Path) -> anyhow::Result<PathBuf> {
    let wanted = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("chom-requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted)
        && venv.join("bin/openapi-python-client").exists()
    {
        println!("    reusing {}", venv.display());
        return Ok(venv.to_owned());
    }
    if venv.exists() {
        std::fs::remove_dir_all(venv)?;
    }
    println!("    python3 -m venv {}", venv.display());
    util::run("python3", &["-m", "venv", &venv.display().to_string()])
        .context("creating the client test's virtual environment")?;
    println!("    pip install -r {}", requirements.display());
    let status = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "pip install -r {} failed (PyPI must be reachable)",
        requirements.display()
    );
    std::fs::write(&stamp, wanted)?;
    Ok(venv.to_owned())
}

/// `openapi-python-client generate` of `document` into the package directory `out`; a warning
/// (a part of the document it could not generate) fails.
fn generate(venv: &Path, document: &Path, config: &Path, out: &Path) -> anyhow::Result<()> {
    let output = Command::new(venv.join("bin/openapi-python-client"))
        .arg("generate")
        .arg("--path")
        .arg(document)
        .args(["--meta", "none", "--fail-on-warning"])
        .arg("--config")
        .arg(config)
        .arg("--output-path")
        .arg(out)
        .output()
        .context("running openapi-python-client")?;
    anyhow::ensure!(
        output.status.success() && out.join("client.py").exists(),
        "openapi-python-client could not generate a client from {}:\n{}{}",
        document.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// `chom.toml` for the server in `dir`: any free port on loopback, SQLite and the outbox under
/// `dir`, 127.0.0.1 trusted as a proxy (the script names a client address per check, so that
/// the per-address limit of the auth routes bites only where it tests it), no session cache
/// (the script expires a token in the database).
fn write_config(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("chom.toml");
    let d = dir.display();
    std::fs::write(
        &path,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = 0\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
             [database]\nsqlite_path = \"{d}/var/chom.db\"\n\
             [mail]\noutbox_dir = \"{d}/outbox\"\n\
             [security]\nsession_cache_ms = 0\n\
             [log]\nformat = \"json\"\nfilter = \"info\"\n"
        ),
    )?;
    Ok(path)
}

/// `chom-api` with only `PATH` and `HOME` from the environment (no `CHOM_*` or `RUST_LOG` of
/// the caller's reaches it).
fn command(api: &Path, config: &Path) -> Command {
    let mut c = Command::new(api);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::var_os("HOME").unwrap_or_default())
        .arg("--config")
        .arg(config);
    if let Some(dir) = config.parent() {
        c.current_dir(dir);
    }
    c
}

/// `chom-api admin create`, as an operator makes the first super admin.
fn create_super_admin(api: &Path, config: &Path) -> anyhow::Result<()> {
    let mut child = command(api, config)
        .args([
            "admin",
            "create",
            "--email",
            ADMIN_EMAIL,
            "--username",
            "clientadmin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting chom-api admin create")?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "chom-api admin create failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The running `chom-api`, its output in `chom-api.log`; killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(api: &Path, config: &Path, dir: &Path) -> anyhow::Result<Self> {
        let log = dir.join("chom-api.log");
        let file = std::fs::File::create(&log)?;
        let child = command(api, config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting chom-api")?;
        Ok(Self { child, log })
    }

    /// The base URL it prints once it listens (`CHOM API:  http://…/api/v1`).
    fn wait_for_url(&mut self, within: Duration) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(url) = log
                .lines()
                .find_map(|l| l.strip_prefix("CHOM API:"))
                .and_then(|u| u.trim().strip_suffix("/api/v1"))
            {
                return Ok(url.to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("chom-api exited ({status}) before listening:\n{log}");
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "chom-api did not listen within {within:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

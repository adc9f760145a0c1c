//! Makes sure the services and tools the tests need are there, starting (and, as root on
//! Debian, installing) what is missing. Fails loudly, naming what could not be provided.

use crate::util::{run, succeeds};
use anyhow::Context as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `apt-get install` of `packages` (Debian, as root); fails with advice otherwise.
pub fn apt_install(packages: &[&str], why: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_root() && succeeds("apt-get", &["--version"]),
        "{why}: install the Debian packages {} (needs root and apt-get)",
        packages.join(" ")
    );
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        println!("    apt-get update");
        run("apt-get", &["update", "-qq"])?;
    }
    println!("    apt-get install {}", packages.join(" "));
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend_from_slice(packages);
    let status = std::process::Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?;
    anyhow::ensure!(
        status.success(),
        "apt-get install {} failed",
        packages.join(" ")
    );
    Ok(())
}

/// Installs the cargo subcommand `krate` (`cargo install --locked`, as CI does) when its binary
/// is not on the PATH.
pub fn ensure_cargo_tool(krate: &str) -> anyhow::Result<()> {
    if !succeeds(krate, &["--version"]) {
        println!("    cargo install {krate} --locked");
        crate::util::cargo(&["install", krate, "--locked"])?;
    }
    Ok(())
}

fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) -> anyhow::Result<()> {
    let started = Instant::now();
    while !check() {
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{what} did not come up within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn postgres_up() -> bool {
    succeeds("pg_isready", &["-q", "-h", "127.0.0.1", "-p", "5432"])
}

fn ensure_postgres() -> anyhow::Result<()> {
    if postgres_up() {
        println!("    PostgreSQL: up");
        return Ok(());
    }
    if !std::path::Path::new("/etc/postgresql").exists() {
        apt_install(&["postgresql"], "PostgreSQL is not installed")?;
    }
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .context("reading /etc/postgresql")?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    anyhow::ensure!(
        !versions.is_empty(),
        "no PostgreSQL cluster under /etc/postgresql"
    );
    for v in &versions {
        println!("    starting PostgreSQL {v}");
        // An already-running cluster makes this fail harmlessly; readiness decides.
        let _ = run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", v, "main", "start"],
        );
    }
    wait_for(
        "PostgreSQL on 127.0.0.1:5432",
        Duration::from_secs(30),
        postgres_up,
    )?;
    // Tests connect as postgres without a password over TCP.
    anyhow::ensure!(
        succeeds(
            "psql",
            &["-h", "127.0.0.1", "-U", "postgres", "-Atc", "SELECT 1"]
        ),
        "PostgreSQL is up but `psql -h 127.0.0.1 -U postgres` fails: tests need trust (or password-less) \
         auth for postgres on 127.0.0.1, or set TEST_DATABASE_URL"
    );
    println!("    PostgreSQL: up");
    Ok(())
}

fn redis_up() -> bool {
    std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "ping"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
}

fn ensure_redis() -> anyhow::Result<()> {
    if redis_up() {
        println!("    Redis: up");
        return Ok(());
    }
    if !succeeds("redis-server", &["--version"]) {
        apt_install(&["redis-server"], "Redis is not installed")?;
    }
    println!("    starting Redis");
    run(
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    )?;
    wait_for("Redis on 127.0.0.1:6379", Duration::from_secs(15), redis_up)?;
    println!("    Redis: up");
    Ok(())
}

fn mariadb_up() -> bool {
    succeeds(
        "mariadb",
        &["-h", "127.0.0.1", "-u", "root", "-e", "SELECT 1"],
    )
}

fn ensure_mariadb() -> anyhow::Result<()> {
    if mariadb_up() {
        println!("    MariaDB: up");
        return Ok(());
    }
    if !std::path::Path::new("/usr/sbin/mariadbd").exists() {
        apt_install(
            &["mariadb-server"],
            "MariaDB is not installed (the agent tests create real databases)",
        )?;
    }
    println!("    starting MariaDB");
    std::fs::create_dir_all("/run/mysqld").ok();
    let _ = run("chown", &["mysql:mysql", "/run/mysqld"]);
    run(
        "start-stop-daemon",
        &[
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/mariadbd",
        ],
    )?;
    wait_for(
        "MariaDB on 127.0.0.1:3306",
        Duration::from_secs(30),
        mariadb_up,
    )?;
    println!("    MariaDB: up");
    Ok(())
}

/// The development sshd on 127.0.0.1:2222 (recipe of `../shared/reference/stack.md`): keys and
/// configuration in `/tmp/chom-sshd` (`CHOM_SSHD_DIR`). The tests start private instances of
/// their own; this one is for trying the fleet by hand.
fn ensure_dev_sshd() -> anyhow::Result<()> {
    if !std::path::Path::new("/usr/sbin/sshd").exists() {
        apt_install(
            &["openssh-server", "openssh-client"],
            "the SSH transport is tested against a real sshd",
        )?;
    }
    if std::net::TcpStream::connect(("127.0.0.1", 2222)).is_ok() {
        println!("    sshd 127.0.0.1:2222: up");
        return Ok(());
    }
    if !is_root() {
        println!("    sshd 127.0.0.1:2222: not started (needs root)");
        return Ok(());
    }
    let dir = std::path::PathBuf::from(
        std::env::var("CHOM_SSHD_DIR").unwrap_or_else(|_| "/tmp/chom-sshd".into()),
    );
    std::fs::create_dir_all(&dir)?;
    for (name, comment) in [
        ("host_ed25519", "chom-dev-host"),
        ("client_ed25519", "chom-dev-client"),
    ] {
        if !dir.join(name).exists() {
            let path = dir.join(name).display().to_string();
            run(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &path],
            )?;
        }
    }
    std::fs::copy(dir.join("client_ed25519.pub"), dir.join("authorized_keys"))?;
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port 2222\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
             AllowTcpForwarding no\nX11Forwarding no\nPrintMotd no\n"
        ),
    )?;
    std::fs::create_dir_all("/run/sshd")?;
    let config = dir.join("sshd_config").display().to_string();
    run("/usr/sbin/sshd", &["-t", "-f", &config])?;
    // Detached (-D not given): sshd daemonises, writing its pid file.
    run("/usr/sbin/sshd", &["-f", &config])?;
    wait_for("sshd on 127.0.0.1:2222", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", 2222)).is_ok()
    })?;
    println!("    sshd 127.0.0.1:2222: up (keys in {d})");
    Ok(())
}

/// `python3` (3.11 or later) able to make a virtual environment with pip: the generated-client
/// test (`cargo xtask client-test`) installs `openapi-python-client` into one.
pub fn ensure_python_venv() -> anyhow::Result<()> {
    let usable = || succeeds("python3", &["-c", "import venv, ensurepip"]);
    if !usable() {
        apt_install(
            &["python3", "python3-venv"],
            "the generated-client test needs `python3 -m venv`",
        )?;
    }
    anyhow::ensure!(
        usable(),
        "`python3 -m venv` is still unavailable (the python3 on the PATH has no venv/ensurepip)"
    );
    anyhow::ensure!(
        succeeds(
            "python3",
            &["-c", "import sys; sys.exit(sys.version_info < (3, 11))"]
        ),
        "the generated-client test needs Python 3.11 or later as python3"
    );
    println!("    python3 with venv: present");
    Ok(())
}

/// PostgreSQL and Redis.
pub fn ensure_core() -> anyhow::Result<()> {
    ensure_postgres()?;
    ensure_redis()
}

/// Everything the test suite needs.
pub fn ensure() -> anyhow::Result<()> {
    ensure_core()?;
    ensure_mariadb()?;
    ensure_dev_sshd()?;
    if !succeeds("nginx", &["-v"]) {
        apt_install(
            &["nginx"],
            "the agent's generated vhosts are checked with the real nginx -t",
        )?;
    }
    println!("    nginx: present");
    if !std::path::Path::new("/usr/sbin/php-fpm8.2").exists() {
        apt_install(
            &["php8.2-fpm"],
            "the agent's generated pools are checked with the real php-fpm -t",
        )?;
    }
    println!("    php-fpm 8.2: present");
    if !std::path::Path::new("/usr/bin/pebble").exists()
        || !std::path::Path::new("/usr/bin/certbot").exists()
    {
        apt_install(
            &["pebble", "certbot"],
            "ssl.issue is tested against a local Pebble ACME server with certbot",
        )?;
    }
    println!("    pebble, certbot: present");
    if !succeeds("promtool", &["--version"]) {
        apt_install(
            &["prometheus"],
            "promtool (Prometheus) checks the /metrics exposition",
        )?;
    }
    println!("    promtool: present");
    if !succeeds("restic", &["version"]) {
        apt_install(
            &["restic"],
            "backups are restic repositories: the agent drives restic, and the tests restore with it",
        )?;
    }
    println!("    restic: present");
    pip_ensure(
        "openapi_spec_validator",
        "openapi-spec-validator",
        "the OpenAPI test validates the document with openapi-spec-validator (PyPI)",
    )?;
    println!("    openapi-spec-validator: present");
    pip_ensure(
        "moto.server",
        "moto[server]",
        "backups in S3 are tested against a local moto S3 server (PyPI moto[server])",
    )?;
    println!("    moto (S3 server): present");
    ensure_python_venv()?;
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    if !chromium && std::env::var_os("CHOM_REQUIRE_CHROMIUM").is_some() {
        apt_install(
            &["chromium"],
            "the docs page is rendered in headless Chromium",
        )?;
    }
    println!(
        "    chromium: {}",
        if chromium || std::env::var_os("CHOM_REQUIRE_CHROMIUM").is_some() {
            "present"
        } else {
            "absent (the browser test will skip; CI requires it)"
        }
    );
    Ok(())
}

/// Installs `package` from PyPI for the `python3` on the PATH unless `module` imports.
fn pip_ensure(module: &str, package: &str, why: &'static str) -> anyhow::Result<()> {
    if succeeds("python3", &["-c", &format!("import {module}")]) {
        return Ok(());
    }
    println!("    pip install {package}");
    run(
        "python3",
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            package,
        ],
    )
    .context(why)
}

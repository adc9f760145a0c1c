//! `GET /api/v1/auth/me` (token authenticated) through the real release `chom-api` and `wrk`,
//! side by side with `pgbench` running the same token-lookup query on the same database.

use chom_auth::ports::Purpose;
use chom_kernel::audit::Origin;
use chom_kernel::crypto::{KeyedHash, Sealer};
use chom_postgres::testing::TestDatabase;
use chom_postgres::{PgIdentity, SESSION_QUERY};
use chom_tenancy::admin::Administration;
use chom_tenancy::identity::{Identity, IdentityConfig, IdentityPorts, Registration};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: [u8; 32] = [7; 32];
const PASSWORD: &str = "benchmark passphrase";

struct Figures {
    per_sec: f64,
    p50: String,
    p99: String,
}

/// A member with an API token, made through the domain services (as the API would).
async fn member_token(db: &TestDatabase) -> anyhow::Result<(String, String)> {
    let repos = Arc::new(PgIdentity::new(db.store.pool().clone()));
    let ports = IdentityPorts {
        store: Arc::new(db.store.clone()),
        users: repos.clone(),
        tokens: repos.clone(),
        one_time: repos.clone(),
        recovery: repos.clone(),
        orgs: repos.clone(),
        sessions: repos,
        hashing: std::sync::Arc::new(chom_auth::password::InlineHashing),
        audit: Arc::new(chom_postgres::PgAudit::new(db.store.pool().clone())),
    };
    let identity = Identity::new(
        ports.clone(),
        Arc::new(Sealer::new(&KEY)?),
        Arc::new(KeyedHash::new(
            &KEY,
            chom_tenancy::identity::RECOVERY_CODES_PURPOSE,
        )),
        IdentityConfig::default(),
    );
    let admin = Administration::new(ports, Arc::new(db.store.plans()), identity.session_cache());
    let reg = identity
        .register(
            Registration {
                username: "bench".into(),
                first_name: "Bench".into(),
                last_name: "Mark".into(),
                email: "bench@example.com".into(),
                password: PASSWORD.into(),
                organization_name: Some("Bench Org".into()),
            },
            None,
        )
        .await?;
    let verification = identity
        .mint_one_time(reg.user.id, Purpose::VerifyEmail)
        .await?;
    identity.verify_email(&verification).await?;
    let boss = admin
        .create_super_admin(
            "boss",
            "Boss",
            "Admin",
            "boss@example.com",
            "another bench passphrase",
        )
        .await?;
    let operator = chom_kernel::audit::Actor::super_admin(boss.id, Origin::default());
    admin.approve_user(&operator, reg.user.id, None).await?;
    let (_, issued) = identity.login("bench@example.com", PASSWORD, None).await?;
    Ok((issued.plaintext, issued.token.id.to_string()))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn http_status(port: u16, path: &str, token: &str) -> Option<u16> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn wrk(port: u16, token: &str, seconds: u32, connections: u32) -> anyhow::Result<Figures> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(!text.contains("Non-2xx"), "some requests failed:\n{text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    Ok(Figures {
        per_sec: field("Requests/sec:").parse().unwrap_or(0.0),
        p50: field("50%"),
        p99: field("99%"),
    })
}

fn pgbench(
    db_name: &str,
    token_id: &str,
    seconds: u32,
    connections: u32,
) -> anyhow::Result<Figures> {
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(
        script.path(),
        format!(
            "{};\n",
            SESSION_QUERY.replace("$1", &format!("'{token_id}'"))
        ),
    )?;
    let out = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2", "-r"])
        .args(["-c", &connections.to_string(), "-T", &seconds.to_string()])
        .args(["-h", "127.0.0.1", "-U", "postgres", "-f"])
        .arg(script.path())
        .arg(db_name)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let latency = text
        .lines()
        .find_map(|l| l.strip_prefix("latency average = "))
        .unwrap_or("?")
        .to_owned();
    Ok(Figures {
        per_sec: tps,
        p50: format!("avg {latency}"),
        p99: "-".into(),
    })
}

/// Runs the comparison.
///
/// # Errors
/// A tool is missing or a step failed.
pub async fn run(api_bin: &str, seconds: u32, connections: u32) -> anyhow::Result<()> {
    let db = TestDatabase::new().await?;
    let (token, token_id) = member_token(&db).await?;
    let db_name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut rows = Vec::new();
    for (label, cache_ms) in [
        ("chom-api GET /api/v1/auth/me, session cache 1 s", 1000),
        ("chom-api GET /api/v1/auth/me, no cache", 0),
    ] {
        let port = free_port()?;
        let mut api = Command::new(api_bin)
            .env("CHOM_DATABASE__URL", &db.url)
            .env("CHOM_SERVER__PORT", port.to_string())
            .env(
                "CHOM_SECURITY__ENCRYPTION_KEY",
                data_encoding::BASE64URL_NOPAD.encode(&KEY),
            )
            .env("CHOM_SECURITY__SESSION_CACHE_MS", cache_ms.to_string())
            .env("CHOM_WORKER__EMBEDDED", "off")
            .env("CHOM_LOG__FILTER", "warn")
            // PostgreSQL without SMTP refuses to start unless mail is only logged; the load is
            // one token, so its per-token limit must not turn the run into 429s.
            .env("CHOM_MAIL__LOG_ONLY", "true")
            .env("CHOM_SECURITY__API_REQUESTS_PER_MINUTE", "100000000")
            .env("CHOM_DATABASE__MAX_CONNECTIONS", connections.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        while http_status(port, "/api/v1/auth/me", &token) != Some(200) {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = api.kill();
                anyhow::bail!("chom-api did not answer 200 on /api/v1/auth/me");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("running wrk for {seconds} s ({label}) …");
        let http = wrk(port, &token, seconds, connections);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(api.id().to_string())
            .status();
        let _ = api.wait();
        rows.push((label, http?));
    }
    eprintln!("running pgbench for {seconds} s …");
    let sql = pgbench(&db_name, &token_id, seconds, connections)?;

    println!(
        "GET /api/v1/auth/me (bearer token, {connections} connections, {seconds} s) vs pgbench running the same token-lookup query\n"
    );
    println!(
        "| what                                              | per second | p50            | p99       | vs pgbench |"
    );
    println!(
        "|---------------------------------------------------|-----------:|----------------|-----------|-----------:|"
    );
    for (label, f) in &rows {
        let ratio = if sql.per_sec > 0.0 {
            100.0 * f.per_sec / sql.per_sec
        } else {
            0.0
        };
        println!(
            "| {label:<49} | {:>10.0} | {:<14} | {:<9} | {ratio:>8.0} % |",
            f.per_sec, f.p50, f.p99
        );
    }
    println!(
        "| pgbench: the session query alone (baseline)       | {:>10.0} | {:<14} | {:<9} |      100 % |",
        sql.per_sec, sql.p50, sql.p99
    );
    println!("\ngoal: the API at >= 60 % of pgbench");
    Ok(())
}

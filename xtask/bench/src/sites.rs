//! Provisioning throughput: N sites created through the sites service on M loopback "VPSs" (one
//! sshd each, the release agent in its own sandbox, the machine's MariaDB and `nginx -t`), the
//! worker running the operations, on PostgreSQL; against the sum of the agent's own work for the
//! same sites (the agent run directly, no SSH, no control plane, one site after another).

use chom_infrastructure::NewVps;
use chom_kernel::{OperationId, Role, TenantContext, TenantId, UserId};
use chom_postgres::testing::TestDatabase;
use chom_runtime::Services;
use chom_runtime::Settings;
use chom_site_hosting::{CreateSite, OperationStatus};
use chom_test_support::Sshd;
use secrecy::SecretString;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs the agent directly on `root` with one request; returns whether it succeeded.
fn agent(
    bin: &Path,
    root: &Path,
    command: &str,
    params: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let mut request = serde_json::json!({"protocol": 1, "command": command});
    if !params.is_null() {
        request["params"] = params.clone();
    }
    let mut child = Command::new(bin)
        .arg("--root")
        .arg(root)
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(request.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    anyhow::ensure!(answer["ok"] == true, "agent {command}: {answer}");
    Ok(answer)
}

/// Removes every site the agent knows under `root` (and so their databases).
fn clean(bin: &Path, root: &Path) -> anyhow::Result<()> {
    let list = agent(bin, root, "site.list", &serde_json::Value::Null)?;
    for site in list["data"]["sites"].as_array().into_iter().flatten() {
        agent(
            bin,
            root,
            "site.delete",
            &serde_json::json!({"domain": site["domain"]}),
        )?;
    }
    Ok(())
}

pub(crate) async fn seed_tenant(db: &TestDatabase) -> anyhow::Result<TenantId> {
    let (org, tenant) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = time::OffsetDateTime::now_utc();
    sqlx::query(
        "INSERT INTO organizations (id, name, status, approval_status, created_at, updated_at)
         VALUES ($1, 'Bench Ltd', 'active', 'approved', $2, $2)",
    )
    .bind(org)
    .bind(now)
    .execute(db.store.pool())
    .await?;
    sqlx::query(
        "INSERT INTO tenants (id, organization_id, name, is_default, status, plan_code, plan_selected_at, created_at, updated_at)
         VALUES ($1, $2, 'Default', true, 'active', 'enterprise', $3, $3, $3)",
    )
    .bind(tenant)
    .bind(org)
    .bind(now)
    .execute(db.store.pool())
    .await?;
    Ok(TenantId::from_uuid(tenant))
}

/// Runs the comparison.
///
/// # Errors
/// A service is missing or a provisioning failed.
pub async fn run(
    agent_bin: &Path,
    sites: usize,
    servers: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run_id = &run_id[..8];
    let roots: Vec<_> = (0..servers)
        .map(|i| work.path().join(format!("vps{i}")))
        .collect();
    let sshds: Vec<Sshd> = roots
        .iter()
        .map(|r| Sshd::start_with_env(&[("CHOM_AGENT_ROOT", &r.display().to_string())]))
        .collect();
    let first_key = sshds[0].client_key();
    for s in &sshds[1..] {
        s.authorize(&first_key.with_extension("pub"));
    }
    let db = TestDatabase::new().await?;
    let mut settings = Settings::default();
    settings.database.url = Some(SecretString::from(db.url.clone()));
    settings.database.max_connections = 20;
    settings.security.encryption_key = Some(SecretString::from(
        data_encoding::BASE64URL_NOPAD.encode(&[9u8; 32]),
    ));
    settings.ssh.key_file = first_key;
    settings.ssh.state_dir = work.path().join("ssh-state");
    settings.ssh.agent_path = work.path().join("bin/chom-agent").display().to_string();
    settings.ssh.agent_args = Vec::new();
    settings.ssh.sudo = false;
    settings.ssh.agent_binary = Some(agent_bin.to_path_buf());
    settings.worker.concurrency = concurrency;
    settings.mail.log_only = true;
    let services = Services::from_settings(&settings).await?;
    // The bench acts as an owner of the seeded tenant (no user row: nothing reads it).
    let owner = TenantContext::authenticated(
        chom_kernel::OrganizationId::new(),
        seed_tenant(&db).await?,
        UserId::new(),
        Role::Owner,
    );
    let operator = chom_kernel::audit::Actor::system();
    for (i, sshd) in sshds.iter().enumerate() {
        let vps = services
            .fleet
            .add(
                &operator,
                NewVps {
                    hostname: format!("vps{i}.bench"),
                    ip_address: "127.0.0.1".into(),
                    ssh_port: Some(sshd.port),
                    ssh_user: Some("root".into()),
                    provider: "bench".into(),
                    cpu_cores: 2,
                    memory_mb: 2048,
                    disk_gb: 20,
                    allocation: "shared".into(),
                    max_sites: Some(i32::try_from(sites)?),
                    ..NewVps::default()
                },
            )
            .await?;
        services
            .fleet
            .trust_host_key(
                &operator,
                vps.id,
                &chom_infrastructure::TrustHostKey::default(),
            )
            .await?;
        services.fleet.bootstrap(&operator, vps.id).await?;
        services.fleet.check_health(vps.id).await?;
    }

    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(chom_runtime::jobs::run_worker(
        services.clone(),
        settings.clone(),
        "bench",
        shutdown.clone(),
    ));
    let domains: Vec<String> = (0..sites)
        .map(|n| format!("s{n}-{run_id}.bench.example.com"))
        .collect();
    let started = Instant::now();
    let mut ops: Vec<OperationId> = Vec::with_capacity(sites);
    for d in &domains {
        let (_, op) = services
            .sites
            .create(
                &owner,
                CreateSite {
                    domain: d.clone(),
                    site_type: Some("html".into()),
                    php_version: None,
                    ssl: false,
                },
                None,
            )
            .await?;
        ops.push(op.id);
    }
    let accepted = started.elapsed();
    let failed = loop {
        let (mut open, mut failed) = (0, 0);
        for id in &ops {
            match services.sites.operation(&owner, *id).await?.status {
                OperationStatus::Succeeded => {}
                OperationStatus::Failed => failed += 1,
                _ => open += 1,
            }
        }
        if open == 0 {
            break failed;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "{open} provisionings still open after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let control = started.elapsed();
    // Where the time went, from the operations' own step timestamps.
    let (mut waited, mut create, mut install) = (0.0, 0.0, 0.0);
    for id in &ops {
        let op = services.sites.operation(&owner, *id).await?;
        let span = |i: usize| -> f64 {
            match (
                op.steps.get(i).and_then(|s| s.started_at),
                op.steps.get(i).and_then(|s| s.finished_at),
            ) {
                (Some(a), Some(b)) => (b - a).as_seconds_f64(),
                _ => 0.0,
            }
        };
        if let Some(first) = op.steps.first().and_then(|s| s.started_at) {
            waited += (first - op.created_at).as_seconds_f64();
        }
        create += span(0);
        install += span(1);
    }
    shutdown.cancel();
    worker.await??;

    // The agent's own work for the same sites, one after another, no SSH.
    let alone = work.path().join("alone");
    let t = Instant::now();
    for d in &domains {
        agent(
            agent_bin,
            &alone,
            "site.create",
            &serde_json::json!({"domain": d, "site_type": "html", "php_version": "8.2"}),
        )?;
        agent(
            agent_bin,
            &alone,
            "app.install",
            &serde_json::json!({"domain": d}),
        )?;
    }
    let sum = t.elapsed();
    for root in roots.iter().chain(std::iter::once(&alone)) {
        clean(agent_bin, root)?;
    }
    anyhow::ensure!(failed == 0, "{failed} provisionings failed");

    let secs = |d: Duration| d.as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let (n, m) = (sites as f64, servers as f64);
    let ideal = secs(sum) / m;
    println!(
        "Provisioning {sites} sites (html: site.create + app.install) on {servers} loopback servers, PostgreSQL, worker concurrency {concurrency}"
    );
    println!("| measure | seconds | per site |");
    println!("|---|---:|---:|");
    println!(
        "| control plane: {sites} creations accepted (admission, placement, site + operation + job) | {:.3} | {:.1} ms |",
        secs(accepted),
        secs(accepted) * 1000.0 / n
    );
    println!(
        "| control plane: creation to every site `active` | {:.3} | {:.1} ms |",
        secs(control),
        secs(control) * 1000.0 / n
    );
    println!(
        "| baseline: sum of the agent's own work (direct, sequential) | {:.3} | {:.1} ms |",
        secs(sum),
        secs(sum) * 1000.0 / n
    );
    println!(
        "| baseline / {servers} servers (perfect parallelism, zero overhead) | {ideal:.3} | {:.1} ms |",
        ideal * 1000.0 / n
    );
    println!(
        "per operation, means: queued {:.1} ms, site.create over SSH {:.1} ms, app.install over SSH {:.1} ms",
        waited * 1000.0 / n,
        create * 1000.0 / n,
        install * 1000.0 / n
    );
    println!(
        "control plane vs the agent's own work: {:.2}x the sum, {:.2}x the ideal parallel time",
        secs(control) / secs(sum),
        secs(control) / ideal
    );
    Ok(())
}

//! The cost of auditing: site-update throughput through the sites service on PostgreSQL, with
//! the audit trail (every request appends to its organization's hash chain, under the chain's
//! lock, in the request's transaction) against the same service wired without one — both in
//! this binary, rounds interleaved, on one database. Twice: every task acting in its own
//! organization (each its own chain: what many customers look like), then all in one
//! organization (every append waits for the chain head: the worst case). Then the same through
//! the HTTP API (`POST /api/v1/sites/{id}/disable` with a bearer token, the real application
//! wired both ways in this process, a keep-alive client): the site update as a client sees it.

use chom_kernel::audit::{AuditTrail, NoTrail};
use chom_kernel::crypto::Sealer;
use chom_kernel::{OrganizationId, Role, SiteId, TenantContext, UserId};
use chom_postgres::testing::TestDatabase;
use chom_runtime::Settings;
use chom_site_hosting::{CreateSite, SiteAction, Sites, SitesConfig, SitesPorts};
use std::sync::Arc;
use std::time::Instant;

/// Site updates per second of one variant, median of its rounds, with every round's figure.
fn report(what: &str, with: &mut [f64], without: &mut [f64]) {
    let median = |v: &mut [f64]| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(with), median(without));
    println!("audit, {what}");
    println!("  with the audit trail     {w:>9.0} updates/s   (rounds: {with:.0?})");
    println!("  without (no trail wired) {wo:>9.0} updates/s   (rounds: {without:.0?})");
    println!(
        "  audit cost: {:.1} % slower (goal < 15 %)",
        (1.0 - w / wo) * 100.0
    );
}

/// The real application on loopback over `db`, appending to `trail` instead of the audit
/// trail when one is given; its base URL.
async fn application(
    db: &TestDatabase,
    dir: &std::path::Path,
    trail: Option<Arc<dyn AuditTrail>>,
) -> anyhow::Result<String> {
    let mut s = Settings::default();
    s.database.url = Some(secrecy::SecretString::from(db.url.clone()));
    s.security.encryption_key = Some(secrecy::SecretString::from(
        data_encoding::BASE64URL_NOPAD.encode(&[7; 32]),
    ));
    s.mail.log_only = true;
    // As deployed: rate limits and caches in Redis.
    s.redis.url = Some(secrecy::SecretString::from(
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    ));
    s.redis.key_prefix = format!("bench:{}:", uuid::Uuid::new_v4().simple());
    s.server.host = "127.0.0.1".into();
    s.server.port = 0;
    s.worker.embedded = chom_runtime::config::EmbeddedWorker::Off;
    s.worker.schedule = false;
    s.security.api_requests_per_minute = 1_000_000_000;
    s.ssh.key_file = dir.join("ssh/id_ed25519");
    s.ssh.state_dir = dir.join("ssh");
    s.backup.listen = String::new();
    s.backup.repository_root = dir.join("repositories");
    let app = chom_api::startup::Application::build_with(
        s,
        chom_api::startup::Hooks {
            audit_trail: trail,
            ..chom_api::startup::Hooks::default()
        },
    )
    .await?;
    let url = app.base_url();
    tokio::spawn(app.run_until_stopped());
    Ok(url)
}

/// Disables every site of `work` through the API at `base`, one task per (token, sites);
/// requests per second. Any answer but 202 fails the run.
async fn api_round(
    client: &reqwest::Client,
    base: &str,
    work: &[(String, Vec<SiteId>)],
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut count = 0usize;
    for (token, ids) in work {
        count += ids.len();
        let (client, token, ids) = (client.clone(), token.clone(), ids.clone());
        let base = base.to_owned();
        tasks.push(tokio::spawn(async move {
            for id in ids {
                let answer = client
                    .post(format!("{base}/api/v1/sites/{id}/disable"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                let status = answer.status();
                let body = answer.text().await?;
                anyhow::ensure!(status.as_u16() == 202, "disable {id}: {status} {body}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    #[expect(clippy::cast_precision_loss, reason = "a count of requests")]
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// The API comparison: `concurrency` members each in an organization of their own; the first
/// also holds `sites_n` sites for the one-organization case.
async fn through_api(
    db: &TestDatabase,
    settings: &Settings,
    sites_n: usize,
    rounds: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let members = crate::api::members(db, concurrency).await?;
    // Every tenant on the plan with the most sites; no per-minute limit gets in the way.
    for sql in [
        "UPDATE tenants SET plan_code = 'enterprise'",
        "UPDATE plans SET api_requests_per_minute = 1000000000",
    ] {
        sqlx::query(sql).execute(db.store.pool()).await?;
    }
    let maker = sites(db, Arc::new(NoTrail), settings)?;
    let per = sites_n.div_ceil(concurrency.max(1));
    let mut owned: Vec<(String, Vec<SiteId>)> = Vec::new();
    for (n, m) in members.iter().enumerate() {
        let (org, tenant): (uuid::Uuid, uuid::Uuid) = sqlx::query_as(
            "SELECT m.organization_id, t.id FROM memberships m
             JOIN tenants t ON t.organization_id = m.organization_id AND t.is_default
             WHERE m.user_id = $1",
        )
        .bind(m.user_id)
        .fetch_one(db.store.pool())
        .await?;
        let ctx = TenantContext::authenticated(
            OrganizationId::from_uuid(org),
            chom_kernel::TenantId::from_uuid(tenant),
            UserId::from_uuid(m.user_id),
            Role::Owner,
        );
        let count = if n == 0 { sites_n } else { per };
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let (site, _) = maker
                .create(
                    &ctx,
                    CreateSite {
                        domain: format!("s{i}.m{n}.audit-bench.example"),
                        ..CreateSite::default()
                    },
                    None,
                )
                .await
                .map_err(|e| anyhow::anyhow!("create: {e}"))?;
            ids.push(site.id);
        }
        owned.push((m.token.clone(), ids));
    }
    let audited = application(db, work.path(), None).await?;
    let silent = application(db, work.path(), Some(Arc::new(NoTrail))).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let per_org: Vec<(String, Vec<SiteId>)> = owned
        .iter()
        .map(|(t, ids)| (t.clone(), ids[..per.min(ids.len())].to_vec()))
        .collect();
    let one_org: Vec<(String, Vec<SiteId>)> = owned[0]
        .1
        .chunks(per.max(1))
        .map(|c| (owned[0].0.clone(), c.to_vec()))
        .collect();
    for (label, plan) in [
        ("one organization per task", &per_org),
        ("all in one organization", &one_org),
    ] {
        let updates: usize = plan.iter().map(|(_, ids)| ids.len()).sum();
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            let order: [bool; 2] = if r % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for audit_on in order {
                reset(db).await?;
                let base = if audit_on { &audited } else { &silent };
                let rate = api_round(&client, base, plan).await?;
                if audit_on {
                    with.push(rate);
                } else {
                    without.push(rate);
                }
            }
        }
        report(
            &format!(
                "through the HTTP API (PostgreSQL and Redis, as deployed), {label}: {updates} POST /sites/{{id}}/disable per round, {concurrency} at a time, PostgreSQL"
            ),
            &mut with,
            &mut without,
        );
    }
    Ok(())
}

fn sites(
    db: &TestDatabase,
    audit: Arc<dyn AuditTrail>,
    settings: &Settings,
) -> anyhow::Result<Sites> {
    let pool = db.store.pool().clone();
    let store: Arc<dyn chom_kernel::store::Store> = Arc::new(db.store.clone());
    let servers = Arc::new(chom_postgres::PgFleet::new(pool.clone()));
    let fleet = chom_infrastructure::Fleet::new(
        store.clone(),
        servers.clone(),
        Arc::new(chom_ssh::SshGateway::new(&settings.ssh)),
        audit.clone(),
    );
    let sealer = Arc::new(Sealer::new(&[7; 32])?);
    Ok(Sites::new(
        SitesPorts {
            store,
            sites: Arc::new(chom_postgres::PgSites::new(pool.clone())),
            orgs: Arc::new(chom_postgres::PgIdentity::new(pool)),
            plans: Arc::new(db.store.plans()),
            servers,
            fleet,
            sealer,
            audit,
        },
        SitesConfig::default(),
    ))
}

/// Puts every site back to `active` with no operation running.
async fn reset(db: &TestDatabase) -> anyhow::Result<()> {
    for sql in [
        "UPDATE sites SET status = 'active'",
        "UPDATE operations SET status = 'succeeded'",
        "DELETE FROM jobs",
    ] {
        sqlx::query(sql).execute(db.store.pool()).await?;
    }
    Ok(())
}

/// Disables every site once, `concurrency` at a time, task `t` acting as `ctxs[t % len]`;
/// requests per second.
async fn round(
    service: &Sites,
    ctxs: &[TenantContext],
    ids: &[SiteId],
    concurrency: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let chunks: Vec<Vec<SiteId>> = ids
        .chunks(ids.len().div_ceil(concurrency.max(1)))
        .map(<[SiteId]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for (t, chunk) in chunks.into_iter().enumerate() {
        let (service, ctx) = (service.clone(), ctxs[t % ctxs.len()].clone());
        tasks.push(tokio::spawn(async move {
            for id in chunk {
                service
                    .request(&ctx, id, SiteAction::Disable, None)
                    .await
                    .map_err(|e| anyhow::anyhow!("disable {id}: {e}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    #[expect(clippy::cast_precision_loss, reason = "a count of requests")]
    Ok(ids.len() as f64 / started.elapsed().as_secs_f64())
}

/// Runs the comparison.
///
/// # Errors
/// PostgreSQL is missing, or a request failed.
pub async fn run(sites_n: usize, rounds: usize, concurrency: usize) -> anyhow::Result<()> {
    let db = TestDatabase::new().await?;
    let work = tempfile::tempdir()?;
    let mut settings = Settings::default();
    settings.ssh.state_dir = work.path().join("ssh-state");
    let tenant = crate::sites::seed_tenant(&db).await?;
    sqlx::query(
        "INSERT INTO vps_servers (id, hostname, ip_address, ssh_port, ssh_user, provider, cpu_cores,
             memory_mb, disk_gb, allocation, max_sites, host_key, status, health, created_at, updated_at)
         VALUES ($1, 'audit.bench', '127.0.0.1', 22, 'root', 'bench', 2, 2048, 20, 'shared',
             100000, 'ssh-ed25519 AAAAbench', 'active', 'healthy', now(), now())",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(db.store.pool())
    .await?;
    let ctx =
        TenantContext::authenticated(OrganizationId::new(), tenant, UserId::new(), Role::Owner);
    let audited = sites(
        &db,
        Arc::new(chom_postgres::PgAudit::new(db.store.pool().clone())),
        &settings,
    )?;
    let silent = sites(&db, Arc::new(NoTrail), &settings)?;
    let mut ids = Vec::with_capacity(sites_n);
    for i in 0..sites_n {
        let (site, _) = audited
            .create(
                &ctx,
                CreateSite {
                    domain: format!("s{i}.audit-bench.example"),
                    ..CreateSite::default()
                },
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("create: {e}"))?;
        ids.push(site.id);
    }
    let per_task: Vec<TenantContext> = (0..concurrency)
        .map(|_| {
            TenantContext::authenticated(OrganizationId::new(), tenant, UserId::new(), Role::Owner)
        })
        .collect();
    for (label, ctxs) in [
        ("one organization per task", per_task.as_slice()),
        ("all in one organization", std::slice::from_ref(&ctx)),
    ] {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            // Interleaved, alternating which goes first.
            let order: [bool; 2] = if r % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for audit_on in order {
                reset(&db).await?;
                let service = if audit_on { &audited } else { &silent };
                let rate = round(service, ctxs, &ids, concurrency).await?;
                if audit_on {
                    with.push(rate);
                } else {
                    without.push(rate);
                }
            }
        }
        report(
            &format!(
                "in the sites service, {label}: {sites_n} site updates (disable) per round, {concurrency} at a time, PostgreSQL"
            ),
            &mut with,
            &mut without,
        );
    }
    through_api(&db, &settings, sites_n, rounds, concurrency).await?;
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(db.store.pool())
        .await?;
    println!("  {entries} entries appended");
    // Every chain the run wrote (one per organization) is whole.
    let log = Arc::new(chom_postgres::PgAudit::new(db.store.pool().clone()));
    let audit = chom_team::audit::Audit::new(log.clone());
    let chains = chom_team::audit::AuditLog::chains(log.as_ref()).await?;
    for chain in &chains {
        let report = audit.verify(*chain).await?;
        anyhow::ensure!(report.broken.is_none(), "chain {chain} broke: {report:?}");
    }
    println!("  {} chains verified, none broken", chains.len());
    Ok(())
}

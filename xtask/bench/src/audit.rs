//! The cost of auditing: site-update throughput through the sites service on PostgreSQL, with
//! the audit trail (every request appends its entry in the request's transaction; the worker's
//! linker, running alongside as deployed, chains them after commit: ADR 0010) against the same
//! service wired without one — both in this binary, rounds interleaved, on one database. Twice:
//! every task acting in its own organization (each its own chain: what many customers look
//! like), then all in one organization (one chain: before ADR 0010 every append waited for its
//! head there).

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
    // The worker's linker, as deployed, for the whole run.
    let stop = tokio_util::sync::CancellationToken::new();
    let linker = tokio::spawn(chom_runtime::jobs::link_audit(
        chom_team::audit::Audit::new(Arc::new(chom_postgres::PgAudit::new(
            db.store.pool().clone(),
        ))),
        stop.clone(),
    ));
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
    stop.cancel();
    linker.await?;
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(db.store.pool())
        .await?;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_inbox")
        .fetch_one(db.store.pool())
        .await?;
    println!("  {entries} entries appended and linked, {pending} pending");
    anyhow::ensure!(pending == 0, "{pending} entries left unlinked");
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

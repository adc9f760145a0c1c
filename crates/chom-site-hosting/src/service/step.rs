//! One step of an operation on the server, through the agent, and what the site learns
//! from it.

use super::{OperationJob, Sites, db_password_context};
use crate::model::{Site, SiteStatus};
use chom_agent_protocol::answers::{CertificateAnswer, SiteCreatedAnswer};
use chom_agent_protocol::{Answer as _, Command, SetPhp, SiteRef, SiteSpec, SslRequest};
use chom_infrastructure::FleetError;
use chom_kernel::StoreError;
use time::OffsetDateTime;

/// The certificate expiry an agent answer reports (`expires_at`, RFC 3339).
fn expiry(answer: &serde_json::Value) -> Option<OffsetDateTime> {
    CertificateAnswer::read(answer)
        .ok()?
        .expires_at
        .and_then(|s| {
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
        })
}

/// Records the certificate the agent reports on the site.
fn note_certificate(site: &mut Site, answer: &serde_json::Value) {
    if let Some(expires) = expiry(answer) {
        site.ssl_expires_at = Some(expires);
        site.ssl_enabled = true;
    }
}

impl Sites {
    /// One step on the server; the site is updated in place with what it learned.
    pub(super) async fn step(
        &self,
        step: &str,
        site: &mut Site,
        job: &OperationJob,
    ) -> Result<(), FleetError> {
        let site_ref = SiteRef {
            domain: site.domain.clone(),
        };
        let fleet = &self.ports.fleet;
        let vps = site.vps_id;
        match step {
            "site.create" => {
                let answer = fleet
                    .run(
                        vps,
                        Command::SiteCreate(SiteSpec {
                            domain: site.domain.clone(),
                            site_type: site.site_type,
                            php_version: site.php_version,
                        }),
                    )
                    .await?;
                let db = SiteCreatedAnswer::read(&answer)
                    .map_err(|e| FleetError::Agent(e.to_string()))?
                    .database;
                let (name, user, password) = (db.name, db.user, db.password);
                let sealed = self
                    .ports
                    .sealer
                    .seal_for(&db_password_context(site.id), password.as_bytes())
                    .map_err(|e| FleetError::Store(StoreError::Unexpected(anyhow::anyhow!(e))))?;
                site.db_name = Some(name.to_owned());
                site.db_user = Some(user.to_owned());
                site.db_password_sealed = Some(sealed);
            }
            "app.install" => {
                fleet.run(vps, Command::AppInstall(site_ref)).await?;
            }
            "ssl.issue" => {
                let answer = fleet
                    .run(
                        vps,
                        Command::SslIssue(SslRequest {
                            domain: site.domain.clone(),
                            email: self.config.acme_email.clone(),
                            directory_url: self.config.acme_directory.clone(),
                        }),
                    )
                    .await?;
                site.ssl_enabled = true;
                note_certificate(site, &answer);
            }
            "ssl.renew" => {
                // A re-run (the previous attempt's answer was lost) must not issue yet another
                // certificate: one that outlives the recorded expiry is already the renewal.
                let current = fleet.run(vps, Command::SslStatus(site_ref.clone())).await?;
                if expiry(&current).is_some_and(|e| site.ssl_expires_at.is_none_or(|old| e > old)) {
                    note_certificate(site, &current);
                } else {
                    let answer = fleet.run(vps, Command::SslRenew(site_ref)).await?;
                    note_certificate(site, &answer);
                }
            }
            "site.enable" => {
                fleet.run(vps, Command::SiteEnable(site_ref)).await?;
                site.status = SiteStatus::Active;
                site.status_reason = None;
            }
            "site.disable" => {
                fleet.run(vps, Command::SiteDisable(site_ref)).await?;
                site.status = SiteStatus::Disabled;
            }
            "site.set_php" => {
                let Some(v) = job.php_version else {
                    return Err(FleetError::Agent("no PHP version in the job".into()));
                };
                fleet
                    .run(
                        vps,
                        Command::SiteSetPhp(SetPhp {
                            domain: site.domain.clone(),
                            php_version: v,
                        }),
                    )
                    .await?;
                site.php_version = v;
                site.status_reason = None;
            }
            "site.delete" => {
                fleet.run(vps, Command::SiteDelete(site_ref)).await?;
            }
            "record.delete" => {
                site.deleted_at = Some(OffsetDateTime::now_utc());
            }
            "cache.clear" => {
                fleet.run(vps, Command::CacheClear(site_ref)).await?;
            }
            "db.export" => {
                fleet.run(vps, Command::DbExport(site_ref)).await?;
            }
            "db.optimize" => {
                fleet.run(vps, Command::DbOptimize(site_ref)).await?;
            }
            other => {
                return Err(FleetError::Agent(format!("unknown step {other}")));
            }
        }
        Ok(())
    }
}

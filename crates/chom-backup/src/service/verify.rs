//! The verification job: a sample of recent completed backups (the newest of each site not
//! verified this week) restored off the server and checked against their manifests
//! (`RepositoryMaintenance::verify`); the verdict is recorded on the backup. A failed one
//! raises an alert (its owners and admins are e-mailed) in the unit that records it.

use super::Backups;
use super::alerts::AlertJob;
use crate::model::{Verification, VerificationStatus};
use crate::ports::Verdict;
use crate::repository::Access;
use chom_kernel::StoreError;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// The daily job that verifies a sample of backups.
pub const VERIFY_BACKUPS: &str = "backup::verify";

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Backups that passed.
    pub passed: usize,
    /// Backups that failed (corrupted, missing, unreadable).
    pub failed: usize,
    /// Backups whose repository could not be opened (tried again next run).
    pub skipped: usize,
}

impl Backups {
    /// Verifies up to `limit` backups at `now`: per site, its newest completed backup not
    /// verified in the last 7 days.
    ///
    /// # Errors
    /// `Store`.
    #[tracing::instrument(name = "backups.verify", skip(self))]
    pub async fn verify_sample(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Verified, StoreError> {
        let work = self.work()?;
        let mut done = Verified::default();
        if work.repositories.public_url().is_empty() {
            tracing::warn!("backup.public_url unknown here: nothing verified");
            return Ok(done);
        }
        let candidates = work
            .backups
            .unverified_backups(now - time::Duration::days(7), 500)
            .await?;
        let mut sites = BTreeSet::new();
        for mut backup in candidates {
            if done.passed + done.failed >= limit || !sites.insert(backup.site_id) {
                continue;
            }
            let Some(contents) = backup.contents.clone() else {
                continue;
            };
            let password = match self
                .repository_password(backup.tenant_id, backup.site_id)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(backup = %backup.id, error = %e, "not verified");
                    done.skipped += 1;
                    continue;
                }
            };
            let access = work
                .repositories
                .access(backup.site_id, Access::AppendOnly, password);
            let verdict = match work
                .maintenance
                .verify(&access, &backup.tag(), &contents.manifest_sha256)
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(backup = %backup.id, error = %e, "repository unavailable: not verified");
                    done.skipped += 1;
                    continue;
                }
            };
            let (status, detail) = match verdict {
                Verdict::Passed(d) => {
                    done.passed += 1;
                    (VerificationStatus::Passed, d)
                }
                Verdict::Failed(d) => {
                    done.failed += 1;
                    tracing::error!(backup = %backup.id, site = %backup.site_id, tenant = %backup.tenant_id, detail = %d, "BACKUP VERIFICATION FAILED");
                    (VerificationStatus::Failed, d)
                }
            };
            backup.verification = Some(Verification {
                status,
                at: now,
                detail,
            });
            let mut uow = self.ports.store.begin().await?;
            work.backups.save_backup(uow.as_mut(), &backup).await?;
            if status == VerificationStatus::Failed {
                let alert = AlertJob::unverified(&backup, now);
                self.raise(uow.as_mut(), &alert).await?;
            }
            uow.commit().await?;
        }
        Ok(done)
    }
}

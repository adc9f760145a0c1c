//! Running an operation (the job handler): its steps in order, resuming after a crash, with
//! retries of transient failures and the outcome recorded on the operation and the site.

use super::error::{JobOutcome, public_reason, transient};
use super::{OperationJob, Sites};
use crate::model::{Operation, OperationStatus, Site, SiteStatus, StepStatus};
use chom_kernel::StoreError;
use chom_tenancy::model::TenantStatus;
use time::OffsetDateTime;

impl Sites {
    /// Saves the operation's progress (and the site) in one unit. `false` when the operation
    /// had already ended elsewhere (the reaper failed it): nothing is written, stop.
    async fn persist(&self, site: Option<&Site>, op: &Operation) -> Result<bool, StoreError> {
        let mut uow = self.ports.store.begin().await?;
        if let Some(site) = site {
            self.ports.sites.update_site(uow.as_mut(), site).await?;
        }
        match self.ports.sites.save_operation(uow.as_mut(), op).await {
            Ok(()) => uow.commit().await.map(|()| true),
            Err(StoreError::NotFound) => {
                tracing::warn!(operation = %op.id, "the operation ended elsewhere; stopping");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Carries an operation out (the job handler). Steps already done are skipped, so a re-run
    /// after a crash continues where the last one stopped; every agent step converges when
    /// repeated. A transient failure is retried (`Retry`) until `last_attempt`; any other
    /// failure is recorded on the operation and the site, and the job ends.
    ///
    /// # Errors
    /// `Retry` (try again later), `Permanent` (the operation does not exist).
    #[tracing::instrument(
        name = "sites.run_operation",
        skip_all,
        fields(tenant = %job.tenant_id, operation = %job.operation_id, last_attempt)
    )]
    pub async fn run_operation(
        &self,
        job: &OperationJob,
        last_attempt: bool,
    ) -> Result<(), JobOutcome> {
        let mut op = self
            .ports
            .sites
            .get_operation(job.tenant_id, job.operation_id)
            .await?
            .ok_or_else(|| JobOutcome::Permanent(format!("no operation {}", job.operation_id)))?;
        if op.status.is_terminal() {
            return Ok(());
        }
        let Some(site_id) = op.site_id else {
            return Err(JobOutcome::Permanent("the operation names no site".into()));
        };
        let mut site = self.ports.sites.get_site(job.tenant_id, site_id).await?;
        let steps: Vec<String> = op
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Done)
            .map(|s| s.name.clone())
            .collect();
        for step in steps {
            let Some(current) = site.as_mut() else {
                // The record is gone: only a deletion gets here, after its last step.
                op.finish(&step, OffsetDateTime::now_utc());
                continue;
            };
            op.start(&step, OffsetDateTime::now_utc());
            if !self.persist(None, &op).await? {
                return Ok(());
            }
            match self.step(&step, current, job).await {
                Ok(()) => {
                    op.finish(&step, OffsetDateTime::now_utc());
                    if op.status == OperationStatus::Succeeded && op.kind == "provision" {
                        current.status = SiteStatus::Active;
                        current.status_reason = None;
                    }
                    if op.status == OperationStatus::Succeeded && current.deleted_at.is_none() {
                        // The tenant may have been suspended (or reactivated) meanwhile: the
                        // suspension cascade skips sites with an operation in flight.
                        let status = self
                            .effective_status(job.tenant_id)
                            .await?
                            .unwrap_or(TenantStatus::Cancelled);
                        if let Err(e) = self.reconcile(current, status).await {
                            tracing::warn!(site = %current.id, error = %e, "could not follow the tenant's status; the cascade will");
                        }
                    }
                    current.updated_at = OffsetDateTime::now_utc();
                    if !self.persist(Some(current), &op).await? {
                        return Ok(());
                    }
                    if current.deleted_at.is_some() {
                        site = None;
                    }
                }
                Err(e) if transient(&e) && !last_attempt => {
                    tracing::warn!(operation = %op.id, step, error = %e, "step failed; will retry");
                    op.retrying(&step, &public_reason(&e), OffsetDateTime::now_utc());
                    if !self.persist(None, &op).await? {
                        return Ok(());
                    }
                    return Err(JobOutcome::Retry(format!("{step}: {e}")));
                }
                Err(e) => {
                    tracing::warn!(operation = %op.id, step, error = %e, "step failed");
                    let why = public_reason(&e);
                    op.fail(&step, &why, OffsetDateTime::now_utc());
                    current.status_reason = Some(format!("{step}: {why}"));
                    if op.kind == "provision" {
                        // Served over HTTP when only the certificate failed.
                        current.status = if step == "ssl.issue" {
                            SiteStatus::Active
                        } else {
                            SiteStatus::Failed
                        };
                    }
                    current.updated_at = OffsetDateTime::now_utc();
                    if !self.persist(Some(current), &op).await? {
                        return Ok(());
                    }
                    tracing::warn!(site = %current.id, operation = %op.id, step, error = %why, "site operation failed");
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

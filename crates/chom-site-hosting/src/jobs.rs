//! The jobs of this context: each kind beside its handler and, for the periodic ones, its
//! schedule. The composition root concatenates every context's `jobs()` and `schedules()`.

use crate::service::{
    MEASURE_STORAGE, OperationJob, REAP_OPERATIONS, RENEW_CERTIFICATES, RUN_OPERATION, Sites,
};
use chom_kernel::jobs::{Job, JobError, Registration, Schedule};
use chom_tenancy::admin::TenantStatusChanged;
use std::time::Duration;

impl Job for OperationJob {
    const KIND: &'static str = RUN_OPERATION;
}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retryable(anyhow::anyhow!("{e}"))
}

/// Every handler of this context: operations, the sweeps, the tenant status cascade.
#[must_use]
pub fn jobs(sites: &Sites) -> Vec<Registration> {
    let run = sites.clone();
    let renew = sites.clone();
    let reap = sites.clone();
    let measure = sites.clone();
    let cascade = sites.clone();
    vec![
        Registration::job(move |job: OperationJob, claimed| {
            let sites = run.clone();
            async move {
                let last = claimed.attempt >= claimed.max_attempts;
                sites
                    .run_operation(&job, last)
                    .await
                    .map_err(JobError::from)
            }
        }),
        Registration::periodic(RENEW_CERTIFICATES, move || {
            let sites = renew.clone();
            async move {
                let queued = sites
                    .renew_expiring(time::OffsetDateTime::now_utc())
                    .await
                    .map_err(retry)?;
                tracing::info!(queued, "certificate renewals queued");
                Ok(())
            }
        }),
        Registration::periodic(REAP_OPERATIONS, move || {
            let sites = reap.clone();
            async move {
                let reaped = sites.reap_abandoned().await.map_err(retry)?;
                if reaped > 0 {
                    tracing::warn!(reaped, "abandoned operations failed");
                }
                Ok(())
            }
        }),
        Registration::periodic(MEASURE_STORAGE, move || {
            let sites = measure.clone();
            async move {
                let (measured, skipped) = sites.measure_storage().await.map_err(retry)?;
                tracing::info!(measured, skipped, "site disk usage measured");
                Ok(())
            }
        }),
        Registration::job(move |event: TenantStatusChanged, _| {
            let sites = cascade.clone();
            async move {
                let changed = sites
                    .apply_tenant_status(event.tenant_id)
                    .await
                    .map_err(JobError::from)?;
                tracing::info!(tenant = %event.tenant_id, announced = event.status.as_str(), changed, "tenant status applied to its sites");
                Ok(())
            }
        }),
    ]
}

/// The periodic jobs: renewals daily at 03:00 UTC, the reaper every 5 minutes (no site stays
/// blocked behind an operation whose worker died), disk usage hourly at :15.
#[must_use]
pub fn schedules() -> Vec<Schedule> {
    vec![
        Schedule::every(
            "renew-certificates",
            RENEW_CERTIFICATES,
            Duration::from_secs(86_400),
        )
        .offset(Duration::from_secs(3 * 3600)),
        Schedule::every("reap-operations", REAP_OPERATIONS, Duration::from_secs(300)),
        Schedule::every(
            "measure-storage",
            MEASURE_STORAGE,
            Duration::from_secs(3600),
        )
        .offset(Duration::from_secs(15 * 60)),
    ]
}

//! What the sites routes answer: sites, operations and their steps, and the envelopes.

use crate::routes::paging::PageMeta;
use actix_web::HttpResponse;
use chom_site_hosting::{Operation, Site, Step};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A site as its tenant sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteView {
    /// Id.
    pub id: String,
    /// Domain.
    pub domain: String,
    /// `https://` once a certificate is served, else `http://`.
    pub url: String,
    /// `wordpress`, `html`, `laravel`.
    pub site_type: String,
    /// `8.2`, `8.3`, `8.4`.
    pub php_version: String,
    /// `creating`, `active`, `disabled`, `failed`, `deleting`, `restoring`.
    pub status: String,
    /// Why it failed, or what disabled it.
    pub status_reason: Option<String>,
    /// Served over HTTPS.
    pub ssl_enabled: bool,
    /// Certificate expiry.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ssl_expires_at: Option<OffsetDateTime>,
    /// Database name (the credentials need the `read:sensitive` ability).
    pub db_name: Option<String>,
    /// Disk used, MB.
    pub storage_used_mb: i64,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Site> for SiteView {
    fn from(s: &Site) -> Self {
        let scheme = if s.ssl_enabled { "https" } else { "http" };
        Self {
            id: s.id.to_string(),
            domain: s.domain.as_str().to_owned(),
            url: format!("{scheme}://{}", s.domain.as_str()),
            site_type: s.site_type.as_str().to_owned(),
            php_version: s.php_version.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            status_reason: s.status_reason.clone(),
            ssl_enabled: s.ssl_enabled,
            ssl_expires_at: s.ssl_expires_at,
            db_name: s.db_name.clone(),
            storage_used_mb: s.storage_used_mb,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// One step of an operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// Name (`site.create`, `ssl.issue`…).
    pub name: String,
    /// `pending`, `running`, `done`, `failed`.
    pub status: String,
    /// Start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// End.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Why it failed (or why it waits for a retry).
    pub error: Option<String>,
    /// How far it got while it runs, and where it ended, as its server tells (backups and
    /// restores); null for the other steps.
    pub progress: Option<StepProgressView>,
}

/// How far a step got (shown to people; an estimate where it says so).
#[derive(Debug, Serialize, ToSchema)]
pub struct StepProgressView {
    /// What it is doing: a backup's `files`, `database`; a restore's `restoring_files`,
    /// `loading_database`, `checking_packs`, `switching`.
    #[schema(example = "files")]
    pub phase: String,
    /// Files dealt with so far in this phase (a backup: files of the site's tree reached).
    pub files: u64,
    /// Bytes read so far in this phase (a backup reads only the files that changed).
    pub bytes: u64,
    /// Files the phase should deal with in all, when known: a backup expects as many as the
    /// site's previous backup held (an estimate; null for a site's first backup).
    pub files_expected: Option<u64>,
}

impl From<&Step> for StepView {
    fn from(s: &Step) -> Self {
        Self {
            name: s.name.clone(),
            status: serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(ToOwned::to_owned))
                .unwrap_or_default(),
            started_at: s.started_at,
            finished_at: s.finished_at,
            error: s.error.clone(),
            progress: s.progress.as_ref().map(|p| StepProgressView {
                phase: p.phase.clone(),
                files: p.files,
                bytes: p.bytes,
                files_expected: p.files_expected,
            }),
        }
    }
}

/// A long-running operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationView {
    /// Id (poll `GET /api/v1/operations/{id}`, stream `…/events`).
    pub id: String,
    /// `provision`, `enable`, `disable`, `delete`, `set_php`, `ssl_issue`, `ssl_renew`,
    /// `cache_clear`, `db_export`, `db_optimize`.
    pub kind: String,
    /// The site.
    pub site_id: Option<String>,
    /// `pending`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// Steps in order.
    pub steps: Vec<StepView>,
    /// What stopped it.
    pub error: Option<String>,
    /// Creation.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<&Operation> for OperationView {
    fn from(o: &Operation) -> Self {
        Self {
            id: o.id.to_string(),
            kind: o.kind.clone(),
            site_id: o.site_id.map(|s| s.to_string()),
            status: o.status.as_str().to_owned(),
            steps: o.steps.iter().map(StepView::from).collect(),
            error: o.error.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// A site and the operation now working on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteAndOperation {
    /// The site.
    pub site: SiteView,
    /// The operation.
    pub operation: OperationView,
}

/// Envelope (202).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    /// Payload.
    pub data: SiteAndOperation,
}

/// A site with where to point its DNS.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteDetail {
    /// The site.
    #[serde(flatten)]
    pub site: SiteView,
    /// The address the domain's A/AAAA records must point to.
    pub ip_address: Option<String>,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteResponse {
    /// Payload.
    pub data: SiteDetail,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    /// Sites, newest first.
    pub data: Vec<SiteView>,
    /// Paging.
    pub meta: PageMeta,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationResponse {
    /// Payload.
    pub data: OperationView,
}

/// The database credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credentials {
    /// Host, from the site's point of view.
    pub host: String,
    /// Database.
    pub name: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsResponse {
    /// Payload.
    pub data: Credentials,
}

/// `{"data": <agent answer>}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteAgentAnswer {
    /// The site.
    pub site: SiteView,
    /// What the server reported.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentReportResponse {
    /// Payload.
    pub data: SiteAgentAnswer,
}

/// Envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationList {
    /// Operations, newest first.
    pub data: Vec<OperationView>,
    /// Paging.
    pub meta: PageMeta,
}

/// 202 with the site and the operation now working on it, `Location` naming the operation.
pub(super) fn accepted(site: &Site, op: &Operation) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/operations/{}", op.id)))
        .json(AcceptedResponse {
            data: SiteAndOperation {
                site: SiteView::from(site),
                operation: OperationView::from(op),
            },
        })
}

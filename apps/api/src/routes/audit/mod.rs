//! `/api/v1/audit` and `/api/v1/admin/audit`: reading and verifying the hash-chained audit
//! log. Owners and admins read their organization's chain; super admins read every chain.

use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{Auth, SuperAdmin};
use crate::routes::paging::{Page, PageMeta};
use crate::wiring::Services;
use actix_web::{HttpResponse, get, web};
use chom_auth::Ability;
use chom_kernel::audit::OPERATORS_CHAIN;
use chom_team::audit::{AuditError, AuditFilter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

mod views;

pub use views::*;

/// Serves this area's handlers and documents them (see [`crate::routes`]).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_audit)
        .service(verify_audit)
        .service(admin_list_audit);
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            e @ AuditError::Forbidden(_) => Self::forbidden(e.to_string()),
            AuditError::Store(s) => s.into(),
        }
    }
}

fn uuid_field(value: Option<&str>, field: &str, errors: &mut Vec<FieldError>) -> Option<Uuid> {
    let v = value?;
    Uuid::try_parse(v)
        .map_err(|_| {
            errors.push(FieldError {
                field: field.into(),
                code: "INVALID_FORMAT".into(),
                message: "a UUID".into(),
            });
        })
        .ok()
}

fn time_field(
    value: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<OffsetDateTime> {
    let v = value?;
    OffsetDateTime::parse(v, &Rfc3339)
        .map_err(|_| {
            errors.push(FieldError {
                field: field.into(),
                code: "INVALID_FORMAT".into(),
                message: "an RFC 3339 time (2026-11-30T09:00:00Z)".into(),
            });
        })
        .ok()
}

fn text_field(value: Option<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let v = value?;
    if v.is_empty() || v.len() > 100 {
        errors.push(FieldError {
            field: field.into(),
            code: "INVALID_VALUE".into(),
            message: "1 to 100 characters".into(),
        });
        return None;
    }
    Some(v)
}

/// The filter and page a query asks for; every bad field reported at once.
fn filter(
    chain: Option<Uuid>,
    q: AuditQuery,
    mut errors: Vec<FieldError>,
) -> Result<(AuditFilter, Page<Uuid>), ApiError> {
    let f = AuditFilter {
        chain,
        actor_id: uuid_field(q.actor.as_deref(), "actor", &mut errors),
        action: text_field(q.action, "action", &mut errors),
        target_type: text_field(q.target_type, "target_type", &mut errors),
        target_id: text_field(q.target_id, "target_id", &mut errors),
        from: time_field(q.from.as_deref(), "from", &mut errors),
        to: time_field(q.to.as_deref(), "to", &mut errors),
    };
    let page = Page::<Uuid>::collect(q.cursor.as_deref(), q.limit, &mut errors);
    match page {
        Some(p) if errors.is_empty() => Ok((f, p)),
        _ => Err(ApiError::validation(errors)),
    }
}

fn list(entries: &[chom_kernel::audit::AuditEntry], limit: i64) -> HttpResponse {
    HttpResponse::Ok().json(AuditList {
        meta: PageMeta::after(entries, limit, |e| e.id.to_string()),
        data: entries.iter().map(AuditEntryView::from).collect(),
    })
}

/// The organization's audit log, newest first: every change made in it (by its members, or by
/// the operators to it), with who, from where, and before/after where it matters. Owners and
/// admins.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditList),
        (status = 403, description = "`FORBIDDEN`: members and viewers", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`VALIDATION_FAILED`: a bad filter", body = Problem, content_type = "application/problem+json")))]
#[get("/audit")]
pub async fn list_audit(
    auth: Auth,
    services: web::Data<Services>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let ctx = auth.tenant()?;
    let (f, page) = filter(None, query.into_inner(), Vec::new())?;
    let entries = services.audit.list(ctx, f, page.cursor, page.limit).await?;
    Ok(list(&entries, page.limit))
}

/// Walks the organization's chain from its first entry and reports the first broken link: an
/// edited, deleted or reordered entry is found at exactly its place. Owners and admins.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "The verdict (`intact`, or where it breaks)", body = VerificationResponse),
        (status = 403, description = "`FORBIDDEN`: members and viewers", body = Problem, content_type = "application/problem+json")))]
#[get("/audit/verify")]
pub async fn verify_audit(
    auth: Auth,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Ability::Read)?;
    let v = services.audit.verify_own(auth.tenant()?).await?;
    if v.broken.is_some() {
        tracing::error!(chain = %v.chain, broken = ?v.broken, "audit chain broken");
    }
    Ok(HttpResponse::Ok().json(VerificationResponse {
        data: VerificationView::from(&v),
    }))
}

/// Every organization's audit log and the operators' own (fleet, approvals, suspensions),
/// newest first. Super admins.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AdminAuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditList),
        (status = 422, description = "`VALIDATION_FAILED`: a bad filter", body = Problem, content_type = "application/problem+json")))]
#[get("/admin/audit")]
pub async fn admin_list_audit(
    _admin: SuperAdmin,
    services: web::Data<Services>,
    query: web::Query<AdminAuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let mut errors = Vec::new();
    let chain = match q.organization.as_deref() {
        Some("operators") => Some(OPERATORS_CHAIN),
        other => uuid_field(other, "organization", &mut errors),
    };
    let rest = AuditQuery {
        actor: q.actor,
        action: q.action,
        target_type: q.target_type,
        target_id: q.target_id,
        from: q.from,
        to: q.to,
        cursor: q.cursor,
        limit: q.limit,
    };
    let (f, page) = filter(chain, rest, errors)?;
    let entries = services.audit.list_all(&f, page.cursor, page.limit).await?;
    Ok(list(&entries, page.limit))
}

/// Writes one line per chain (`chom-api audit verify`): intact with its entry count and head
/// hash, or where it breaks. Returns how many chains are broken.
///
/// # Errors
/// Writing fails.
pub fn report(
    chains: &[chom_team::audit::Verification],
    out: &mut impl std::io::Write,
) -> std::io::Result<usize> {
    let mut broken = 0;
    for v in chains {
        let name = if v.chain == OPERATORS_CHAIN {
            "operators".to_owned()
        } else {
            format!("organization {}", v.chain)
        };
        let head = v.head.as_ref().map_or("-", |(_, h)| h.as_str());
        match &v.broken {
            None => writeln!(out, "{name}: intact, {} entries, head {head}", v.checked)?,
            Some(b) => {
                broken += 1;
                let row = b
                    .entry_id
                    .map_or_else(String::new, |id| format!(" (entry {id})"));
                writeln!(
                    out,
                    "{name}: BROKEN at entry #{}{row}: {}; {} entries intact before it",
                    b.seq,
                    b.kind.as_str(),
                    v.checked
                )?;
            }
        }
    }
    Ok(broken)
}

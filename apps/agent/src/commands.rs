//! One module per command family.

mod app;
pub(crate) mod backup;
mod health;
mod maintenance;
mod site;
mod ssl;

use crate::Context;
use chom_agent_protocol::{AgentError, Command, PROTOCOL_VERSION};

/// Runs a command.
///
/// # Errors
/// The command's own errors.
pub fn dispatch(ctx: &Context, command: &Command) -> Result<serde_json::Value, AgentError> {
    match command {
        Command::Version => Ok(serde_json::json!({
            "agent": env!("CARGO_PKG_VERSION"),
            "protocol": PROTOCOL_VERSION,
            "sandbox": ctx.layout.sandbox(),
        })),
        Command::Health => health::run(ctx),
        Command::SiteCreate(spec) => site::create(ctx, spec),
        Command::AppInstall(r) => app::install(ctx, &r.domain),
        Command::SiteDelete(r) => site::delete(ctx, &r.domain),
        Command::SiteEnable(r) => site::set_enabled(ctx, &r.domain, true),
        Command::SiteDisable(r) => site::set_enabled(ctx, &r.domain, false),
        Command::SiteInfo(r) => site::info(ctx, &r.domain),
        Command::SiteList => site::list(ctx),
        Command::SiteSetPhp(s) => site::set_php(ctx, &s.domain, s.php_version),
        Command::DbExport(r) => maintenance::db_export(ctx, &r.domain),
        Command::DbOptimize(r) => maintenance::db_optimize(ctx, &r.domain),
        Command::CacheClear(r) => maintenance::cache_clear(ctx, &r.domain),
        Command::SslIssue(r) => ssl::issue(ctx, r),
        Command::SslRenew(r) => ssl::renew(ctx, &r.domain),
        Command::SslStatus(r) => ssl::status(ctx, &r.domain),
        Command::Stats => maintenance::stats(ctx),
        Command::SecurityAudit => maintenance::security_audit(ctx),
        Command::BackupCreate(r) => backup::create(ctx, r),
        Command::BackupList(r) => backup::list(ctx, r),
        Command::BackupRestore(r) => backup::restore(ctx, r),
    }
}

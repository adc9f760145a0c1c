//! An audit row's content, read the same way from the log and (on PostgreSQL) from the inbox.

use crate::codec::{DbRow, get, get_id, get_opt_id, get_ts};
use chom_kernel::StoreError;
use chom_kernel::audit::AuditEntry;

/// An entry's content as stored, without its place in a chain (`seq` 0, no hashes): an inbox
/// row (the linker's input) or the content of a log row.
pub(crate) fn content(row: &DbRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: get_id(row, "id")?,
        chain: get_id(row, "chain")?,
        seq: 0,
        occurred_at: get_ts(row, "occurred_at")?,
        organization_id: get_opt_id(row, "organization_id")?,
        tenant_id: get_opt_id(row, "tenant_id")?,
        actor_id: get_opt_id(row, "actor_id")?,
        actor_kind: get(row, "actor_kind")?,
        action: get(row, "action")?,
        target_type: get(row, "target_type")?,
        target_id: get(row, "target_id")?,
        summary: get(row, "summary")?,
        client_addr: get(row, "client_addr")?,
        user_agent: get(row, "user_agent")?,
        request_id: get(row, "request_id")?,
        prev_hash: String::new(),
        hash: String::new(),
    })
}

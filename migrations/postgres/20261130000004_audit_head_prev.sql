-- The head keeps the hash before its own, so PostgreSQL appends an entry in one statement (the
-- head advanced, locked and read, the entry inserted: see crates/chom-postgres/src/shared/audit.rs).
ALTER TABLE audit_heads ADD COLUMN prev_hash text;

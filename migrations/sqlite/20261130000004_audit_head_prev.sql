-- The head keeps the hash before its own (see the PostgreSQL migration of the same name).
ALTER TABLE audit_heads ADD COLUMN prev_hash TEXT;

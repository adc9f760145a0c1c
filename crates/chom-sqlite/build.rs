//! Build script: rebuild when a migration changes (`sqlx::migrate!` embeds them), and generate
//! the SQLite identity repositories from the PostgreSQL ones, so the two cannot drift apart:
//! the same SQL with `$n` placeholders turned into `?n`, and the type names swapped. The
//! storage differences live in `src/codec.rs`.

use std::path::Path;

/// The PostgreSQL repositories written against `codec.rs`, generated for SQLite.
const SOURCES: &[&str] = &["identity.rs", "fleet.rs", "sites.rs", "idempotency.rs"];

fn translate(pg: &str) -> String {
    let mut out = String::with_capacity(pg.len());
    let mut chars = pg.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out.replace("PgUnitOfWork", "SqliteUnitOfWork")
        .replace("PgIdentity", "SqliteIdentity")
        .replace("PgFleet", "SqliteFleet")
        .replace("PgSites", "SqliteSites")
        .replace("PgIdempotency", "SqliteIdempotency")
        .replace("PgPool", "SqlitePool")
        .replace("on PostgreSQL.", "on SQLite.")
        .lines()
        // Inner doc comments cannot be `include!`d; the module doc lives in src/identity.rs.
        .filter(|l| !l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    for file in SOURCES {
        let source_path = format!("../chom-postgres/src/{file}");
        println!("cargo:rerun-if-changed={source_path}");
        let source = match std::fs::read_to_string(&source_path) {
            Ok(s) => s,
            Err(e) => panic!("cannot read {source_path}: {e}"),
        };
        let target = Path::new(&out_dir).join(file);
        if let Err(e) = std::fs::write(&target, translate(&source)) {
            panic!("cannot write {}: {e}", target.display());
        }
    }
}

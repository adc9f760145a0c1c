//! Guard for the generated repositories (ADR 0006): the SQLite text translated from
//! `crates/chom-postgres/src/shared/` keeps no PostgreSQL placeholder or type, and covers every
//! file there.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::path::{Path, PathBuf};

/// What `build.rs` generated and `src/shared.rs` compiles.
const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/shared.rs"));

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../chom-postgres/src/shared")
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Every `<marker><digits>` in `text`, in order (`$1`, `?12`).
fn numbered(text: &str, marker: char) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != marker {
            continue;
        }
        let mut end = at + 1;
        while let Some(&(i, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = i + 1;
            chars.next();
        }
        if end > at + 1 {
            found.push(text[at + 1..end].to_owned());
        }
    }
    found
}

/// Identifiers that start with `Pg` and an upper-case letter (`PgPool`, `PgUnitOfWork`).
fn pg_names(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices("Pg") {
        let starts_word =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if starts_word && bytes.get(at + 2).is_some_and(u8::is_ascii_uppercase) {
            let end = text[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(text.len(), |n| at + n);
            found.push(text[at..end].to_owned());
        }
    }
    found
}

#[test]
fn no_postgres_placeholder_survives_the_translation() {
    assert_eq!(numbered(GENERATED, '$'), Vec::<String>::new());
}

#[test]
fn every_placeholder_keeps_its_number() {
    let mut files = Vec::new();
    sources(&shared_dir(), &mut files);
    files.sort();
    let mut dollars: Vec<String> = files
        .iter()
        .flat_map(|f| numbered(&std::fs::read_to_string(f).unwrap(), '$'))
        .collect();
    let mut questions = numbered(GENERATED, '?');
    assert!(
        dollars.len() > 100,
        "the shared repositories bind their parameters: {}",
        dollars.len()
    );
    dollars.sort();
    questions.sort();
    assert_eq!(questions, dollars);
}

#[test]
fn no_postgres_type_name_is_left() {
    assert_eq!(pg_names(GENERATED), Vec::<String>::new());
    for leftover in [
        "sqlx::postgres",
        "sqlx::Postgres",
        "PgPool",
        "PgConnection",
        "PgRow",
    ] {
        assert!(!GENERATED.contains(leftover), "{leftover}");
    }
    // The translation did run: the types have their SQLite names.
    for name in [
        "SqliteIdentity",
        "SqliteSites",
        "SqliteFleet",
        "SqlitePlanRepository",
        "SqliteUnitOfWork",
    ] {
        assert!(GENERATED.contains(name), "{name}");
    }
}

#[test]
fn every_shared_file_is_generated() {
    let dir = shared_dir();
    let mut files = Vec::new();
    sources(&dir, &mut files);
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let relative = file.strip_prefix(dir.parent().unwrap()).unwrap();
        let header = format!(
            "// Generated from crates/chom-postgres/src/{}: edit that file.",
            relative.display()
        );
        assert!(
            GENERATED.contains(&header),
            "{} is not generated",
            relative.display()
        );
    }
}

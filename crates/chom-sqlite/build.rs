//! Build script: rebuild when a migration changes (`sqlx::migrate!` embeds them), and generate
//! this crate's repositories from the ones written once in `crates/chom-postgres/src/shared/`
//! (ADR 0006, `docs/adr/0006-one-sql-text-two-backends.md`).
//!
//! The generator starts at `shared.rs` and replaces every `mod name;` by the translated text of
//! `name.rs` (recursively, `shared/name/child.rs` for the children of `shared/name.rs`), so the
//! module tree is the PostgreSQL one. It refuses a `.rs` file under `shared/` that no `mod`
//! declares: every file there is compiled for both backends, none is forgotten. The translation
//! is textual: `$<digit>` becomes `?<digit>` (placeholders keep their numbers), and every
//! identifier `Pg<Name>` becomes `Sqlite<Name>`. Storage differences live in `src/codec.rs`.
//! The result is one file, `$OUT_DIR/shared.rs`, included by `src/shared.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The root of the shared modules.
const ROOT: &str = "../chom-postgres/src/shared.rs";
/// Where the root's modules live.
const DIR: &str = "../chom-postgres/src/shared";

/// The SQLite text of one PostgreSQL source: placeholders and type names.
fn translate(pg: &str) -> String {
    let mut out = String::with_capacity(pg.len() + pg.len() / 16);
    let chars: Vec<char> = pg.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let ident_start = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '$' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            out.push('?');
            i += 1;
        } else if ident_start
            && c == 'P'
            && chars.get(i + 1) == Some(&'g')
            && chars.get(i + 2).is_some_and(char::is_ascii_uppercase)
        {
            out.push_str("Sqlite");
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `name` when `line` is a module declaration without a body (`mod name;`, `pub(crate) mod name;`).
fn declared_module(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim();
    let rest = trimmed.strip_suffix(';')?;
    let (vis, rest) = match rest.find("mod ") {
        Some(at) => (&rest[..at], &rest[at + 4..]),
        None => return None,
    };
    let vis_ok = vis.is_empty() || (vis.starts_with("pub") && vis.ends_with(' '));
    let name_ok = !rest.is_empty() && rest.chars().all(|c| c.is_alphanumeric() || c == '_');
    (vis_ok && name_ok).then_some((vis, rest))
}

/// The translated text of `file`, whose child modules live in `dir`, with each `mod name;`
/// replaced by an inline module holding `dir/name.rs`. Records every file read in `seen`.
fn expand(file: &Path, dir: &Path, keep_inner_docs: bool, seen: &mut BTreeSet<PathBuf>) -> String {
    let source = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    seen.insert(file.to_path_buf());
    let mut out = String::new();
    for line in translate(&source).lines() {
        // The root's `//!` cannot be `include!`d; `src/shared.rs` has its own.
        if !keep_inner_docs && line.starts_with("//!") {
            continue;
        }
        match declared_module(line) {
            Some((vis, name)) => {
                let child = dir.join(format!("{name}.rs"));
                out.push_str(&format!(
                    "// Generated from crates/chom-postgres/src/{}: edit that file.\n{vis}mod {name} {{\n",
                    child
                        .strip_prefix("../chom-postgres/src/")
                        .unwrap_or(&child)
                        .display()
                ));
                out.push_str(&expand(&child, &dir.join(name), true, seen));
                out.push_str("}\n");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut BTreeSet<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.insert(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
    println!("cargo:rerun-if-changed={ROOT}");
    // A directory: cargo rescans everything under it.
    println!("cargo:rerun-if-changed={DIR}");

    let mut seen = BTreeSet::new();
    let generated = expand(Path::new(ROOT), Path::new(DIR), false, &mut seen);

    let mut present = BTreeSet::new();
    rust_files(Path::new(DIR), &mut present);
    let undeclared: Vec<_> = present
        .difference(&seen)
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        undeclared.is_empty(),
        "files under {DIR} that no `mod` declares (declare them, or move them out of shared/): {undeclared:?}"
    );

    let out_dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let target = Path::new(&out_dir).join("shared.rs");
    if let Err(e) = std::fs::write(&target, generated) {
        panic!("cannot write {}: {e}", target.display());
    }
}

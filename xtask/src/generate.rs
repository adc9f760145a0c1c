//! `cargo xtask gen-sqlite [--check]`: the SQLite identity repositories are generated from the
//! PostgreSQL ones (same SQL, `$n` → `?n`, type names), so the two cannot drift apart.

use crate::util::root;

const SOURCE: &str = "crates/chom-postgres/src/identity.rs";
const TARGET: &str = "crates/chom-sqlite/src/identity.rs";

/// The SQLite text for the PostgreSQL source.
#[must_use]
pub fn translate(pg: &str) -> String {
    let mut out = String::with_capacity(pg.len());
    let mut chars = pg.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    let out = out
        .replace("PgUnitOfWork", "SqliteUnitOfWork")
        .replace("PgIdentity", "SqliteIdentity")
        .replace("PgPool", "SqlitePool")
        .replace("on PostgreSQL.", "on SQLite.");
    let header_end = out.find("\n\nuse ").unwrap_or(0);
    format!(
        "//! Identity repositories (auth + tenancy ports) on SQLite.\n//!\n//! GENERATED from `{SOURCE}` by `cargo xtask gen-sqlite`: edit that file, not this one.\n{}",
        &out[header_end..]
    )
}

/// Formats Rust source with rustfmt (the generated file must look like `cargo fmt` left it).
fn rustfmt(source: &str) -> anyhow::Result<String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("rustfmt stdin"))?
        .write_all(source.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "rustfmt failed on the generated file");
    Ok(String::from_utf8(out.stdout)?)
}

/// Writes (or checks) the generated file.
///
/// # Errors
/// I/O, or `--check` found it stale.
pub fn run(check: bool) -> anyhow::Result<()> {
    let root = root()?;
    let fresh = rustfmt(&translate(&std::fs::read_to_string(root.join(SOURCE))?))?;
    let path = root.join(TARGET);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        anyhow::ensure!(
            current == fresh,
            "{TARGET} is stale: run `cargo xtask gen-sqlite`"
        );
        println!("{TARGET} is up to date");
    } else {
        std::fs::write(&path, fresh)?;
        println!("wrote {TARGET}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_and_types_are_translated() {
        let out = super::translate(
            "//! x\n\nuse a;\nlet q = \"WHERE a = $1 AND b = $12\"; PgPool; cost $ 5",
        );
        assert!(out.contains("WHERE a = ?1 AND b = ?12"));
        assert!(out.contains("SqlitePool") && out.contains("cost $ 5"));
        assert!(out.starts_with("//! Identity repositories"));
    }
}

//! `cargo xtask check-boundaries` on a real workspace graph: a copy of this workspace where the
//! tenancy context gained a dependency on sqlx must fail, naming the edge.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::path::Path;
use std::process::Command;

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

fn copy_workspace(to: &Path) {
    for entry in std::fs::read_dir(root()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" || name == "var" {
            continue;
        }
        let status = Command::new("cp")
            .arg("-a")
            .arg(entry.path())
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn metadata(dir: &Path) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.join("metadata.json");
    std::fs::write(&file, out.stdout).unwrap();
    file
}

#[test]
fn the_workspace_as_committed_passes() {
    let out = Command::new(XTASK)
        .arg("check-boundaries")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_context_crate_depending_on_sqlx_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    copy_workspace(dir.path());
    let manifest = dir.path().join("crates/chom-tenancy/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let tampered = text.replace(
        "[dependencies]\n",
        "[dependencies]\nsqlx = { workspace = true, features = [\"postgres\"] }\n",
    );
    assert_ne!(text, tampered);
    std::fs::write(&manifest, tampered).unwrap();

    let out = Command::new(XTASK)
        .args(["check-boundaries", "--metadata"])
        .arg(metadata(dir.path()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(
        !out.status.success(),
        "the check passed a context depending on sqlx"
    );
    assert!(
        stderr.contains("chom-tenancy must not depend on sqlx"),
        "the violation is not named: {stderr}"
    );
}

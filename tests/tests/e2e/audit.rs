//! `chom-api audit verify`, the operator's check of every audit chain: intact after real
//! actions (two super admins made with `chom-api admin create`, each audited), then, after one
//! row is edited directly in the SQLite file, it names the chain, the entry and how it broke,
//! and exits 1.

use chom_e2e::write_config;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};

fn verify(config: &Path) -> Output {
    Command::new(chom_test_support::binaries::workspace_binary("chom-api"))
        .arg("--config")
        .arg(config)
        .args(["audit", "verify"])
        .current_dir(config.parent().unwrap())
        .env_remove("CHOM_DATABASE__URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reports_an_intact_chain_then_the_edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chom.toml");
    write_config(&config, &json!({"log": {"filter": "warn"}}));
    chom_e2e::create_super_admin(&config, "root@example.com", "root", "operator passphrase 1");
    chom_e2e::create_super_admin(&config, "ops@example.com", "ops", "operator passphrase 2");

    let out = verify(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("operators: intact, 2 entries, head "),
        "{stdout}"
    );

    let store = chom_sqlite::SqliteStore::open(&dir.path().join("var/chom.db"), 1)
        .await
        .unwrap();
    let edited =
        sqlx::query("UPDATE audit_log SET summary = '{\"username\":\"mallory\"}' WHERE seq = 1")
            .execute(store.pool())
            .await
            .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    let first: String = sqlx::query_scalar("SELECT id FROM audit_log WHERE seq = 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    drop(store);

    let out = verify(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "operators: BROKEN at entry #1 (entry {first}): edited; 0 entries intact before it"
        )),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 audit chain(s) broken"));
}

//! Loading and validating settings.

use super::*;
use figment::providers::Serialized;

fn with(key: &str, value: serde_json::Value) -> Result<Settings, ConfigError> {
    Settings::from_figment(
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default(key, value)),
    )
}

#[test]
fn defaults_select_the_embedded_sqlite_database_and_worker() {
    let s = with("server.port", 8080.into()).unwrap();
    assert!(
        matches!(s.database_target().unwrap(), DatabaseTarget::Sqlite(p) if p == Path::new("var/chom.db"))
    );
    assert!(s.runs_embedded_worker());
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("server.port", serde_json::json!("eighty")),
        ("server.port", serde_json::json!(70000)),
        ("database.url", serde_json::json!("mysql://x")),
        ("worker.concurrency", serde_json::json!(0)),
        ("log.format", serde_json::json!("xml")),
        ("redis.url", serde_json::json!("http://localhost")),
    ];
    for (key, value) in cases {
        let err = with(key, value.clone()).expect_err(&format!("{key}={value} accepted"));
        assert_eq!(err.key, key, "{err}");
    }
}

#[test]
fn secrets_never_print() {
    let s = with("database.url", "postgres://chom:hunter2@db/chom".into()).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"));
    assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
    assert!(!s.runs_embedded_worker());
}

#[test]
fn l11_previous_encryption_keys_are_checked_and_never_print() {
    let key = data_encoding::BASE64URL_NOPAD.encode(&[5u8; 32]);
    let s = with(
        "security.previous_encryption_keys",
        serde_json::json!([key.clone()]),
    )
    .unwrap();
    assert_eq!(s.previous_encryption_keys().unwrap(), vec![vec![5u8; 32]]);
    assert!(!format!("{s:?}").contains(&key));
    assert!(!serde_json::to_string(&s).unwrap().contains(&key));
    let err = with(
        "security.previous_encryption_keys",
        serde_json::json!([key, "short"]),
    )
    .expect_err("a short key accepted");
    assert_eq!(err.key, "security.previous_encryption_keys");
}

#[test]
fn s3_storage_needs_its_bucket_and_never_prints_its_secret() {
    let complete = serde_json::json!({
        "storage": "s3",
        "s3": {"endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "chom-backups",
               "region": "eu-west-1", "access_key": "AKIAEXAMPLE", "secret_key": "wJalrXUtnFEMI",
               "prefix": "chom/", "path_style": false},
    });
    let s = with("backup", complete.clone()).unwrap();
    assert_eq!(s.backup.storage, RepositoryStorage::S3);
    assert!(!format!("{s:?}").contains("wJalrXUtnFEMI"));
    assert!(!serde_json::to_string(&s).unwrap().contains("wJalrXUtnFEMI"));
    for (field, bad, key) in [
        ("endpoint", serde_json::json!(""), "backup.s3.endpoint"),
        (
            "endpoint",
            serde_json::json!("ftp://x"),
            "backup.s3.endpoint",
        ),
        ("bucket", serde_json::json!(" "), "backup.s3.bucket"),
        ("access_key", serde_json::json!(""), "backup.s3.access_key"),
        ("secret_key", serde_json::json!(""), "backup.s3.secret_key"),
        ("prefix", serde_json::json!("chom"), "backup.s3.prefix"),
        (
            "prefix",
            serde_json::json!("my backups/"),
            "backup.s3.prefix",
        ),
    ] {
        let mut v = complete.clone();
        v["s3"][field] = bad.clone();
        let err = with("backup", v).expect_err(&format!("{field}={bad} accepted"));
        assert_eq!(err.key, key, "{err}");
    }
    let err = with("backup.verify_database", "postgres://x@y".into()).expect_err("accepted");
    assert_eq!(err.key, "backup.verify_database", "{err}");
    let s = with("backup.verify_database", "mysql://v:pw123@db:3307".into()).unwrap();
    assert!(!format!("{s:?}").contains("pw123"));
    assert!(!serde_json::to_string(&s).unwrap().contains("pw123"));
    let err = with("backup.storage", "tape".into()).expect_err("tape accepted");
    assert_eq!(err.key, "backup.storage", "{err}");
    // On disk (the default), the bucket is not needed.
    assert_eq!(
        with("server.port", 8080.into()).unwrap().backup.storage,
        RepositoryStorage::Disk
    );
}

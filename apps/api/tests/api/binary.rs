//! The real `chom-api` binary: help, configuration errors, zero-configuration start-up, JSON
//! logs carrying the request id, graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_chom-api");

#[test]
fn help_documents_the_options_and_the_environment() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--config",
        "CHOM_SERVER__PORT",
        "CHOM_DATABASE__URL",
        "serve",
        "migrate",
        "SQLite",
    ] {
        assert!(
            help.contains(needle),
            "--help does not mention {needle}:\n{help}"
        );
    }
}

fn run_with(env: &[(&str, &str)], toml: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    if let Some(toml) = toml {
        std::fs::write(dir.path().join("chom.toml"), toml).unwrap();
    }
    let out = Command::new(BIN)
        .arg("config")
        .current_dir(dir.path())
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn invalid_configuration_stops_start_up_naming_the_key() {
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Env<'_>, Option<&str>, &str); 6] = [
        (&[("CHOM_SERVER__PORT", "eighty")], None, "server.port"),
        (&[("CHOM_SERVER__PORT", "70000")], None, "server.port"),
        (
            &[("CHOM_DATABASE__URL", "mysql://db/chom")],
            None,
            "database.url",
        ),
        (&[("CHOM_LOG__FORMAT", "xml")], None, "log.format"),
        (
            &[],
            Some("[worker]\nconcurrency = 0\n"),
            "worker.concurrency",
        ),
        (&[], Some("[server]\nprot = 8080\n"), "prot"),
    ];
    for (env, toml, key) in cases {
        let (code, stderr) = run_with(env, toml);
        assert_eq!(code, Some(2), "{env:?} {toml:?}: {stderr}");
        assert!(
            stderr.contains(key),
            "{env:?} {toml:?}: the error does not name {key}: {stderr}"
        );
    }
    // Unrelated CHOM_ variables without a section (CHOM_CONFIG, test switches) are not settings.
    let (code, stderr) = run_with(
        &[
            ("CHOM_SERVER__PORT", "9000"),
            ("CHOM_REQUIRE_CHROMIUM", "1"),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = run_with(&[("CHOM_SERVER__PROT", "9000")], None);
    assert_eq!(code, Some(2), "a misspelt setting passed: {stderr}");
    assert!(stderr.contains("prot"), "{stderr}");
}

#[test]
fn secrets_are_redacted_from_the_printed_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("config")
        .current_dir(dir.path())
        .env("CHOM_DATABASE__URL", "postgres://chom:s3cret-pw@db/chom")
        .env("CHOM_REDIS__URL", "redis://:r3dis-pw@cache:6379")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(printed.contains("[redacted]"), "{printed}");
    assert!(
        !printed.contains("s3cret-pw") && !printed.contains("r3dis-pw"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_configuration_it_starts_on_sqlite_prints_its_urls_and_logs_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("CHOM_CONFIG")
        .env("CHOM_SERVER__PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut api = None;
    let mut docs = None;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("CHOM API:") {
            api = Some(u.trim().to_owned());
        }
        if let Some(u) = line.strip_prefix("API docs:") {
            docs = Some(u.trim().to_owned());
            break;
        }
    }
    let (api, docs) = (
        api.expect("API URL printed"),
        docs.expect("docs URL printed"),
    );
    assert!(
        api.starts_with("http://127.0.0.1:") && api.ends_with("/api/v1"),
        "{api}"
    );
    assert!(docs.ends_with("/api/docs/"), "{docs}");
    assert!(
        dir.path().join("var/chom.db").exists(),
        "SQLite file not created under ./var"
    );

    let base = api.trim_end_matches("/api/v1");
    let client = crate::helpers::client();
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        client.get(&docs).send().await.unwrap().status().as_u16(),
        200
    );
    client
        .get(format!("{base}/api/v1/plans"))
        .header("x-request-id", "log-check-42")
        .send()
        .await
        .unwrap();

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let mut waited = 0;
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        waited += 1;
        assert!(waited < 100, "chom-api did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");

    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let entries: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    let request_lines: Vec<_> = entries
        .iter()
        .filter(|e| e["span"]["name"] == "request" && e["span"]["route"] == "/api/v1/plans")
        .collect();
    assert!(
        !request_lines.is_empty(),
        "no log line for the request:\n{stderr}"
    );
    for line in &request_lines {
        assert_eq!(line["span"]["request_id"], "log-check-42", "{line}");
    }
    assert!(
        request_lines
            .iter()
            .any(|l| l["message"] == "request finished" && l["status"] == 200)
    );
    assert!(
        entries
            .iter()
            .any(|e| e["message"] == "in-process worker stopped"),
        "{stderr}"
    );
}

#[test]
fn admin_create_makes_a_super_admin_from_a_piped_password_once() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let create = |password: &str| {
        let mut child = Command::new(BIN)
            .args([
                "admin",
                "create",
                "--email",
                "ops@example.com",
                "--username",
                "ops",
            ])
            .current_dir(dir.path())
            .env("CHOM_LOG__FILTER", "off")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = create("short\n");
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    let ok = create("operator passphrase 42\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("super admin ops <ops@example.com> created")
    );
    let again = create("operator passphrase 42\n");
    assert!(
        !again.status.success(),
        "a second admin with the same e-mail was created"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already registered"));
    let empty = create("");
    assert!(!empty.status.success());
}

//! The agent's command line and the strictness of what it reads (L9): unknown or repeated
//! top-level keys are refused, and a request is at most 1 MiB in both modes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// The agent under test: this build, or another one named by `CHOM_AGENT_TEST_BIN`.
fn bin() -> String {
    std::env::var("CHOM_AGENT_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_chom-agent").to_owned())
}

/// One-shot mode in a sandbox: exit code and answer.
fn one_shot(stdin: &[u8]) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // The agent may stop reading early (and answer): a broken pipe here is fine.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn l9_unknown_and_repeated_top_level_keys_are_refused() {
    for bad in [
        r#"{"protocol":1,"command":"version","evil":1}"#,
        r#"{"protocol":1,"command":"version","command":"stats"}"#,
        r#"{"protocol":1,"command":"stats","command":"version"}"#,
        r#"{"protocol":1,"protocol":1,"command":"version"}"#,
        r#"{"protocol":1,"command":"version","params":null,"params":null}"#,
    ] {
        let (code, v) = one_shot(bad.as_bytes());
        assert_eq!(code, Some(1), "{bad}: {v}");
        assert_eq!(v["error"]["code"], "INVALID_REQUEST", "{bad}: {v}");
    }
    let (code, v) = one_shot(br#"{"protocol":1,"request_id":"r-1","command":"version"}"#);
    assert_eq!((code, &v["ok"]), (Some(0), &Value::Bool(true)), "{v}");
}

#[test]
fn l9_a_request_over_1_mib_is_refused_in_one_shot_mode() {
    let pad = "a".repeat(1024 * 1024);
    let (code, v) = one_shot(
        format!(r#"{{"protocol":1,"request_id":"{pad}","command":"version"}}"#).as_bytes(),
    );
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["error"]["code"], "INVALID_REQUEST", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{v}"
    );
}

#[test]
fn l9_serve_caps_a_line_at_1_mib_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(dir.path())
        .arg("serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
    let version = r#"{"protocol":1,"command":"version"}"#;
    // 8 MiB on one line: an uncapped reader would hold it all and run it.
    let huge = format!(
        r#"{{"protocol":1,"request_id":"{}","command":"version"}}"#,
        "a".repeat(8 * 1024 * 1024)
    );
    let writer = std::thread::spawn(move || {
        for line in [
            huge.as_str(),
            version,
            r#"{"protocol":1,"command":"version","evil":1}"#,
        ] {
            stdin.write_all(line.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    });
    let mut next = || -> Value { serde_json::from_str(&answers.next().unwrap().unwrap()).unwrap() };
    let first = next();
    assert_eq!(first["error"]["code"], "INVALID_REQUEST", "{first}");
    assert!(
        first["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than"),
        "{first}"
    );
    assert_eq!(next()["ok"], true, "the session did not go on");
    assert_eq!(next()["error"]["code"], "INVALID_REQUEST");
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
}

fn print(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn help_and_version_answer_an_administrator_not_json() {
    for flag in ["--help", "-h"] {
        let (code, text) = print(&[flag]);
        assert_eq!(code, Some(0), "{flag}: {text}");
        assert!(text.starts_with("chom-agent "), "{text}");
        for expected in [
            "Usage:",
            "serve",
            "--root DIR",
            "--version",
            "site.create",
            "db.export",
            "ssl.issue",
            "security.audit",
        ] {
            assert!(text.contains(expected), "{flag} lacks {expected}: {text}");
        }
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }
    for flag in ["--version", "-V"] {
        let (code, text) = print(&[flag]);
        assert_eq!(
            (code, text.as_str()),
            (
                Some(0),
                format!("chom-agent {}\n", env!("CARGO_PKG_VERSION")).as_str()
            )
        );
    }
    // Also after other arguments (`chom-agent site.list --help`).
    let (code, text) = print(&["site.list", "--help"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("Usage:"));
}

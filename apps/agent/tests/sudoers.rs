//! L17: the sudo rule shipped in `deploy/sudoers.d/chom-agent` allows the agent's exact argument
//! vectors (`serve` and each command, nothing else: no `--root`), resets the environment, and
//! does what it says with the real sudo: the sandbox option and variable cannot be passed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_chom-agent");
const RULE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/sudoers.d/chom-agent"
);

/// The commands `chom-agent --help` lists.
fn commands() -> BTreeSet<String> {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    String::from_utf8(help.stdout)
        .unwrap()
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// The active (uncommented) lines, with continuations joined.
fn active(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn l17_the_sudo_rule_allows_exact_argument_vectors_only() {
    let text = std::fs::read_to_string(RULE).unwrap();
    let lines = active(&text);
    assert!(
        lines.iter().any(|l| l == "Defaults:chom env_reset"),
        "{lines:?}"
    );
    let mut allowed = BTreeSet::new();
    for l in &lines {
        assert!(
            !l.contains("--root") && !l.contains("SETENV") && !l.contains("env_keep"),
            "{l}"
        );
        for part in l.split([',', '=']) {
            if let Some(rest) = part.trim().strip_prefix("/usr/local/bin/chom-agent") {
                let args: Vec<&str> = rest.split_whitespace().collect();
                assert_eq!(args.len(), 1, "not one exact argument: {part}");
                assert!(
                    !args[0].contains(['*', '?', '[', '\\']),
                    "a wildcard: {part}"
                );
                allowed.insert(args[0].to_owned());
            }
        }
    }
    let mut expected = commands();
    expected.insert("serve".to_owned());
    assert_eq!(allowed, expected);
    if Path::new("/usr/sbin/visudo").exists() {
        let out = Command::new("/usr/sbin/visudo")
            .args(["-c", "-f", RULE])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("visudo is not installed: the rule's syntax was not checked");
    }
}

/// Removes the test's user and sudo rule, whatever happens.
struct Cleanup {
    user: String,
    rule: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.rule);
        let _ = Command::new("userdel").arg(&self.user).status();
    }
}

/// With the real sudo (as root, like the other agent tests): the shipped rule, for a
/// throw-away user and with this build's path, allows `chom-agent version` and refuses
/// `--root`, a `CHOM_AGENT_ROOT=` assignment and any extra argument; a `CHOM_AGENT_ROOT` in the
/// caller's environment does not reach the agent.
#[test]
fn l17_sudo_refuses_the_sandbox_option_and_variable() {
    if !Path::new("/usr/bin/sudo").exists() {
        eprintln!("sudo is not installed: the rule was not tried for real");
        return;
    }
    let user = format!("chomsudo{}", std::process::id() % 100_000);
    let rule = Path::new("/etc/sudoers.d").join(format!("chom-agent-test-{}", std::process::id()));
    let _cleanup = Cleanup {
        user: user.clone(),
        rule: rule.clone(),
    };
    assert!(
        Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                &user
            ])
            .status()
            .unwrap()
            .success()
    );
    let text = std::fs::read_to_string(RULE)
        .unwrap()
        .replace("/usr/local/bin/chom-agent", BIN)
        .replace("Defaults:chom ", &format!("Defaults:{user} "))
        .replace("\nchom ALL", &format!("\n{user} ALL"));
    let staged = rule.with_extension("new");
    std::fs::write(&staged, text).unwrap();
    assert!(
        Command::new("/usr/sbin/visudo")
            .arg("-c")
            .arg("-f")
            .arg(&staged)
            .status()
            .unwrap()
            .success()
    );
    std::fs::rename(&staged, &rule).unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    let sudo = |env: &[(&str, &str)], args: &[&str]| {
        let mut child = Command::new("runuser")
            .args(["-u", &user, "--", "env"])
            .args(env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(["sudo", "-n"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(br#"{"protocol":1,"command":"version"}"#);
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let root = sandbox.path().display().to_string();
    // Allowed: the exact vector. The caller's CHOM_AGENT_ROOT does not reach the agent.
    let (ok, out, err) = sudo(&[("CHOM_AGENT_ROOT", &root)], &[BIN, "version"]);
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["data"]["sandbox"], false, "{v}");
    // Refused by sudo itself (the agent never runs): --root, an assignment, extra arguments.
    for args in [
        vec![BIN, "--root", root.as_str(), "version"],
        vec![&format!("CHOM_AGENT_ROOT={root}"), BIN, "version"],
        vec![BIN, "version", "extra"],
        vec![BIN, "--help"],
        vec!["/bin/sh", "-c", "id"],
    ] {
        let (ok, out, err) = sudo(&[], &args);
        assert!(
            !ok && out.is_empty() && err.starts_with("sudo:"),
            "sudo ran {args:?}: {out}{err}"
        );
    }
}

//! Long domains and many sites: nginx's server-names hash is sized for the names the agent
//! writes, checked with the real `nginx -t` (no error for a 253-character domain, no "could
//! not build optimal server_names_hash" warning with 1,000 sites on one server).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The agent under test: this build, or another one named by `CHOM_AGENT_TEST_BIN`.
fn bin() -> String {
    std::env::var("CHOM_AGENT_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_chom-agent").to_owned())
}

fn agent(root: &Path, command: &str, params: &Value) -> Value {
    let request = json!({"protocol": 1, "command": command, "params": params}).to_string();
    let mut child = Command::new(bin())
        .arg("--root")
        .arg(root)
        .arg(command)
        .env("CHOM_AGENT_DB_HOST", "127.0.0.1")
        .env("CHOM_AGENT_DB_USER", "root")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The real `nginx -t` on the sandbox's configuration (not quiet: warnings show): success and
/// what it printed.
fn nginx_t(root: &Path) -> (bool, String) {
    let out = Command::new("nginx")
        .args([
            "-t",
            "-p",
            &format!("{}/", root.display()),
            "-c",
            &root.join("etc/nginx/nginx.conf").display().to_string(),
            "-e",
            &root.join("var/log/nginx/error.log").display().to_string(),
        ])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A domain of exactly `len` characters (at most 253), unique to this test run.
fn domain_of(len: usize, tag: &str) -> String {
    let head = format!("{tag}{}", std::process::id());
    let mut labels = Vec::new();
    let mut left = len - ".com".len();
    let mut first = true;
    while left > 0 {
        let take = left.min(63);
        // Leave room for a dot before the next label (and never a 0-length last label).
        let take = if left > take && left - take == 1 {
            take - 1
        } else {
            take
        };
        let label = if first {
            format!("{head}{}", "a".repeat(take - head.len()))
        } else {
            "b".repeat(take)
        };
        first = false;
        labels.push(label);
        left -= take;
        left = left.saturating_sub(1);
    }
    let d = format!("{}.com", labels.join("."));
    assert_eq!(d.len(), len, "{d}");
    d
}

#[test]
fn a_253_character_domain_provisions_and_passes_nginx_t() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // 253: the longest domain (no room for www.); 249: the longest with a www. name.
    for len in [253, 249] {
        let d = domain_of(len, "long");
        let v = agent(
            root,
            "site.create",
            &json!({"domain": d, "site_type": "wordpress", "php_version": "8.2"}),
        );
        assert_eq!(v["ok"], true, "{len}: {v}");
        let (ok, stderr) = nginx_t(root);
        assert!(ok, "{len}: {stderr}");
        assert!(!stderr.contains("server_names_hash"), "{len}: {stderr}");
        let info = agent(root, "site.info", &json!({"domain": d}));
        assert_eq!(info["data"]["serving"], true, "{info}");
    }
    for len in [253, 249] {
        let v = agent(
            root,
            "site.delete",
            &json!({"domain": domain_of(len, "long")}),
        );
        assert_eq!(v["ok"], true, "{v}");
    }
}

#[test]
fn a_thousand_sites_build_an_optimal_server_names_hash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let base = format!("base-{}.example.com", std::process::id());
    let v = agent(
        root,
        "site.create",
        &json!({"domain": base, "site_type": "html", "php_version": "8.2"}),
    );
    assert_eq!(v["ok"], true, "{v}");
    // 999 more vhosts, as the agent writes them (its own vhost with another domain), with the
    // directories their logs go to; names of varied lengths, like a real server's.
    let available = root.join("etc/nginx/sites-available");
    let enabled = root.join("etc/nginx/sites-enabled");
    let template = std::fs::read_to_string(available.join(format!("chom-{base}.conf"))).unwrap();
    let mut made = Vec::new();
    for i in 1..1000 {
        let d = format!(
            "{}{i}.customer-{}.example.{}",
            "shop".repeat(i % 7),
            i * 7919 % 100_000,
            ["com", "org", "net", "co.uk", "io"][i % 5]
        );
        let file = format!("chom-{d}.conf");
        std::fs::write(available.join(&file), template.replace(&base, &d)).unwrap();
        std::os::unix::fs::symlink(available.join(&file), enabled.join(&file)).unwrap();
        for logs in [
            root.join("var/log/chom-sites").join(&d),
            root.join("var/www/sites").join(&d).join("logs"),
        ] {
            std::fs::create_dir_all(logs).unwrap();
        }
        made.push(file);
    }
    // Any command that tests the configuration sizes the hash for what is enabled.
    let v = agent(root, "site.enable", &json!({"domain": base}));
    assert_eq!(v["ok"], true, "{v}");
    let (ok, stderr) = nginx_t(root);
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains("could not build"),
        "nginx warned with 1,000 sites: {stderr}"
    );
    for file in made {
        std::fs::remove_file(enabled.join(&file)).unwrap();
    }
    let v = agent(root, "site.delete", &json!({"domain": base}));
    assert_eq!(v["ok"], true, "{v}");
}

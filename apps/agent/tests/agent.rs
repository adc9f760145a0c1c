//! The real agent binary in sandbox mode, with the real `nginx -t` and the real MariaDB
//! (127.0.0.1:3306, root without password, as `cargo xtask services` provides).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use chom_agent_protocol::Answer as _;
use chom_agent_protocol::answers::{
    CertificateAnswer, HealthAnswer, SiteCreatedAnswer, SiteListAnswer, VersionAnswer,
};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_chom-agent");

fn agent(
    root: Option<&Path>,
    argv_command: Option<&str>,
    stdin: &str,
    env: &[(&str, &str)],
) -> (Option<i32>, Value) {
    let mut cmd = Command::new(BIN);
    if let Some(r) = root {
        cmd.arg("--root").arg(r);
    }
    if let Some(c) = argv_command {
        cmd.arg(c);
    }
    let mut child = cmd
        .env("CHOM_AGENT_DB_HOST", "127.0.0.1")
        .env("CHOM_AGENT_DB_USER", "root")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"))
    };
    (out.status.code(), value)
}

fn request(command: &str, params: Option<Value>) -> String {
    let mut r = json!({"protocol": 1, "command": command});
    if let Some(p) = params {
        r["params"] = p;
    }
    r.to_string()
}

fn run(root: &Path, command: &str, params: Option<Value>) -> Value {
    let (code, v) = agent(Some(root), Some(command), &request(command, params), &[]);
    assert_eq!(code, Some(0), "{command}: {v}");
    assert_eq!(v["ok"], true);
    v["data"].clone()
}

fn mysql(sql: &str) -> String {
    let out = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "--batch",
            "--skip-column-names",
            "-e",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `root` with its content (the sandbox's whole state), with the sandbox path,
/// creation timestamps and generated secrets (database password, application keys) masked so
/// two sandboxes compare equal when their states are.
fn snapshot(root: &Path) -> Vec<(PathBuf, String)> {
    let root_text = root.display().to_string();
    let normal = |text: String| {
        text.replace(&root_text, "<ROOT>")
            .lines()
            .filter(|l| !l.trim_start().starts_with("\"created_at\""))
            .map(|l| {
                if ["DB_PASSWORD", "_KEY", "_SALT"]
                    .iter()
                    .any(|k| l.contains(k))
                {
                    "<secret>"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                out.push((rel, "<dir>".into()));
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                out.push((
                    rel,
                    normal(format!(
                        "-> {}",
                        std::fs::read_link(&path).unwrap().display()
                    )),
                ));
            } else {
                out.push((
                    rel,
                    normal(std::fs::read_to_string(&path).unwrap_or_else(|_| "<binary>".into())),
                ));
            }
        }
    }
    out.sort();
    out
}

fn domain(prefix: &str) -> String {
    format!("{prefix}-{}.example.com", std::process::id())
}

#[test]
fn every_answer_is_one_json_document_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("garbage", None, "INVALID_REQUEST"),
        ("", None, "INVALID_REQUEST"),
        (
            r#"{"protocol":1,"command":"rm -rf"}"#,
            None,
            "INVALID_REQUEST",
        ),
        (
            r#"{"protocol":2,"command":"version"}"#,
            None,
            "UNSUPPORTED_PROTOCOL",
        ),
        (
            r#"{"protocol":1,"command":"version"}"#,
            Some("site.list"),
            "COMMAND_MISMATCH",
        ),
        (
            r#"{"protocol":1,"command":"site.info","params":{"domain":"x;reboot.com"}}"#,
            None,
            "INVALID_REQUEST",
        ),
    ];
    for (stdin, argv, code) in cases {
        let (exit, v) = agent(Some(dir.path()), argv, stdin, &[]);
        assert_eq!(exit, Some(1), "{stdin}: {v}");
        assert_eq!(
            (v["ok"].as_bool(), v["error"]["code"].as_str()),
            (Some(false), Some(code)),
            "{stdin}: {v}"
        );
    }
    let (exit, v) = agent(
        Some(dir.path()),
        Some("site.info"),
        &request("site.info", Some(json!({"domain": "nowhere.example.com"}))),
        &[],
    );
    assert_eq!(
        (exit, v["error"]["code"].as_str()),
        (Some(1), Some("SITE_NOT_FOUND"))
    );
    let v = run(dir.path(), "version", None);
    assert_eq!(
        (v["protocol"].as_u64(), v["sandbox"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(
        VersionAnswer::read(&v).map(|a| a.agent),
        Ok(env!("CARGO_PKG_VERSION").to_owned())
    );
}

#[test]
fn health_reports_stopped_services_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let v = run(dir.path(), "health", None);
    let services = v["services"].as_array().unwrap();
    assert_eq!(services.len(), 3);
    assert!(
        services
            .iter()
            .all(|s| s["status"] == "running" || s["status"] == "stopped"),
        "{v}"
    );
    let stopped = services.iter().filter(|s| s["status"] == "stopped").count();
    assert_eq!(
        v["healthy"].as_bool(),
        Some(stopped == 0 && v["issues"].as_array().unwrap().is_empty())
    );
    // The control plane reads the report through its typed answer.
    HealthAnswer::read(&v).expect("the health report reads as the control plane's HealthAnswer");
    assert!(v["disk"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_site_lives_and_dies_leaving_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let d = domain("life");
    let params = json!({"domain": d, "site_type": "wordpress", "php_version": "8.2"});
    let created = run(root, "site.create", Some(params.clone()));
    // What the control plane reads from the answer (the protocol's typed answer).
    let access = SiteCreatedAnswer::read(&created)
        .expect("site.create answers what the control plane reads")
        .database;
    let (db, db_user) = (access.name, access.user);
    let site = root.join("var/www/sites").join(&d);
    for p in [
        "public/index.html",
        "public/wp-content/uploads",
        "logs",
        "tmp",
        "sessions",
    ] {
        assert!(site.join(p).exists(), "{p} missing");
    }
    let vhost = root.join(format!("etc/nginx/sites-available/chom-{d}.conf"));
    let link = root.join(format!("etc/nginx/sites-enabled/chom-{d}.conf"));
    assert!(
        std::fs::read_to_string(&vhost)
            .unwrap()
            .contains("disable_symlinks on")
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), vhost);
    let pool82 = root.join(format!(
        "etc/php/8.2/fpm/pool.d/{}.conf",
        created["php_pool"].as_str().unwrap()
    ));
    assert!(std::fs::read_to_string(&pool82).unwrap().contains(&format!(
        "user = {}",
        created["system_user"].as_str().unwrap()
    )));
    assert_eq!(mysql(&format!("SHOW DATABASES LIKE '{db}'")).trim(), db);
    assert_eq!(
        mysql(&format!(
            "SELECT user FROM mysql.user WHERE user = '{db_user}'"
        ))
        .trim(),
        db_user
    );
    // The generated configuration passes the real nginx -t (checked again here, independently).
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Idempotent: a second create converges to the same tree.
    let before = snapshot(root);
    run(root, "site.create", Some(params));
    assert_eq!(snapshot(root), before);
    assert_eq!(
        SiteListAnswer::read(&run(root, "site.list", None)).map(|a| a.count),
        Ok(1)
    );

    // Disable / enable.
    assert_eq!(
        run(root, "site.disable", Some(json!({"domain": d})))["enabled"],
        false
    );
    assert!(!link.exists());
    assert_eq!(
        run(root, "site.info", Some(json!({"domain": d})))["serving"],
        false
    );
    run(root, "site.enable", Some(json!({"domain": d})));
    assert!(link.exists());

    // PHP switch: the pool moves to 8.4's directory.
    let moved = run(
        root,
        "site.set_php",
        Some(json!({"domain": d, "php_version": "8.4"})),
    );
    assert!(!pool82.exists());
    assert!(Path::new(moved["pool_file"].as_str().unwrap()).exists());
    assert!(
        moved["pool_file"]
            .as_str()
            .unwrap()
            .contains("/etc/php/8.4/fpm/pool.d/")
    );

    // Delete: nothing left, and deleting again converges.
    assert_eq!(
        run(root, "site.delete", Some(json!({"domain": d})))["existed"],
        true
    );
    assert!(!site.exists() && !vhost.exists() && !link.exists());
    assert!(
        snapshot(&root.join("etc/php"))
            .iter()
            .all(|(_, c)| c == "<dir>"),
        "a pool file remains"
    );
    assert_eq!(mysql(&format!("SHOW DATABASES LIKE '{db}'")).trim(), "");
    assert_eq!(
        mysql(&format!(
            "SELECT user FROM mysql.user WHERE user = '{db_user}'"
        ))
        .trim(),
        ""
    );
    assert_eq!(run(root, "site.list", None)["count"], 0);
    assert_eq!(
        run(root, "site.delete", Some(json!({"domain": d})))["existed"],
        false
    );
}

#[test]
fn a_failing_nginx_test_rolls_the_vhost_back_and_reloads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Something else in the configuration is broken: the new vhost must not stay in place.
    let enabled = root.join("etc/nginx/sites-enabled");
    std::fs::create_dir_all(&enabled).unwrap();
    std::fs::write(
        enabled.join("broken.conf"),
        "server { listen 80; this_is_not_a_directive; }\n",
    )
    .unwrap();
    let d = domain("broken");
    let (code, v) = agent(
        Some(root),
        Some("site.create"),
        &request(
            "site.create",
            Some(json!({"domain": d, "site_type": "html", "php_version": "8.2"})),
        ),
        &[],
    );
    assert_eq!(code, Some(1));
    assert_eq!(v["error"]["code"], "CONFIG_TEST_FAILED", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this_is_not_a_directive"),
        "{v}"
    );
    assert!(
        !root
            .join(format!("etc/nginx/sites-available/chom-{d}.conf"))
            .exists()
    );
    assert!(!enabled.join(format!("chom-{d}.conf")).exists());
    assert_eq!(
        run(root, "site.list", None)["count"],
        0,
        "a half-made site was registered"
    );
    std::fs::remove_file(enabled.join("broken.conf")).unwrap();
    run(root, "site.delete", Some(json!({"domain": d})));
}

#[test]
fn killed_after_any_step_a_rerun_converges_to_a_clean_run() {
    // The clean run, as the reference.
    let clean = tempfile::tempdir().unwrap();
    let d = domain("crash");
    let params = json!({"domain": d, "site_type": "laravel", "php_version": "8.3"});
    run(clean.path(), "site.create", Some(params.clone()));
    let reference = snapshot(clean.path());
    run(clean.path(), "site.delete", Some(json!({"domain": d})));

    for step in ["directories", "user", "database", "pool", "vhost"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (code, v) = agent(
            Some(root),
            Some("site.create"),
            &request("site.create", Some(params.clone())),
            &[("CHOM_AGENT_CRASH_AFTER", step)],
        );
        assert_eq!(
            (code, v),
            (Some(137), Value::Null),
            "the crash hook did not fire after {step}"
        );
        run(root, "site.create", Some(params.clone()));
        assert_eq!(
            snapshot(root),
            reference,
            "re-run after a crash after {step} differs from a clean run"
        );
        run(root, "site.delete", Some(json!({"domain": d})));
        // What may remain is the sandbox's own nginx set-up (its nginx.conf, pid file and error
        // log) and the (now empty) registry: nothing of the site.
        let names: Vec<_> = snapshot(root)
            .into_iter()
            .filter(|(p, c)| {
                c != "<dir>"
                    && !p.starts_with("etc/nginx/nginx.conf")
                    && !p.starts_with("run")
                    && !p.starts_with("var/log/nginx")
            })
            .filter(|(p, c)| !p.starts_with("var/lib/chom-agent") || c.contains("crash-"))
            .collect();
        assert!(names.is_empty(), "left behind after {step}: {names:?}");
        assert_eq!(
            mysql(&format!(
                "SHOW DATABASES LIKE 'db_crash_{}%'",
                std::process::id()
            ))
            .trim(),
            ""
        );
    }
}

#[test]
fn database_cache_stats_and_audit_commands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let d = domain("maint");
    let created = run(
        root,
        "site.create",
        Some(json!({"domain": d, "site_type": "laravel", "php_version": "8.2"})),
    );
    let db = created["database"]["name"].as_str().unwrap().to_owned();
    mysql(&format!(
        "CREATE TABLE `{db}`.`posts` (id INT PRIMARY KEY, title TEXT); INSERT INTO `{db}`.`posts` VALUES (1, 'hello');"
    ));

    let export = run(root, "db.export", Some(json!({"domain": d})));
    let file = std::fs::read_to_string(export["export_file"].as_str().unwrap()).unwrap();
    assert!(
        file.contains("CREATE TABLE `posts`") && file.contains("'hello'"),
        "{file}"
    );
    assert_eq!(export["size_bytes"].as_u64().unwrap(), file.len() as u64);

    let optimized = run(root, "db.optimize", Some(json!({"domain": d})));
    assert_eq!(optimized["tables"], json!(["posts"]));

    // A stale temporary file goes, a fresh one stays.
    let tmp = root.join("var/www/sites").join(&d).join("tmp");
    std::fs::write(tmp.join("old.tmp"), "x").unwrap();
    std::fs::write(tmp.join("new.tmp"), "y").unwrap();
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(tmp.join("old.tmp"))
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let cleared = run(root, "cache.clear", Some(json!({"domain": d})));
    assert!(
        cleared["cleared"].to_string().contains("1 stale file"),
        "{cleared}"
    );
    assert!(!tmp.join("old.tmp").exists() && tmp.join("new.tmp").exists());

    let stats = run(root, "stats", None);
    assert_eq!(stats["sites_count"], 1);
    assert!(
        stats["uptime_seconds"].as_f64().unwrap() > 0.0
            && stats["process_count"].as_u64().unwrap() > 0
    );

    let audit = run(root, "security.audit", None);
    let total = audit["checks_total"].as_u64().unwrap();
    assert_eq!(total, audit["checks"].as_array().unwrap().len() as u64);
    assert_eq!(
        audit["score"].as_u64().unwrap(),
        audit["checks_passed"].as_u64().unwrap() * 100 / total
    );
    assert!(
        audit["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |c| c["check"] == "every enabled site sends X-Frame-Options" && c["passed"] == true
            )
    );

    for cmd in ["db.export", "db.optimize", "cache.clear"] {
        let (code, v) = agent(
            Some(root),
            Some(cmd),
            &request(cmd, Some(json!({"domain": "nobody.example.com"}))),
            &[],
        );
        assert_eq!(
            (code, v["error"]["code"].as_str()),
            (Some(1), Some("SITE_NOT_FOUND")),
            "{cmd}"
        );
    }
    run(root, "site.delete", Some(json!({"domain": d})));
    assert_eq!(mysql(&format!("SHOW DATABASES LIKE '{db}'")).trim(), "");
}

/// Runs `php-fpm8.2 -t` on the sandbox's pools (with the site's system user created for the
/// duration: PHP-FPM checks that the pool's user exists).
#[test]
fn generated_pools_pass_a_real_php_fpm_test() {
    let fpm = "/usr/sbin/php-fpm8.2";
    assert!(
        Path::new(fpm).exists(),
        "php8.2-fpm is not installed (cargo xtask services installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let d = domain("fpm");
    let created = run(
        root,
        "site.create",
        Some(json!({"domain": d, "site_type": "wordpress", "php_version": "8.2"})),
    );
    let user = created["system_user"].as_str().unwrap().to_owned();
    let made = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            &user,
        ])
        .status()
        .unwrap();
    assert!(
        made.success(),
        "useradd {user} failed (the test runs as root)"
    );
    let conf = root.join("php-fpm-test.conf");
    std::fs::create_dir_all(root.join("run")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "[global]\npid = {r}/run/php-fpm.pid\nerror_log = {r}/var/log/php-fpm.log\ninclude = {r}/etc/php/8.2/fpm/pool.d/*.conf\n",
            r = root.display()
        ),
    )
    .unwrap();
    let check = |what: &str| {
        let out = Command::new(fpm)
            .arg("-t")
            .arg("-y")
            .arg(&conf)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{what}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, log) = check("generated pool");
    // The check is real: a broken pool fails it.
    let pool_dir = root.join("etc/php/8.2/fpm/pool.d");
    std::fs::write(
        pool_dir.join("zz-broken.conf"),
        "[broken]\nuser = nobody\npm = sometimes\n",
    )
    .unwrap();
    let (broken_ok, _) = check("broken pool");
    std::fs::remove_file(pool_dir.join("zz-broken.conf")).unwrap();
    let _ = Command::new("userdel").arg(&user).status();
    run(root, "site.delete", Some(json!({"domain": d})));
    assert!(ok, "{log}");
    assert!(!broken_ok, "php-fpm -t accepted a broken pool");
}

#[test]
fn ssl_is_issued_by_a_local_pebble_over_http_01() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sandbox");
    let d = domain("tls");
    let ca = chom_test_support::Acme::start(&root.join("var/www/sites"));
    run(
        &root,
        "site.create",
        Some(json!({"domain": d, "site_type": "html", "php_version": "8.2"})),
    );
    let env = [(
        "CHOM_AGENT_ACME_CA_BUNDLE",
        ca.ca_bundle.display().to_string(),
    )];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let issue = request(
        "ssl.issue",
        Some(json!({"domain": d, "email": "ops@example.com", "directory_url": ca.directory_url})),
    );
    let (code, v) = agent(Some(&root), Some("ssl.issue"), &issue, &env);
    assert_eq!(code, Some(0), "{v}");
    let issued = &v["data"];
    assert_eq!(issued["ssl_enabled"], true);
    assert!(
        issued["issuer"].as_str().unwrap().contains("Pebble"),
        "{issued}"
    );
    assert!(issued["days_remaining"].as_i64().unwrap() > 0);
    assert_eq!(issued["valid"], true);
    // The control plane records the expiry from the typed answer: it must be there.
    let expiry = CertificateAnswer::read(issued)
        .expect("ssl.issue answer")
        .expires_at;
    assert!(
        expiry.is_some_and(|t| t.contains('T')),
        "no RFC 3339 expiry: {issued}"
    );
    // The vhost now serves HTTPS (and passed nginx -t with the real certificate files).
    let vhost =
        std::fs::read_to_string(root.join(format!("etc/nginx/sites-available/chom-{d}.conf")))
            .unwrap();
    assert!(
        vhost.contains("listen 443 ssl")
            && vhost.contains("Strict-Transport-Security")
            && vhost.contains("return 301 https://")
    );
    // A re-run of site.create keeps HTTPS.
    run(
        &root,
        "site.create",
        Some(json!({"domain": d, "site_type": "html", "php_version": "8.2"})),
    );
    assert!(
        std::fs::read_to_string(root.join(format!("etc/nginx/sites-available/chom-{d}.conf")))
            .unwrap()
            .contains("listen 443 ssl")
    );

    let (code, renewed) = agent(
        Some(&root),
        Some("ssl.renew"),
        &request("ssl.renew", Some(json!({"domain": d}))),
        &env,
    );
    assert_eq!(code, Some(0), "{renewed}");
    assert_ne!(
        renewed["data"]["serial"], issued["serial"],
        "the certificate was not renewed"
    );
    let status = run(&root, "ssl.status", Some(json!({"domain": d})));
    assert_eq!(status["serial"], renewed["data"]["serial"]);

    run(&root, "site.delete", Some(json!({"domain": d})));
    assert!(
        !root.join("etc/letsencrypt/live").join(&d).exists(),
        "the certificate survived site.delete"
    );
}

#[test]
fn each_type_gets_its_application_and_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (kind, config) in [
        ("wordpress", Some("wp-config.php")),
        ("laravel", Some(".env")),
        ("html", None),
    ] {
        let d = domain(&format!("app{kind}"));
        let created = run(
            root,
            "site.create",
            Some(json!({"domain": d, "site_type": kind, "php_version": "8.2"})),
        );
        let password = created["database"]["password"].as_str().unwrap().to_owned();
        let site = root.join("var/www/sites").join(&d);
        let installed = run(root, "app.install", Some(json!({"domain": d})));
        assert_eq!(installed["site_type"], kind);
        match config {
            Some(file) => {
                // Outside the document root, with the credentials site.create just set.
                let text = std::fs::read_to_string(site.join(file)).unwrap();
                assert!(text.contains(&password), "{kind}: {text}");
                assert!(text.contains(created["database"]["name"].as_str().unwrap()));
                assert!(!site.join("public").join(file).exists());
            }
            None => assert!(installed["config_file"].is_null()),
        }
        if kind == "laravel" {
            assert!(site.join("public/index.php").exists());
            let env = std::fs::read_to_string(site.join(".env")).unwrap();
            let key = env
                .lines()
                .find_map(|l| l.strip_prefix("APP_KEY=base64:"))
                .unwrap();
            assert_eq!(
                data_encoding::BASE64.decode(key.as_bytes()).unwrap().len(),
                32
            );
        }
        if kind == "wordpress" {
            let how = installed["installed"].as_str().unwrap();
            assert!(
                how.contains("wp-cli not found") || how.contains("downloaded"),
                "{how}"
            );
        }
        // Converges: a second install changes nothing it reports.
        assert_eq!(
            run(root, "app.install", Some(json!({"domain": d}))),
            installed
        );
        run(root, "site.delete", Some(json!({"domain": d})));
        assert!(!site.exists());
    }
}

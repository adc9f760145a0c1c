//! First start on an empty state directory: `chom-api` and `chom-worker` started at the same
//! moment both generate the state they need (the control plane's SSH key pair under
//! `var/ssh/`, the application key `var/secret.key` next to the SQLite database). Both must
//! come up and end with one key pair and one application key, private files 0600. (They used
//! to race: `ssh-keygen` asked "Overwrite (y/n)?" and the loser exited, or the loser of the
//! application key failed on the file the other had just created.)

use crate::helpers::{agent_binary, client};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A sibling binary of the agent (`cargo xtask test` builds every binary of the workspace).
fn binary(name: &str) -> PathBuf {
    let bin = agent_binary().with_file_name(name);
    assert!(
        bin.exists(),
        "{} missing: build the workspace",
        bin.display()
    );
    bin
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `name` in `dir` on the embedded default (SQLite under `dir/var`), nothing inherited
/// from the environment but `PATH`.
fn spawn(name: &str, dir: &Path, port: u16) -> Process {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(binary(name))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CHOM_SERVER__PORT", port.to_string())
        .env("CHOM_LOG__FILTER", "info")
        // Tests run side by side: the worker's /metrics on any free port.
        .env("CHOM_WORKER__METRICS_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Process(child)
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `ssh-keygen -y`: the public half of a private key, `type base64`.
fn public_half(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    first_two_fields(&String::from_utf8(out.stdout).unwrap())
}

fn first_two_fields(text: &str) -> String {
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_state_is_created_once_when_api_and_worker_start_together() {
    let http = client();
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Back to back: both find an empty directory.
        let mut api = spawn("chom-api", dir.path(), port);
        let mut worker = spawn("chom-worker", dir.path(), port);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut api_up, mut worker_up) = (false, false);
        while !(api_up && worker_up) {
            for (name, p) in [("chom-api", &mut api), ("chom-worker", &mut worker)] {
                if let Some(status) = p.0.try_wait().unwrap() {
                    panic!(
                        "round {round}: {name} exited ({status}):\n{}",
                        log(dir.path(), name)
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: not up in 60 s\n--- chom-api\n{}\n--- chom-worker\n{}",
                log(dir.path(), "chom-api"),
                log(dir.path(), "chom-worker")
            );
            api_up = api_up
                || http
                    .get(format!("http://127.0.0.1:{port}/health/live"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
            worker_up = worker_up || log(dir.path(), "chom-worker").contains("chom-worker started");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }

        let var = dir.path().join("var");
        let key = var.join("ssh/id_ed25519");
        assert_eq!(mode(&key), 0o600, "round {round}");
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        assert_eq!(
            first_two_fields(&public),
            public_half(&key),
            "round {round}"
        );
        let secret = var.join("secret.key");
        assert_eq!(mode(&secret), 0o600, "round {round}");
        assert_eq!(std::fs::read_to_string(&secret).unwrap().len(), 43);
        // Nothing left behind by the loser.
        for d in [&var, &var.join("ssh")] {
            let names: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect();
            assert!(names.is_empty(), "round {round}: leftovers {names:?}");
        }
        // Both still run (the loser read the winner's files).
        for (name, p) in [("chom-api", &mut api), ("chom-worker", &mut worker)] {
            assert!(
                p.0.try_wait().unwrap().is_none(),
                "round {round}: {name} exited:\n{}",
                log(dir.path(), name)
            );
        }
    }
}

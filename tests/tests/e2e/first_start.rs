//! First start on an empty state directory: `chom-api` and `chom-worker` started at the same
//! moment both generate the state they need (the control plane's SSH key pair under
//! `var/ssh/`, the application key `var/secret.key` next to the SQLite database). Both must
//! come up and end with one key pair and one application key, private files 0600. (They used
//! to race: `ssh-keygen` asked "Overwrite (y/n)?" and the loser exited, or the loser of the
//! application key failed on the file the other had just created.)

use chom_e2e::{Process, answers, wait_for};
use chom_test_support::api::client;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Starts `name` in `dir` on the embedded default (SQLite under `dir/var`), nothing inherited
/// from the environment but `PATH`.
fn start(name: &str, dir: &Path, port: u16) -> Process {
    Process::start(name, dir, |c| {
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CHOM_SERVER__PORT", port.to_string())
            .env("CHOM_LOG__FILTER", "info")
            // Tests run side by side: the worker's /metrics on any free port.
            .env("CHOM_WORKER__METRICS_LISTEN", "127.0.0.1:0");
    })
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
        let port = chom_test_support::acme::free_port();
        // Back to back: both find an empty directory.
        let mut api = start("chom-api", dir.path(), port);
        let mut worker = start("chom-worker", dir.path(), port);
        let live = format!("http://127.0.0.1:{port}/health/live");
        let (mut api_up, mut worker_up) = (false, false);
        wait_for(
            &format!("round {round}: both up"),
            Duration::from_secs(60),
            &mut [&mut api, &mut worker],
            async || {
                api_up = api_up || answers(&http, &live).await;
                worker_up = worker_up
                    || Process::log_of(dir.path(), "chom-worker").contains("chom-worker started");
                api_up && worker_up
            },
        )
        .await;

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
        for p in [&mut api, &mut worker] {
            assert!(
                p.exited().is_none(),
                "round {round}: exited\n{}",
                p.report()
            );
        }
    }
}

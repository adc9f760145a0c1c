//! Black-box helpers of the end-to-end tests: the workspace's real binaries as processes (found
//! next to the test executable, logging to a file, killed on drop), waiting until they are
//! ready, their configuration file, and their command line. Nothing here links an app: the
//! tests speak to the binaries over HTTP ([`chom_test_support::api::Api`]) and through their
//! CLI, as an operator would.
// Test helpers: a panic is how they report a broken run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chom_test_support::binaries::workspace_binary;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A binary of the workspace running in a directory of the test's, its standard output and error
/// in `<dir>/<name>.log`. Dropping it kills it.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `name` in `dir`; `setup` adds its arguments and environment.
    pub fn start(name: &str, dir: &Path, setup: impl FnOnce(&mut Command)) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(workspace_binary(name));
        command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        setup(&mut command);
        let child = command.spawn().unwrap();
        Self {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Kills it (SIGKILL: no graceful stop) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the process `name` started in `dir` has logged so far (while its handle is lent).
    pub fn log_of(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Its name and its log, for a failure message.
    pub fn report(&self) -> String {
        format!("--- {}\n{}", self.name, self.log())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `ready` every 25 ms until it holds. Fails, with every process's log, when one of
/// `processes` exits first or `within` passes.
pub async fn wait_for(
    what: &str,
    within: Duration,
    processes: &mut [&mut Process],
    mut ready: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    let logs = |ps: &[&mut Process]| ps.iter().map(|p| p.report()).collect::<Vec<_>>();
    loop {
        let exited = processes
            .iter_mut()
            .find_map(|p| Some((p.name.clone(), p.exited()?)));
        if let Some((name, status)) = exited {
            panic!(
                "{what}: {name} exited ({status})\n{}",
                logs(processes).join("\n")
            );
        }
        if ready().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}\n{}",
            logs(processes).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether `url` answers with a success status.
pub async fn answers(client: &reqwest::Client, url: &str) -> bool {
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Writes a TOML configuration file from a JSON object of sections
/// (`{"server": {"port": 8080}}`): JSON strings, numbers, booleans and arrays of them are TOML
/// values as JSON writes them.
pub fn write_config(path: &Path, sections: &Value) {
    let mut toml = String::new();
    for (section, keys) in sections.as_object().expect("an object of sections") {
        toml.push_str(&format!("[{section}]\n"));
        for (key, value) in keys.as_object().expect("an object of keys") {
            assert!(!value.is_object() && !value.is_null(), "{section}.{key}");
            toml.push_str(&format!("{key} = {value}\n"));
        }
    }
    std::fs::write(path, toml).unwrap();
}

/// `chom-api --config <config> admin create`: a super admin made as an operator makes the first
/// one, the password piped on standard input.
pub fn create_super_admin(config: &Path, email: &str, username: &str, password: &str) {
    use std::io::Write as _;
    let dir = config.parent().unwrap();
    let mut child = Command::new(workspace_binary("chom-api"))
        .arg("--config")
        .arg(config)
        .args(["admin", "create", "--email", email, "--username", username])
        .current_dir(dir)
        .env_remove("CHOM_DATABASE__URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chom-api admin create failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#![doc = include_str!("../README.md")]
// A test-support crate: panicking is how a rig reports a broken environment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod acme;
pub mod api;
pub mod binaries;
pub mod conformance;
pub mod files;
pub mod hosting;
pub mod logs;
pub mod onboarding;
pub mod s3;
pub mod smtp;

pub use acme::Acme;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private sshd on 127.0.0.1.
pub struct Sshd {
    dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
    child: Option<Child>,
}

fn keygen(path: &Path, comment: &str) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(path.with_extension("pub"));
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl Sshd {
    /// Generates keys and starts sshd (as root; `cargo xtask services` installs openssh-server).
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Like [`Sshd::start`], with environment variables set for every session (`SetEnv`): test
    /// hooks of the agent on the other end.
    pub fn start_with_env(vars: &[(&str, &str)]) -> Self {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "openssh-server is not installed (cargo xtask services installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        keygen(&dir.path().join("host_ed25519"), "test-host");
        keygen(&dir.path().join("client_ed25519"), "test-client");
        std::fs::copy(
            dir.path().join("client_ed25519.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n\
                 AllowTcpForwarding no\nX11Forwarding no\nPrintMotd no\nMaxSessions 20\n{}"
            , vars
                .iter()
                .map(|(k, v)| format!("SetEnv {k}={v}\n"))
                .collect::<String>()),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let mut s = Self {
            dir,
            port,
            child: None,
        };
        s.spawn();
        s
    }

    /// Starts (again) with the current keys.
    pub fn spawn(&mut self) {
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not start");
    }

    /// Stops sshd and every connection it serves.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops, replaces the host key, starts again.
    pub fn rotate_host_key(&mut self) {
        self.stop();
        keygen(&self.dir.path().join("host_ed25519"), "another-host");
        self.spawn();
    }

    /// The host key, `ssh-ed25519 AAAA…`.
    pub fn host_key(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).unwrap();
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Also accepts the client key whose public half is `public_key` (several test servers
    /// reached with one key).
    pub fn authorize(&self, public_key: &Path) {
        use std::io::Write as _;
        let key = std::fs::read_to_string(public_key).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))
            .unwrap();
        f.write_all(key.as_bytes()).unwrap();
    }

    /// The client's private key.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

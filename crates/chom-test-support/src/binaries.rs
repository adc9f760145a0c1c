//! The workspace's binaries as a test finds them, and the "VPS" layout the real agent is
//! installed into by bootstrap.

use std::path::{Path, PathBuf};

/// A binary of this build (`target/<profile>/<name>`, next to the test executable's `deps/`
/// directory). Tests do not build other packages' binaries: `cargo xtask test` builds every
/// binary of the workspace first.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        bin.exists(),
        "{} missing: build the workspace (cargo xtask test builds every binary)",
        bin.display()
    );
    bin
}

/// The agent binary of this build.
pub fn agent_binary() -> PathBuf {
    workspace_binary("chom-agent")
}

/// Where bootstrap installs the real agent (`<work>/vps/usr/local/bin/chom-agent`) and the
/// sandbox root it works in (`<work>/vps-root`): the control plane's `ssh.agent_path` and
/// `ssh.agent_args = ["--root", sandbox]`, with `ssh.agent_binary` = [`agent_binary`].
pub struct SshRig {
    /// Where bootstrap installs the agent.
    pub agent_path: PathBuf,
    /// The agent's sandbox root (the "VPS").
    pub sandbox: PathBuf,
}

impl SshRig {
    pub fn new(work: &Path) -> Self {
        Self {
            agent_path: work.join("vps/usr/local/bin/chom-agent"),
            sandbox: work.join("vps-root"),
        }
    }
}

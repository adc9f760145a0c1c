//! Small helpers: the workspace root, running cargo, timed steps.

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The workspace root (xtask's manifest is one level below it).
pub fn root() -> anyhow::Result<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(PathBuf::from)
        .context("xtask has no parent directory")
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` (relative to the workspace root when
/// relative), else `target/` at the root. Binaries are under `<it>/debug` and `<it>/release`.
///
/// # Errors
/// As [`root`].
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let root = root()?;
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    })
}

/// Runs `cargo <args>` at the workspace root; fails on a non-zero exit.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    cargo_env(args, &[])
}

/// `cargo`, as the one that runs xtask, without the variables `cargo run` set for xtask itself
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`…): build scripts that watch them (ring's watches
/// `CARGO_MANIFEST_DIR`) would otherwise rebuild, and with them most of the workspace, each time
/// a build alternates between `cargo xtask …` and a plain `cargo …`.
fn cargo_command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*name,
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(&*name);
        }
    }
    command
}

/// Runs `cargo <args>` at the workspace root with extra environment variables; fails on a
/// non-zero exit.
pub fn cargo_env(args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<()> {
    let status = cargo_command()
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root()?)
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    anyhow::ensure!(
        status.success(),
        "`cargo {}` failed ({status})",
        args.join(" ")
    );
    Ok(())
}

/// Runs cargo in the workspace root and returns its standard output (standard error passes
/// through).
pub fn cargo_output(args: &[&str]) -> anyhow::Result<String> {
    let out = cargo_command()
        .args(args)
        .current_dir(root()?)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    anyhow::ensure!(
        out.status.success(),
        "`cargo {}` failed ({})",
        args.join(" "),
        out.status
    );
    String::from_utf8(out.stdout).context("cargo printed something that is not UTF-8")
}

/// Runs a command, returning whether it exited 0 (false when it cannot start).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command; fails with its output on a non-zero exit.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    anyhow::ensure!(
        out.status.success(),
        "`{program} {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs a named step and prints its duration.
pub fn step(name: &str, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    let r = f().with_context(|| format!("step `{name}` failed"));
    println!("<== {name} ({:.1} s)", started.elapsed().as_secs_f64());
    r
}

/// Runs git in `root` and returns what it printed (the caller reads the status: some git
/// commands exit 1 to say "nothing found").
///
/// # Errors
/// git could not be started.
pub fn git(root: &std::path::Path, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .with_context(|| format!("git {}", args.join(" ")))
}

/// Null-separated paths printed by git (`-z`), as strings.
pub fn nul_separated(out: &[u8]) -> impl Iterator<Item = String> + '_ {
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

/// The files git tracks under `root` matching `pathspec` (all with none).
///
/// # Errors
/// git failed.
pub fn tracked(root: &std::path::Path, pathspec: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut args = vec!["ls-files", "-z", "--cached", "--"];
    args.extend_from_slice(pathspec);
    let out = git(root, &args)?;
    anyhow::ensure!(out.status.success(), "git ls-files failed");
    Ok(nul_separated(&out.stdout).collect())
}

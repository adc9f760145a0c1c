//! `chom-agent version` over the transport's multiplexed connection vs a raw multiplexed
//! `ssh … true`, on the development sshd (127.0.0.1:2222).

use chom_agent_protocol::{Command as AgentCommand, Request};
use chom_ssh::{AgentTransport, Endpoint, SshSettings};
use hdrhistogram::Histogram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

fn figures(h: &Histogram<u64>) -> Figures {
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let ms = |us: u64| us as f64 / 1000.0;
    Figures {
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        mean_ms: h.mean() / 1000.0,
    }
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
}

/// Runs the comparison.
///
/// # Errors
/// The sshd or a tool is missing.
pub async fn run(sshd_dir: &Path, agent_bin: &str, calls: usize) -> anyhow::Result<()> {
    let key = sshd_dir.join("client_ed25519");
    let host_key_text = std::fs::read_to_string(sshd_dir.join("host_ed25519.pub"))?;
    let host_key = host_key_text
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let work = tempfile::tempdir()?;

    // The transport: the agent over its multiplexed master.
    let transport = AgentTransport::new(SshSettings {
        key_file: key.clone(),
        state_dir: work.path().join("state"),
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(30),
        agent_path: agent_bin.to_owned(),
        agent_args: vec![
            "--root".into(),
            work.path().join("root").display().to_string(),
        ],
        sudo: false,
    });
    let ep = Endpoint {
        host: "127.0.0.1".into(),
        port: 2222,
        user: "root".into(),
        host_key: host_key.clone(),
    };
    let request = Request::new(AgentCommand::Version);
    anyhow::ensure!(
        transport.call(&ep, &request, None).await?.ok,
        "the agent did not answer"
    );
    let mut agent = Histogram::<u64>::new(3)?;
    for _ in 0..calls {
        let started = Instant::now();
        let r = transport.call(&ep, &request, None).await?;
        record(&mut agent, started.elapsed());
        anyhow::ensure!(r.ok, "agent error: {r:?}");
    }
    transport.close_all().await;

    // The baseline: `ssh … true` through a ControlMaster of its own.
    let known = work.path().join("known_hosts");
    std::fs::write(&known, format!("[127.0.0.1]:2222 {host_key}\n"))?;
    let socket = work.path().join("master.sock");
    let base = |extra: &[&str]| {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-p", "2222", "-i"]).arg(&key);
        c.args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ]);
        c.arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()));
        c.arg("-S").arg(&socket);
        c.args(extra);
        c
    };
    anyhow::ensure!(
        base(&[
            "-M",
            "-f",
            "-N",
            "-o",
            "ControlPersist=yes",
            "root@127.0.0.1"
        ])
        .status()?
        .success(),
        "ssh master failed"
    );
    let mut raw = Histogram::<u64>::new(3)?;
    for _ in 0..calls {
        let started = Instant::now();
        let ok = base(&["root@127.0.0.1", "true"]).status()?.success();
        record(&mut raw, started.elapsed());
        anyhow::ensure!(ok, "ssh true failed");
    }
    let _ = base(&["-O", "exit", "root@127.0.0.1"]).status();

    let (a, r) = (figures(&agent), figures(&raw));
    println!(
        "round trips over one multiplexed SSH connection to 127.0.0.1:2222, {calls} sequential calls each\n"
    );
    println!("| what                                  | p50       | p99       | mean      |");
    println!("|---------------------------------------|-----------|-----------|-----------|");
    println!(
        "| chom-agent version (chom-ssh, JSON)   | {:>6.2} ms | {:>6.2} ms | {:>6.2} ms |",
        a.p50_ms, a.p99_ms, a.mean_ms
    );
    println!(
        "| ssh … true (raw, ControlMaster)       | {:>6.2} ms | {:>6.2} ms | {:>6.2} ms |",
        r.p50_ms, r.p99_ms, r.mean_ms
    );
    println!(
        "\nratio (mean): {:.2}× (goal ≤ 1.2×)",
        a.mean_ms / r.mean_ms
    );
    Ok(())
}

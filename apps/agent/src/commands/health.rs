//! `health`: services, disk, memory and load. A stopped service is reported, never fatal.

use crate::Context;
use chom_agent_protocol::AgentError;
use serde_json::json;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn meminfo_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn service(ctx: &Context, name: &str, processes: &[&str]) -> serde_json::Value {
    let running = processes.iter().any(|p| {
        ctx.runner
            .run("pgrep", &["-x", p], None)
            .is_ok_and(|o| o.success)
    });
    json!({"name": name, "status": if running { "running" } else { "stopped" }})
}

fn disk(ctx: &Context) -> serde_json::Value {
    let path = ctx.layout.root().display().to_string();
    let out = ctx.runner.run("df", &["-P", "-B1", &path], None);
    let line = out
        .ok()
        .and_then(|o| o.stdout.lines().nth(1).map(ToOwned::to_owned))
        .unwrap_or_default();
    let cols: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(3)
        .filter_map(|c| c.parse().ok())
        .collect();
    match cols.as_slice() {
        [total, used, available] => json!({
            "path": path, "total_bytes": total, "used_bytes": used, "available_bytes": available,
            "percent_used": if *total > 0 { used * 100 / total } else { 0 },
        }),
        _ => json!({"path": path, "error": "df gave no figures"}),
    }
}

/// Runs the health check.
///
/// # Errors
/// None in practice: every probe failure is reported inside the answer.
pub fn run(ctx: &Context) -> Result<serde_json::Value, AgentError> {
    let services = vec![
        service(ctx, "nginx", &["nginx"]),
        service(
            ctx,
            "php-fpm",
            &["php-fpm8.2", "php-fpm8.3", "php-fpm8.4", "php-fpm"],
        ),
        service(ctx, "mariadb", &["mariadbd", "mysqld"]),
    ];
    let mem = read("/proc/meminfo");
    let total = meminfo_kb(&mem, "MemTotal:").unwrap_or(0) * 1024;
    let available = meminfo_kb(&mem, "MemAvailable:").unwrap_or(0) * 1024;
    let load: Vec<f64> = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let disk = disk(ctx);
    let mut issues = Vec::new();
    for s in &services {
        if s["status"] == "stopped" {
            issues.push(format!(
                "{} is not running",
                s["name"].as_str().unwrap_or("?")
            ));
        }
    }
    if disk["percent_used"].as_u64().is_some_and(|p| p > 90) {
        issues.push("disk more than 90 % full".to_owned());
    }
    if total > 0 && available * 10 < total {
        issues.push("less than 10 % of memory available".to_owned());
    }
    #[expect(clippy::cast_precision_loss, reason = "a CPU count")]
    if load.first().is_some_and(|l| *l > cpus as f64) {
        issues.push("load above the number of CPUs".to_owned());
    }
    Ok(json!({
        "healthy": issues.is_empty(),
        "services": services,
        "disk": disk,
        "memory": {"total_bytes": total, "available_bytes": available},
        "load": {"load_1m": load.first(), "load_5m": load.get(1), "load_15m": load.get(2), "cpu_count": cpus},
        "issues": issues,
    }))
}

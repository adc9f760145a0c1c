//! `cargo xtask check-boundaries`: the dependency rules of docs/ARCHITECTURE.md §3, checked on
//! the resolved crate graph of `cargo metadata`.
//!
//! - Context crates (and the kernel, the job runner, the agent protocol) never depend, even
//!   transitively, on a web framework, database driver, Redis, SSH, HTTP client, OpenAPI or
//!   Stripe crate.
//! - Context crates form a DAG: each may use only the contexts upstream of it.
//! - Adapter crates use the kernel and contexts, never an app, the job runner or another adapter.
//! - The contract-test crate is only ever a dev-dependency.
//! - Every workspace crate has a rule: a new crate must be classified here.

use anyhow::Context as _;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Crates whose presence in a pure crate's normal dependency tree is a violation.
const FORBIDDEN: &[&str] = &[
    "actix",
    "sqlx",
    "redis",
    "deadpool",
    "openssh",
    "reqwest",
    "hyper",
    "utoipa",
    "async-stripe",
    "stripe",
    "tokio-postgres",
    "rusqlite",
    "libsqlite3-sys",
    "diesel",
    "russh",
    "lettre",
];

const KERNEL: &str = "chom-kernel";

/// Pure crates and the workspace crates each may depend on directly.
const PURE: &[(&str, &[&str])] = &[
    (KERNEL, &[]),
    ("chom-auth", &[KERNEL]),
    ("chom-tenancy", &[KERNEL, "chom-auth"]),
    ("chom-team", &[KERNEL, "chom-auth", "chom-tenancy"]),
    ("chom-infrastructure", &[KERNEL, "chom-agent-protocol"]),
    (
        "chom-site-hosting",
        &[
            KERNEL,
            "chom-auth",
            "chom-tenancy",
            "chom-team",
            "chom-infrastructure",
            "chom-agent-protocol",
        ],
    ),
    (
        "chom-backup",
        &[
            KERNEL,
            "chom-auth",
            "chom-tenancy",
            "chom-team",
            "chom-infrastructure",
            "chom-site-hosting",
        ],
    ),
    ("chom-agent-protocol", &[KERNEL]),
    ("chom-jobs", &[KERNEL]),
];

/// Adapter crates: one technology each.
const ADAPTERS: &[&str] = &[
    "chom-postgres",
    "chom-sqlite",
    "chom-redis",
    "chom-ssh",
    "chom-observability",
    "chom-stripe",
    "chom-mail",
];

/// Crates that wire everything (apps, developer tooling) or exist for tests.
const WIRING: &[&str] = &[
    "chom-api",
    "chom-worker",
    "chom-agent",
    "xtask",
    "chom-bench",
    "chom-e2e",
];
const TEST_ONLY: &str = "chom-contract-tests";
const TEST_SUPPORT: &str = "chom-test-support";

fn is_forbidden(name: &str) -> bool {
    FORBIDDEN.iter().any(|f| {
        name == *f || name.starts_with(&format!("{f}-")) || name.starts_with(&format!("{f}_"))
    })
}

struct Graph {
    names: BTreeMap<String, String>,
    members: BTreeSet<String>,
    /// (from, to, kinds) where kinds holds "normal", "dev", "build".
    edges: BTreeMap<String, Vec<(String, BTreeSet<String>)>>,
}

impl Graph {
    fn parse(meta: &Value) -> anyhow::Result<Self> {
        let mut names = BTreeMap::new();
        for p in meta["packages"].as_array().context("packages")? {
            names.insert(
                p["id"].as_str().context("package id")?.to_owned(),
                p["name"].as_str().context("package name")?.to_owned(),
            );
        }
        let members = meta["workspace_members"]
            .as_array()
            .context("workspace_members")?
            .iter()
            .filter_map(Value::as_str)
            .map(ToOwned::to_owned)
            .collect();
        let mut edges = BTreeMap::new();
        for node in meta["resolve"]["nodes"]
            .as_array()
            .context("resolve.nodes (run cargo metadata without --no-deps)")?
        {
            let from = node["id"].as_str().context("node id")?.to_owned();
            let mut out = Vec::new();
            for dep in node["deps"].as_array().into_iter().flatten() {
                let to = dep["pkg"].as_str().context("dep pkg")?.to_owned();
                let kinds = dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| k["kind"].as_str().unwrap_or("normal").to_owned())
                    .collect();
                out.push((to, kinds));
            }
            edges.insert(from, out);
        }
        Ok(Self {
            names,
            members,
            edges,
        })
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }

    /// Normal dependencies of `id`, directly.
    fn normal_deps(&self, id: &str) -> impl Iterator<Item = &String> {
        self.edges
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(_, kinds)| kinds.contains("normal"))
            .map(|(to, _)| to)
    }

    /// The first forbidden crate reachable through normal dependencies, with its path.
    fn forbidden_path(&self, start: &str) -> Option<Vec<String>> {
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut seen = BTreeSet::from([start]);
        while let Some(id) = queue.pop_front() {
            for dep in self.normal_deps(id) {
                if !seen.insert(dep.as_str()) {
                    continue;
                }
                parent.insert(dep.as_str(), id);
                if is_forbidden(self.name(dep)) {
                    let mut path = vec![self.name(dep).to_owned()];
                    let mut cur = id;
                    while cur != start {
                        path.push(self.name(cur).to_owned());
                        cur = parent.get(cur).copied().unwrap_or(start);
                    }
                    path.push(self.name(start).to_owned());
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(dep.as_str());
            }
        }
        None
    }
}

/// The violations in a `cargo metadata` document.
///
/// # Errors
/// The document is not `cargo metadata` output.
pub fn violations(meta: &Value) -> anyhow::Result<Vec<String>> {
    let g = Graph::parse(meta)?;
    let mut found = Vec::new();
    for member in &g.members {
        let name = g.name(member).to_owned();
        let internal_normal: Vec<String> = g
            .normal_deps(member)
            .filter(|d| g.members.contains(*d))
            .map(|d| g.name(d).to_owned())
            .collect();
        if let Some((_, allowed)) = PURE.iter().find(|(n, _)| *n == name) {
            if let Some(path) = g.forbidden_path(member) {
                found.push(format!(
                    "{name} must not depend on {}: {}",
                    path.last().map_or("?", String::as_str),
                    path.join(" -> ")
                ));
            }
            for dep in &internal_normal {
                if !allowed.contains(&dep.as_str()) {
                    found.push(format!(
                        "{name} must not depend on {dep} (allowed: {})",
                        if allowed.is_empty() {
                            "none".to_owned()
                        } else {
                            allowed.join(", ")
                        }
                    ));
                }
            }
        } else if ADAPTERS.contains(&name.as_str()) {
            for dep in &internal_normal {
                let ok = dep == KERNEL || PURE.iter().any(|(n, _)| n == dep && *n != "chom-jobs");
                if !ok {
                    found.push(format!("adapter {name} must not depend on {dep} (adapters use the kernel and contexts only)"));
                }
            }
        } else if !WIRING.contains(&name.as_str()) && name != TEST_ONLY && name != TEST_SUPPORT {
            found.push(format!(
                "{name} has no dependency rule: classify it in xtask/src/boundaries.rs"
            ));
        }
        if internal_normal.iter().any(|d| d == TEST_ONLY) {
            found.push(format!(
                "{name} depends on {TEST_ONLY} outside [dev-dependencies]"
            ));
        }
    }
    Ok(found)
}

/// Runs the check on the workspace (or on a saved metadata file).
///
/// # Errors
/// Violations were found, or `cargo metadata` failed.
pub fn run(metadata: Option<&Path>) -> anyhow::Result<()> {
    let json = match metadata {
        Some(path) => std::fs::read_to_string(path).with_context(|| path.display().to_string())?,
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = std::process::Command::new(cargo)
                .args(["metadata", "--format-version", "1", "--locked"])
                .current_dir(crate::util::root()?)
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout)?
        }
    };
    let found = violations(&serde_json::from_str(&json)?)?;
    if found.is_empty() {
        println!("check-boundaries: every dependency edge is allowed");
        return Ok(());
    }
    for v in &found {
        eprintln!("boundary violation: {v}");
    }
    anyhow::bail!("{} boundary violation(s)", found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(edges: &[(&str, &str, &str)]) -> Value {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for (a, b, _) in edges {
            names.insert(a);
            names.insert(b);
        }
        let members: Vec<_> = names
            .iter()
            .filter(|n| n.starts_with("chom-"))
            .map(|n| format!("{n} 0.1.0"))
            .collect();
        let packages: Vec<_> = names
            .iter()
            .map(|n| serde_json::json!({"id": format!("{n} 0.1.0"), "name": n}))
            .collect();
        let nodes: Vec<_> = names
            .iter()
            .map(|n| {
                let deps: Vec<_> = edges
                    .iter()
                    .filter(|(a, _, _)| a == n)
                    .map(|(_, b, k)| serde_json::json!({"pkg": format!("{b} 0.1.0"), "dep_kinds": [{"kind": if *k == "normal" { Value::Null } else { Value::from(*k) }}]}))
                    .collect();
                serde_json::json!({"id": format!("{n} 0.1.0"), "deps": deps})
            })
            .collect();
        serde_json::json!({"packages": packages, "workspace_members": members, "resolve": {"nodes": nodes}})
    }

    #[test]
    fn a_clean_graph_passes() {
        let m = meta(&[
            ("chom-tenancy", "chom-kernel", "normal"),
            ("chom-tenancy", "chom-auth", "normal"),
            ("chom-postgres", "chom-tenancy", "normal"),
            ("chom-postgres", "sqlx", "normal"),
            ("chom-postgres", "chom-contract-tests", "dev"),
            ("chom-tenancy", "tokio", "dev"),
        ]);
        assert_eq!(violations(&m).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_transitive_driver_dependency_of_a_context_is_reported_with_its_path() {
        let m = meta(&[
            ("chom-tenancy", "chom-kernel", "normal"),
            ("chom-kernel", "helper", "normal"),
            ("helper", "sqlx-core", "normal"),
        ]);
        let v = violations(&m).unwrap();
        assert!(
            v.iter()
                .any(|v| v.contains("chom-tenancy -> chom-kernel -> helper -> sqlx-core")),
            "{v:?}"
        );
    }

    #[test]
    fn upstream_edges_and_adapter_edges_are_checked() {
        let m = meta(&[
            ("chom-auth", "chom-tenancy", "normal"),
            ("chom-redis", "chom-postgres", "normal"),
            ("chom-api", "chom-contract-tests", "normal"),
            ("chom-newthing", "chom-kernel", "normal"),
        ]);
        let v = violations(&m).unwrap().join("\n");
        assert!(
            v.contains("chom-auth must not depend on chom-tenancy"),
            "{v}"
        );
        assert!(
            v.contains("adapter chom-redis must not depend on chom-postgres"),
            "{v}"
        );
        assert!(
            v.contains("chom-api depends on chom-contract-tests outside"),
            "{v}"
        );
        assert!(v.contains("chom-newthing has no dependency rule"), "{v}");
    }
}

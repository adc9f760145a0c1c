//! `cargo xtask check-boundaries`: the dependency rules of docs/ARCHITECTURE.md §3, checked on
//! the resolved crate graph of `cargo metadata`.
//!
//! - Context crates (and the kernel, the job runner, the agent protocol) never depend, even
//!   transitively, on a web framework, database driver, Redis, SSH, HTTP client, OpenAPI or
//!   Stripe crate.
//! - Context crates form a DAG: each may use only the contexts upstream of it.
//! - Adapter crates use the kernel and contexts, never an app, the job runner or another adapter.
//! - The composition root (`chom-runtime`) wires contexts, adapters and the job runner, and
//!   never reaches a web framework or the OpenAPI crates (the worker builds without actix).
//! - Apps depend on the runtime, never on another app (not even as a dev-dependency);
//!   `chom-worker` reaches no web framework; tooling (`xtask`, benches, end-to-end tests) links
//!   no app either (it runs their binaries).
//! - Build scripts read only their own crate, except the declared edges in `BUILD_READS`, and no
//!   workspace crate is a build-dependency.
//! - The contract-test crate is only ever a dev-dependency.
//! - No import circle between the files of a crate (`imports`).
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
            "chom-agent-protocol",
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
    "chom-restic-server",
    "chom-restic",
];

/// The composition root: settings, wiring, job registry and schedules, telemetry.
const RUNTIME: &str = "chom-runtime";

/// Crates the runtime (and so the worker) must not reach: the HTTP app's own stack.
const HTTP_ONLY: &[&str] = &["actix", "utoipa", "hyper", "axum", "warp"];

/// Executables: they depend on the runtime, never on each other.
const APPS: &[&str] = &["chom-api", "chom-worker", "chom-agent"];

/// Developer tooling and cross-binary tests: they run the apps' binaries, never link them.
const TOOLING: &[&str] = &["xtask", "chom-bench", "chom-e2e"];

/// Files outside its own directory a build script may read (relative to the crate). Both
/// storage adapters embed the migrations (`sqlx::migrate!`); the SQLite adapter also translates
/// the shared SQL repositories of the PostgreSQL one (ADR 0006).
const BUILD_READS: &[(&str, &[&str])] = &[
    ("chom-postgres", &["../../migrations"]),
    (
        "chom-sqlite",
        &["../chom-postgres/src/", "../../migrations"],
    ),
];

const TEST_ONLY: &str = "chom-contract-tests";
const TEST_SUPPORT: &str = "chom-test-support";

fn matches_family(families: &[&str], name: &str) -> bool {
    families.iter().any(|f| {
        name == *f || name.starts_with(&format!("{f}-")) || name.starts_with(&format!("{f}_"))
    })
}

fn is_forbidden(name: &str) -> bool {
    matches_family(FORBIDDEN, name)
}

struct Graph {
    names: BTreeMap<String, String>,
    /// Build scripts by package id.
    build_scripts: BTreeMap<String, std::path::PathBuf>,
    members: BTreeSet<String>,
    /// (from, to, kinds) where kinds holds "normal", "dev", "build".
    edges: BTreeMap<String, Vec<(String, BTreeSet<String>)>>,
}

impl Graph {
    fn parse(meta: &Value) -> anyhow::Result<Self> {
        let mut names = BTreeMap::new();
        let mut build_scripts = BTreeMap::new();
        for p in meta["packages"].as_array().context("packages")? {
            let id = p["id"].as_str().context("package id")?.to_owned();
            let build = p["targets"].as_array().into_iter().flatten().find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "custom-build"))
            });
            if let Some(src) = build.and_then(|t| t["src_path"].as_str()) {
                build_scripts.insert(id.clone(), std::path::PathBuf::from(src));
            }
            names.insert(id, p["name"].as_str().context("package name")?.to_owned());
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
            build_scripts,
            members,
            edges,
        })
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }

    /// Normal dependencies of `id`, directly.
    fn normal_deps(&self, id: &str) -> impl Iterator<Item = &String> {
        self.deps_of_kind(id, "normal")
    }

    /// Direct dependencies of `id` of `kind` ("normal", "dev", "build").
    fn deps_of_kind<'a>(&'a self, id: &str, kind: &'a str) -> impl Iterator<Item = &'a String> {
        self.edges
            .get(id)
            .into_iter()
            .flatten()
            .filter(move |(_, kinds)| kinds.contains(kind))
            .map(|(to, _)| to)
    }

    /// The first forbidden crate reachable through normal dependencies, with its path.
    fn forbidden_path(&self, start: &str) -> Option<Vec<String>> {
        self.path_to(start, is_forbidden)
    }

    /// The first crate matching `bad` reachable through normal dependencies, with its path.
    fn path_to(&self, start: &str, bad: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut seen = BTreeSet::from([start]);
        while let Some(id) = queue.pop_front() {
            for dep in self.normal_deps(id) {
                if !seen.insert(dep.as_str()) {
                    continue;
                }
                parent.insert(dep.as_str(), id);
                if bad(self.name(dep)) {
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
        } else if name == RUNTIME {
            if let Some(path) = g.path_to(member, |n| matches_family(HTTP_ONLY, n)) {
                found.push(format!(
                    "{RUNTIME} must not reach the HTTP stack: {}",
                    path.join(" -> ")
                ));
            }
            for dep in &internal_normal {
                if APPS.contains(&dep.as_str()) || TOOLING.contains(&dep.as_str()) {
                    found.push(format!("{RUNTIME} must not depend on {dep}"));
                }
            }
        } else if APPS.contains(&name.as_str()) || TOOLING.contains(&name.as_str()) {
            let linked = g
                .deps_of_kind(member, "normal")
                .chain(g.deps_of_kind(member, "dev"))
                .map(|d| g.name(d).to_owned());
            for dep in linked.collect::<BTreeSet<_>>() {
                if APPS.contains(&dep.as_str()) {
                    found.push(format!(
                        "{name} must not depend on the app {dep} (apps share {RUNTIME}; tools run binaries)"
                    ));
                }
            }
            if name == "chom-worker"
                && let Some(path) = g.path_to(member, |n| matches_family(HTTP_ONLY, n))
            {
                found.push(format!(
                    "chom-worker must not reach the HTTP stack: {}",
                    path.join(" -> ")
                ));
            }
        } else if name != TEST_ONLY && name != TEST_SUPPORT {
            found.push(format!(
                "{name} has no dependency rule: classify it in xtask/src/boundaries.rs"
            ));
        }
        for dep in g.deps_of_kind(member, "build") {
            if g.members.contains(dep) {
                found.push(format!(
                    "{name} has the workspace crate {} as a build-dependency",
                    g.name(dep)
                ));
            }
        }
        if let Some(script) = g.build_scripts.get(member.as_str()) {
            found.extend(build_script_reads(&name, script));
        }
        if internal_normal.iter().any(|d| d == TEST_ONLY) {
            found.push(format!(
                "{name} depends on {TEST_ONLY} outside [dev-dependencies]"
            ));
        }
    }
    Ok(found)
}

/// Paths a build script names outside its crate that `BUILD_READS` does not declare.
fn build_script_reads(name: &str, script: &Path) -> Vec<String> {
    let Ok(source) = std::fs::read_to_string(script) else {
        return vec![format!(
            "{name}: cannot read its build script {}",
            script.display()
        )];
    };
    let allowed = BUILD_READS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[][..], |(_, a)| *a);
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.contains("../"))
        .filter(|literal| {
            let at = literal.find("../").unwrap_or(0);
            !allowed.iter().any(|a| literal[at..].starts_with(a))
        })
        .map(|literal| {
            format!(
                "{name}'s build script reads `{literal}` outside its crate: declare it in BUILD_READS (xtask/src/boundaries.rs) with the reason"
            )
        })
        .collect()
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
    let mut found = violations(&serde_json::from_str(&json)?)?;
    let root = crate::util::root()?;
    for cycle in crate::imports::cycles(&crate::imports::workspace_sources(&root)?) {
        found.push(format!(
            "import circle between files: {}",
            cycle.join(" -> ")
        ));
    }
    if found.is_empty() {
        println!(
            "check-boundaries: every dependency edge is allowed; no import circle between files"
        );
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

    #[test]
    fn apps_link_the_runtime_never_another_app_and_the_worker_never_the_http_stack() {
        let m = meta(&[
            ("chom-worker", "chom-runtime", "normal"),
            ("chom-worker", "chom-api", "normal"),
            ("chom-api", "chom-worker", "dev"),
            ("chom-runtime", "chom-kernel", "normal"),
            ("chom-runtime", "chom-postgres", "normal"),
            ("chom-runtime", "actix-web", "normal"),
            ("chom-bench", "chom-api", "normal"),
            ("chom-e2e", "chom-worker", "dev"),
            ("chom-e2e", "chom-test-support", "normal"),
        ]);
        let v = violations(&m).unwrap().join("\n");
        assert!(
            v.contains("chom-worker must not depend on the app chom-api"),
            "{v}"
        );
        assert!(
            v.contains("chom-api must not depend on the app chom-worker"),
            "{v}"
        );
        assert!(
            v.contains("chom-bench must not depend on the app chom-api"),
            "{v}"
        );
        assert!(
            v.contains("chom-e2e must not depend on the app chom-worker"),
            "{v}"
        );
        assert!(
            !v.contains("chom-e2e must not depend on chom-test-support"),
            "{v}"
        );
        assert!(
            v.contains("chom-runtime must not reach the HTTP stack: chom-runtime -> actix-web"),
            "{v}"
        );
        assert!(
            v.contains("chom-worker must not reach the HTTP stack: chom-worker -> "),
            "{v}"
        );
        let clean = meta(&[
            ("chom-worker", "chom-runtime", "normal"),
            ("chom-api", "chom-runtime", "normal"),
            ("chom-api", "actix-web", "normal"),
            ("chom-runtime", "chom-postgres", "normal"),
        ]);
        assert_eq!(violations(&clean).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn build_scripts_read_only_their_crate_or_a_declared_edge() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("build.rs");
        std::fs::write(
            &script,
            r#"fn main() { let _ = ("../chom-postgres/src/shared", "../../migrations/sqlite", "../chom-api/src/secret.rs"); }"#,
        )
        .unwrap();
        let v = build_script_reads("chom-sqlite", &script);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("../chom-api/src/secret.rs"), "{v:?}");
        assert_eq!(build_script_reads("chom-redis", &script).len(), 3);
    }
}

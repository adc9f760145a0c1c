//! No import circle between files: within each crate, the files (modules) that name each other
//! through `crate::…` or `super::…` paths must form a DAG, a child naming its own ancestors
//! aside (a parent module that re-exports its children is their index, not a peer). Doc
//! comments, comments and `#[cfg(test)]` code are ignored. Part of `cargo xtask check-boundaries`.

use std::collections::{BTreeMap, BTreeSet};

/// One source file: its crate directory, its path under `src/` without `.rs`, and its text.
pub struct Source {
    /// `crates/chom-kernel`.
    pub krate: String,
    /// `jobs/mod`, `lib`, `service/create`.
    pub rel: String,
    /// The file's text.
    pub text: String,
}

/// The module a file defines (`a/mod` and `a` both define `a`; `lib`/`main` the root).
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("lib" | "main" | "mod")
    ) {
        parts.pop();
    }
    parts
}

/// The `crate::a::b` and `super::c` paths of `text`, outside comments and test code.
fn paths(text: &str) -> Vec<(bool, Vec<String>)> {
    let code: String = text
        .lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let preceded = i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':');
        let start = if preceded {
            None
        } else if rest.starts_with(b"crate::") {
            Some((true, "crate::".len()))
        } else if rest.starts_with(b"super::") {
            Some((false, "super::".len()))
        } else {
            None
        };
        let Some((absolute, skip)) = start else {
            i += 1;
            continue;
        };
        let mut segs = if absolute {
            Vec::new()
        } else {
            vec!["super".to_owned()]
        };
        let mut j = i + skip;
        loop {
            let k = (j..bytes.len())
                .find(|&k| !is_ident(bytes[k]))
                .unwrap_or(bytes.len());
            if k == j {
                break;
            }
            // Identifiers are ASCII here: the bytes between j and k are whole characters.
            segs.push(String::from_utf8_lossy(&bytes[j..k]).into_owned());
            if bytes[k..].starts_with(b"::") {
                j = k + 2;
            } else {
                j = k;
                break;
            }
        }
        found.push((absolute, segs));
        i = j.max(i + 1);
    }
    found
}

/// The cycles between files, each as the sorted list of its files (`crate: rel`).
#[must_use]
pub fn cycles(sources: &[Source]) -> Vec<Vec<String>> {
    let mut by_crate: BTreeMap<&str, Vec<&Source>> = BTreeMap::new();
    for s in sources {
        by_crate.entry(s.krate.as_str()).or_default().push(s);
    }
    let mut found = Vec::new();
    for (krate, files) in by_crate {
        let modules: BTreeMap<Vec<String>, usize> = files
            .iter()
            .enumerate()
            .map(|(n, f)| (module_of(&f.rel), n))
            .collect();
        let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); files.len()];
        for (n, f) in files.iter().enumerate() {
            let me = module_of(&f.rel);
            for (absolute, mut segs) in paths(&f.text) {
                let mut base: Vec<String> = if absolute {
                    Vec::new()
                } else {
                    me[..me.len().saturating_sub(1)].to_vec()
                };
                if !absolute {
                    segs.remove(0);
                }
                while segs.first().is_some_and(|s| s == "super") {
                    base.pop();
                    segs.remove(0);
                }
                let target = (0..=segs.len()).rev().find_map(|k| {
                    let mut m = base.clone();
                    m.extend(segs[..k].iter().cloned());
                    modules.get(&m).map(|t| (m, *t))
                });
                if let Some((module, t)) = target
                    && t != n
                    && !me.starts_with(&module)
                {
                    edges[n].insert(t);
                }
            }
        }
        for component in strongly_connected(&edges) {
            if component.len() > 1 {
                let mut names: Vec<String> = component
                    .iter()
                    .map(|&n| format!("{krate}: src/{}.rs", files[n].rel))
                    .collect();
                names.sort();
                found.push(names);
            }
        }
    }
    found
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct Walk<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(w: &mut Walk<'_>, v: usize) {
        w.index[v] = Some(w.next);
        w.low[v] = w.next;
        w.next += 1;
        w.stack.push(v);
        w.on_stack[v] = true;
        for &t in w.edges[v].iter() {
            match w.index[t] {
                None => {
                    visit(w, t);
                    w.low[v] = w.low[v].min(w.low[t]);
                }
                Some(i) if w.on_stack[t] => w.low[v] = w.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(w.low[v]) == w.index[v] {
            let mut component = Vec::new();
            while let Some(t) = w.stack.pop() {
                w.on_stack[t] = false;
                component.push(t);
                if t == v {
                    break;
                }
            }
            w.out.push(component);
        }
    }
    let mut w = Walk {
        edges,
        index: vec![None; edges.len()],
        low: vec![0; edges.len()],
        stack: Vec::new(),
        on_stack: vec![false; edges.len()],
        next: 0,
        out: Vec::new(),
    };
    for v in 0..edges.len() {
        if w.index[v].is_none() {
            visit(&mut w, v);
        }
    }
    w.out
}

/// The tracked sources of the workspace's crates.
///
/// # Errors
/// git or a file could not be read.
pub fn workspace_sources(root: &std::path::Path) -> anyhow::Result<Vec<Source>> {
    let mut sources = Vec::new();
    for path in crate::util::tracked(root, &["*.rs"])? {
        let Some((krate, rel)) = path.split_once("/src/") else {
            continue;
        };
        let Some(rel) = rel.strip_suffix(".rs") else {
            continue;
        };
        let text = std::fs::read_to_string(root.join(&path))?;
        sources.push(Source {
            krate: krate.to_owned(),
            rel: rel.to_owned(),
            text,
        });
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(rel: &str, text: &str) -> Source {
        Source {
            krate: "crates/x".into(),
            rel: rel.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_circle_between_files_is_found_and_an_index_or_a_comment_is_not_one() {
        let tree = [
            src("lib", "pub mod a;\npub mod b;\npub mod c;\n"),
            src("a", "use crate::b::Thing;\n"),
            src("b", "use crate::c::{Other};\n"),
            src("c", "/// See [`crate::a::X`].\nfn f() { super::a::g(); }\n"),
            src(
                "c/d",
                "use super::super::lib_item;\nuse crate::c::Parent;\n",
            ),
            src("e/mod", "pub use self::f::F;\n"),
            src(
                "e/f",
                "use super::E;\n#[cfg(test)]\nmod tests { use crate::a::A; }\n",
            ),
        ];
        let found = cycles(&tree);
        assert_eq!(
            found,
            vec![vec![
                "crates/x: src/a.rs".to_owned(),
                "crates/x: src/b.rs".to_owned(),
                "crates/x: src/c.rs".to_owned(),
            ]]
        );
        let without_call = [
            src("a", "use crate::b::Thing;\n"),
            src("b", "use crate::c::{Other};\n"),
            src("c", "/// See [`crate::a::X`].\n"),
        ];
        assert!(cycles(&without_call).is_empty());
    }

    #[test]
    fn the_workspace_has_no_circle() {
        let root = crate::util::root().unwrap();
        let found = cycles(&workspace_sources(&root).unwrap());
        assert!(found.is_empty(), "{found:?}");
    }
}

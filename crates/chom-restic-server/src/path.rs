//! A request path, parsed into what it names: nothing outside the fixed layout of a restic
//! repository can be named (no `..`, no dot files, no other directories).

/// The kinds of file a repository holds besides its `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    Keys,
    Locks,
    Snapshots,
    Index,
}

impl Kind {
    pub(crate) const ALL: [Self; 5] = [
        Self::Data,
        Self::Keys,
        Self::Locks,
        Self::Snapshots,
        Self::Index,
    ];

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "data" => Self::Data,
            "keys" => Self::Keys,
            "locks" => Self::Locks,
            "snapshots" => Self::Snapshots,
            "index" => Self::Index,
            _ => return None,
        })
    }

    pub(crate) const fn dir(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Keys => "keys",
            Self::Locks => "locks",
            Self::Snapshots => "snapshots",
            Self::Index => "index",
        }
    }
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/{repo}/` (creation with `?create=true`).
    Repository,
    /// `/{repo}/config`.
    Config,
    /// `/{repo}/{kind}/`.
    List(Kind),
    /// `/{repo}/{kind}/{64 hex}`.
    File(Kind, String),
}

fn valid_repository(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A file name restic gives: the SHA-256 of the content, lowercase hex.
fn valid_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `(repository, target)` of a path such as `/site-1/data/ab…`, `None` for anything else.
pub(crate) fn parse(path: &str) -> Option<(String, Target)> {
    let rest = path.strip_prefix('/')?;
    let (repo, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_repository(repo) {
        return None;
    }
    let target = match rest.split('/').collect::<Vec<_>>().as_slice() {
        [""] => Target::Repository,
        ["config"] => Target::Config,
        [kind] | [kind, ""] => Target::List(Kind::parse(kind)?),
        [kind, id] if valid_id(id) => Target::File(Kind::parse(kind)?, (*id).to_owned()),
        _ => return None,
    };
    Some((repo.to_owned(), target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_repository_layout_can_be_named() {
        let id = "ab".repeat(32);
        assert_eq!(
            parse("/s1/"),
            Some(("s1".into(), Target::Repository)),
            "creation"
        );
        assert_eq!(parse("/s1"), Some(("s1".into(), Target::Repository)));
        assert_eq!(parse("/s1/config"), Some(("s1".into(), Target::Config)));
        assert_eq!(
            parse("/s1/data/"),
            Some(("s1".into(), Target::List(Kind::Data)))
        );
        assert_eq!(
            parse(&format!("/s1/locks/{id}")),
            Some(("s1".into(), Target::File(Kind::Locks, id.clone())))
        );
        for bad in [
            "",
            "/",
            "s1/config",
            "/../config",
            "/s1/../x/config",
            "/s1/data/..",
            "/s1/tmp/",
            "/s1/config/x",
            "/s.1/config",
            &format!("/s1/data/{}", "AB".repeat(32)),
            &format!("/s1/data/{id}/x"),
            &format!("/s1/data/ab/{id}"),
            &format!("/{}/config", "a".repeat(65)),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

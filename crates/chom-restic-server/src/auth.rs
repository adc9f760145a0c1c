//! Who may do what: a credential opens exactly one repository, append-only or fully.

use data_encoding::BASE64;

/// What a credential may do in its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read, list and add; delete only locks; never overwrite. What a server's agent gets: a
    /// compromised server can add backups but not destroy the ones it already made.
    AppendOnly,
    /// Everything restic does, deletions included (`forget`, `prune`): the control plane's.
    Full,
}

/// A credential's rights: one repository, one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The repository's name (the first path segment).
    pub repository: String,
    /// What the credential may do there.
    pub mode: Mode,
}

/// Checks a request's HTTP basic credential.
pub trait Authenticator: Send + Sync + 'static {
    /// The grant of `user`/`password`, `None` when they open nothing. Must compare in constant
    /// time.
    fn authenticate(&self, user: &str, password: &str) -> Option<Grant>;
}

/// `user` and `password` of an `Authorization: Basic …` header value.
pub(crate) fn basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?.trim();
    let decoded = BASE64.decode(encoded.as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded_and_anything_else_is_not() {
        assert_eq!(
            basic("Basic dXNlcjpwYTpzcw=="),
            Some(("user".into(), "pa:ss".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic dXNlcg==", ""] {
            assert_eq!(basic(bad), None, "{bad}");
        }
    }
}

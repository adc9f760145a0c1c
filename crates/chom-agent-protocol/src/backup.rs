//! The backup commands' parameters and answers: a site's files and database as snapshots in
//! its restic repository (ADR 0008), listed, and restored.
//!
//! One backup is up to three snapshots tagged `chom-backup=<backup id>`: `part=files` (the
//! site's tree), `part=database` (the `mariadb-dump` stream) and `part=manifest` (every file's
//! SHA-256 and size, each table's row count: what a verified restore compares with).

use crate::names::Domain;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The tag every snapshot of backup `backup_id` carries (see the module's documentation).
#[must_use]
pub fn backup_tag(backup_id: &str) -> String {
    format!("chom-backup={backup_id}")
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Files and database.
    Full,
    /// The site's tree only.
    Files,
    /// The database only.
    Database,
}

impl BackupKind {
    /// Whether the site's tree is part of it.
    #[must_use]
    pub const fn has_files(self) -> bool {
        matches!(self, Self::Full | Self::Files)
    }

    /// Whether the database is part of it.
    #[must_use]
    pub const fn has_database(self) -> bool {
        matches!(self, Self::Full | Self::Database)
    }

    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Full, Self::Files, Self::Database];

    /// The kind spelled `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// `full`, `files`, `database`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Files => "files",
            Self::Database => "database",
        }
    }
}

/// An identifier the control plane gives (a backup's or a restore's id): 1 to 64 of
/// `[a-z0-9-]`, so it can be a tag, a file-name part and a database-name suffix as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    /// Checks `s`.
    ///
    /// # Errors
    /// Outside the grammar.
    pub fn parse(s: &str) -> Result<Self, String> {
        if (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("`{s}` is not 1 to 64 of [a-z0-9-]"))
        }
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The environment variables restic may be given (S3 credentials); anything else is refused.
pub const REPOSITORY_ENVIRONMENT: [&str; 4] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
];

/// How to open a site's repository. Secret: its `Debug` shows none of it, and the agent hands
/// the location and password to restic through pipes (never argv).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryAccess {
    /// restic's repository string: `rest:https://<user>:<credential>@host/<repo>/`,
    /// `s3:https://host/bucket/prefix`, or a directory.
    pub location: String,
    /// The repository's password.
    pub password: String,
    /// Environment for restic: only the names of [`REPOSITORY_ENVIRONMENT`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

impl std::fmt::Debug for RepositoryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryAccess")
            .field("location", &"[redacted]")
            .field("password", &"[redacted]")
            .field("environment", &self.environment.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `backup.create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupCreate {
    /// The site.
    pub domain: Domain,
    /// The control plane's id of the backup: its snapshots' tag. Repeating the command with the
    /// same id completes what is missing and redoes nothing (after a crash, for instance).
    pub backup_id: Tag,
    /// What to back up.
    pub kind: BackupKind,
    /// Directories of the site's tree left out (caches), relative to it: `wp-content/cache`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to write.
    pub repository: RepositoryAccess,
}

/// `backup.list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupList {
    /// The site.
    pub domain: Domain,
    /// Where its backups are.
    pub repository: RepositoryAccess,
}

/// `backup.restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRestore {
    /// The site restored into (it exists on this server).
    pub domain: Domain,
    /// The backup restored.
    pub backup_id: Tag,
    /// The control plane's id of this restore: its staging names. Repeating the command with
    /// the same id resumes it.
    pub restore_id: Tag,
    /// What to restore (what the backup holds of it).
    pub kind: BackupKind,
    /// Only report what would change.
    #[serde(default)]
    pub dry_run: bool,
    /// Where the backup is.
    pub repository: RepositoryAccess,
}

/// One snapshot of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// `files`, `database` or `manifest`.
    pub part: String,
    /// restic's snapshot id.
    pub snapshot: String,
}

/// `backup.create`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCreated {
    /// The backup's snapshots.
    pub parts: Vec<Part>,
    /// Files in the tree backed up.
    pub file_count: u64,
    /// Bytes of the files and the dump.
    pub total_bytes: u64,
    /// Bytes this backup added to the repository (after deduplication and compression).
    pub added_bytes: u64,
    /// Rows of each table, as dumped.
    pub tables: BTreeMap<String, u64>,
    /// SHA-256 of the manifest stored in the `manifest` part.
    pub manifest_sha256: String,
}

impl crate::Answer for BackupCreated {
    const COMMAND: &'static str = "backup.create";
}

/// One backup found in a repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedBackup {
    /// Its id.
    pub backup_id: String,
    /// Its snapshots.
    pub parts: Vec<Part>,
    /// When its first snapshot was taken (RFC 3339).
    pub time: String,
}

/// `backup.list`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupListed {
    /// The backups, oldest first.
    pub backups: Vec<ListedBackup>,
}

impl crate::Answer for BackupListed {
    const COMMAND: &'static str = "backup.list";
}

/// What a restore changes (or would change) in the site's tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeChanges {
    /// Files the backup has and the site does not.
    pub added: u64,
    /// Files both have, with another size or time.
    pub changed: u64,
    /// Files the site has and the backup does not (removed by the restore).
    pub removed: u64,
    /// Up to 100 of the paths, for people.
    pub sample: Vec<String>,
}

/// `backup.restore`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRestored {
    /// Whether it only reported.
    pub dry_run: bool,
    /// The tree's changes (when files are restored).
    pub files: Option<TreeChanges>,
    /// Rows of each table restored (or, in a dry run, in the backup).
    pub tables: BTreeMap<String, u64>,
}

impl crate::Answer for BackupRestored {
    const COMMAND: &'static str = "backup.restore";
}

/// The manifest stored with each backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The backup's id.
    pub backup_id: String,
    /// What it holds.
    pub kind: Option<BackupKind>,
    /// The directory the `files` part was taken of (its path inside the snapshot).
    pub files_root: Option<String>,
    /// The snapshots of the backup's data (`files`, `database`).
    pub parts: Vec<Part>,
    /// Every regular file of the tree, by path relative to it, sorted.
    pub files: Vec<ManifestFile>,
    /// The database part, when there is one.
    pub database: Option<ManifestDatabase>,
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative path.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The database of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDatabase {
    /// The dump's file name in the `database` snapshot.
    pub file: String,
    /// The dump's SHA-256.
    pub sha256: String,
    /// Rows of each table in the dump.
    pub tables: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_plain_and_repository_secrets_never_print() {
        assert!(Tag::parse("0193a2b4-7c1d-7e2f-8a9b-0c1d2e3f4a5b").is_ok());
        for bad in ["", "A", "a b", "a/b", "../x", &"a".repeat(65), "a\n"] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
        let access = RepositoryAccess {
            location: "rest:https://site:hunter2@backup.example/site/".into(),
            password: "correct horse".into(),
            environment: BTreeMap::from([("AWS_SECRET_ACCESS_KEY".into(), "s3cr3t".into())]),
        };
        let shown = format!("{access:?}");
        for secret in ["hunter2", "correct horse", "s3cr3t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}

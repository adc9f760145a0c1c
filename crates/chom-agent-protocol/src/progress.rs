//! How far a long command got, told before its answer.
//!
//! `backup.create` and `backup.restore` write, on the same stdout as their answer and before
//! it, lines of the form `{"progress":{…}}`, each a [`Progress`]. The control plane reads the
//! lines in order: a progress line ([`Progress::is_line`]) updates the operation, the first
//! other line is the answer. A progress line it cannot read (a newer agent's) is skipped, never
//! taken for the answer; fields it does not know are ignored. What a progress line says is
//! only shown to people; nothing is decided on it.

use serde::{Deserialize, Serialize};

/// How far a command got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// What it is doing: `files` (reading the site's tree), `database` (the dump); for a
    /// restore, the step it is taking (`restoring_files`, `loading_database`,
    /// `checking_packs`, `switching`).
    pub phase: String,
    /// Files dealt with so far in this phase.
    pub files: u64,
    /// Bytes read or written so far in this phase.
    pub bytes: u64,
    /// Files the phase should deal with in all, when known (a backup expects as many as the
    /// previous backup held: an estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_expected: Option<u64>,
}

/// The longest phase name kept (a longer one is cut: it is only shown).
const PHASE_CHARS: usize = 32;

#[derive(Serialize, Deserialize)]
struct Line {
    progress: Progress,
}

impl Progress {
    /// The line that carries it (without its line break).
    #[must_use]
    pub fn line(&self) -> String {
        serde_json::to_string(&Line {
            progress: self.clone(),
        })
        .unwrap_or_default()
    }

    /// Whether a line of the agent's stdout is a progress line (the answer never is: it
    /// begins with `{"ok"`).
    #[must_use]
    pub fn is_line(line: &str) -> bool {
        line.trim_start().starts_with(r#"{"progress""#)
    }

    /// The progress a line of the agent's stdout tells; `None` for the answer, and for a
    /// progress line that cannot be read.
    #[must_use]
    pub fn from_line(line: &str) -> Option<Self> {
        if !Self::is_line(line) {
            return None;
        }
        let line = line.trim();
        let Line { mut progress } = serde_json::from_str(line).ok()?;
        if progress.phase.chars().count() > PHASE_CHARS {
            progress.phase = progress.phase.chars().take(PHASE_CHARS).collect();
        }
        Some(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_come_before_the_answer_and_are_told_apart_from_it() {
        let p = Progress {
            phase: "files".into(),
            files: 3,
            bytes: 4096,
            files_expected: Some(10),
        };
        assert_eq!(
            p.line(),
            r#"{"progress":{"phase":"files","files":3,"bytes":4096,"files_expected":10}}"#
        );
        assert_eq!(Progress::from_line(&format!("{}\n", p.line())), Some(p));
        let answer = crate::Response::ok(serde_json::json!({"progress": 1}));
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(Progress::from_line(&text), None, "the answer");
        assert!(!Progress::is_line(&text));
        for other in ["", "dump", r#"{"ok":true,"protocol":1}"#] {
            assert!(!Progress::is_line(other), "{other}");
            assert_eq!(Progress::from_line(other), None, "{other}");
        }
        // Progress lines that cannot be read: skipped, never the answer.
        for unreadable in [
            r#"{"progress":{"phase":"files"}}"#,
            r#"{"progress":{"phase":"files","files":-1,"bytes":2}}"#,
            r#"{"progress":"half"}"#,
        ] {
            assert!(Progress::is_line(unreadable), "{unreadable}");
            assert_eq!(Progress::from_line(unreadable), None, "{unreadable}");
        }
        // A newer agent's fields are ignored.
        let newer = Progress::from_line(
            r#"{"progress":{"phase":"files","files":1,"bytes":2,"rate":3},"eta":4}"#,
        );
        assert_eq!(newer.map(|p| (p.files, p.bytes)), Some((1, 2)));
        let long = Progress {
            phase: "x".repeat(1000),
            ..Progress::default()
        };
        let cut = Progress::from_line(&long.line()).unwrap();
        assert_eq!(cut.phase.len(), PHASE_CHARS);
    }
}

//! Walking a chain: the pure rule that says where it breaks.

use chom_kernel::audit::{AuditEntry, GENESIS, link_hash};
use uuid::Uuid;

/// Why a chain is broken at an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The row's content does not match its hash: it was edited.
    Edited,
    /// The row does not link to the previous one: an entry before it was removed, or rows
    /// were reordered.
    Unlinked,
    /// The numbering jumps: entries are missing before this one.
    Missing,
    /// The chain ends before its recorded head: its newest entries were removed (or the head
    /// was changed).
    Truncated,
}

impl BreakKind {
    /// Stable spelling for the API and the CLI.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Edited => "edited",
            Self::Unlinked => "unlinked",
            Self::Missing => "missing",
            Self::Truncated => "truncated",
        }
    }
}

/// The first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The number the entry should have (where the chain stops being trustworthy).
    pub seq: i64,
    /// The row found there, if any.
    pub entry_id: Option<Uuid>,
    /// Why.
    pub kind: BreakKind,
}

/// Walks a chain entry by entry, in storage order by number.
#[derive(Debug, Clone)]
pub struct Walker {
    expected_seq: i64,
    prev_hash: String,
    broken: Option<Break>,
}

impl Default for Walker {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            broken: None,
        }
    }
}

impl Walker {
    /// Takes the next entry; false once the chain is broken (stop reading).
    pub fn push(&mut self, e: &AuditEntry) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let kind = if e.seq != self.expected_seq {
            Some(BreakKind::Missing)
        } else if e.prev_hash != self.prev_hash {
            Some(BreakKind::Unlinked)
        } else if link_hash(e) != e.hash {
            Some(BreakKind::Edited)
        } else {
            None
        };
        if let Some(kind) = kind {
            self.broken = Some(Break {
                seq: self.expected_seq,
                entry_id: Some(e.id),
                kind,
            });
            return false;
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&e.hash);
        true
    }

    /// Entries checked so far (all good).
    #[must_use]
    pub fn checked(&self) -> i64 {
        self.expected_seq - 1
    }

    /// The verdict once every entry was pushed, against the recorded head.
    ///
    /// # Errors
    /// The first break.
    pub fn finish(self, head: Option<&(i64, String)>) -> Result<i64, Break> {
        if let Some(b) = self.broken {
            return Err(b);
        }
        let checked = self.checked();
        match head {
            Some((seq, hash)) if *seq != checked || *hash != self.prev_hash => Err(Break {
                seq: checked + 1,
                entry_id: None,
                kind: BreakKind::Truncated,
            }),
            None if checked > 0 => Err(Break {
                seq: checked + 1,
                entry_id: None,
                kind: BreakKind::Truncated,
            }),
            _ => Ok(checked),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed assertion
    use super::*;
    use chom_kernel::audit::{Actor, AuditEvent};

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map_or(GENESIS.to_owned(), |e| e.hash.clone());
            let event = AuditEvent::new(&Actor::system(), "x.y", "x", seq);
            out.push(AuditEntry::link(&event, Uuid::now_v7(), seq, &prev));
        }
        out
    }

    fn verdict(entries: &[AuditEntry], head: Option<(i64, String)>) -> Result<i64, Break> {
        let mut w = Walker::default();
        for e in entries {
            if !w.push(e) {
                break;
            }
        }
        w.finish(head.as_ref())
    }

    fn head(entries: &[AuditEntry]) -> Option<(i64, String)> {
        entries.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verdict(&c, head(&c)), Ok(5));
        assert_eq!(verdict(&[], None), Ok(0));
    }

    #[test]
    fn each_kind_of_tampering_is_found_at_its_row() {
        let c = chain(6);
        let h = head(&c);
        let mut edited = c.clone();
        edited[2].action = "x.z".into();
        assert_eq!(verdict(&edited, h.clone()).unwrap_err().seq, 3);
        assert_eq!(
            verdict(&edited, h.clone()).unwrap_err().kind,
            BreakKind::Edited
        );

        let mut deleted = c.clone();
        deleted.remove(3);
        let b = verdict(&deleted, h.clone()).unwrap_err();
        assert_eq!((b.seq, b.kind), (4, BreakKind::Missing));

        // Swapped contents, numbers kept in place (what a row swap in the table looks like
        // when read in number order).
        let mut swapped = c.clone();
        let (a, b) = (swapped[1].clone(), swapped[4].clone());
        swapped[1] = AuditEntry { seq: 2, ..b };
        swapped[4] = AuditEntry { seq: 5, ..a };
        let b = verdict(&swapped, h.clone()).unwrap_err();
        assert_eq!((b.seq, b.kind), (2, BreakKind::Unlinked));

        let b = verdict(&c[..5], h).unwrap_err();
        assert_eq!((b.seq, b.kind), (6, BreakKind::Truncated));
        let b = verdict(&c, None).unwrap_err();
        assert_eq!(b.kind, BreakKind::Truncated);
    }
}

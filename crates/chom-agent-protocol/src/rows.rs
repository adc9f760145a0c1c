//! Counting each table's rows in a `mariadb-dump` stream as it passes, so the counts recorded
//! with a backup are the dump's own (the same consistent snapshot), not a second query's; the
//! agent counts when it backs up, the control plane again when it verifies.
//!
//! The dump's lines that matter are `CREATE TABLE \`t\` (` (a table, maybe empty) and
//! `INSERT INTO \`t\` VALUES (…),(…);` (extended inserts: one tuple per row). Strings are
//! single-quoted with backslash escapes, so parentheses inside them are not tuples.

use std::collections::BTreeMap;

const INSERT: &[u8] = b"INSERT INTO `";
const CREATE: &[u8] = b"CREATE TABLE `";
/// A line start longer than this is not one of the two prefixes plus a table name.
const PREFIX_MAX: usize = 256;

#[derive(Debug)]
enum State {
    /// At the start of a line, collecting its first bytes.
    Start,
    /// In a line that does not matter, until its end.
    Skip,
    /// In an insert's values.
    Values {
        table: String,
        depth: u32,
        quoted: bool,
        escaped: bool,
    },
}

/// Rows per table of the dump fed so far.
#[derive(Debug)]
pub struct RowCounter {
    tables: BTreeMap<String, u64>,
    state: State,
    line: Vec<u8>,
}

impl Default for RowCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl RowCounter {
    /// An empty count.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tables: BTreeMap::new(),
            state: State::Start,
            line: Vec::new(),
        }
    }

    /// The counts.
    #[must_use]
    pub fn finish(self) -> BTreeMap<String, u64> {
        self.tables
    }

    /// Reads the next bytes of the dump.
    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            self.byte(b);
        }
    }

    /// What the line collected so far is: `Some(new state)` once known.
    fn classify(&mut self) -> Option<State> {
        let line = &self.line;
        let could_be = |p: &[u8]| {
            let n = line.len().min(p.len());
            line[..n] == p[..n]
        };
        if !could_be(INSERT) && !could_be(CREATE) || line.len() > PREFIX_MAX {
            return Some(State::Skip);
        }
        for (prefix, insert) in [(INSERT, true), (CREATE, false)] {
            let Some(rest) = line.strip_prefix(prefix) else {
                continue;
            };
            // The name ends at a backquote that is not doubled (`` is one inside a name).
            let mut name = Vec::new();
            let mut i = 0;
            let end = loop {
                match rest.get(i) {
                    None => return None, // The name goes on.
                    Some(b'`') => match rest.get(i + 1) {
                        None => return None,
                        Some(b'`') => {
                            name.push(b'`');
                            i += 2;
                        }
                        Some(_) => break i,
                    },
                    Some(&c) => {
                        name.push(c);
                        i += 1;
                    }
                }
            };
            let table = String::from_utf8_lossy(&name).into_owned();
            let after = &rest[end..];
            if insert {
                // `VALUES` is followed by a space, or (MariaDB 10.11) by a newline and one
                // tuple per line.
                if after.len() < b"` VALUES".len() {
                    return None;
                }
                if after.starts_with(b"` VALUES") {
                    self.tables.entry(table.clone()).or_insert(0);
                    return Some(State::Values {
                        table,
                        depth: 0,
                        quoted: false,
                        escaped: false,
                    });
                }
                return Some(State::Skip);
            }
            self.tables.entry(table).or_insert(0);
            return Some(State::Skip);
        }
        None
    }

    fn byte(&mut self, b: u8) {
        match &mut self.state {
            State::Start => {
                if b == b'\n' {
                    self.line.clear();
                    return;
                }
                self.line.push(b);
                if let Some(next) = self.classify() {
                    self.line.clear();
                    self.state = next;
                }
            }
            State::Skip => {
                if b == b'\n' {
                    self.state = State::Start;
                }
            }
            State::Values {
                table,
                depth,
                quoted,
                escaped,
            } => {
                if *escaped {
                    *escaped = false;
                } else if *quoted {
                    match b {
                        b'\\' => *escaped = true,
                        b'\'' => *quoted = false,
                        _ => {}
                    }
                } else {
                    match b {
                        b'\'' => *quoted = true,
                        b'(' => {
                            if *depth == 0 {
                                *self.tables.entry(table.clone()).or_insert(0) += 1;
                            }
                            *depth += 1;
                        }
                        b')' => *depth = depth.saturating_sub(1),
                        b';' if *depth == 0 => self.state = State::Skip,
                        _ => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "-- MariaDB dump\n\
        /*!40101 SET NAMES utf8mb4 */;\n\
        DROP TABLE IF EXISTS `wp_posts`;\n\
        CREATE TABLE `wp_posts` (\n  `id` int NOT NULL\n) ENGINE=InnoDB;\n\
        INSERT INTO `wp_posts` VALUES (1,'a (not a row)'),(2,'it\\'s (still) one'),(3,'\\\\'),(4,NULL);\n\
        INSERT INTO `wp_posts` VALUES (5,'x');\n\
        CREATE TABLE `empty` (\n  `id` int\n);\n\
        CREATE TABLE `we``ird` (`id` int);\n\
        INSERT INTO `wp_options` VALUES (1,'a;b'),(2,')(');\n\
        INSERT INTO `lines` VALUES\n(1,'a'),\n(2,'b\\n'),\n(3,'c');\n\
        -- INSERT INTO `comment` VALUES (1);\n\
        -- Dump completed\n";

    fn counts(chunks: usize) -> BTreeMap<String, u64> {
        let mut c = RowCounter::new();
        for part in DUMP.as_bytes().chunks(chunks) {
            c.feed(part);
        }
        c.finish()
    }

    #[test]
    fn rows_are_counted_per_table_whatever_the_strings_hold_and_however_the_stream_is_cut() {
        for chunk in [1, 2, 7, 64, 4096] {
            let c = counts(chunk);
            assert_eq!(c.get("wp_posts"), Some(&5), "chunks of {chunk}: {c:?}");
            assert_eq!(c.get("wp_options"), Some(&2), "{c:?}");
            assert_eq!(c.get("empty"), Some(&0), "{c:?}");
            assert_eq!(c.get("comment"), None, "{c:?}");
            assert_eq!(c.get("we`ird"), Some(&0), "{c:?}");
            assert_eq!(
                c.get("lines"),
                Some(&3),
                "MariaDB 10.11's one row per line: {c:?}"
            );
            assert_eq!(c.len(), 5, "{c:?}");
        }
    }
}

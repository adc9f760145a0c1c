//! What the agent writes on its stderr, logged: from an agent session as it comes, from a
//! one-shot call with its answer.

/// The longest line of the agent's stderr that is logged whole (the rest is cut).
const STDERR_LINE: usize = 2000;
/// The bytes of one line kept to log it (a character takes 4 at most): what follows, up to
/// the next line break, is read and dropped, so a line without an end holds no more memory.
const STDERR_LINE_BYTES: usize = 4 * STDERR_LINE;

/// Logs what an agent session writes on its stderr (its warnings, a panic's message), a line
/// at a time, until the session ends; it is read as it comes, so the agent never waits on a
/// full pipe.
pub(super) async fn log_stream(server: String, stderr: impl tokio::io::AsyncRead + Unpin) {
    use tokio::io::AsyncBufReadExt as _;
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        let (ended, used) = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => {
                let (part, ended, used) = match buf.iter().position(|b| *b == b'\n') {
                    Some(at) => (&buf[..at], true, at + 1),
                    None => (buf, false, buf.len()),
                };
                let room = STDERR_LINE_BYTES.saturating_sub(line.len());
                line.extend_from_slice(&part[..part.len().min(room)]);
                (ended, used)
            }
        };
        reader.consume(used);
        if ended {
            log_line(&server, &line);
            line.clear();
        }
    }
    log_line(&server, &line);
}

/// Logs one line the agent wrote on its stderr on `server`: escaped (it may name a site's
/// file, and a tenant chooses those names), cut at [`STDERR_LINE`] characters.
pub(super) fn log_line(server: &str, raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let text: String = text.trim_end().chars().take(STDERR_LINE).collect();
    if !text.is_empty() {
        tracing::info!(server = %server, line = ?text, "agent stderr");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chom_test_support::logs::CapturedLog;

    /// Each line is logged with its server, on one log line: control characters and line
    /// breaks a file name may hold escaped, bytes that are not UTF-8 replaced (and the lines
    /// after them still read), a long line cut.
    #[tokio::test]
    async fn the_agents_stderr_is_logged_a_line_at_a_time_escaped_and_cut() {
        let captured = CapturedLog::default();
        let _log = tracing::subscriber::set_default(captured.subscriber(tracing::Level::INFO));
        let mut stderr = b"first\n\nsecond: /var/www/a\x1b[2Jb\rc\n\xff\xfe not utf-8\n".to_vec();
        // Longer than the bytes kept of a line, and than the reader's buffer.
        stderr.extend(std::iter::repeat_n(b'x', 100 * STDERR_LINE_BYTES));
        stderr.extend(b"\nlast");
        log_stream("root@host:22".into(), stderr.as_slice()).await;
        let log = captured.text();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 5, "{log}");
        assert!(
            lines
                .iter()
                .all(|l| l.contains("agent stderr") && l.contains("root@host:22"))
        );
        assert!(lines[0].contains("\"first\""), "{log}");
        assert!(lines[1].contains(r"a\u{1b}[2Jb\rc"), "{log}");
        assert!(!log.contains('\x1b') && !log.contains('\r'), "{log}");
        assert!(lines[2].contains("\u{fffd}\u{fffd} not utf-8"), "{log}");
        let xs = lines[3].matches('x').count();
        assert!((STDERR_LINE..STDERR_LINE + 10).contains(&xs), "{xs}");
        assert!(lines[4].contains("\"last\""), "{log}");
    }
}

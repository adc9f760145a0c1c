//! A real SMTP listener on loopback for tests: speaks enough ESMTP for lettre (no TLS, no
//! AUTH), keeps every message, and lets a test wait for the one it expects.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The raw DATA (headers and body), dot-unstuffed.
    pub data: String,
}

impl Received {
    /// The value of the first `token=` in the message, or the first long token-looking word.
    pub fn token(&self) -> Option<String> {
        let at = self.data.find("token=")?;
        let rest = &self.data[at + 6..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }

    /// The indented token line of the reset e-mail (`  <token>`).
    pub fn indented_token(&self) -> Option<String> {
        self.data
            .lines()
            .map(str::trim_end)
            .filter(|l| l.starts_with("  "))
            .map(str::trim)
            .find(|l| {
                l.len() == 43
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .map(ToOwned::to_owned)
    }

    /// The Subject header, unfolded (a long one arrives on several lines, each continuation
    /// starting with white space).
    pub fn subject(&self) -> String {
        let mut lines = self
            .data
            .lines()
            .skip_while(|l| !l.starts_with("Subject: "));
        let Some(first) = lines.next().and_then(|l| l.strip_prefix("Subject: ")) else {
            return String::new();
        };
        let mut subject = first.to_owned();
        for more in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            subject.push_str(more);
        }
        subject
    }
}

/// The sink.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-sink.test\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("HELO")
                            || upper.starts_with("MAIL FROM")
                            || upper.starts_with("RSET")
                            || upper.starts_with("NOOP")
                        {
                            b"250 OK\r\n"
                        } else if upper.starts_with("RCPT TO") {
                            to.push(
                                line[8..]
                                    .trim()
                                    .trim_matches(['<', '>', ':', ' '])
                                    .to_owned(),
                            );
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                data.push('\n');
                            }
                            let data = if data
                                .to_ascii_lowercase()
                                .contains("content-transfer-encoding: quoted-printable")
                            {
                                decode_quoted_printable(&data)
                            } else {
                                data
                            };
                            store.lock().unwrap().push(Received {
                                to: std::mem::take(&mut to),
                                data,
                            });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { addr, messages }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Messages received so far for `to`.
    pub fn for_recipient(&self, to: &str) -> Vec<Received> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .cloned()
            .collect()
    }

    /// Waits (up to 15 s) for a message to `to` whose subject contains `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Received {
        for _ in 0..300 {
            if let Some(m) = self
                .for_recipient(to)
                .into_iter()
                .rev()
                .find(|m| m.subject().contains(subject))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no e-mail to {to} with subject containing {subject:?}; got {:?}",
            self.for_recipient(to)
        );
    }
}

/// Undoes quoted-printable (soft line breaks and `=XX`), in case a message was sent that way.
fn decode_quoted_printable(s: &str) -> String {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

//! A plain HTTP/1.1 server on loopback for the tests of the writer and its REST client: it
//! answers each request with what a closure gives for it.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A request as the test servers see it.
pub(super) struct Request {
    pub method: String,
    /// The path after the repository's prefix (`/repo/`).
    pub path: String,
    /// The range it asks (`Range: bytes=a-b`).
    pub range: Option<(usize, usize)>,
    pub body: Vec<u8>,
}

/// The next request on `reader`; `None` when the client has closed the connection.
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let (mut range, mut length) = (None, 0);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default();
    let path = target.strip_prefix("/repo/").unwrap_or(target).to_owned();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        let header = header.to_lowercase();
        if let Some(n) = header.strip_prefix("content-length:") {
            length = n.trim().parse::<usize>().unwrap();
        }
        if let Some(r) = header.strip_prefix("range: bytes=") {
            let (a, b) = r.trim().split_once('-').unwrap();
            range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
        }
    }
    let mut body = vec![0; length];
    std::io::Read::read_exact(reader, &mut body).unwrap();
    Some(Request {
        method,
        path,
        range,
        body,
    })
}

/// A server on loopback that answers each request with what `answer` gives for it (its
/// status line and body; a `HEAD` gets the body's length, not the body); returns the
/// repository's address on it (`http://127.0.0.1:<port>/repo/`).
pub(super) fn serve(
    answer: impl Fn(Request) -> (&'static str, Vec<u8>) + Send + Sync + 'static,
) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/repo/",
        listener.local_addr().unwrap().port()
    );
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                while let Some(request) = read_request(&mut reader) {
                    let head = request.method == "HEAD";
                    let (status, body) = answer(request);
                    let sent = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .and_then(|()| {
                        if head {
                            Ok(())
                        } else {
                            stream.write_all(&body)
                        }
                    });
                    if sent.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

/// Where the file at REST `path` lies in the local repository `dir` (packs in `data/xx/`).
pub(super) fn local(dir: &Path, path: &str) -> PathBuf {
    match path.strip_prefix("data/") {
        Some(id) if id.len() > 2 => dir.join("data").join(&id[..2]).join(id),
        _ => dir.join(path),
    }
}

/// A read-only repository server over the local repository `dir`, as restic's REST protocol
/// reads it: `HEAD` and `GET` of a file (whole or a range), and the lists (version 2).
pub(super) fn answer_from(dir: &Path, request: &Request) -> (&'static str, Vec<u8>) {
    const NOT_FOUND: (&str, Vec<u8>) = ("404 Not Found", Vec::new());
    if let Some(kind) = request.path.strip_suffix('/') {
        let dirs: Vec<PathBuf> = if kind == "data" {
            (0..=255u8)
                .map(|b| dir.join("data").join(format!("{b:02x}")))
                .collect()
        } else {
            vec![dir.join(kind)]
        };
        let entries: Vec<serde_json::Value> = dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .map(|e| {
                let e = e.unwrap();
                serde_json::json!({
                    "name": e.file_name().to_string_lossy(),
                    "size": e.metadata().unwrap().len(),
                })
            })
            .collect();
        return ("200 OK", serde_json::to_vec(&entries).unwrap());
    }
    let Ok(content) = std::fs::read(local(dir, &request.path)) else {
        return NOT_FOUND;
    };
    match request.range {
        Some((a, b)) if b < content.len() => ("206 Partial Content", content[a..=b].to_vec()),
        Some(_) => ("416 Range Not Satisfiable", Vec::new()),
        None => ("200 OK", content),
    }
}

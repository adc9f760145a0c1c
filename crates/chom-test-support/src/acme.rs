//! A local ACME CA: Pebble (with its own HTTPS certificate, which the agent's certbot trusts
//! through `CHOM_AGENT_ACME_CA_BUNDLE`), `pebble-challtestsrv` resolving every name to
//! 127.0.0.1, and a small web server on Pebble's HTTP-01 port that serves each site's webroot by
//! `Host` header, as the site's vhost would.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A running local CA.
pub struct Acme {
    _dir: tempfile::TempDir,
    children: Vec<Child>,
    stop: Arc<AtomicBool>,
    /// The ACME directory (`https://localhost:<port>/dir`).
    pub directory_url: String,
    /// Pebble's HTTPS certificate: the CA bundle certbot must trust.
    pub ca_bundle: PathBuf,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

impl Acme {
    /// Starts the CA; HTTP-01 challenges for `<domain>` are served from
    /// `<sites_root>/<domain>/public` (the agent's layout).
    pub fn start(sites_root: &Path) -> Self {
        for tool in [
            "/usr/bin/pebble",
            "/usr/bin/pebble-challtestsrv",
            "/usr/bin/certbot",
        ] {
            assert!(
                Path::new(tool).exists(),
                "{tool} missing (cargo xtask services installs pebble and certbot)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path();
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
            ])
            .arg(ca.join("key.pem"))
            .arg("-out")
            .arg(ca.join("cert.pem"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            made.success(),
            "openssl could not make Pebble's certificate"
        );
        let (acme, mgmt, dns, dns_mgmt, http) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        std::fs::write(
            ca.join("pebble.json"),
            format!(
                r#"{{"pebble": {{"listenAddress": "127.0.0.1:{acme}", "managementListenAddress": "127.0.0.1:{mgmt}",
                    "certificate": {cert:?}, "privateKey": {key:?}, "httpPort": {http}, "tlsPort": {tls},
                    "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
                cert = ca.join("cert.pem").display().to_string(),
                key = ca.join("key.pem").display().to_string(),
                tls = free_port(),
            ),
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        serve_webroots(http, sites_root.to_path_buf(), stop.clone());
        // Every name resolves to 127.0.0.1 for Pebble's validation.
        let challtestsrv = Command::new("pebble-challtestsrv")
            .args([
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{dns_mgmt}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(ca.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}"), "-strict=false"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            // Debian's certbot 2.1 turns any ACME error into a crash (a josepy bug), so Pebble's
            // random nonce rejections (5 % by default) would make tests flaky.
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let me = Self {
            ca_bundle: ca.join("cert.pem"),
            directory_url: format!("https://localhost:{acme}/dir"),
            _dir: dir,
            children: vec![challtestsrv, pebble],
            stop,
        };
        wait_port(acme);
        wait_port(dns_mgmt);
        me
    }
}

impl Drop for Acme {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Serves `/.well-known/acme-challenge/…` of `<sites_root>/<Host>/public` on `port`.
fn serve_webroots(port: u16, sites_root: PathBuf, stop: Arc<AtomicBool>) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let sites_root = sites_root.clone();
            std::thread::spawn(move || answer(stream, &sites_root));
        }
    });
}

fn answer(stream: TcpStream, sites_root: &Path) {
    let Ok(read) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut host = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) <= 2 {
            break;
        }
        if let Some((name, value)) = h.split_once(':')
            && name.eq_ignore_ascii_case("host")
        {
            host = value.trim().split(':').next().unwrap_or("").to_owned();
        }
    }
    let safe = path.starts_with("/.well-known/acme-challenge/")
        && !path.contains("..")
        && !host.contains('/')
        && !host.contains("..");
    // The vhost serves `www.<domain>` too.
    let site = if sites_root.join(&host).is_dir() {
        host.as_str()
    } else {
        host.strip_prefix("www.").unwrap_or(&host)
    };
    let file = sites_root
        .join(site)
        .join("public")
        .join(path.trim_start_matches('/'));
    let reply = match std::fs::read(&file) {
        Ok(body) if safe => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend(body);
            r
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let mut out = stream;
    let _ = out.write_all(&reply);
}

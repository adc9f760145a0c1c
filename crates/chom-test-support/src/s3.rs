//! A local S3 server for the tests: `python3 -m moto.server` (PyPI `moto[server]`, installed by
//! `cargo xtask services`) on a free loopback port with one bucket, killed on drop; its keys
//! and objects read back with signed requests, as a client of the bucket would.

use rusty_s3::S3Action as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The bucket every test server has.
pub const BUCKET: &str = "chom-backups";

/// The running server.
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts it and makes [`BUCKET`].
    pub async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = crate::acme::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let moto = Self { child, port };
        let (bucket, creds) = moto.bucket();
        let url = bucket.create_bucket(&creds).sign(Duration::from_secs(60));
        let http = reqwest::Client::new();
        let mut last = String::new();
        for _ in 0..200 {
            match http
                .put(url.clone())
                .header("content-length", "0")
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return moto,
                Ok(r) => last = format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto did not start (cargo xtask services installs moto[server]): {last}");
    }

    /// Its endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn bucket(&self) -> (rusty_s3::Bucket, rusty_s3::Credentials) {
        let endpoint = self.endpoint().parse().unwrap();
        (
            rusty_s3::Bucket::new(endpoint, rusty_s3::UrlStyle::Path, BUCKET, "us-east-1").unwrap(),
            rusty_s3::Credentials::new("test", "test"),
        )
    }

    /// The bucket's keys under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let (bucket, creds) = self.bucket();
        let mut list = bucket.list_objects_v2(Some(&creds));
        list.with_prefix(prefix);
        let res = reqwest::get(list.sign(Duration::from_secs(60)))
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
        let text = res.text().await.unwrap();
        rusty_s3::actions::ListObjectsV2::parse_response(&text)
            .unwrap()
            .contents
            .into_iter()
            .map(|c| c.key)
            .collect()
    }

    /// The object at `key`.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        let (bucket, creds) = self.bucket();
        let url = bucket
            .get_object(Some(&creds), key)
            .sign(Duration::from_secs(60));
        let res = reqwest::get(url).await.unwrap();
        assert!(res.status().is_success(), "{key}: {}", res.status());
        res.bytes().await.unwrap().to_vec()
    }
}

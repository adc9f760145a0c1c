//! A CHOM control plane under test, reached over HTTP as a client would: the in-process app of
//! the API's tests and the real `chom-api` binary of the end-to-end tests alike.

use crate::smtp::SmtpSink;
use serde_json::Value;

/// Raises every plan's API rate limit out of the tests' way (run it on the database before any
/// request reads it: flows poll operations with one token).
pub const GENEROUS_PLAN_LIMITS: &str = "UPDATE plans SET api_requests_per_minute = 100000";

/// A running control plane: its address, a client, and the SMTP sink its mail goes to.
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client that does not follow redirects ([`client`]).
    pub client: reqwest::Client,
    /// Where the control plane sends its e-mail.
    pub smtp: SmtpSink,
}

impl Api {
    /// A handle on the control plane at `address` whose mail goes to `smtp`.
    pub fn new(address: String, smtp: SmtpSink) -> Self {
        Self {
            address,
            client: client(),
            smtp,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// A JSON request, optionally with a bearer token.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// POST JSON without a token.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    /// POST JSON with a token.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }
}

/// An HTTP client that does not follow redirects (tests look at them). Installs the process's
/// rustls crypto provider (ring) if none is yet.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The JSON body of an answer.
pub async fn body(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

/// Asserts an RFC 9457 body with `code`, and returns it.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(ToOwned::to_owned);
    let body: Value = res.json().await.expect("json body");
    assert_eq!(content_type, "application/problem+json", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"].as_str(), header_id.as_deref(), "{body}");
    body
}

//! How the CLI reaches the node: through the same HTTP API as every other client.
//!
//! If a node is running on this data directory (its `api.json` names a URL that
//! answers), requests go there over loopback HTTP. Otherwise the CLI opens the node in
//! its own process and sends the very same requests to the API router without a
//! socket. Either way there is one implementation of each operation: the API handler.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use leither_core::api::{self, API_INFO_FILE, AccessPolicy, ApiInfo, ErrorBody, auth};
use leither_core::node::Node;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

pub enum Client {
    Remote {
        base: String,
        token: String,
        http: reqwest::Client,
    },
    Local {
        router: axum::Router,
        token: String,
    },
}

/// An API error, kept whole so `--json` can print it and scripts can read the code.
#[derive(Debug)]
pub struct ApiFailure {
    pub body: ErrorBody,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.body.error.message, self.body.error.code)
    }
}

impl std::error::Error for ApiFailure {}

impl Client {
    /// The running node's API if there is one, else an in-process node.
    pub async fn connect(
        data_dir: &Path,
        open_local: impl FnOnce() -> Result<Node>,
    ) -> Result<Client> {
        if let Some(c) = Self::running(data_dir).await? {
            return Ok(c);
        }
        let node = open_local()?;
        let token = auth::load_or_create_token(data_dir).context("reading the API token")?;
        let router = api::service(node, AccessPolicy::in_process(token.clone()));
        Ok(Client::Local { router, token })
    }

    /// A client for the node running on `data_dir`, if one answers.
    pub async fn running(data_dir: &Path) -> Result<Option<Client>> {
        let Ok(text) = std::fs::read_to_string(data_dir.join(API_INFO_FILE)) else {
            return Ok(None);
        };
        let info: ApiInfo = serde_json::from_str(&text).context("reading api.json")?;
        let token = auth::load_or_create_token(data_dir).context("reading the API token")?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        let probe = http
            .get(format!("{}/api/v1/openapi.json", info.url))
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        match probe {
            Ok(r) if r.status().is_success() => Ok(Some(Client::Remote {
                base: info.url,
                token,
                http,
            })),
            _ => Ok(None),
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Client::Remote { .. })
    }

    /// Send one request; `path` starts with `/api/`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Response<Body>> {
        match self {
            Client::Local { router, token } => {
                let mut req = Request::builder()
                    .method(method)
                    .uri(path)
                    .header(header::HOST, auth::IN_PROCESS_HOST);
                req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
                if let Some(ct) = content_type {
                    req = req.header(header::CONTENT_TYPE, ct);
                }
                if let Some(a) = accept {
                    req = req.header(header::ACCEPT, a);
                }
                Ok(router.clone().oneshot(req.body(body)?).await?)
            }
            Client::Remote { base, token, http } => {
                let mut req = http
                    .request(method, format!("{base}{path}"))
                    .bearer_auth(token)
                    .body(reqwest::Body::wrap_stream(body.into_data_stream()));
                if let Some(ct) = content_type {
                    req = req.header(header::CONTENT_TYPE, ct);
                }
                if let Some(a) = accept {
                    req = req.header(header::ACCEPT, a);
                }
                let resp = req
                    .send()
                    .await
                    .context("sending the request to the node")?;
                let mut out = Response::builder().status(resp.status());
                for (k, v) in resp.headers() {
                    out = out.header(k, v);
                }
                Ok(out.body(Body::from_stream(resp.bytes_stream()))?)
            }
        }
    }

    /// Send and check the status; an API error becomes an [`ApiFailure`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Response<Body>> {
        let resp = self.send(method, path, body, content_type, accept).await?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ApiFailure { body }.into()),
            Err(_) => bail!("{status}: {}", String::from_utf8_lossy(&bytes)),
        }
    }

    /// JSON in, JSON out.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let (body, ct) = match body {
            Some(b) => (Body::from(serde_json::to_vec(b)?), Some("application/json")),
            None => (Body::empty(), None),
        };
        let resp = self.call(method, path, body, ct, None).await?;
        let bytes = resp.into_body().collect().await?.to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("unexpected answer from the node: {e}"))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(Method::GET, path, None::<&()>).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.json(Method::POST, path, Some(body)).await
    }
}

/// Percent-encode one path segment or query value.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Check a Mimei path the way the node will, and percent-encode it for a URL.
///
/// The check must happen here: URL libraries resolve `..` segments (even encoded
/// ones) before a request is sent, so a bad path would reach some other route.
pub fn enc_path(p: &str) -> Result<String> {
    leither_core::mimei::MimeiPath::parse(p).map_err(|e| ApiFailure {
        body: api::ApiError::from(e).body(),
    })?;
    Ok(p.split('/').map(enc).collect::<Vec<_>>().join("/"))
}

pub fn content_length(resp: &Response<Body>) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

//! Who may talk to the loopback API.
//!
//! Three checks run before any handler, in this order:
//! 1. **Host** must be one of the node's own loopback names (`127.0.0.1:<port>`,
//!    `localhost:<port>`, `[::1]:<port>`). A web page that rebinds its DNS name to
//!    127.0.0.1 still sends its own name as Host, so it is refused (DNS rebinding).
//! 2. **Origin**, when a browser sends one, must be the node's own origin (or the
//!    desktop shell's); `Sec-Fetch-Site: cross-site` is refused too. So a web page
//!    cannot drive the API from a user's browser (CSRF).
//! 3. **Token**: `Authorization: Bearer <token>`. The token is random, written to
//!    `<data dir>/api-token` (mode 0600) like Syncthing's API key; only processes that
//!    can read the user's files know it. WebSocket upgrades may pass it as
//!    `?token=` because browsers cannot set headers on them.
//!
//! The token is never logged.
//!
//! Requests that pass get a [`Caller::Owner`] in their extensions. Mimei apps never
//! hold the token: their pages live on `<app-id>.localhost:<port>` origins, which
//! `api/app_origin.rs` answers with a cookie session and [`app_may_call`].

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use std::collections::BTreeSet;

use super::error::ApiError;
use crate::apps::Permission;
use crate::mimei::MimeiId;

/// File in the data directory holding the API token.
pub const TOKEN_FILE: &str = "api-token";

/// Paths anyone on loopback may read without a token (Host/Origin checks still apply).
const PUBLIC_PATHS: &[&str] = &["/api/v1/openapi.json"];

/// The Host names and Origins the API answers, and its token.
#[derive(Clone)]
pub struct AccessPolicy {
    token: String,
    /// Loopback port (0 in process): app origins are `<app-id>.localhost:<port>`.
    port: u16,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("hosts", &self.hosts)
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl AccessPolicy {
    /// Policy for an API listening on loopback `port`.
    pub fn loopback(port: u16, token: String) -> Self {
        let hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| format!("{h}:{port}"))
            .collect();
        let mut origins: Vec<String> = hosts.iter().map(|h| format!("http://{h}")).collect();
        // The desktop shell's webview (Tauri v2 on Linux/macOS, and on Windows).
        origins.extend([
            "tauri://localhost".to_string(),
            "http://tauri.localhost".to_string(),
        ]);
        AccessPolicy {
            token,
            port,
            hosts,
            origins,
        }
    }

    /// Policy for requests made inside the process (the CLI without a running node).
    pub fn in_process(token: String) -> Self {
        AccessPolicy {
            token,
            port: 0,
            hosts: vec![IN_PROCESS_HOST.to_string()],
            origins: Vec::new(),
        }
    }

    /// The app whose origin a request's Host names (`<app-id>.localhost:<port>`).
    pub fn app_host(&self, headers: &HeaderMap) -> Option<MimeiId> {
        if self.port == 0 {
            return None;
        }
        let host = headers
            .get(header::HOST)?
            .to_str()
            .ok()?
            .to_ascii_lowercase();
        let label = host.strip_suffix(&format!(".localhost:{}", self.port))?;
        label.parse().ok()
    }

    /// Origins allowed to frame app pages (the shell).
    pub fn shell_origins(&self) -> &[String] {
        &self.origins
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
    }

    /// The request's Host if it is one of this node's own names.
    pub(crate) fn own_host(&self, headers: &HeaderMap) -> Option<String> {
        self.host_ok(headers)
            .then(|| headers.get(header::HOST)?.to_str().ok().map(str::to_string))
            .flatten()
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
            return false;
        }
        match headers.get(header::ORIGIN) {
            None => true,
            Some(o) => o
                .to_str()
                .is_ok_and(|o| self.origins.iter().any(|a| a.eq_ignore_ascii_case(o))),
        }
    }

    fn token_ok(&self, req: &Request) -> Result<(), &'static str> {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let query = || {
            let is_ws = req
                .headers()
                .get(header::UPGRADE)
                .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
            is_ws
                .then(|| req.uri().query())
                .flatten()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        };
        match bearer.or_else(query) {
            None => Err(
                "missing API token: send `Authorization: Bearer <token>` (the token is in <data dir>/api-token)",
            ),
            Some(t) if constant_time_eq(t.as_bytes(), self.token.as_bytes()) => Ok(()),
            Some(_) => Err("invalid API token"),
        }
    }
}

/// Host header used for in-process requests.
pub const IN_PROCESS_HOST: &str = "leither.in-process";

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware enforcing the policy.
pub async fn guard(State(policy): State<Arc<AccessPolicy>>, req: Request, next: Next) -> Response {
    if !policy.host_ok(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "Host is not this node's loopback address",
        )
        .into_response();
    }
    if !policy.origin_ok(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "cross-origin requests are not allowed",
        )
        .into_response();
    }
    if !PUBLIC_PATHS.contains(&req.uri().path())
        && let Err(why) = policy.token_ok(&req)
    {
        return ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why).into_response();
    }
    let mut req = req;
    req.extensions_mut().insert(Caller::Owner);
    next.run(req).await
}

/// Who is making an API request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The node's user: the token holder (shell, CLI, scripts).
    Owner,
    /// A Mimei app, from its own origin with its session cookie.
    App(AppCaller),
}

/// An app making a request: which app, its data Mimei and what the user granted.
#[derive(Debug, Clone)]
pub struct AppCaller {
    pub id: MimeiId,
    pub data: MimeiId,
    pub grants: BTreeSet<Permission>,
}

/// Whether an app with `grants` may call `method path` at all. Its own space
/// (`/api/v1/app/…`) and batches are always allowed; other routes need a grant;
/// everything else (the user's Mimei, app management, node maintenance) is refused.
/// Paths with dot segments, encoded dots or slashes, or empty segments are refused
/// outright rather than trusted to route correctly.
pub fn app_may_call(
    method: &axum::http::Method,
    path: &str,
    grants: &BTreeSet<Permission>,
) -> Result<(), String> {
    use axum::http::Method;
    let lower = path.to_ascii_lowercase();
    let tricky = path.contains("//")
        || lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path.contains('\\')
        || path.split('/').any(|s| s == "." || s == "..");
    if tricky {
        return Err(format!("path `{path}` is not allowed for apps"));
    }
    let get = method == Method::GET || method == Method::HEAD;
    let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    let need = |perm: Permission| {
        if grants.contains(&perm) {
            Ok(())
        } else {
            Err(format!(
                "this app has not been granted `{perm}` (the user grants it: leither app grant <app> {perm})"
            ))
        }
    };
    if under("/api/v1/app") || (path == "/api/v1/batch" && method == Method::POST) {
        return Ok(());
    }
    if path == super::OPENAPI_PATH && get {
        return Ok(());
    }
    if under("/api/v1/social/profile") && get {
        return need(Permission::ProfileRead);
    }
    if under("/api/v1/social/conversations") {
        return need(Permission::Messages);
    }
    // One Mimei (not the list of all): info, listing, files, database, versions.
    if get && let Some(rest) = path.strip_prefix("/api/v1/mimei/") {
        let mut parts = rest.splitn(2, '/');
        let id_ok = parts.next().is_some_and(|id| id.parse::<MimeiId>().is_ok());
        let sub_ok = match parts.next() {
            None => true,
            Some(s) => {
                ["ls", "stat", "db", "versions"].contains(&s)
                    || s.starts_with("files/")
                    || s.starts_with("db/")
            }
        };
        if id_ok && sub_ok {
            return need(Permission::MimeiRead);
        }
    }
    Err(format!("apps may not call {method} {path}"))
}

/// Read the API token from the data directory, creating it on first use.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| std::io::Error::other(e.to_string()))?;
    let token = crate::encoding::encode(&raw);
    crate::fsutil::write_private_atomic(&path, token.as_bytes())?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_token(dir.path()).unwrap();
        let b = load_or_create_token(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 52);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn app_route_allowlist() {
        use axum::http::Method;
        let none = BTreeSet::new();
        let read = BTreeSet::from([Permission::MimeiRead]);
        let id = MimeiId::from_bytes([1; 32]);
        let ok = |m: Method, p: &str, g: &BTreeSet<Permission>| app_may_call(&m, p, g).is_ok();
        assert!(ok(Method::GET, "/api/v1/app/db/k", &none));
        assert!(ok(Method::PUT, "/api/v1/app/files/a/b.txt", &none));
        assert!(ok(Method::POST, "/api/v1/batch", &none));
        assert!(!ok(Method::GET, "/api/v1/mimei", &read));
        assert!(!ok(Method::GET, &format!("/api/v1/mimei/{id}/db"), &none));
        assert!(ok(Method::GET, &format!("/api/v1/mimei/{id}/db"), &read));
        assert!(!ok(Method::PUT, &format!("/api/v1/mimei/{id}/db/k"), &read));
        assert!(!ok(
            Method::POST,
            &format!("/api/v1/mimei/{id}/backup"),
            &read
        ));
        assert!(!ok(Method::GET, "/api/v1/mimei/not-an-id/db", &read));
        assert!(!ok(Method::GET, "/api/v1/apps", &read));
        assert!(!ok(Method::POST, "/api/v1/apps/x/launch", &read));
        assert!(!ok(Method::GET, "/api/v1/node", &read));
        assert!(!ok(Method::GET, "/api/v1/events", &read));
        assert!(!ok(Method::GET, "/api/v1/social/conversations", &none));
        let msgs = BTreeSet::from([Permission::Messages]);
        assert!(ok(
            Method::POST,
            "/api/v1/social/conversations/u/messages",
            &msgs
        ));
        assert!(!ok(Method::GET, "/api/v1/social/friends", &msgs));
        assert!(!ok(
            Method::PUT,
            "/api/v1/social/profile",
            &BTreeSet::from([Permission::ProfileRead])
        ));
        assert!(ok(
            Method::GET,
            "/api/v1/social/profile",
            &BTreeSet::from([Permission::ProfileRead])
        ));
        for p in [
            "/api/v1/app/../mimei",
            "/api/v1/app/%2e%2e/mimei",
            "/api/v1/app/files/a%2Fb",
            "/api/v1/app//files",
            "/api/v1/app/./db",
        ] {
            assert!(!ok(Method::GET, p, &read), "{p}");
        }
    }

    #[test]
    fn app_hosts() {
        let p = AccessPolicy::loopback(8080, "t".repeat(40));
        let id = MimeiId::from_bytes([3; 32]);
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, v.parse().unwrap());
            p.app_host(&m)
        };
        assert_eq!(h(&format!("{id}.localhost:8080")), Some(id));
        assert_eq!(
            h(&format!("{}.LOCALHOST:8080", id.to_string().to_uppercase())),
            Some(id)
        );
        assert_eq!(h(&format!("{id}.localhost:8081")), None);
        assert_eq!(h(&format!("{id}.localhost")), None);
        assert_eq!(h("x.localhost:8080"), None);
        assert_eq!(h("localhost:8080"), None);
        assert_eq!(h(&format!("{id}.evil.com:8080")), None);
        let inproc = AccessPolicy::in_process("t".repeat(40));
        let mut m = HeaderMap::new();
        m.insert(header::HOST, format!("{id}.localhost:0").parse().unwrap());
        assert_eq!(inproc.app_host(&m), None);
    }

    #[test]
    fn debug_does_not_show_the_token() {
        let p = AccessPolicy::loopback(1, "secret-token-value".into());
        assert!(!format!("{p:?}").contains("secret-token-value"));
    }
}

//! The shell UI (`ui/shell/` in the repository), embedded in the binary and served on
//! the node's own loopback host: `/` is the page, `/ui/...` its modules and styles.
//!
//! The files are public (no token), but only on the node's own Host: other Hosts
//! (apps' `<app-id>.localhost` origins, or a rebound DNS name) go on to the node's
//! router and its checks and with a strict Content-Security-Policy: scripts and
//! styles only from this origin, no inline script, no framing of the shell, apps only
//! framed from their own `<app>.localhost` origins.
//!
//! How the page gets the API token: never from the server. In the desktop shell, the
//! Tauri window injects it before the page runs (an initialization script that checks
//! the origin first). In a browser, `leither ui` prints a link whose `#token=` part is a
//! URL *fragment*: browsers never send fragments to the server, so it is in no request
//! and no server log; the page moves it to its own origin's storage and removes it from
//! the address bar. Without a token the page asks for it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use include_dir::{Dir, include_dir};

use super::ApiError;
use super::gateway::{Gateway, forward};

static SHELL: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../ui/shell");

/// The shell's routes. Requests for them on another Host (an app's
/// `<app-id>.localhost` origin) are not the shell's: they go on to the node's router.
pub(super) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/", axum::routing::get(index))
        .route("/ui/{*path}", axum::routing::get(asset))
}

async fn index(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    match gw.policy().own_host(req.headers()) {
        Some(host) => serve(&host, "index.html"),
        None => forward(State(gw), req).await,
    }
}

async fn asset(State(gw): State<Arc<Gateway>>, Path(path): Path<String>, req: Request) -> Response {
    match gw.policy().own_host(req.headers()) {
        Some(host) => serve(&host, &path),
        None => forward(State(gw), req).await,
    }
}

/// The Content-Security-Policy of every shell response.
pub fn content_security_policy(host: &str) -> String {
    // Apps live at http://<app-id>.localhost:<port>; the shell may frame them.
    let port = host.rsplit_once(':').map(|(_, p)| p).unwrap_or("");
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         font-src 'self'; connect-src 'self' ws://{host}; frame-src http://*.localhost:{port}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
    )
}

fn serve(host: &str, path: &str) -> Response {
    if path.split('/').any(|p| p == ".." || p.is_empty()) {
        return not_found();
    }
    let Some(file) = SHELL.get_file(path) else {
        return not_found();
    };
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut resp = file.contents().into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(host)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such UI file").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_is_embedded() {
        for f in ["index.html", "app.js", "style.css"] {
            assert!(SHELL.get_file(f).is_some(), "{f} missing from the binary");
        }
        let index = std::str::from_utf8(SHELL.get_file("index.html").unwrap().contents()).unwrap();
        assert!(
            !index.contains("<script>"),
            "inline scripts break the CSP: {index}"
        );
    }

    #[test]
    fn csp_allows_only_own_origin() {
        let csp = content_security_policy("127.0.0.1:7787");
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:7787;"));
        assert!(csp.contains("frame-src http://*.localhost:7787;"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}

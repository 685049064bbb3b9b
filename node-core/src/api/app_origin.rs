//! App origins: each installed app is served at `http://<app-id>.localhost:<port>/`,
//! so the browser's same-origin policy keeps apps apart from each other and from the
//! shell (SPEC A3). Chromium resolves every `*.localhost` name to loopback.
//!
//! On its origin an app gets:
//! - its bundle, from the app Mimei at the installed version, under a strict CSP
//!   (`default-src 'self'`, no inline script unless the manifest lists its hash,
//!   `connect-src` only its own origin, `frame-ancestors` only the shell);
//! - the SDK at [`SDK_PATH`];
//! - the API under `/api/…`, authorised by an HttpOnly, partitioned session cookie
//!   that a one-time launch code (`/?launch=<code>`, made by the user's
//!   `POST /api/v1/apps/{id}/launch`) is exchanged for. The request then carries
//!   [`Caller::App`] and must pass [`app_may_call`]. The user's token is never involved:
//!   a bearer token sent from an app origin is ignored.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use super::auth::{AccessPolicy, AppCaller, Caller, app_may_call};
use super::{ApiError, ApiState, blocking};
use crate::apps::{DATA_TYPE, InstalledApp, REGISTRY_TYPE};
use crate::mimei::{MimeiId, MimeiPath, VersionRef};

/// Where every app origin serves the JS SDK.
pub const SDK_PATH: &str = "/_leither/sdk.js";
/// The session cookie of an app origin.
pub const COOKIE: &str = "leither_app";

const SDK_JS: &str = include_str!("../../../ui/sdk/index.js");

/// What the dispatch layer needs.
#[derive(Clone)]
pub(super) struct AppOrigins {
    pub state: ApiState,
    /// The API routes without the owner's token guard.
    pub api: Router,
    pub policy: Arc<AccessPolicy>,
}

/// Outermost layer: requests for an app origin go to the app; all others go on to
/// the node's own API (and shell).
pub(super) async fn dispatch(o: Arc<AppOrigins>, main: Router, req: Request) -> Response {
    match o.policy.app_host(req.headers()) {
        Some(app) => serve_app(&o, app, req)
            .await
            .unwrap_or_else(|e| with_security_headers(e.into_response(), &o.policy, None)),
        None => main.oneshot(req).await.unwrap_or_else(|e| match e {}),
    }
}

fn forbidden(code: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, msg)
}

async fn serve_app(o: &AppOrigins, app: MimeiId, req: Request) -> Result<Response, ApiError> {
    let apps = o.state.node.apps().clone();
    let installed = blocking(move || Ok(apps.get(&app)?))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_installed",
                format!("app {app} is not installed on this node"),
            )
        })?;
    let own_origin = format!(
        "http://{}",
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    );
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") {
        return app_api(o, installed, &own_origin, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "app pages are read-only; use the API",
        ));
    }
    if let Some(code) = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("launch=")))
    {
        return redeem(o, app, code.to_string(), &path).await;
    }
    let resp = if path == SDK_PATH {
        (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            SDK_JS,
        )
            .into_response()
    } else {
        static_file(o, &installed, &path, req.headers()).await?
    };
    Ok(with_security_headers(resp, &o.policy, Some(&installed)))
}

async fn redeem(
    o: &AppOrigins,
    app: MimeiId,
    code: String,
    path: &str,
) -> Result<Response, ApiError> {
    let apps = o.state.node.apps().clone();
    let token = blocking(move || Ok(apps.redeem(&app, &code)?)).await?;
    // Partitioned (CHIPS) so that it works both in a top-level window and framed by the
    // shell (a cross-site frame, where SameSite=Strict/Lax cookies are neither set nor
    // sent): the browser keys it by the top-level site, so a cookie set inside the
    // shell's frame is sent only there. SameSite=None is safe here because every API
    // request must also come from the app's own origin (Origin / Sec-Fetch-Site checks
    // below). `Secure` is required for both and honoured on http://*.localhost.
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=None; Partitioned; Max-Age={}",
        crate::apps::SESSION_TTL_MS / 1000
    );
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/")),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_security_headers(resp, &o.policy, None))
}

async fn static_file(
    o: &AppOrigins,
    app: &InstalledApp,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no_such_path", "no such file");
    if path.contains('%') || path.starts_with("/_leither/") {
        return Err(not_found());
    }
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() {
        app.manifest.entry.clone()
    } else if rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_string()
    };
    let p = MimeiPath::parse(&rel).map_err(|_| not_found())?;
    let (m, user, id, v) = (
        o.state.node.mimeis().clone(),
        o.state.user(),
        app.id,
        VersionRef::Number(app.version),
    );
    let name = p.clone();
    let (reader, hash, first) = blocking(move || {
        let st = m.stat(&user, &id, v, &p)?;
        let reader = m.read_file(&user, &id, v, &p)?;
        let first = reader.chunk(0)?;
        Ok((reader, st.hash, first))
    })
    .await?;
    let mut resp = super::files::blob_response(reader, hash, Some(first), &name, headers);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn csp(policy: &AccessPolicy, app: Option<&InstalledApp>) -> String {
    let mut script = "'self'".to_string();
    for h in app
        .map(|a| a.manifest.script_hashes.as_slice())
        .unwrap_or(&[])
    {
        script.push_str(&format!(" '{h}'"));
    }
    format!(
        "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {}",
        frame_ancestors(policy.shell_origins())
    )
}

/// The shell origins as CSP sources. CSP's host-source grammar has no IPv6 literals
/// (Chromium reports `http://[::1]:port` as an error), so those are left out: the shell
/// served at `[::1]` cannot frame apps, which it never does (it uses `localhost`).
fn frame_ancestors(origins: &[String]) -> String {
    let ok: Vec<&str> = origins
        .iter()
        .map(String::as_str)
        .filter(|o| !o.contains('['))
        .collect();
    if ok.is_empty() {
        "'none'".into()
    } else {
        ok.join(" ")
    }
}

fn with_security_headers(
    mut resp: Response,
    policy: &AccessPolicy,
    app: Option<&InstalledApp>,
) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp(policy, app)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

async fn app_api(
    o: &AppOrigins,
    installed: InstalledApp,
    own_origin: &str,
    mut req: Request,
) -> Result<Response, ApiError> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(forbidden(
            "forbidden_origin",
            "only the app's own pages may call its API",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin
            .to_str()
            .is_ok_and(|o| o.eq_ignore_ascii_case(own_origin))
    {
        return Err(forbidden(
            "forbidden_origin",
            "only the app's own pages may call its API",
        ));
    }
    let token = session_cookie(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no_app_session",
            "no app session: open the app from the Leither shell (it passes a launch code)",
        )
    })?;
    let (apps, id) = (o.state.node.apps().clone(), installed.id);
    let session = blocking(move || Ok(apps.session(&id, &token)?))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no_app_session",
                "the app session is invalid or expired: open the app again from the shell",
            )
        })?;
    app_may_call(req.method(), req.uri().path(), &session.grants)
        .map_err(|m| forbidden("app_forbidden", m))?;
    // Reading another Mimei (granted `mimei.read`): only public ones, never an app's
    // private data or the registry, even though both belong to the same user.
    if let Some(rest) = req.uri().path().strip_prefix("/api/v1/mimei/") {
        let target: MimeiId = rest.split('/').next().unwrap_or("").parse()?;
        let m = o.state.node.mimeis().clone();
        let info = blocking(move || Ok(m.info(&target)?)).await?;
        if !info.rights.guest.read || info.app_type == DATA_TYPE || info.app_type == REGISTRY_TYPE {
            return Err(forbidden(
                "app_forbidden",
                "apps may read only public Mimei",
            ));
        }
    }
    req.headers_mut().remove(header::AUTHORIZATION);
    req.headers_mut().remove(header::COOKIE);
    req.extensions_mut().insert(Caller::App(AppCaller {
        id: session.id,
        data: session.data,
        grants: session.grants,
    }));
    let resp = o
        .api
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    Ok(with_security_headers(resp, &o.policy, None))
}

#[cfg(test)]
mod tests {
    use super::frame_ancestors;

    #[test]
    fn frame_ancestors_leave_out_ipv6_literals_csp_cannot_express() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            frame_ancestors(&o(&[
                "http://127.0.0.1:7000",
                "http://[::1]:7000",
                "http://localhost:7000"
            ])),
            "http://127.0.0.1:7000 http://localhost:7000"
        );
        assert_eq!(frame_ancestors(&o(&["http://[::1]:7000"])), "'none'");
    }
}

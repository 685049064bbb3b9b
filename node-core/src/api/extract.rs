//! Request extractors whose rejections are API errors (JSON with a stable code), and
//! parsers for the IDs and names that appear in URLs.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::HeaderMap;

use super::ApiError;
use crate::mimei::{MimeiId, MimeiPath, VersionRef};

/// `axum::Json` with JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// `axum::extract::Query` with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `axum::extract::Path` with JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(r.status(), "bad_request", r.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        ApiError::new(r.status(), "bad_request", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(r.status(), "bad_request", r.body_text())
    }
}

pub fn mimei_id(s: &str) -> Result<MimeiId, ApiError> {
    Ok(s.parse()?)
}

pub fn version(v: Option<&str>) -> Result<VersionRef, ApiError> {
    Ok(v.unwrap_or("cur").parse()?)
}

pub fn path(p: &str) -> Result<MimeiPath, ApiError> {
    Ok(MimeiPath::parse(p)?)
}

/// Whether the client asked for a stream of NDJSON progress lines.
pub fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/x-ndjson"))
}

/// Who is calling: set by the access guard ([`super::auth::guard`]) or by the app
/// origin's session check. A request without one never reaches a handler that asks.
impl<S: Send + Sync> FromRequestParts<S> for super::auth::Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<super::auth::Caller>()
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "no caller",
                )
            })
    }
}

impl super::auth::Caller {
    /// The owner, or `403 owner_only`.
    pub fn owner(&self) -> Result<(), ApiError> {
        match self {
            super::auth::Caller::Owner => Ok(()),
            super::auth::Caller::App(_) => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "owner_only",
                "only the node's user may do this, not an app",
            )),
        }
    }

    /// The calling app, or `403 apps_only`.
    pub fn app(&self) -> Result<&super::auth::AppCaller, ApiError> {
        match self {
            super::auth::Caller::App(a) => Ok(a),
            super::auth::Caller::Owner => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "apps_only",
                "this route is an app's own space; call it from the app's origin",
            )),
        }
    }
}

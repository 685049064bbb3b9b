//! The one place where errors of every module become API errors: an HTTP status and
//! a stable machine-readable code, plus a human message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::encoding::IdParseError;
use crate::mimei::MimeiError;
use crate::store::StoreError;

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// JSON body of every error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `code` is stable (clients switch on it); `message` is for people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "API request failed");
        }
        (self.status, Json(self.body())).into_response()
    }
}

impl From<MimeiError> for ApiError {
    fn from(e: MimeiError) -> Self {
        use StatusCode as S;
        let (status, code) = match &e {
            MimeiError::NotFound(_) => (S::NOT_FOUND, "not_found"),
            MimeiError::AlreadyExists(_) => (S::CONFLICT, "already_exists"),
            MimeiError::NoSuchVersion { .. } => (S::NOT_FOUND, "no_such_version"),
            MimeiError::ReadOnlyVersion(_) => (S::CONFLICT, "read_only_version"),
            MimeiError::NoSuchPath(_) => (S::NOT_FOUND, "no_such_path"),
            MimeiError::IsADirectory(_) => (S::CONFLICT, "is_a_directory"),
            MimeiError::NotADirectory(_) => (S::CONFLICT, "not_a_directory"),
            MimeiError::PathExists(_) => (S::CONFLICT, "path_exists"),
            MimeiError::IsAReference(..) => (S::CONFLICT, "is_a_reference"),
            MimeiError::InvalidPath { .. } => (S::BAD_REQUEST, "invalid_path"),
            MimeiError::InvalidField { .. } => (S::BAD_REQUEST, "invalid_argument"),
            MimeiError::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "too_large"),
            MimeiError::PermissionDenied { .. } => (S::FORBIDDEN, "permission_denied"),
            MimeiError::Corrupt(_) => (S::INTERNAL_SERVER_ERROR, "corrupt_data"),
            MimeiError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                (S::NOT_FOUND, "no_such_local_path")
            }
            MimeiError::Io { .. } => (S::INTERNAL_SERVER_ERROR, "io_error"),
            MimeiError::Store(s) => return ApiError::from_store(s, e.to_string()),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl ApiError {
    fn from_store(e: &StoreError, message: String) -> Self {
        use StatusCode as S;
        let (status, code) = match e {
            StoreError::Missing(_) => (S::INTERNAL_SERVER_ERROR, "missing_block"),
            StoreError::Corrupt { .. } => (S::INTERNAL_SERVER_ERROR, "corrupt_block"),
            StoreError::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "too_large"),
            StoreError::Malformed(_) => (S::INTERNAL_SERVER_ERROR, "corrupt_data"),
            StoreError::Sled(_) | StoreError::Io(_) => (S::INTERNAL_SERVER_ERROR, "storage_error"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        ApiError::from_store(&e, message)
    }
}

impl From<IdParseError> for ApiError {
    fn from(e: IdParseError) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("invalid ID: {e}"),
        )
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("worker failed: {e}"))
    }
}

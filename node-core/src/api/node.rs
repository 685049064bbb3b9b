//! Node status and maintenance.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::identity::{AccountId, BackendKind, NodeId, UserId};
use crate::store::{GcStats, StoreStats};

/// What the node is and holds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NodeStatus {
    /// Version of the node software.
    pub version: String,
    /// The user this node acts for.
    pub user: UserId,
    /// This device.
    pub node: NodeId,
    /// The user's ledger account (first 20 bytes of blake3 of the user key).
    pub account: AccountId,
    /// Where the secret keys are kept: `keyring` or `file`.
    pub keys: BackendKind,
    pub data_dir: String,
    pub mimei_count: u64,
    pub store: StoreStats,
    /// The node profile's bounds (`leither run --light`, config `node.profile`).
    pub limits: crate::config::Limits,
}

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(gc))
}

/// Node status.
#[utoipa::path(get, path = "/api/v1/node", tag = "node",
    responses((status = 200, body = NodeStatus), (status = 401, body = ErrorBody)))]
async fn status(State(s): State<ApiState>) -> Result<Json<NodeStatus>, ApiError> {
    let node = s.node.clone();
    blocking(move || {
        let id = node.identity();
        Ok(Json(NodeStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            user: id.user,
            node: id.node,
            account: id.account,
            keys: id.backend,
            data_dir: node.data_dir().display().to_string(),
            mimei_count: node.mimeis().all()?.len() as u64,
            store: node.store().stats()?,
            limits: node.config().limits(),
        }))
    })
    .await
}

/// Free blocks that no version and no `cur` state references.
#[utoipa::path(post, path = "/api/v1/store/gc", tag = "node", responses((status = 200, body = GcStats)))]
async fn gc(State(s): State<ApiState>) -> Result<Json<GcStats>, ApiError> {
    let store = s.node.store().clone();
    blocking(move || Ok(Json(store.gc()?))).await
}

//! The node's one outside face: HTTP/JSON + WebSocket on loopback (SPEC A2).
//!
//! Every capability is reachable here — by the UI, by Mimei apps, by the `leither`
//! CLI and by any language — and described by the OpenAPI document served at
//! [`OPENAPI_PATH`]. Handlers are thin: parse, call the owning module (off the async
//! runtime when it touches disk), map errors in [`error`]. Access control is in [`auth`].

pub mod auth;
pub mod bridge;
pub mod error;
mod extract;
mod files;
mod mimei;
mod node;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use auth::AccessPolicy;
pub use error::{ApiError, ErrorBody};

use crate::identity::UserId;
use crate::node::Node;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
/// File in the data directory telling local clients where a running node's API is.
pub const API_INFO_FILE: &str = "api.json";

/// Shared state of all handlers.
#[derive(Clone)]
pub struct ApiState {
    node: Node,
}

impl ApiState {
    /// The user on whose behalf requests with the node's token act.
    fn user(&self) -> UserId {
        *self.node.user()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Leither node API",
        description = "The one API of a Leither node: Mimei files, database and versions, node status. \
                       Every request except this document needs `Authorization: Bearer <token>`; the token \
                       is in `<data dir>/api-token`. Errors are `{\"error\": {\"code\", \"message\"}}`.",
    ),
    components(schemas(ErrorBody)),
    modifiers(&TokenAuth),
    security(("token" = []))
)]
struct ApiDoc;

struct TokenAuth;

impl utoipa::Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes and their OpenAPI description.
pub fn routes(node: Node) -> (Router, utoipa::openapi::OpenApi) {
    let state = ApiState { node };
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(node::routes())
        .merge(mimei::routes())
        .merge(files::routes())
        .merge(ws::routes())
        .with_state(state.clone())
        .split_for_parts();
    let mut api = openapi_wildcards(api);
    api.merge(<bridge::BridgeDoc as OpenApi>::openapi());
    let doc = api.clone();
    let router = router
        .route(
            OPENAPI_PATH,
            axum::routing::get(move || async move { axum::Json(doc) }),
        )
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "no_such_route",
                "no such API route",
            )
        });

    (router, api)
}

/// axum writes a rest-of-path parameter as `{*name}`; OpenAPI writes `{name}`.
fn openapi_wildcards(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let paths = std::mem::take(&mut api.paths.paths);
    api.paths.paths = paths
        .into_iter()
        .map(|(k, v)| (k.replace("{*", "{"), v))
        .collect();
    api
}

/// The full API service: routes behind the access policy and body limit.
pub fn service(node: Node, policy: AccessPolicy) -> Router {
    let max_body = node.config().api.max_body_mib.saturating_mul(1024 * 1024);
    let (router, _) = routes(node.clone());
    let api = router
        .layer(DefaultBodyLimit::max(
            usize::try_from(max_body).unwrap_or(usize::MAX),
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(policy),
            auth::guard,
        ));
    // The HTTP bridge (public release content) sits beside the guarded API, not in it.
    bridge::routes(node, Arc::new(bridge::LocalOnly)).merge(api)
}

/// Where a running node's API is, for local clients (`<data dir>/api.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApiInfo {
    pub url: String,
    pub pid: u32,
}

/// Serve the API on `listener` until `shutdown` resolves.
pub async fn serve(
    node: Node,
    listener: tokio::net::TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let app = service(node, AccessPolicy::loopback(addr.port(), token));
    use axum::serve::ListenerExt;
    // Responses go out as headers then streamed body chunks: without NODELAY, Nagle and
    // delayed ACKs add ~40 ms to every request on loopback.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Run blocking store work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}

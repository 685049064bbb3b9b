//! The node's one outside face: HTTP/JSON + WebSocket on loopback (SPEC A2).
//!
//! Every capability is reachable here — by the UI, by Mimei apps, by the `leither`
//! CLI and by any language — and described by the OpenAPI document served at
//! [`OPENAPI_PATH`]. Handlers are thin: parse, call the owning module (off the async
//! runtime when it touches disk), map errors in [`error`]. Access control is in [`auth`].

mod app_origin;
mod apps;
pub mod auth;
pub mod bridge;
pub mod error;
mod extract;
mod files;
pub mod gateway;
mod mimei;
mod net;
mod node;
mod orgs;
mod social;
pub mod ui;
mod ws;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use app_origin::{COOKIE as APP_COOKIE, SDK_PATH};
pub use auth::{AccessPolicy, Caller};
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

/// Every API route, with its OpenAPI description, before the node is attached.
fn api_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(node::routes())
        .merge(mimei::routes())
        .merge(files::routes())
        .merge(ws::routes())
        .merge(social::routes())
        .merge(orgs::routes())
        .merge(apps::routes())
        .merge(net::routes())
}

/// The full OpenAPI document from the routes' own description.
fn document(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut api = openapi_wildcards(api);
    api.merge(gateway::openapi());
    api.merge(<bridge::BridgeDoc as OpenApi>::openapi());
    api
}

/// The OpenAPI document; needs no node, so it is served before onboarding too.
pub fn openapi() -> utoipa::openapi::OpenApi {
    document(api_routes().split_for_parts().1)
}

/// The API's routes and their OpenAPI description.
pub fn routes(node: Node) -> (Router, utoipa::openapi::OpenApi) {
    let (router, api) = api_routes().with_state(ApiState { node }).split_for_parts();
    let api = document(api);
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
    let body_limit = DefaultBodyLimit::max(usize::try_from(max_body).unwrap_or(usize::MAX));
    let policy = Arc::new(policy);
    // App origins (`<app-id>.localhost:<port>`) are answered before the owner's guard.
    let origins = Arc::new(app_origin::AppOrigins {
        state: ApiState { node: node.clone() },
        api: router.clone().layer(body_limit),
        policy: policy.clone(),
    });
    let main = router
        .layer(body_limit)
        .layer(axum::middleware::from_fn_with_state(policy, auth::guard));
    // The HTTP bridge (public release content) sits beside the guarded API, not in it.
    let main = bridge::routes(node.clone(), Arc::new(bridge::NetOrLocal(node))).merge(main);
    // Dispatch by Host before any routing, so each side routes the request once.
    Router::new().fallback_service(tower::service_fn(move |req| {
        let (origins, main) = (origins.clone(), main.clone());
        async move { Ok::<_, std::convert::Infallible>(app_origin::dispatch(origins, main, req).await) }
    }))
}

/// Where a running node's API is, for local clients (`<data dir>/api.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApiInfo {
    pub url: String,
    pub pid: u32,
}

/// Serve the gateway (UI, identity, then the node's API) on `listener` until
/// `shutdown` resolves.
pub async fn serve(
    gateway: Arc<gateway::Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = gateway.router();
    use axum::serve::ListenerExt;
    // Responses go out as headers then streamed body chunks: without NODELAY, Nagle and
    // delayed ACKs add ~40 ms to every request on loopback.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    gateway.stop_background();
    served
}

/// Run the apps' background tasks when they are due (checked every second).
pub(crate) async fn run_app_tasks(apps: crate::apps::Apps) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let a = apps.clone();
        let now = crate::apps::now_ms();
        match tokio::task::spawn_blocking(move || a.run_due(now)).await {
            Ok(Ok(r)) if r.failed > 0 => {
                tracing::warn!(ran = r.ran, failed = r.failed, "app tasks failed")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "running app tasks"),
            _ => {}
        }
    }
}

/// Run blocking store work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}

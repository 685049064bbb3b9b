//! The node's HTTP front door, which exists before the node does.
//!
//! On a first run there is no identity yet, so there is no [`Node`] and no API router.
//! The gateway listens anyway and answers:
//! - the shell UI at `/` and `/ui/...` (see [`super::ui`]), so onboarding can happen in a
//!   window or a browser;
//! - `/api/v1/identity/...`: status, create, restore from the recovery phrase, unlock
//!   a key file, show the phrase — behind the same Host/Origin/token checks as the API;
//! - every other route: `503 no_identity` until an identity is ready, then the node's
//!   full API (which keeps its own checks).
//!
//! The CLI (`leither run`) and the desktop shell both start a node through
//! [`crate::run::start`], which builds one of these.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, AccessPolicy};
use super::{ApiError, ErrorBody};
use crate::config::Config;
use crate::identity::{
    AccountId, BackendKind, Identity, IdentityError, IdentityOptions, KeyBackend, NodeId,
    Passphrase, PublicIdentity, RecoveryPhrase, UserId,
};
use crate::node::Node;

/// Environment variable the CLI also reads for the key-file passphrase.
const PASSPHRASE_ENV: &str = "LEITHER_PASSPHRASE";

/// Where the node is in its life.
enum Phase {
    /// No identity in the data directory: onboarding.
    NoIdentity,
    /// An identity whose key file needs a passphrase.
    Locked(Box<PublicIdentity>),
    /// Identity unlocked, node open, API served.
    Ready(Box<Ready>),
}

struct Ready {
    identity: Arc<Identity>,
    node: Node,
    router: Router,
    /// The apps' background tasks (stopped with the server).
    tasks: Option<tokio::task::AbortHandle>,
}

/// The front door of one node; see the module docs.
pub struct Gateway {
    data_dir: PathBuf,
    config: Config,
    policy: Arc<AccessPolicy>,
    phase: RwLock<Phase>,
    /// Serialises create / restore / unlock.
    setup: tokio::sync::Mutex<()>,
    sync_paused: Arc<AtomicBool>,
}

/// Why the gateway could not open the node.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Node(#[from] crate::node::NodeError),
    #[error("starting friends, messages and orgs: {0}")]
    People(#[from] crate::people::PeopleError),
    #[error("starting the network: {0}")]
    Net(#[from] crate::net::NetError),
}

impl Gateway {
    /// A gateway for the node in `data_dir`, answering requests that pass `policy`.
    /// It starts with no node: call [`Gateway::open`] with an unlocked identity, or
    /// [`Gateway::open_if_unlockable`].
    pub fn new(data_dir: &Path, config: Config, policy: AccessPolicy) -> Arc<Gateway> {
        let phase = match Identity::read_public(data_dir) {
            Ok(p) => Phase::Locked(Box::new(p)),
            Err(_) => Phase::NoIdentity,
        };
        Arc::new(Gateway {
            data_dir: data_dir.to_path_buf(),
            config,
            policy: Arc::new(policy),
            phase: RwLock::new(phase),
            setup: tokio::sync::Mutex::new(()),
            sync_paused: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Open the node for `identity` and serve its API.
    pub fn open(&self, identity: Identity) -> Result<Node, GatewayError> {
        let node = Node::open(&self.data_dir, self.config.clone(), identity.public())?;
        let identity = Arc::new(identity);
        // The people service (friends, messages, orgs) signs with the unlocked keys.
        node.start_people(identity.clone())?;
        let router = super::service(node.clone(), (*self.policy).clone());
        let tasks = tokio::runtime::Handle::try_current().ok().map(|rt| {
            rt.spawn(super::run_app_tasks(node.apps().clone()))
                .abort_handle()
        });
        *self.phase.write().unwrap_or_else(|e| e.into_inner()) = Phase::Ready(Box::new(Ready {
            identity,
            node: node.clone(),
            router,
            tasks,
        }));
        Ok(node)
    }

    /// If an identity exists and unlocks without asking anyone (OS keyring, or the
    /// key file with `LEITHER_PASSPHRASE` set), open the node. Otherwise stay in
    /// onboarding or locked state; the UI asks. Errors other than a missing
    /// passphrase are returned.
    pub fn open_if_unlockable(&self) -> Result<bool, GatewayError> {
        if !Identity::exists(&self.data_dir) {
            return Ok(false);
        }
        match Identity::load(&self.data_dir, |_| env_passphrase()) {
            Ok(id) => {
                self.open(id)?;
                Ok(true)
            }
            Err(IdentityError::PassphraseUnavailable(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The open node, once there is an identity.
    pub fn node(&self) -> Option<Node> {
        match &*self.phase.read().unwrap_or_else(|e| e.into_inner()) {
            Phase::Ready(r) => Some(r.node.clone()),
            _ => None,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(super) fn policy(&self) -> &AccessPolicy {
        &self.policy
    }

    /// Whether the user paused syncing with other nodes (tray menu, `/api/v1/sync`).
    pub fn sync_paused(&self) -> bool {
        self.sync_paused.load(Ordering::Relaxed)
    }

    pub fn set_sync_paused(&self, paused: bool) {
        self.sync_paused.store(paused, Ordering::Relaxed);
    }

    fn status(&self) -> IdentityStatus {
        match &*self.phase.read().unwrap_or_else(|e| e.into_inner()) {
            Phase::NoIdentity => IdentityStatus {
                state: IdentityState::None,
                user: None,
                node: None,
                account: None,
                keys: None,
                device: None,
            },
            Phase::Locked(p) => IdentityStatus::of(IdentityState::Locked, p),
            Phase::Ready(r) => IdentityStatus::of(IdentityState::Ready, &r.identity.public()),
        }
    }

    /// The router serving everything: UI, identity routes, and the node's API.
    pub fn router(self: &Arc<Self>) -> Router {
        let (identity, _) = identity_routes().with_state(self.clone()).split_for_parts();
        let identity = identity.layer(axum::middleware::from_fn_with_state(
            self.policy.clone(),
            auth::guard,
        ));
        let shell = Router::new()
            .merge(super::ui::routes())
            .merge(identity)
            .fallback(forward)
            .with_state(self.clone());
        // App origins (`<app-id>.localhost:<port>`) never see the shell UI: they go
        // straight to the node, which answers them with the app's own content.
        let gw = self.clone();
        Router::new().fallback_service(tower::service_fn(move |req: Request| {
            let (gw, shell) = (gw.clone(), shell.clone());
            async move {
                if gw.policy.app_host(req.headers()).is_some() {
                    Ok::<_, std::convert::Infallible>(forward(State(gw), req).await)
                } else {
                    shell.oneshot(req).await
                }
            }
        }))
    }

    /// Start the open node's network (`[net] enabled`), once. Separate from
    /// [`Gateway::open`] because the network starts asynchronously.
    pub async fn start_network(&self) -> Result<(), GatewayError> {
        let ready = match &*self.phase.read().unwrap_or_else(|e| e.into_inner()) {
            Phase::Ready(r) => Some((r.node.clone(), r.identity.clone())),
            _ => None,
        };
        let Some((node, identity)) = ready else {
            return Ok(());
        };
        if !self.config.net.enabled || node.net().is_some() {
            return Ok(());
        }
        let net =
            crate::net::start_with_pause(node.clone(), &identity, self.sync_paused.clone()).await?;
        node.set_net(net.clone());
        // Friends, messages and orgs travel over the network from now on.
        if let Some(people) = node.people() {
            crate::net::courier::start(net, people.clone(), crate::people::RETRY_EVERY);
        }
        Ok(())
    }

    /// Stop what runs in the background for the open node (server shutdown).
    pub fn stop_background(&self) {
        if let Phase::Ready(r) = &*self.phase.read().unwrap_or_else(|e| e.into_inner())
            && let Some(t) = &r.tasks
        {
            t.abort();
        }
    }
}

fn env_passphrase() -> Result<Passphrase, IdentityError> {
    std::env::var(PASSPHRASE_ENV)
        .map(Passphrase::from)
        .map_err(|_| IdentityError::PassphraseUnavailable("a passphrase is needed".into()))
}

/// Every request that is not UI or identity: the node's API once it is open.
pub(super) async fn forward(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let router = match &*gw.phase.read().unwrap_or_else(|e| e.into_inner()) {
        Phase::Ready(r) => Some(r.router.clone()),
        _ => None,
    };
    match router {
        Some(r) => match r.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        None => {
            // Same checks as every API route, then: the API's description, or not yet.
            let not_yet = Router::new()
                .route(
                    super::OPENAPI_PATH,
                    axum::routing::get(|| async { Json(super::openapi()) }),
                )
                .fallback(|| async {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "no_identity",
                        "this node has no unlocked identity yet: create, restore or unlock it \
                         (/api/v1/identity, or open the UI)",
                    )
                })
                .layer(axum::middleware::from_fn_with_state(
                    gw.policy.clone(),
                    auth::guard,
                ));
            match not_yet.oneshot(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
    }
}

/// The identity routes (also merged into the node's OpenAPI document).
fn identity_routes() -> OpenApiRouter<Arc<Gateway>> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(create))
        .routes(routes!(restore))
        .routes(routes!(unlock))
        .routes(routes!(phrase))
        .routes(routes!(sync_get, sync_set))
}

/// OpenAPI description of the gateway's own routes.
pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    identity_routes().split_for_parts().1
}

/// Where the node's identity stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdentityState {
    /// No identity yet: create one or restore it from a recovery phrase.
    None,
    /// An identity whose key file needs its passphrase.
    Locked,
    /// Unlocked; the node runs.
    Ready,
}

/// `GET /api/v1/identity`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityStatus {
    pub state: IdentityState,
    pub user: Option<UserId>,
    pub node: Option<NodeId>,
    pub account: Option<AccountId>,
    pub keys: Option<BackendKind>,
    /// This device's name (from its certificate).
    pub device: Option<String>,
}

impl IdentityStatus {
    fn of(state: IdentityState, p: &PublicIdentity) -> Self {
        IdentityStatus {
            state,
            user: Some(p.user),
            node: Some(p.node),
            account: Some(p.account),
            keys: Some(p.backend),
            device: p.device_cert.verify().ok().map(|c| c.name),
        }
    }
}

/// `POST /api/v1/identity/create`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateRequest {
    /// `auto` (OS keyring if it works, else an encrypted key file), `keyring` or `file`.
    #[schema(value_type = Option<String>)]
    pub keys: Option<KeyBackend>,
    /// Passphrase for the key file; needed only when the keys go to a file.
    pub passphrase: Option<String>,
    /// Name of this device (default: the host name).
    pub device_name: Option<String>,
}

/// `POST /api/v1/identity/restore`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The 24-word recovery phrase.
    pub phrase: String,
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub keys: Option<KeyBackend>,
    #[serde(default)]
    pub passphrase: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `POST /api/v1/identity/unlock`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    pub passphrase: String,
}

/// The recovery phrase (shown once at creation, and on request for backup).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhraseResponse {
    pub phrase: String,
}

/// The answer to create / restore / unlock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetupResponse {
    pub status: IdentityStatus,
    /// Only when a new identity was created: write it down.
    pub recovery_phrase: Option<String>,
}

/// Whether syncing with other nodes is paused.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncState {
    pub paused: bool,
}

fn identity_error(e: IdentityError) -> ApiError {
    use StatusCode as S;
    let (status, code) = match &e {
        IdentityError::Phrase(_) => (S::BAD_REQUEST, "invalid_phrase"),
        IdentityError::AlreadyExists { .. } => (S::CONFLICT, "identity_exists"),
        IdentityError::NoIdentity { .. } => (S::CONFLICT, "no_identity"),
        IdentityError::PassphraseUnavailable(_) | IdentityError::EmptyPassphrase => {
            (S::BAD_REQUEST, "passphrase_required")
        }
        IdentityError::WrongPassphrase { .. } => (S::FORBIDDEN, "wrong_passphrase"),
        IdentityError::InvalidDeviceName(_) => (S::BAD_REQUEST, "invalid_argument"),
        IdentityError::KeyringUnavailable(_) => (S::CONFLICT, "keyring_unavailable"),
        _ => (S::INTERNAL_SERVER_ERROR, "identity_error"),
    };
    ApiError::new(status, code, e.to_string())
}

fn gateway_error(e: GatewayError) -> ApiError {
    match e {
        GatewayError::Identity(i) => identity_error(i),
        GatewayError::Node(n) => ApiError::internal(n.to_string()),
        GatewayError::People(p) => ApiError::internal(p.to_string()),
        GatewayError::Net(n) => ApiError::internal(n.to_string()),
    }
}

fn given_or_env(p: Option<String>) -> Result<Passphrase, IdentityError> {
    match p {
        Some(p) if !p.is_empty() => Ok(Passphrase::from(p)),
        _ => env_passphrase().map_err(|_| {
            IdentityError::PassphraseUnavailable(
                "no OS keyring works here, so the keys go into an encrypted file: choose a passphrase".into(),
            )
        }),
    }
}

fn options(keys: Option<KeyBackend>, device: Option<String>) -> IdentityOptions {
    let mut o = IdentityOptions::new(keys.unwrap_or_default());
    if let Some(d) = device.filter(|d| !d.trim().is_empty()) {
        o.device_name = d.trim().to_string();
    }
    o
}

/// Create or restore, then open the node. One at a time.
async fn install(
    gw: Arc<Gateway>,
    make: impl FnOnce(&Path) -> Result<(Identity, Option<RecoveryPhrase>), IdentityError>
    + Send
    + 'static,
) -> Result<Json<SetupResponse>, ApiError> {
    let _one = gw.setup.lock().await;
    if Identity::exists(&gw.data_dir) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "identity_exists",
            "this node already has an identity",
        ));
    }
    let g = gw.clone();
    let phrase = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        std::fs::create_dir_all(&g.data_dir)
            .map_err(|e| ApiError::internal(format!("creating the data directory: {e}")))?;
        let config_file = g.data_dir.join(crate::config::CONFIG_FILE);
        if !config_file.exists() {
            let _ = std::fs::write(&config_file, Config::default_file());
        }
        let (id, phrase) = make(&g.data_dir).map_err(identity_error)?;
        g.open(id).map_err(gateway_error)?;
        Ok(phrase.map(|p| p.show().as_str().to_string()))
    })
    .await??;
    gw.start_network().await.map_err(gateway_error)?;
    Ok(Json(SetupResponse {
        status: gw.status(),
        recovery_phrase: phrase,
    }))
}

/// Where the node's identity stands: none (onboarding), locked, or ready.
#[utoipa::path(get, path = "/api/v1/identity", tag = "identity",
    responses((status = 200, body = IdentityStatus), (status = 401, body = ErrorBody)))]
async fn status(State(gw): State<Arc<Gateway>>) -> Json<IdentityStatus> {
    Json(gw.status())
}

/// Create a new identity on this node (first run). The answer holds the recovery
/// phrase once; the node starts serving its API.
#[utoipa::path(post, path = "/api/v1/identity/create", tag = "identity", request_body = CreateRequest,
    responses((status = 200, body = SetupResponse), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn create(
    State(gw): State<Arc<Gateway>>,
    Json(req): Json<CreateRequest>,
) -> Result<Json<SetupResponse>, ApiError> {
    install(gw, move |dir| {
        let opts = options(req.keys, req.device_name);
        let pass = req.passphrase;
        let (id, phrase) = Identity::create(dir, &opts, |_| given_or_env(pass))?;
        Ok((id, Some(phrase)))
    })
    .await
}

/// Restore an identity from its recovery phrase: this node becomes another device of
/// that user.
#[utoipa::path(post, path = "/api/v1/identity/restore", tag = "identity", request_body = RestoreRequest,
    responses((status = 200, body = SetupResponse), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn restore(
    State(gw): State<Arc<Gateway>>,
    Json(req): Json<RestoreRequest>,
) -> Result<Json<SetupResponse>, ApiError> {
    let phrase = RecoveryPhrase::parse(&req.phrase).map_err(identity_error)?;
    install(gw, move |dir| {
        let opts = options(req.keys, req.device_name);
        let pass = req.passphrase;
        let id = Identity::recover(dir, &phrase, &opts, |_| given_or_env(pass))?;
        Ok((id, None))
    })
    .await
}

/// Unlock an identity whose keys are in the passphrase-protected key file.
#[utoipa::path(post, path = "/api/v1/identity/unlock", tag = "identity", request_body = UnlockRequest,
    responses((status = 200, body = SetupResponse), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn unlock(
    State(gw): State<Arc<Gateway>>,
    Json(req): Json<UnlockRequest>,
) -> Result<Json<SetupResponse>, ApiError> {
    let _one = gw.setup.lock().await;
    if gw.node().is_some() {
        return Ok(Json(SetupResponse {
            status: gw.status(),
            recovery_phrase: None,
        }));
    }
    let g = gw.clone();
    tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let pass = Passphrase::from(req.passphrase);
        let id = Identity::load(&g.data_dir, |_| Ok(pass)).map_err(identity_error)?;
        g.open(id).map_err(gateway_error)?;
        Ok(())
    })
    .await??;
    gw.start_network().await.map_err(gateway_error)?;
    Ok(Json(SetupResponse {
        status: gw.status(),
        recovery_phrase: None,
    }))
}

/// The 24-word recovery phrase, for a backup. Keep it secret.
#[utoipa::path(post, path = "/api/v1/identity/phrase", tag = "identity",
    responses((status = 200, body = PhraseResponse), (status = 503, body = ErrorBody)))]
async fn phrase(State(gw): State<Arc<Gateway>>) -> Result<Json<PhraseResponse>, ApiError> {
    let id = match &*gw.phase.read().unwrap_or_else(|e| e.into_inner()) {
        Phase::Ready(r) => r.identity.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_identity",
                "no unlocked identity",
            ));
        }
    };
    let words = id.recovery_phrase().show();
    Ok(Json(PhraseResponse {
        phrase: words.as_str().to_string(),
    }))
}

/// Whether syncing with other nodes is paused.
#[utoipa::path(get, path = "/api/v1/sync", tag = "identity", responses((status = 200, body = SyncState)))]
async fn sync_get(State(gw): State<Arc<Gateway>>) -> Json<SyncState> {
    Json(SyncState {
        paused: gw.sync_paused(),
    })
}

/// Pause or resume syncing with other nodes (the desktop tray does this too).
#[utoipa::path(put, path = "/api/v1/sync", tag = "identity", request_body = SyncState,
    responses((status = 200, body = SyncState)))]
async fn sync_set(State(gw): State<Arc<Gateway>>, Json(req): Json<SyncState>) -> Json<SyncState> {
    gw.set_sync_paused(req.paused);
    Json(SyncState {
        paused: gw.sync_paused(),
    })
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        gateway_error(self).into_response()
    }
}

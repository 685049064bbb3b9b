//! The peer-to-peer network: status, peers, records, pull/pin, backup requests, names.
//! All routes answer `503 net_not_running` when the node runs without a network.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiState, ErrorBody};
use crate::net::{NameTarget, NetError, NetHandle, NetStatus, PeerInfo, PullReport, Valid};

impl From<NetError> for ApiError {
    fn from(e: NetError) -> Self {
        let e = match e {
            NetError::Mimei(m) => return m.into(),
            e => e,
        };
        let status = match &e {
            NetError::NotRunning | NetError::Paused => StatusCode::SERVICE_UNAVAILABLE,
            NetError::NotFound(_) => StatusCode::NOT_FOUND,
            NetError::NameTaken(_) => StatusCode::CONFLICT,
            NetError::BadAddress(_) | NetError::Record(_) => StatusCode::BAD_REQUEST,
            NetError::Mimei(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NetError::Internal(_) | NetError::Start(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NetError::Peer { .. } | NetError::NoHolders(_) | NetError::Refused { .. } => {
                StatusCode::BAD_GATEWAY
            }
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

pub(super) fn net(s: &ApiState) -> Result<NetHandle, ApiError> {
    s.node.net().ok_or_else(|| NetError::NotRunning.into())
}

/// A DHT record this node stores, as text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordView {
    /// `node`, `mimei` or `name`.
    pub kind: String,
    /// The node, Mimei ID or name the record is about.
    pub subject: String,
    /// Who may replace it (node, author, name owner).
    pub owner: String,
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub expires: u64,
    /// Short description of the content.
    pub summary: String,
}

fn view(v: &Valid) -> RecordView {
    let (kind, subject, summary) = match v {
        Valid::Node(r) => (
            "node",
            r.node.to_string(),
            format!(
                "user {} {} {}",
                r.cert.user(),
                if r.light { "light" } else { "full" },
                r.addrs.join(" ")
            ),
        ),
        Valid::Mimei(r) => (
            "mimei",
            r.id.to_string(),
            format!(
                "holder {} newest {:?}",
                r.holder,
                r.newest().map(|(n, _)| n)
            ),
        ),
        Valid::Name(r) => (
            "name",
            r.name.clone(),
            format!("→ {}", target_text(&r.target)),
        ),
        Valid::Profile(r) => ("profile", r.user.to_string(), format!("name {:?}", r.name)),
        Valid::Org(o) => (
            "org",
            o.org.to_string(),
            match &o.members {
                Some(m) => format!("{} ({} members)", o.charter.name, m.members.len()),
                None => format!("{} (member list not published)", o.charter.name),
            },
        ),
    };
    RecordView {
        kind: kind.into(),
        subject,
        owner: v.owner().to_string(),
        seq: v.seq(),
        expires: v.expires(),
        summary,
    }
}

fn target_text(t: &NameTarget) -> String {
    match t {
        NameTarget::Mimei(id) => format!("mimei {id}"),
        NameTarget::Node(n) => format!("node {n}"),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DialRequest {
    /// A multiaddr, e.g. `/ip4/192.0.2.1/tcp/7788/p2p/12D3…`.
    pub addr: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PullRequest {
    /// Mimei ID or a name that points at one.
    pub mimei: String,
    /// Version number; default the newest announced.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BackupRequest {
    /// Node ID or libp2p peer ID of the node asked to keep a copy.
    pub peer: String,
    pub mimei: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClaimRequest {
    pub name: String,
    /// Either a Mimei ID or a node ID (one of the two).
    #[serde(default)]
    pub mimei: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
}

/// A resolved name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NameView {
    pub name: String,
    /// `mimei` or `node`.
    pub kind: String,
    pub target: String,
    pub owner: String,
    pub seq: u64,
}

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(peers))
        .routes(routes!(dial))
        .routes(routes!(records))
        .routes(routes!(pull))
        .routes(routes!(pin))
        .routes(routes!(backup_request))
        .routes(routes!(claim))
        .routes(routes!(resolve))
}

/// Network status: node, addresses, NAT status (AutoNAT), peers.
#[utoipa::path(get, path = "/api/v1/net/status", tag = "net",
    responses((status = 200, body = NetStatus), (status = 503, body = ErrorBody)))]
async fn status(State(s): State<ApiState>) -> Result<Json<NetStatus>, ApiError> {
    Ok(Json(net(&s)?.status().await?))
}

/// Connected peers.
#[utoipa::path(get, path = "/api/v1/net/peers", tag = "net",
    responses((status = 200, body = [PeerInfo]), (status = 503, body = ErrorBody)))]
async fn peers(State(s): State<ApiState>) -> Result<Json<Vec<PeerInfo>>, ApiError> {
    Ok(Json(net(&s)?.peers().await?))
}

/// Connect to a peer.
#[utoipa::path(post, path = "/api/v1/net/dial", tag = "net", request_body = DialRequest,
    responses((status = 200), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn dial(
    State(s): State<ApiState>,
    Json(r): Json<DialRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    net(&s)?.dial(&r.addr).await?;
    Ok(Json(serde_json::json!({"connected": r.addr})))
}

/// The signed records this node stores for the DHT (all validated).
#[utoipa::path(get, path = "/api/v1/net/records", tag = "net",
    responses((status = 200, body = [RecordView]), (status = 503, body = ErrorBody)))]
async fn records(State(s): State<ApiState>) -> Result<Json<Vec<RecordView>>, ApiError> {
    let list = net(&s)?.records().await?;
    Ok(Json(list.iter().map(|(_, v)| view(v)).collect()))
}

/// Fetch a Mimei version from the network (verified, committed whole), then hold it.
#[utoipa::path(post, path = "/api/v1/net/pull", tag = "net", request_body = PullRequest,
    responses((status = 200, body = PullReport), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
async fn pull(
    State(s): State<ApiState>,
    Json(r): Json<PullRequest>,
) -> Result<Json<PullReport>, ApiError> {
    let n = net(&s)?;
    let id = n.resolve_mimei(&r.mimei).await?;
    Ok(Json(n.pull(&id, r.version).await?))
}

/// Pull every announced version of a Mimei and keep holding it.
#[utoipa::path(post, path = "/api/v1/net/pin", tag = "net", request_body = PullRequest,
    responses((status = 200, body = [PullReport]), (status = 404, body = ErrorBody)))]
async fn pin(
    State(s): State<ApiState>,
    Json(r): Json<PullRequest>,
) -> Result<Json<Vec<PullReport>>, ApiError> {
    let n = net(&s)?;
    let id = n.resolve_mimei(&r.mimei).await?;
    Ok(Json(n.pin(&id).await?))
}

/// Ask a peer to keep a copy of a Mimei (it pulls it from the network).
#[utoipa::path(post, path = "/api/v1/net/backup-request", tag = "net", request_body = BackupRequest,
    responses((status = 200), (status = 502, body = ErrorBody)))]
async fn backup_request(
    State(s): State<ApiState>,
    Json(r): Json<BackupRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = net(&s)?;
    let id = n.resolve_mimei(&r.mimei).await?;
    n.backup_request(&r.peer, &id).await?;
    Ok(Json(serde_json::json!({"accepted": true})))
}

/// Claim a name (or re-point one this user owns). `409 name_taken` if another user holds it.
#[utoipa::path(post, path = "/api/v1/net/names", tag = "net", request_body = ClaimRequest,
    responses((status = 200, body = NameView), (status = 409, body = ErrorBody),
              (status = 400, body = ErrorBody)))]
async fn claim(
    State(s): State<ApiState>,
    Json(r): Json<ClaimRequest>,
) -> Result<Json<NameView>, ApiError> {
    let n = net(&s)?;
    let target = match (&r.mimei, &r.node) {
        (Some(m), None) => NameTarget::Mimei(m.parse()?),
        (None, Some(node)) => NameTarget::Node(node.parse()?),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `mimei` and `node`",
            ));
        }
    };
    n.claim_name(&r.name, target).await?;
    Ok(Json(name_view(n.resolve_name(&r.name).await?)))
}

/// Resolve a name from the network.
#[utoipa::path(get, path = "/api/v1/net/names/{name}", tag = "net",
    params(("name" = String, Path)),
    responses((status = 200, body = NameView), (status = 404, body = ErrorBody)))]
async fn resolve(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<NameView>, ApiError> {
    Ok(Json(name_view(net(&s)?.resolve_name(&name).await?)))
}

fn name_view(r: crate::net::records::NameRecord) -> NameView {
    let (kind, target) = match r.target {
        NameTarget::Mimei(id) => ("mimei", id.to_string()),
        NameTarget::Node(n) => ("node", n.to_string()),
    };
    NameView {
        name: r.name,
        kind: kind.into(),
        target,
        owner: r.owner.to_string(),
        seq: r.seq,
    }
}

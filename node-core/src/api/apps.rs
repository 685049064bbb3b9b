//! Mimei apps over the API: the user's management routes (`/api/v1/apps…`), an app's
//! own space (`/api/v1/app…`, reachable only from the app's origin), and atomic
//! batches (`/api/v1/batch`) for both.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::extract::{AppJson, AppPath, AppQuery, mimei_id, path};
use super::mimei::DbItem;
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::apps::{
    AppError, AppListing, InstalledApp, Manifest, NewTask, Permission, Published, Task,
};
use crate::mimei::{BatchOp, DbRange, DirEntry, MimeiEvent, MimeiId, VersionRef};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(publish))
        .routes(routes!(install))
        .routes(routes!(update))
        .routes(routes!(uninstall))
        .routes(routes!(grant, revoke))
        .routes(routes!(launch))
        .routes(routes!(me))
        .routes(routes!(app_ls))
        .routes(routes!(app_get_file, app_put_file, app_delete_file))
        .routes(routes!(app_db_scan))
        .routes(routes!(app_db_get, app_db_put, app_db_delete))
        .routes(routes!(app_tasks, app_schedule))
        .routes(routes!(app_cancel))
        .routes(routes!(app_events))
        .routes(routes!(batch))
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        use StatusCode as S;
        let e = match e {
            AppError::Mimei(m) => return m.into(),
            other => other,
        };
        let (status, code) = match &e {
            AppError::Mimei(_) => (S::INTERNAL_SERVER_ERROR, "internal"),
            AppError::NotFound(_) => (S::NOT_FOUND, "no_such_app"),
            AppError::NotInstalled(_) => (S::NOT_FOUND, "not_installed"),
            AppError::AlreadyInstalled(_) => (S::CONFLICT, "already_installed"),
            AppError::Ambiguous(_) => (S::CONFLICT, "ambiguous_name"),
            AppError::NoRelease(_) => (S::CONFLICT, "no_release"),
            AppError::NotLocal(_) => (S::NOT_FOUND, "app_not_local"),
            AppError::BadManifest(_) => (S::BAD_REQUEST, "bad_manifest"),
            AppError::NotRequested(_) => (S::BAD_REQUEST, "not_requested"),
            AppError::BadLaunchCode => (S::FORBIDDEN, "bad_launch_code"),
            AppError::Limit(_) => (S::TOO_MANY_REQUESTS, "limit"),
            AppError::NoSuchTask(_) => (S::NOT_FOUND, "no_such_task"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn app_id(s: &str) -> Result<MimeiId, ApiError> {
    mimei_id(s)
}

// ---- the user's management routes ----

/// Installed apps, with each publisher's current release.
#[utoipa::path(get, path = "/api/v1/apps", tag = "apps", responses((status = 200, body = Vec<AppListing>)))]
async fn list(
    State(s): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<AppListing>>, ApiError> {
    caller.owner()?;
    let apps = s.node.apps().clone();
    blocking(move || Ok(Json(apps.list()?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct PublishBody {
    /// A directory on the node's machine holding `manifest.json` and the bundle.
    dir: String,
}

/// Publish an app bundle: create or update its Mimei, back it up, mark it `release`.
#[utoipa::path(post, path = "/api/v1/apps/publish", tag = "apps", request_body = PublishBody,
    responses((status = 200, body = Published), (status = 400, body = ErrorBody, description = "bad manifest")))]
async fn publish(
    State(s): State<ApiState>,
    caller: Caller,
    AppJson(body): AppJson<PublishBody>,
) -> Result<Json<Published>, ApiError> {
    caller.owner()?;
    let apps = s.node.apps().clone();
    blocking(move || Ok(Json(apps.publish(std::path::Path::new(&body.dir))?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct InstallBody {
    /// App Mimei ID, or the name of an app Mimei on this node.
    app: String,
    /// Permissions to grant now (each must be in the manifest).
    #[serde(default)]
    grants: Vec<Permission>,
}

/// Make sure the app's release is here: when it is not (or, with `newer`, when the
/// network knows a later one) and the node runs the network, pull the release the
/// author's signed routing record names, then check again.
async fn ensure_release(
    node: &crate::node::Node,
    id: &crate::mimei::MimeiId,
    newer: bool,
) -> Result<(), ApiError> {
    let apps = node.apps().clone();
    let local = apps.source().ensure_release_local(id).await;
    let missing = matches!(
        local,
        Err(crate::apps::AppError::NotLocal(_) | crate::apps::AppError::NoRelease(_))
    );
    if let Some(net) = node.net()
        && (missing || newer)
    {
        let here = node.mimeis().heads(id).ok().and_then(|h| h.release);
        match net.mimei_record(id).await.map(|r| r.release) {
            Ok(Some(n)) if here.is_none_or(|h| h < n) => {
                net.pull(id, Some(n)).await?;
            }
            Ok(_) => {}
            Err(e) if missing => return Err(e.into()),
            Err(_) => {}
        }
        return Ok(apps.source().ensure_release_local(id).await?);
    }
    Ok(local?)
}

/// Install an app's current release; when it is not on this node and the network runs,
/// it is pulled from the network first (by app ID).
#[utoipa::path(post, path = "/api/v1/apps/install", tag = "apps", request_body = InstallBody,
    responses((status = 201, body = InstalledApp), (status = 409, body = ErrorBody)))]
async fn install(
    State(s): State<ApiState>,
    caller: Caller,
    AppJson(body): AppJson<InstallBody>,
) -> Result<(StatusCode, Json<InstalledApp>), ApiError> {
    caller.owner()?;
    let apps = s.node.apps().clone();
    let name = body.app.clone();
    let a2 = apps.clone();
    let id = blocking(move || Ok(a2.resolve(&name)?)).await?;
    ensure_release(&s.node, &id, false).await?;
    blocking(move || Ok((StatusCode::CREATED, Json(apps.install(&id, &body.grants)?)))).await
}

/// Follow the publisher's current release.
#[utoipa::path(post, path = "/api/v1/apps/{id}/update", tag = "apps", params(("id" = MimeiId, Path)),
    responses((status = 200, body = InstalledApp)))]
async fn update(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<InstalledApp>, ApiError> {
    caller.owner()?;
    let id = app_id(&id)?;
    let apps = s.node.apps().clone();
    ensure_release(&s.node, &id, true).await?;
    blocking(move || Ok(Json(apps.update(&id)?))).await
}

#[derive(Debug, Deserialize, IntoParams)]
struct UninstallQuery {
    /// Keep the app's data Mimei (default: empty it).
    #[serde(default)]
    keep_data: bool,
}

/// Uninstall an app, keeping or emptying its data.
#[utoipa::path(delete, path = "/api/v1/apps/{id}", tag = "apps", params(("id" = MimeiId, Path), UninstallQuery),
    responses((status = 200, body = InstalledApp)))]
async fn uninstall(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<UninstallQuery>,
) -> Result<Json<InstalledApp>, ApiError> {
    caller.owner()?;
    let id = app_id(&id)?;
    let apps = s.node.apps().clone();
    blocking(move || Ok(Json(apps.uninstall(&id, q.keep_data)?))).await
}

fn perm(p: &str) -> Result<Permission, ApiError> {
    p.parse::<Permission>()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Grant an app a permission its manifest asks for.
#[utoipa::path(put, path = "/api/v1/apps/{id}/grants/{perm}", tag = "apps",
    params(("id" = MimeiId, Path), ("perm" = Permission, Path)), responses((status = 200, body = InstalledApp)))]
async fn grant(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath((id, p)): AppPath<(String, String)>,
) -> Result<Json<InstalledApp>, ApiError> {
    caller.owner()?;
    let (id, p) = (app_id(&id)?, perm(&p)?);
    let apps = s.node.apps().clone();
    blocking(move || Ok(Json(apps.grant(&id, p)?))).await
}

/// Take a permission back.
#[utoipa::path(delete, path = "/api/v1/apps/{id}/grants/{perm}", tag = "apps",
    params(("id" = MimeiId, Path), ("perm" = Permission, Path)), responses((status = 200, body = InstalledApp)))]
async fn revoke(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath((id, p)): AppPath<(String, String)>,
) -> Result<Json<InstalledApp>, ApiError> {
    caller.owner()?;
    let (id, p) = (app_id(&id)?, perm(&p)?);
    let apps = s.node.apps().clone();
    blocking(move || Ok(Json(apps.revoke(&id, p)?))).await
}

/// A one-time launch code and the URL that opens the app with it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LaunchCode {
    /// Valid once, for one minute, on this app's origin only.
    pub code: String,
    /// `http://<app-id>.localhost:<port>/?launch=<code>`
    pub url: String,
}

/// Make a launch code for an installed app. Opening the URL exchanges it for an
/// HttpOnly session cookie of the app's origin; the app never sees the API token.
#[utoipa::path(post, path = "/api/v1/apps/{id}/launch", tag = "apps", params(("id" = MimeiId, Path)),
    responses((status = 200, body = LaunchCode)))]
async fn launch(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> Result<Json<LaunchCode>, ApiError> {
    caller.owner()?;
    let id = app_id(&id)?;
    let port = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(0);
    let apps = s.node.apps().clone();
    let code = blocking(move || Ok(apps.launch(&id)?)).await?;
    Ok(Json(LaunchCode {
        url: format!("http://{id}.localhost:{port}/?launch={code}"),
        code,
    }))
}

// ---- an app's own space ----

/// What the calling app is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AppSelf {
    pub id: MimeiId,
    pub data: MimeiId,
    pub manifest: Manifest,
    pub grants: BTreeSet<Permission>,
}

/// The calling app: its ID, data Mimei, manifest and grants.
#[utoipa::path(get, path = "/api/v1/app", tag = "app", responses((status = 200, body = AppSelf)))]
async fn me(State(s): State<ApiState>, caller: Caller) -> Result<Json<AppSelf>, ApiError> {
    let a = caller.app()?.clone();
    let apps = s.node.apps().clone();
    let installed = blocking(move || {
        apps.get(&a.id)?
            .ok_or_else(|| AppError::NotInstalled(a.id).into())
    })
    .await?;
    Ok(Json(AppSelf {
        id: installed.id,
        data: installed.data,
        manifest: installed.manifest,
        grants: installed.grants,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
struct AppLsQuery {
    path: Option<String>,
    #[serde(default)]
    recursive: bool,
}

/// List a directory of the app's own files.
#[utoipa::path(get, path = "/api/v1/app/ls", tag = "app", params(AppLsQuery),
    responses((status = 200, body = Vec<DirEntry>)))]
async fn app_ls(
    State(s): State<ApiState>,
    caller: Caller,
    AppQuery(q): AppQuery<AppLsQuery>,
) -> Result<Json<Vec<DirEntry>>, ApiError> {
    let data = caller.app()?.data;
    let dir = path(q.path.as_deref().unwrap_or(""))?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(m.list(
            &user,
            &data,
            VersionRef::Cur,
            &dir,
            q.recursive,
        )?))
    })
    .await
}

/// Read one of the app's own files.
#[utoipa::path(get, path = "/api/v1/app/files/{*path}", tag = "app", params(("path" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn app_get_file(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(p): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let data = caller.app()?.data;
    let p = path(&p)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    let name = p.clone();
    let (reader, hash, first) = blocking(move || {
        let st = m.stat(&user, &data, VersionRef::Cur, &p)?;
        let reader = m.read_file(&user, &data, VersionRef::Cur, &p)?;
        let first = reader.chunk(0)?;
        Ok((reader, st.hash, first))
    })
    .await?;
    Ok(super::files::blob_response(
        reader,
        hash,
        Some(first),
        &name,
        &headers,
    ))
}

/// Write one of the app's own files.
#[utoipa::path(put, path = "/api/v1/app/files/{*path}", tag = "app", params(("path" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = DirEntry)))]
async fn app_put_file(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(p): AppPath<String>,
    body: Bytes,
) -> Result<Json<DirEntry>, ApiError> {
    let data = caller.app()?.data;
    let p = path(&p)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.write_file(&user, &data, &p, &body[..])?))).await
}

#[derive(Debug, Serialize, ToSchema)]
struct Removed {
    removed: u64,
}

/// Delete one of the app's own files or directories.
#[utoipa::path(delete, path = "/api/v1/app/files/{*path}", tag = "app", params(("path" = String, Path)),
    responses((status = 200, body = Removed)))]
async fn app_delete_file(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(p): AppPath<String>,
) -> Result<Json<Removed>, ApiError> {
    let data = caller.app()?.data;
    let p = path(&p)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(Removed {
            removed: m.delete(&user, &data, &p)?,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
struct AppScanQuery {
    prefix: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<usize>,
    /// Newest first: the last `limit` keys of the range, in descending order.
    reverse: Option<bool>,
}

/// Entries of the app's own database in key order.
#[utoipa::path(get, path = "/api/v1/app/db", tag = "app", params(AppScanQuery),
    responses((status = 200, body = Vec<DbItem>)))]
async fn app_db_scan(
    State(s): State<ApiState>,
    caller: Caller,
    AppQuery(q): AppQuery<AppScanQuery>,
) -> Result<Json<Vec<DbItem>>, ApiError> {
    let data = caller.app()?.data;
    let range = DbRange {
        prefix: q.prefix,
        start: q.start,
        end: q.end,
        limit: q.limit,
        reverse: q.reverse.unwrap_or(false),
    };
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(
            m.db_scan(&user, &data, VersionRef::Cur, &range)?
                .into_iter()
                .map(|e| DbItem::new(e.key, e.value))
                .collect(),
        ))
    })
    .await
}

/// The raw value of a key of the app's own database.
#[utoipa::path(get, path = "/api/v1/app/db/{*key}", tag = "app", params(("key" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn app_db_get(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> Result<Response, ApiError> {
    let data = caller.app()?.data;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    match blocking(move || Ok(m.db_get(&user, &data, VersionRef::Cur, &key)?)).await? {
        Some(v) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], v).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_key",
            "no such key",
        )),
    }
}

/// Set a key of the app's own database to the request body.
#[utoipa::path(put, path = "/api/v1/app/db/{*key}", tag = "app", params(("key" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 204)))]
async fn app_db_put(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let data = caller.app()?.data;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        m.db_put(&user, &data, &key, &body)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
struct Existed {
    existed: bool,
}

/// Delete a key of the app's own database.
#[utoipa::path(delete, path = "/api/v1/app/db/{*key}", tag = "app", params(("key" = String, Path)),
    responses((status = 200, body = Existed)))]
async fn app_db_delete(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(key): AppPath<String>,
) -> Result<Json<Existed>, ApiError> {
    let data = caller.app()?.data;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(Existed {
            existed: m.db_delete(&user, &data, &key)?,
        }))
    })
    .await
}

/// The app's background tasks.
#[utoipa::path(get, path = "/api/v1/app/tasks", tag = "app", responses((status = 200, body = Vec<Task>)))]
async fn app_tasks(State(s): State<ApiState>, caller: Caller) -> Result<Json<Vec<Task>>, ApiError> {
    let id = caller.app()?.id;
    let apps = s.node.apps().clone();
    blocking(move || Ok(Json(apps.tasks(&id)?))).await
}

/// Schedule a background task: database operations on the app's own data, run
/// atomically once after `delay_secs` or every `every_secs` (limits: 8 tasks per app,
/// 100 operations per task, repeat at most once a minute; `429 limit` beyond).
#[utoipa::path(post, path = "/api/v1/app/tasks", tag = "app", request_body = NewTask,
    responses((status = 201, body = Task), (status = 429, body = ErrorBody)))]
async fn app_schedule(
    State(s): State<ApiState>,
    caller: Caller,
    AppJson(new): AppJson<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let id = caller.app()?.id;
    let apps = s.node.apps().clone();
    blocking(move || Ok((StatusCode::CREATED, Json(apps.schedule(&id, new)?)))).await
}

/// Cancel a background task.
#[utoipa::path(delete, path = "/api/v1/app/tasks/{task}", tag = "app", params(("task" = String, Path)),
    responses((status = 204)))]
async fn app_cancel(
    State(s): State<ApiState>,
    caller: Caller,
    AppPath(task): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = caller.app()?.id;
    let apps = s.node.apps().clone();
    blocking(move || {
        apps.cancel(&id, &task)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// WebSocket of changes to the app's own data (`files_changed`, `db_changed`).
#[utoipa::path(get, path = "/api/v1/app/events", tag = "app",
    responses((status = 101, description = "switching to WebSocket", body = MimeiEvent)))]
async fn app_events(
    State(s): State<ApiState>,
    caller: Caller,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let data = caller.app()?.data;
    let rx = s.node.mimeis().subscribe();
    Ok(ws.on_upgrade(move |socket| forward_own(socket, rx, data)))
}

fn event_mimei(e: &MimeiEvent) -> &MimeiId {
    match e {
        MimeiEvent::Created { id }
        | MimeiEvent::FilesChanged { id }
        | MimeiEvent::DbChanged { id }
        | MimeiEvent::Backup { id, .. }
        | MimeiEvent::Released { id, .. }
        | MimeiEvent::RightsChanged { id } => id,
    }
}

async fn forward_own(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<MimeiEvent>,
    data: MimeiId,
) {
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let text = match ev {
                    Ok(e) if *event_mimei(&e) == data => serde_json::to_string(&e).unwrap_or_default(),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => format!("{{\"kind\":\"lagged\",\"missed\":{n}}}"),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

// ---- batch ----

/// One operation of a batch. Values and contents are UTF-8 text, or base64 in the
/// `_base64` field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
enum JsonOp {
    DbPut {
        key: String,
        #[serde(default)]
        value: Option<String>,
        #[serde(default)]
        value_base64: Option<String>,
    },
    DbDelete {
        key: String,
    },
    FilePut {
        path: String,
        #[serde(default)]
        content: Option<String>,
        #[serde(default)]
        content_base64: Option<String>,
    },
    FileDelete {
        path: String,
    },
}

fn text_or_base64(
    text: Option<String>,
    b64: Option<String>,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    match (text, b64) {
        (Some(t), None) => Ok(t.into_bytes()),
        (None, Some(b)) => BASE64
            .decode(b.as_bytes())
            .map_err(|e| ApiError::bad_request(format!("{what}_base64: {e}"))),
        _ => Err(ApiError::bad_request(format!(
            "give exactly one of `{what}` and `{what}_base64`"
        ))),
    }
}

impl JsonOp {
    fn into_op(self) -> Result<BatchOp, ApiError> {
        Ok(match self {
            JsonOp::DbPut {
                key,
                value,
                value_base64,
            } => BatchOp::DbPut {
                key,
                value: text_or_base64(value, value_base64, "value")?,
            },
            JsonOp::DbDelete { key } => BatchOp::DbDelete { key },
            JsonOp::FilePut {
                path: p,
                content,
                content_base64,
            } => BatchOp::FilePut {
                path: path(&p)?,
                content: text_or_base64(content, content_base64, "content")?,
            },
            JsonOp::FileDelete { path: p } => BatchOp::FileDelete { path: path(&p)? },
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
struct BatchBody {
    /// The Mimei to change (apps: absent, or their own data Mimei).
    #[serde(default)]
    mimei: Option<MimeiId>,
    ops: Vec<JsonOp>,
}

#[derive(Debug, Serialize, ToSchema)]
struct BatchDone {
    applied: usize,
}

/// Run database puts/deletes and file writes/deletes on one Mimei's `cur` atomically:
/// all take effect, or (on any error) none does.
#[utoipa::path(post, path = "/api/v1/batch", tag = "database", request_body = BatchBody,
    responses((status = 200, body = BatchDone), (status = 400, body = ErrorBody)))]
async fn batch(
    State(s): State<ApiState>,
    caller: Caller,
    AppJson(body): AppJson<BatchBody>,
) -> Result<Json<BatchDone>, ApiError> {
    let id = match (&caller, body.mimei) {
        (Caller::Owner, Some(id)) => id,
        (Caller::Owner, None) => return Err(ApiError::bad_request("`mimei` is required")),
        (Caller::App(a), None) => a.data,
        (Caller::App(a), Some(id)) if id == a.data => id,
        (Caller::App(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "app_forbidden",
                "an app's batch may change only its own data",
            ));
        }
    };
    let ops = body
        .ops
        .into_iter()
        .map(JsonOp::into_op)
        .collect::<Result<Vec<_>, _>>()?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        m.apply_batch(&user, &id, &ops)?;
        Ok(Json(BatchDone { applied: ops.len() }))
    })
    .await
}

//! Mimei objects: create, info, rights, versions, diff, fork, references, split,
//! database, import/export.

use std::path::PathBuf;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppPath, AppQuery, mimei_id, version, wants_ndjson};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::identity::UserId;
use crate::mimei::{
    DbRange, Diff, ExportStats, Heads, ImportStats, MimeiId, MimeiInfo, MimeiPath, MimeiRef,
    NewMimei, Progress, Rights, Role, VerifyReport, VersionRecord, VersionRef,
};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(info))
        .routes(routes!(set_rights))
        .routes(routes!(set_member, remove_member))
        .routes(routes!(log))
        .routes(routes!(backup))
        .routes(routes!(release))
        .routes(routes!(fork))
        .routes(routes!(diff))
        .routes(routes!(refs, add_ref))
        .routes(routes!(split))
        .routes(routes!(verify))
        .routes(routes!(db_scan, db_batch))
        .routes(routes!(db_get, db_put, db_delete))
        .routes(routes!(import))
        .routes(routes!(export))
}

/// A Mimei's info and named versions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MimeiView {
    pub info: MimeiInfo,
    pub heads: Heads,
}

/// Every Mimei on this node.
#[utoipa::path(get, path = "/api/v1/mimei", tag = "mimei", responses((status = 200, body = Vec<MimeiInfo>)))]
async fn list(State(s): State<ApiState>) -> Result<Json<Vec<MimeiInfo>>, ApiError> {
    let m = s.node.mimeis().clone();
    blocking(move || Ok(Json(m.all()?))).await
}

/// Create a Mimei owned by this node's user. Its ID is derived from (author, app type,
/// ext, mark) and never changes.
#[utoipa::path(post, path = "/api/v1/mimei", tag = "mimei", request_body = NewMimei,
    responses((status = 201, body = MimeiInfo), (status = 409, body = ErrorBody, description = "already exists")))]
async fn create(
    State(s): State<ApiState>,
    AppJson(new): AppJson<NewMimei>,
) -> Result<(StatusCode, Json<MimeiInfo>), ApiError> {
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok((StatusCode::CREATED, Json(m.create(&user, &new)?)))).await
}

/// Info and named versions of a Mimei.
#[utoipa::path(get, path = "/api/v1/mimei/{id}", tag = "mimei", params(("id" = MimeiId, Path)),
    responses((status = 200, body = MimeiView), (status = 404, body = ErrorBody)))]
async fn info(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<MimeiView>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        let info = m.check(&user, &id, crate::mimei::Perm::Read)?;
        Ok(Json(MimeiView {
            info,
            heads: m.heads(&id)?,
        }))
    })
    .await
}

/// Set what members and guests may do.
#[utoipa::path(put, path = "/api/v1/mimei/{id}/rights", tag = "mimei", params(("id" = MimeiId, Path)),
    request_body = Rights, responses((status = 200, body = MimeiInfo)))]
async fn set_rights(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(rights): AppJson<Rights>,
) -> Result<Json<MimeiInfo>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.set_rights(&user, &id, rights)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct RoleBody {
    role: Role,
}

/// Give a user a role in a Mimei.
#[utoipa::path(put, path = "/api/v1/mimei/{id}/members/{user}", tag = "mimei",
    params(("id" = MimeiId, Path), ("user" = UserId, Path)), request_body = RoleBody,
    responses((status = 200, body = MimeiInfo)))]
async fn set_member(
    State(s): State<ApiState>,
    AppPath((id, member)): AppPath<(String, String)>,
    AppJson(body): AppJson<RoleBody>,
) -> Result<Json<MimeiInfo>, ApiError> {
    let id = mimei_id(&id)?;
    let member: UserId = member.parse()?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.set_member(&user, &id, &member, Some(body.role))?))).await
}

/// Remove a user's role.
#[utoipa::path(delete, path = "/api/v1/mimei/{id}/members/{user}", tag = "mimei",
    params(("id" = MimeiId, Path), ("user" = UserId, Path)), responses((status = 200, body = MimeiInfo)))]
async fn remove_member(
    State(s): State<ApiState>,
    AppPath((id, member)): AppPath<(String, String)>,
) -> Result<Json<MimeiInfo>, ApiError> {
    let id = mimei_id(&id)?;
    let member: UserId = member.parse()?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.set_member(&user, &id, &member, None)?))).await
}

/// Every backed-up version, oldest first.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/versions", tag = "versions", params(("id" = MimeiId, Path)),
    responses((status = 200, body = Vec<VersionRecord>)))]
async fn log(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<VersionRecord>>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.log(&user, &id)?))).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct BackupBody {
    #[serde(default)]
    message: String,
}

/// Freeze `cur` into the next numbered version (it becomes `last`).
#[utoipa::path(post, path = "/api/v1/mimei/{id}/backup", tag = "versions", params(("id" = MimeiId, Path)),
    request_body = BackupBody, responses((status = 200, body = VersionRecord)))]
async fn backup(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    body: Bytes,
) -> Result<Json<VersionRecord>, ApiError> {
    let id = mimei_id(&id)?;
    let message = if body.is_empty() {
        String::new()
    } else {
        serde_json::from_slice::<BackupBody>(&body)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?
            .message
    };
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.backup(&user, &id, &message)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ReleaseBody {
    /// The version to publish (`last` if absent).
    #[serde(default)]
    version: Option<VersionRef>,
}

/// Mark a backed-up version as `release`.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/release", tag = "versions", params(("id" = MimeiId, Path)),
    request_body = ReleaseBody, responses((status = 200, body = Heads)))]
async fn release(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ReleaseBody>,
) -> Result<Json<Heads>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(m.release(
            &user,
            &id,
            body.version.unwrap_or(VersionRef::Last),
        )?))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct ForkBody {
    /// Mark of the new Mimei.
    mark: String,
    /// The version to fork (`last` if absent).
    #[serde(default)]
    version: Option<VersionRef>,
}

/// Fork a backed-up version into a new Mimei that records its origin.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/fork", tag = "versions", params(("id" = MimeiId, Path)),
    request_body = ForkBody, responses((status = 201, body = MimeiInfo)))]
async fn fork(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<ForkBody>,
) -> Result<(StatusCode, Json<MimeiInfo>), ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        let info = m.fork(
            &user,
            &id,
            body.version.unwrap_or(VersionRef::Last),
            &body.mark,
        )?;
        Ok((StatusCode::CREATED, Json(info)))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
struct DiffQuery {
    /// Older side (default `last`).
    from: Option<String>,
    /// Newer side (default `cur`).
    to: Option<String>,
}

/// What changed between two versions (files and database keys).
#[utoipa::path(get, path = "/api/v1/mimei/{id}/diff", tag = "versions", params(("id" = MimeiId, Path), DiffQuery),
    responses((status = 200, body = Diff)))]
async fn diff(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<DiffQuery>,
) -> Result<Json<Diff>, ApiError> {
    let id = mimei_id(&id)?;
    let from = version(Some(q.from.as_deref().unwrap_or("last")))?;
    let to = version(q.to.as_deref())?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.diff(&user, &id, from, to)?))).await
}

/// References from this Mimei to others.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/refs", tag = "mimei", params(("id" = MimeiId, Path)),
    responses((status = 200, body = Vec<MimeiRef>)))]
async fn refs(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<Vec<MimeiRef>>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.refs(&user, &id)?))).await
}

#[derive(Debug, Deserialize, ToSchema)]
struct RefBody {
    target: MimeiId,
    delta: i64,
}

/// Change a reference count by `delta`; returns the new reference.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/refs", tag = "mimei", params(("id" = MimeiId, Path)),
    request_body = RefBody, responses((status = 200, body = MimeiRef)))]
async fn add_ref(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RefBody>,
) -> Result<Json<MimeiRef>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        let count = m.add_ref(&user, &id, &body.target, body.delta)?;
        Ok(Json(MimeiRef {
            mimei: body.target,
            count,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct SplitBody {
    /// Directory to move out.
    path: MimeiPath,
    /// Mark of the new Mimei.
    mark: String,
}

/// Move a directory into a new Mimei, leaving a reference in its place.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/split", tag = "mimei", params(("id" = MimeiId, Path)),
    request_body = SplitBody, responses((status = 201, body = MimeiInfo)))]
async fn split(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<SplitBody>,
) -> Result<(StatusCode, Json<MimeiInfo>), ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok((
            StatusCode::CREATED,
            Json(m.split(&user, &id, &body.path, &body.mark)?),
        ))
    })
    .await
}

/// Read and check every block of `cur` and of every version (like `git fsck`).
#[utoipa::path(post, path = "/api/v1/mimei/{id}/verify", tag = "versions", params(("id" = MimeiId, Path)),
    responses((status = 200, body = VerifyReport)))]
async fn verify(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
) -> Result<Json<VerifyReport>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.verify(&user, &id)?))).await
}

// ---- database ----

#[derive(Debug, Deserialize, IntoParams)]
struct DbScanQuery {
    version: Option<String>,
    prefix: Option<String>,
    /// First key (inclusive).
    start: Option<String>,
    /// Last key (exclusive).
    end: Option<String>,
    limit: Option<usize>,
    /// Newest first: the last `limit` keys of the range, in descending order.
    reverse: Option<bool>,
}

/// One database entry. `value` holds UTF-8 values; other values are in `value_base64`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DbItem {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

impl DbItem {
    pub(super) fn new(key: String, value: Vec<u8>) -> Self {
        match String::from_utf8(value) {
            Ok(v) => DbItem {
                key,
                value: Some(v),
                value_base64: None,
            },
            Err(e) => DbItem {
                key,
                value: None,
                value_base64: Some(BASE64.encode(e.as_bytes())),
            },
        }
    }

    pub(super) fn bytes(&self) -> Result<Option<Vec<u8>>, ApiError> {
        match (&self.value, &self.value_base64) {
            (Some(v), None) => Ok(Some(v.clone().into_bytes())),
            (None, Some(b)) => BASE64
                .decode(b.as_bytes())
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("value_base64: {e}"))),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(ApiError::bad_request(
                "give `value` or `value_base64`, not both",
            )),
        }
    }
}

/// Entries in key order: all keys with `prefix`, from `start` (inclusive) to `end`
/// (exclusive), at most `limit`; with `reverse=true` the last `limit` of them, in
/// descending key order.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/db", tag = "database", params(("id" = MimeiId, Path), DbScanQuery),
    responses((status = 200, body = Vec<DbItem>)))]
async fn db_scan(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<DbScanQuery>,
) -> Result<Json<Vec<DbItem>>, ApiError> {
    let id = mimei_id(&id)?;
    let v = version(q.version.as_deref())?;
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
            m.db_scan(&user, &id, v, &range)?
                .into_iter()
                .map(|e| DbItem::new(e.key, e.value))
                .collect(),
        ))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct DbBatch {
    /// Entries with a value are set; entries without one are deleted.
    ops: Vec<DbItem>,
}

/// Apply several sets and deletes to `cur` atomically.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/db", tag = "database", params(("id" = MimeiId, Path)),
    request_body = DbBatch, responses((status = 204)))]
async fn db_batch(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(batch): AppJson<DbBatch>,
) -> Result<StatusCode, ApiError> {
    let id = mimei_id(&id)?;
    let ops = batch
        .ops
        .into_iter()
        .map(|i| Ok((i.bytes()?, i.key)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let ops: Vec<_> = ops.into_iter().map(|(v, k)| (k, v)).collect();
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        m.db_write(&user, &id, &ops)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
struct AtVersion {
    /// `cur` (default), `last`, `release` or a number.
    version: Option<String>,
}

/// The raw value of a key.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/db/{*key}", tag = "database",
    params(("id" = MimeiId, Path), ("key" = String, Path), AtVersion),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = ErrorBody)))]
async fn db_get(
    State(s): State<ApiState>,
    AppPath((id, key)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<AtVersion>,
) -> Result<Response, ApiError> {
    let id = mimei_id(&id)?;
    let v = version(q.version.as_deref())?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    let value = blocking(move || Ok(m.db_get(&user, &id, v, &key)?)).await?;
    match value {
        Some(v) => Ok(([(header::CONTENT_TYPE, "application/octet-stream")], v).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_key",
            "no such key",
        )),
    }
}

/// Set a key in `cur` to the request body.
#[utoipa::path(put, path = "/api/v1/mimei/{id}/db/{*key}", tag = "database",
    params(("id" = MimeiId, Path), ("key" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 204)))]
async fn db_put(
    State(s): State<ApiState>,
    AppPath((id, key)): AppPath<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        m.db_put(&user, &id, &key, &body)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
struct Existed {
    existed: bool,
}

/// Delete a key from `cur`.
#[utoipa::path(delete, path = "/api/v1/mimei/{id}/db/{*key}", tag = "database",
    params(("id" = MimeiId, Path), ("key" = String, Path)), responses((status = 200, body = Existed)))]
async fn db_delete(
    State(s): State<ApiState>,
    AppPath((id, key)): AppPath<(String, String)>,
) -> Result<Json<Existed>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(Existed {
            existed: m.db_delete(&user, &id, &key)?,
        }))
    })
    .await
}

// ---- import / export ----

#[derive(Debug, Deserialize, ToSchema)]
struct ImportBody {
    /// A directory on the node's machine.
    dir: String,
    /// Directory of the Mimei to mirror it into (root if absent).
    #[serde(default)]
    into: Option<MimeiPath>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct ExportBody {
    /// A directory on the node's machine that does not exist or is empty.
    dir: String,
    #[serde(default)]
    version: Option<VersionRef>,
    /// Directory of the Mimei to export (root if absent).
    #[serde(default)]
    from: Option<MimeiPath>,
}

/// One line of a progress stream (`Accept: application/x-ndjson`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProgressLine<T> {
    Progress(Progress),
    Done(T),
    Error(super::error::ErrorDetail),
}

/// Make `cur` (or a directory of it) mirror a directory of the node's file system.
/// With `Accept: application/x-ndjson` the answer is a stream of progress lines.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/import", tag = "mimei", params(("id" = MimeiId, Path)),
    request_body = ImportBody, responses((status = 200, body = ImportStats)))]
async fn import(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<ImportBody>,
) -> Result<Response, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    let into = body.into.unwrap_or_default();
    let dir = PathBuf::from(body.dir);
    with_progress(wants_ndjson(&headers), move |progress| {
        Ok(m.import_dir(&user, &id, &dir, &into, progress)?)
    })
    .await
}

/// Write a version's files into an empty directory of the node's file system.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/export", tag = "mimei", params(("id" = MimeiId, Path)),
    request_body = ExportBody, responses((status = 200, body = ExportStats)))]
async fn export(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
    AppJson(body): AppJson<ExportBody>,
) -> Result<Response, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    let from = body.from.unwrap_or_default();
    let v = body.version.unwrap_or(VersionRef::Cur);
    let dir = PathBuf::from(body.dir);
    with_progress(wants_ndjson(&headers), move |progress| {
        Ok(m.export_dir(&user, &id, v, &from, &dir, progress)?)
    })
    .await
}

/// Run a long job; answer with its JSON result, or stream NDJSON progress lines.
async fn with_progress<T: Serialize + Send + 'static>(
    stream: bool,
    job: impl FnOnce(&(dyn Fn(Progress) + Sync)) -> Result<T, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    if !stream {
        return blocking(move || job(&|_| {}))
            .await
            .map(|r| Json(r).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    tokio::task::spawn_blocking(move || {
        let last =
            std::sync::Mutex::new(std::time::Instant::now() - std::time::Duration::from_secs(1));
        let send_progress = |p: Progress| {
            let due = last.lock().map(|mut t| {
                let now = std::time::Instant::now();
                let due =
                    now.duration_since(*t).as_millis() >= 100 || p.files_done == p.files_total;
                if due {
                    *t = now;
                }
                due
            });
            if due.unwrap_or(false) {
                let _ = tx.try_send(line(&ProgressLine::<()>::Progress(p)));
            }
        };
        let end = match job(&send_progress) {
            Ok(r) => line(&ProgressLine::Done(r)),
            Err(e) => line(&ProgressLine::<()>::Error(e.body().error)),
        };
        let _ = tx.blocking_send(end);
    });
    let body = Body::from_stream(tokio_stream::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::convert::Infallible>,
    ));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

fn line<T: Serialize>(v: &T) -> Vec<u8> {
    let mut l = serde_json::to_vec(v).unwrap_or_default();
    l.push(b'\n');
    l
}

//! A Mimei's file space over HTTP: list, stat, read (streamed, with ETag and ranges),
//! write (streamed), delete, move.

use std::io::Read;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{AppJson, AppPath, AppQuery, mimei_id, path, version};
use super::{ApiError, ApiState, ErrorBody, blocking};
use crate::mimei::{DirEntry, MimeiId, MimeiPath};
use crate::store::{BlobReader, BlockHash};

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(ls))
        .routes(routes!(stat))
        .routes(routes!(get_file, put_file, delete_file))
        .routes(routes!(move_path))
}

#[derive(Debug, Deserialize, IntoParams)]
struct LsQuery {
    /// Directory to list (root if absent).
    path: Option<String>,
    /// `cur` (default), `last`, `release` or a number.
    version: Option<String>,
    /// List all descendants, not only direct entries.
    #[serde(default)]
    recursive: bool,
}

/// Entries of a directory at any version.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/ls", tag = "files", params(("id" = MimeiId, Path), LsQuery),
    responses((status = 200, body = Vec<DirEntry>), (status = 404, body = ErrorBody)))]
async fn ls(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<LsQuery>,
) -> Result<Json<Vec<DirEntry>>, ApiError> {
    let id = mimei_id(&id)?;
    let dir = path(q.path.as_deref().unwrap_or(""))?;
    let v = version(q.version.as_deref())?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.list(&user, &id, v, &dir, q.recursive)?))).await
}

#[derive(Debug, Deserialize, IntoParams)]
struct StatQuery {
    path: String,
    version: Option<String>,
}

/// What a path names at any version.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/stat", tag = "files", params(("id" = MimeiId, Path), StatQuery),
    responses((status = 200, body = DirEntry), (status = 404, body = ErrorBody)))]
async fn stat(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppQuery(q): AppQuery<StatQuery>,
) -> Result<Json<DirEntry>, ApiError> {
    let id = mimei_id(&id)?;
    let p = path(&q.path)?;
    let v = version(q.version.as_deref())?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || Ok(Json(m.stat(&user, &id, v, &p)?))).await
}

#[derive(Debug, Deserialize, IntoParams)]
struct AtVersion {
    /// `cur` (default), `last`, `release` or a number.
    version: Option<String>,
}

/// A file's content. Supports `Range` (one range), `ETag`/`If-None-Match` (the ETag is
/// the content digest) and guesses `Content-Type` from the name.
#[utoipa::path(get, path = "/api/v1/mimei/{id}/files/{*path}", tag = "files",
    params(("id" = MimeiId, Path), ("path" = String, Path), AtVersion),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 206, description = "partial content"), (status = 304, description = "not modified"),
              (status = 404, body = ErrorBody)))]
async fn get_file(
    State(s): State<ApiState>,
    AppPath((id, p)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<AtVersion>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = mimei_id(&id)?;
    let p = path(&p)?;
    let v = version(q.version.as_deref())?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    let name = p.clone();
    let (reader, hash, first) = blocking(move || {
        let st = m.stat(&user, &id, v, &p)?;
        let reader = m.read_file(&user, &id, v, &p)?;
        // Verify the first chunk before answering, so a damaged small file gets an
        // error status rather than a 200 with a body cut short.
        let first = reader.chunk(0)?;
        Ok((reader, st.hash, first))
    })
    .await?;
    Ok(blob_response(reader, hash, Some(first), &name, &headers))
}

/// Serve a blob as an HTTP response: content type from the name, ETag from the digest,
/// one byte range, streamed chunk by chunk (each verified as it is read).
pub(crate) fn blob_response(
    reader: BlobReader,
    hash: Option<BlockHash>,
    first_chunk: Option<Vec<u8>>,
    name: &MimeiPath,
    req: &HeaderMap,
) -> Response {
    let size = reader.size();
    let etag = hash.map(|h| format!("\"{h}\""));
    if let (Some(etag), Some(inm)) = (
        &etag,
        req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()),
    ) && inm.split(',').any(|t| t.trim() == etag || t.trim() == "*")
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response();
    }
    let mime = mime_guess::from_path(name.file_name().unwrap_or("")).first_or_octet_stream();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(Ok(v)) = etag.map(|e| HeaderValue::from_str(&e)) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (status, start, end) = match req.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => (StatusCode::OK, 0, size),
        Some(r) => match parse_range(r, size) {
            Some((a, b)) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{}/{size}", b - 1)) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
                (StatusCode::PARTIAL_CONTENT, a, b)
            }
            None => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
                return (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response();
            }
        },
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    (
        status,
        headers,
        stream_range(reader, first_chunk, start, end),
    )
        .into_response()
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` → half-open `[start, end)`; `None` if unsatisfiable.
fn parse_range(r: &str, size: u64) -> Option<(u64, u64)> {
    let spec = r.strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end && start < size).then_some((start, end))
}

pub(super) fn stream_range(
    reader: BlobReader,
    mut first_chunk: Option<Vec<u8>>,
    start: u64,
    end: u64,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let chunk = crate::store::CHUNK_SIZE as u64;
        let mut pos = start;
        while pos < end {
            let idx = (pos / chunk) as usize;
            let data = match (idx, first_chunk.take()) {
                (0, Some(d)) => Ok(d),
                _ => reader.chunk(idx),
            };
            let piece = match data {
                Ok(data) => {
                    let from = (pos - idx as u64 * chunk) as usize;
                    let to = ((end - idx as u64 * chunk).min(data.len() as u64)) as usize;
                    if from >= to {
                        Err(std::io::Error::other("blob shorter than its size"))
                    } else {
                        pos += (to - from) as u64;
                        Ok(Bytes::copy_from_slice(&data[from..to]))
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading a file for an HTTP response");
                    Err(std::io::Error::other(e.to_string()))
                }
            };
            let failed = piece.is_err();
            if tx.blocking_send(piece).is_err() || failed {
                return;
            }
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Write (create or replace) a file in `cur` with the request body, streamed.
#[utoipa::path(put, path = "/api/v1/mimei/{id}/files/{*path}", tag = "files",
    params(("id" = MimeiId, Path), ("path" = String, Path), AtVersion),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = DirEntry), (status = 409, body = ErrorBody, description = "not cur, or a directory is in the way")))]
async fn put_file(
    State(s): State<ApiState>,
    AppPath((id, p)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<AtVersion>,
    body: Body,
) -> Result<Json<DirEntry>, ApiError> {
    let id = mimei_id(&id)?;
    let p = path(&p)?;
    version(q.version.as_deref())?.require_cur()?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let writer = tokio::task::spawn_blocking(move || {
        m.write_file(
            &user,
            &id,
            &p,
            ChannelReader {
                rx,
                cur: Bytes::new(),
            },
        )
    });
    let max = s.node.config().api.max_body_mib.saturating_mul(1024 * 1024);
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(frame) = stream.next().await {
        total += frame.as_ref().map(|b| b.len() as u64).unwrap_or(0);
        if total > max {
            // Fail the writer so it stores nothing in cur, then say why.
            let _ = tx
                .send(Err(std::io::Error::other("request body too large")))
                .await;
            drop(tx);
            let _ = writer.await;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body exceeds the limit of {max} bytes (api.max_body_mib)"),
            ));
        }
        let failed = frame.is_err();
        if tx.send(frame.map_err(std::io::Error::other)).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    Ok(Json(writer.await??))
}

/// Adapts a channel of body frames to `std::io::Read` for the blocking writer.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct Removed {
    removed: u64,
}

/// Delete a file or a whole directory from `cur`.
#[utoipa::path(delete, path = "/api/v1/mimei/{id}/files/{*path}", tag = "files",
    params(("id" = MimeiId, Path), ("path" = String, Path), AtVersion),
    responses((status = 200, body = Removed), (status = 404, body = ErrorBody)))]
async fn delete_file(
    State(s): State<ApiState>,
    AppPath((id, p)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<AtVersion>,
) -> Result<Json<Removed>, ApiError> {
    let id = mimei_id(&id)?;
    let p = path(&p)?;
    version(q.version.as_deref())?.require_cur()?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(Removed {
            removed: m.delete(&user, &id, &p)?,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
struct MoveBody {
    from: MimeiPath,
    to: MimeiPath,
}

#[derive(Debug, Serialize, ToSchema)]
struct Moved {
    moved: u64,
}

/// Move a file or directory within `cur`; the target must not exist.
#[utoipa::path(post, path = "/api/v1/mimei/{id}/move", tag = "files", params(("id" = MimeiId, Path)),
    request_body = MoveBody, responses((status = 200, body = Moved), (status = 409, body = ErrorBody)))]
async fn move_path(
    State(s): State<ApiState>,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<MoveBody>,
) -> Result<Json<Moved>, ApiError> {
    let id = mimei_id(&id)?;
    let (m, user) = (s.node.mimeis().clone(), s.user());
    blocking(move || {
        Ok(Json(Moved {
            moved: m.rename(&user, &id, &body.from, &body.to)?,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 100)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}

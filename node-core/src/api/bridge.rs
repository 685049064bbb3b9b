//! HTTP bridge (SPEC P6): a Mimei's published files over plain HTTP, for browsers and
//! any HTTP client, at `/m/<id-or-name>/<path>` on the node's HTTP port.
//!
//! ## What is served, and to whom
//! Only the `release` version, and only of a Mimei whose rights let guests read
//! (`rights.guest.read`, e.g. created with `Rights::public()`): that content is public by
//! the owner's choice, so no token is needed. Anything else — no such Mimei here, a
//! private one, nothing released, `cur` or other versions — is the same `404
//! not_found`, so the bridge does not even reveal that a private Mimei exists.
//!
//! ## Access policy (differs from `/api/`, on purpose)
//! The `/api/` routes keep their token and Host/Origin checks ([`super::auth`]); this
//! router is merged *beside* them, not inside their guard. The bridge accepts any Host
//! and Origin: it is read-only (GET/HEAD), has no side effects, no cookies, no token,
//! and serves only public data, so DNS rebinding gains a page nothing it could not
//! fetch anyway. Because the bridge shares an origin with the API, every answer carries
//! `Content-Security-Policy: sandbox …` (without `allow-same-origin`): a published HTML
//! page runs in an opaque origin, so it can neither read the node's origin storage nor
//! pass the API's Origin check.
//!
//! ## HTTP details
//! Content-Type from the file name; strong ETag = the file's content digest
//! (`If-None-Match` → 304); one byte range (`Range`, `If-Range`; 206, or 416 when
//! unsatisfiable; several ranges are answered with the whole file); a directory path
//! with a trailing `/` serves its `index.html`, without one it redirects (301) to add it.
//! `Cache-Control: public, max-age=60`: content under one digest never changes, but a
//! new release can change what a URL names, so caches revalidate by ETag after a minute.
//!
//! ## Speed
//! Which version is a Mimei's public release is cached per Mimei and dropped on every
//! `Released` / `RightsChanged` event; [`Mimeis`](crate::mimei::Mimeis) emits those
//! before the call that made the change returns, and each request first takes the
//! pending events, so a request never sees a release or rights older than the last
//! acknowledged change. Versions never change, so `(Mimei, version, path)` → answer is
//! cached too: files up to
//! [`CACHE_FILE_MAX`] keep their (verified) bytes in memory and are sent in one write;
//! larger ones keep their chunk list and are streamed chunk by chunk, each chunk verified.
//! Header values (ETag, type, length) are computed once per cached file. The cache
//! holds at most [`CACHE_BYTES`] of content and one version per Mimei.
//!
//! ## Not local
//! Names and Mimei that are not on this node go through a [`ReleaseSource`]; the
//! network layer provides one that resolves names (P5) and fetches releases (P2). The
//! default, [`LocalOnly`], knows no names and fetches nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;

use super::error::{ApiError, ErrorBody};
use crate::mimei::{EntryKind, MimeiError, MimeiEvent, MimeiId, MimeiPath, VersionRecord};
use crate::node::Node;
use crate::store::{BlobReader, BlobRef};

/// The bridge in the OpenAPI document. The route itself is [`routes`]' handler, which
/// sits outside the token guard; this function only carries the description.
#[utoipa::path(get, path = "/m/{target}/{path}", tag = "bridge",
    params(
        ("target" = String, Path, description = "Mimei ID, or a name (resolved by the network)"),
        ("path" = String, Path, description = "file in the release; a path ending in `/` serves its `index.html`"),
        ("Range" = Option<String>, Header, description = "one byte range, `bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-None-Match" = Option<String>, Header, description = "ETag(s) the client has"),
    ),
    security(()),
    responses(
        (status = 200, description = "The file (public release of a Mimei guests may read; no token needed). ETag = content digest.", content_type = "application/octet-stream"),
        (status = 206, description = "The requested byte range"),
        (status = 301, description = "A directory without the trailing `/`"),
        (status = 304, description = "If-None-Match matched"),
        (status = 400, body = ErrorBody, description = "Malformed or escaping path"),
        (status = 404, body = ErrorBody, description = "No such file, name, or public release here"),
        (status = 416, description = "Range not satisfiable"),
    ))]
#[allow(dead_code)]
fn bridge_get() {}

/// OpenAPI description of the bridge (merged into the API's document).
#[derive(utoipa::OpenApi)]
#[openapi(paths(bridge_get))]
pub struct BridgeDoc;

/// Where the bridge is mounted.
pub const PREFIX: &str = "/m/";

/// Files up to this size are kept in memory once read.
pub const CACHE_FILE_MAX: u64 = 1024 * 1024;

/// Content bytes the bridge keeps in memory at most.
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=60");
const SANDBOX: HeaderValue = HeaderValue::from_static(
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads",
);
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const ANY: HeaderValue = HeaderValue::from_static("*");

/// How the bridge reaches what is not on this node (implemented by the network layer).
pub trait ReleaseSource: Send + Sync + 'static {
    /// The Mimei a name points at (SPEC P5), or `None` if the name is unknown.
    fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<MimeiId>>;

    /// Bring the public release of `id` onto this node. `Ok(true)` when it is now
    /// local (the bridge then looks again), `Ok(false)` when no one has it.
    fn fetch<'a>(&'a self, id: &'a MimeiId) -> BoxFuture<'a, Result<bool, ApiError>>;
}

/// Serves only what is on this node; knows no names.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalOnly;

impl ReleaseSource for LocalOnly {
    fn resolve<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, Option<MimeiId>> {
        Box::pin(std::future::ready(None))
    }

    fn fetch<'a>(&'a self, _id: &'a MimeiId) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(std::future::ready(Ok(false)))
    }
}

/// The network when this node runs one (checked per request: the network starts after
/// the API is built, and may stop), else nothing: names resolve through the net's
/// signed name records, and a release not here is pulled from its holders (the
/// author's signed routing record says which version is the release).
#[derive(Clone)]
pub struct NetOrLocal(pub Node);

impl ReleaseSource for NetOrLocal {
    fn resolve<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Option<MimeiId>> {
        Box::pin(async move {
            let net = self.0.net()?;
            net.resolve_mimei(name).await.ok()
        })
    }

    fn fetch<'a>(&'a self, id: &'a MimeiId) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            let Some(net) = self.0.net() else {
                return Ok(false);
            };
            let Some(n) = net.mimei_record(id).await.ok().and_then(|r| r.release) else {
                return Ok(false);
            };
            match net.pull(id, Some(n)).await {
                Ok(_) => Ok(true),
                Err(e) => {
                    tracing::info!(mimei = %id, "bridge: pulling the release failed: {e}");
                    Ok(false)
                }
            }
        })
    }
}

/// The bridge's routes (no access guard: see the module docs).
pub fn routes(node: Node, source: Arc<dyn ReleaseSource>) -> Router {
    let events = node.mimeis().subscribe();
    let state = Bridge(Arc::new(Inner {
        node,
        source,
        cache: RwLock::new(Cache::default()),
        releases: Mutex::new(Releases {
            events,
            generation: 0,
            by_mimei: HashMap::new(),
        }),
    }));
    Router::new()
        .route(
            "/m/{*rest}",
            axum::routing::get(serve)
                .head(serve)
                .with_state(state.clone()),
        )
        .route(
            "/m",
            axum::routing::get(serve).head(serve).with_state(state),
        )
}

#[derive(Clone)]
struct Bridge(Arc<Inner>);

struct Inner {
    node: Node,
    source: Arc<dyn ReleaseSource>,
    cache: RwLock<Cache>,
    releases: Mutex<Releases>,
}

/// Public release of each Mimei asked for (`None`: private or nothing released).
struct Releases {
    events: tokio::sync::broadcast::Receiver<MimeiEvent>,
    /// Bumped by every release or rights change seen: a value computed before a bump
    /// may be stale and is not stored.
    generation: u64,
    by_mimei: HashMap<MimeiId, Option<Arc<VersionRecord>>>,
}

impl Releases {
    /// Apply the changes announced since the last call.
    fn catch_up(&mut self) {
        use tokio::sync::broadcast::error::TryRecvError;
        loop {
            match self.events.try_recv() {
                Ok(MimeiEvent::Released { id, .. } | MimeiEvent::RightsChanged { id }) => {
                    self.by_mimei.remove(&id);
                    self.generation += 1;
                }
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => {
                    self.by_mimei.clear();
                    self.generation += 1;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
}

/// What a request path names in one version.
enum Hit {
    File(Box<FileHit>),
    /// A directory asked for without the trailing `/`.
    Redirect,
}

struct FileHit {
    /// Headers of a plain `200 OK`, made once.
    ok_headers: HeaderMap,
    size: u64,
    etag: HeaderValue,
    content_type: HeaderValue,
    length: HeaderValue,
    /// The whole content, for files up to [`CACHE_FILE_MAX`].
    body: Option<Bytes>,
    /// The chunk list, for larger files (streamed).
    reader: Option<BlobReader>,
}

/// Answers of one version, by request path.
type Answers = HashMap<Box<str>, Arc<Hit>>;

#[derive(Default)]
struct Cache {
    /// Per Mimei: the version cached and its answers.
    by_mimei: HashMap<MimeiId, (u64, Answers)>,
    bytes: usize,
}

impl Cache {
    fn get(&self, id: &MimeiId, version: u64, path: &str) -> Option<Arc<Hit>> {
        match self.by_mimei.get(id) {
            Some((v, m)) if *v == version => m.get(path).cloned(),
            _ => None,
        }
    }

    fn insert(&mut self, id: MimeiId, version: u64, path: &str, hit: Arc<Hit>) {
        let cost = match &*hit {
            Hit::File(f) => f.body.as_ref().map_or(0, |b| b.len()) + 256,
            Hit::Redirect => 64,
        };
        if self.bytes + cost > CACHE_BYTES {
            self.by_mimei.clear();
            self.bytes = 0;
        }
        let entry = self
            .by_mimei
            .entry(id)
            .or_insert_with(|| (version, HashMap::new()));
        if entry.0 != version {
            // A newer release: the old one's answers are not needed any more.
            let freed: usize = entry
                .1
                .values()
                .map(|h| match &**h {
                    Hit::File(f) => f.body.as_ref().map_or(0, |b| b.len()) + 256,
                    Hit::Redirect => 64,
                })
                .sum();
            self.bytes = self.bytes.saturating_sub(freed);
            *entry = (version, HashMap::new());
        }
        entry.1.insert(path.into(), hit);
        self.bytes += cost;
    }
}

fn not_found(message: &str) -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", message).into_response()
}

async fn serve(State(b): State<Bridge>, req: axum::extract::Request) -> Response {
    match serve_inner(&b, req.method(), req.uri(), req.headers()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve_inner(
    b: &Bridge,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let rest = uri.path().strip_prefix(PREFIX).unwrap_or("");
    let Some((target, raw_path)) = rest.split_once('/') else {
        if rest.is_empty() {
            return Ok(not_found("use /m/<Mimei ID or name>/<path>"));
        }
        return Ok(redirect(uri));
    };
    let target = percent_decode(target)?;
    let id = match MimeiId::from_str(target.as_ref()) {
        Ok(id) => id,
        Err(_) => match b.0.source.resolve(&target).await {
            Some(id) => id,
            None => {
                return Ok(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_name",
                    format!("no Mimei ID or known name `{target}`"),
                )
                .into_response());
            }
        },
    };
    let path = percent_decode(raw_path)?;

    let Some(release) = public_release(b, &id).await? else {
        return Ok(not_found("no public release of this Mimei here"));
    };
    let number = release.number;
    let path: &str = &path;
    let cached =
        b.0.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id, number, path);
    let hit = match cached {
        Some(h) => h,
        None => {
            let node = b.0.node.clone();
            let p = path.to_string();
            let hit = tokio::task::spawn_blocking(move || lookup(&node, &release, &p)).await??;
            let Some(hit) = hit else {
                return Ok(not_found("no such file in the release"));
            };
            let hit = Arc::new(hit);
            let mut cache = b.0.cache.write().unwrap_or_else(|p| p.into_inner());
            cache.insert(id, number, path, hit.clone());
            hit
        }
    };
    Ok(match &*hit {
        Hit::Redirect => redirect(uri),
        Hit::File(f) => respond(f, method, headers),
    })
}

/// The public release of `id`, fetching it through the source when it is not here.
async fn public_release(b: &Bridge, id: &MimeiId) -> Result<Option<Arc<VersionRecord>>, ApiError> {
    let generation = {
        let mut r = b.0.releases.lock().unwrap_or_else(|p| p.into_inner());
        r.catch_up();
        if let Some(known) = r.by_mimei.get(id) {
            return Ok(known.clone());
        }
        r.generation
    };
    let m = b.0.node.mimeis();
    let found = match m.public_release(id) {
        Err(MimeiError::NotFound(_)) => {
            if !b.0.source.fetch(id).await? {
                return Ok(None);
            }
            match m.public_release(id) {
                // Not cached: it may arrive later.
                Err(MimeiError::NotFound(_)) => return Ok(None),
                other => other?,
            }
        }
        other => other?,
    };
    let found = found.map(Arc::new);
    let mut r = b.0.releases.lock().unwrap_or_else(|p| p.into_inner());
    r.catch_up();
    if r.generation == generation {
        r.by_mimei.insert(*id, found.clone());
    }
    Ok(found)
}

/// What `path` names in `release` (blocking: reads blocks).
fn lookup(node: &Node, release: &VersionRecord, path: &str) -> Result<Option<Hit>, ApiError> {
    let dir_request = path.is_empty() || path.ends_with('/');
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let p = if trimmed.is_empty() {
        MimeiPath::root()
    } else {
        MimeiPath::parse(trimmed)?
    };
    let m = node.mimeis();
    let Some(mut entry) = m.stat_in_version(release, &p)? else {
        return Ok(None);
    };
    if entry.kind == EntryKind::Dir {
        if !dir_request {
            return Ok(Some(Hit::Redirect));
        }
        match m.stat_in_version(release, &p.join("index.html")?)? {
            Some(e) => entry = e,
            None => return Ok(None),
        }
    } else if dir_request {
        // `file/` names nothing.
        return Ok(None);
    }
    let (EntryKind::File, Some(hash), Some(size)) = (entry.kind, entry.hash, entry.size) else {
        return Ok(None);
    };
    let reader = BlobReader::open(m.store(), BlobRef { hash, size })?;
    let content_type = entry
        .path
        .file_name()
        .and_then(|n| mime_guess::from_path(n).first_raw())
        .unwrap_or("application/octet-stream");
    let etag = HeaderValue::from_str(&format!("\"{hash}\""))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let content_type = HeaderValue::from_static(content_type);
    let mut ok_headers = HeaderMap::with_capacity(10);
    common_headers(&mut ok_headers, &etag);
    ok_headers.insert(header::CONTENT_TYPE, content_type.clone());
    ok_headers.insert(header::ACCEPT_RANGES, BYTES);
    ok_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    let (body, reader) = if size <= CACHE_FILE_MAX {
        (Some(Bytes::from(reader.read_all()?)), None)
    } else {
        (None, Some(reader))
    };
    Ok(Some(Hit::File(Box::new(FileHit {
        ok_headers,
        size,
        etag,
        content_type,
        length: HeaderValue::from(size),
        body,
        reader,
    }))))
}

fn redirect(uri: &Uri) -> Response {
    let mut to = String::with_capacity(uri.path().len() + 1);
    to.push_str(uri.path());
    to.push('/');
    if let Some(q) = uri.query() {
        to.push('?');
        to.push_str(q);
    }
    match HeaderValue::from_str(&to) {
        Ok(v) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, v)]).into_response(),
        Err(_) => ApiError::bad_request("bad path").into_response(),
    }
}

/// Headers of every answer about a file, 304 included.
fn common_headers(h: &mut HeaderMap, etag: &HeaderValue) {
    h.insert(header::ETAG, etag.clone());
    h.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    h.insert(header::CONTENT_SECURITY_POLICY, SANDBOX);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
}

fn respond(f: &FileHit, method: &Method, req: &HeaderMap) -> Response {
    // The common case: a plain GET of a file held in memory.
    if let Some(b) = &f.body
        && *method == Method::GET
        && !req.contains_key(header::IF_NONE_MATCH)
        && !req.contains_key(header::RANGE)
    {
        let mut resp = Response::new(Body::from(b.clone()));
        *resp.headers_mut() = f.ok_headers.clone();
        return resp;
    }
    let mut h = HeaderMap::with_capacity(10);
    common_headers(&mut h, &f.etag);

    if let Some(inm) = req.get(header::IF_NONE_MATCH)
        && etag_matches(inm.as_bytes(), f.etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    h.insert(header::CONTENT_TYPE, f.content_type.clone());
    h.insert(header::ACCEPT_RANGES, BYTES);

    let if_range_ok = req
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == f.etag.as_bytes());
    let range = match req.get(header::RANGE) {
        Some(r) if if_range_ok => parse_range(r.as_bytes(), f.size),
        _ => Range::Whole,
    };
    let (status, start, end) = match range {
        Range::Whole => {
            h.insert(header::CONTENT_LENGTH, f.length.clone());
            (StatusCode::OK, 0, f.size)
        }
        Range::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", f.size)) {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.remove(header::CONTENT_TYPE);
            return (StatusCode::RANGE_NOT_SATISFIABLE, h).into_response();
        }
        Range::Part(start, end) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, f.size)) {
                h.insert(header::CONTENT_RANGE, v);
            }
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
    };
    let body = if *method == Method::HEAD {
        Body::empty()
    } else if let Some(b) = &f.body {
        Body::from(b.slice(start as usize..end as usize))
    } else if let Some(r) = &f.reader {
        super::files::stream_range(r.clone(), None, start, end)
    } else {
        Body::empty()
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    resp
}

/// `If-None-Match`: `*`, or a list of (possibly weak) tags, one of which is ours.
fn etag_matches(inm: &[u8], etag: &[u8]) -> bool {
    inm.split(|&c| c == b',').any(|t| {
        let t = t.trim_ascii();
        t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == etag
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// No usable `Range` (absent, another unit, several ranges, malformed): the whole file.
    Whole,
    /// `[start, end)`.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110 §14.1.2).
fn parse_range(r: &[u8], size: u64) -> Range {
    let Some(spec) = r.strip_prefix(b"bytes=") else {
        return Range::Whole;
    };
    let Ok(spec) = std::str::from_utf8(spec) else {
        return Range::Whole;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if size == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part(size.saturating_sub(n), size),
            None => Range::Whole,
        },
        (a, "") => match num(a) {
            Some(s) if s < size => Range::Part(s, size),
            Some(_) => Range::Unsatisfiable,
            None => Range::Whole,
        },
        (a, b) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s > e => Range::Unsatisfiable,
            (Some(s), Some(_)) if s >= size => Range::Unsatisfiable,
            (Some(s), Some(e)) => Range::Part(s, e.saturating_add(1).min(size)),
            _ => Range::Whole,
        },
    }
}

/// `%XX` escapes of a URL path → UTF-8 text.
fn percent_decode(s: &str) -> Result<std::borrow::Cow<'_, str>, ApiError> {
    if !s.contains('%') {
        return Ok(s.into());
    }
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "malformed %-escape in path",
        )
    };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Into::into)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", "path is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Range::*;
        assert_eq!(parse_range(b"bytes=0-9", 100), Part(0, 10));
        assert_eq!(parse_range(b"bytes=90-", 100), Part(90, 100));
        assert_eq!(parse_range(b"bytes=-10", 100), Part(90, 100));
        assert_eq!(parse_range(b"bytes=-500", 100), Part(0, 100));
        assert_eq!(parse_range(b"bytes=50-500", 100), Part(50, 100));
        assert_eq!(parse_range(b"bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=9-3", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Whole);
        assert_eq!(parse_range(b"items=0-1", 100), Whole);
        assert_eq!(parse_range(b"bytes=x-1", 100), Whole);
        assert_eq!(parse_range(b"bytes=+1-2", 100), Whole);
    }

    #[test]
    fn etags() {
        let e = b"\"abc\"";
        assert!(etag_matches(b"\"abc\"", e));
        assert!(etag_matches(b"\"x\", W/\"abc\"", e));
        assert!(etag_matches(b"*", e));
        assert!(!etag_matches(b"\"abd\"", e));
        assert!(!etag_matches(b"abc", e));
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%20b").unwrap(), "a b");
        assert_eq!(percent_decode("%2e%2e").unwrap(), "..");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%2").is_err());
        assert!(percent_decode("%ff").is_err());
    }
}

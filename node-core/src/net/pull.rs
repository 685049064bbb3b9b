//! Replication (SPEC P2): serving requests of other nodes, and pulling a Mimei version.
//!
//! **Serving.** A request names the requester's user through its device certificate,
//! which must be valid for the connection's node. Blocks and versions are served only
//! for a Mimei that user may read, and a block only if one of that Mimei's versions
//! needs it (a digest learnt from another, private Mimei gets nothing); a response
//! carries at most [`wire::RESPONSE_BLOCK_BUDGET`] bytes of blocks.
//!
//! **Pulling.** The signed routing record gives the digest of each version record;
//! the version record gives the roots; each block, checked against its digest, gives
//! its children. Holders (the record's holder and every provider) are asked in
//! parallel, a few requests in flight per holder; a holder that sends a block whose
//! digest does not match, or garbage, is dropped for the rest of the pull and its
//! blocks go to another holder. Blocks already in the store are read locally instead
//! (that is how an interrupted pull resumes). Blocks are staged as they arrive and the
//! version is committed in one transaction at the end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::records;
use super::wire::{self, Request, RequestBody, Response};
use super::{InboundMessage, NetError, NetHandle};
use crate::identity::UserId;
use crate::mimei::{BlockKind, MimeiId, MimeiInfo, Perm, VersionRecord, block_children};
use crate::store::BlockHash;

/// Blocks asked for in one request.
const BATCH: usize = 16;
/// Requests in flight per holder.
const IN_FLIGHT_PER_HOLDER: usize = 8;
/// Received batches being verified and written at once; no new requests beyond it,
/// so a slow disk bounds the memory a pull holds.
const MAX_STORING: usize = 4;

/// What a pull did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullReport {
    pub mimei: String,
    pub version: u64,
    /// The version was already here; nothing was fetched.
    pub already_present: bool,
    pub blocks_fetched: u64,
    pub bytes_fetched: u64,
    /// Blocks found in the store (resumed or shared with other versions).
    pub blocks_local: u64,
    pub holders_used: usize,
    /// Holders dropped for sending bad data.
    pub holders_dropped: Vec<String>,
    pub millis: u64,
}

/// Answer a request from `peer`.
pub(crate) async fn serve(
    handle: &NetHandle,
    peer: PeerId,
    request: Request,
    inbound: mpsc::Sender<InboundMessage>,
) -> Response {
    let Some(node) = super::node_id_of(&peer) else {
        return Response::error("bad_peer", "peer ID is not an ed25519 node key");
    };
    let user = request.cert.user();
    if request.cert.verify_for(&user, &node).is_err() {
        return Response::error("bad_cert", "device certificate does not match the node");
    }
    if handle.sync_paused() && !matches!(request.body, RequestBody::App { .. }) {
        // Messages have their own answer while paused (the courier's `retry`).
        return Response::error("paused", "syncing is paused on this node");
    }
    match request.body {
        RequestBody::App { kind, body } => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let msg = InboundMessage {
                node,
                user,
                kind,
                body: body.0,
                reply: tx,
            };
            if inbound.try_send(msg).is_err() {
                return Response::error("busy", "no handler for messages or queue full");
            }
            match tokio::time::timeout(std::time::Duration::from_secs(30), rx).await {
                Ok(Ok(bytes)) => Response::App(wire::Bytes(bytes)),
                _ => Response::error("no_answer", "the message was not answered"),
            }
        }
        RequestBody::Backup { mimei } => {
            let policy = handle.node().config().net.accept_backups.clone();
            let allowed = match policy.as_str() {
                "any" => true,
                "own" => user == handle.user_id(),
                _ => false,
            };
            if !allowed || handle.inner.light {
                return Response::error(
                    "backup_refused",
                    "this node does not keep backups for you",
                );
            }
            let h = handle.clone();
            tokio::spawn(async move {
                match pull(&h, &mimei, None, &[peer]).await {
                    Ok(r) => tracing::info!(%mimei, version = r.version, "backup kept"),
                    Err(e) => tracing::warn!(%mimei, "backup request failed: {e}"),
                }
            });
            Response::Accepted
        }
        RequestBody::Version { mimei, number } => {
            let mimeis = handle.node().mimeis().clone();
            blocking(move || {
                let info = readable(&mimeis, &user, &mimei)?;
                let n = match number {
                    Some(n) => n,
                    None => mimeis
                        .heads(&mimei)
                        .map_err(|e| Response::error("not_found", e.to_string()))?
                        .last
                        .ok_or_else(|| Response::error("no_version", "no versions"))?,
                };
                let record = mimeis
                    .version(&mimei, n)
                    .map_err(|e| Response::error("no_version", e.to_string()))?;
                Ok(Response::Version {
                    info: Box::new(info),
                    record: Box::new(record),
                })
            })
            .await
        }
        RequestBody::Blocks { mimei, hashes } => {
            if hashes.len() > wire::MAX_BLOCKS_PER_REQUEST {
                return Response::error("too_many", "too many blocks in one request");
            }
            let mimeis = handle.node().mimeis().clone();
            let h = handle.clone();
            blocking(move || {
                readable(&mimeis, &user, &mimei)?;
                // Only blocks of this Mimei's versions: knowing a digest from another
                // (private) Mimei must not get its bytes.
                let servable = servable(&h, &mimeis, &mimei)?;
                let store = mimeis.store();
                let mut budget = wire::RESPONSE_BLOCK_BUDGET;
                let mut out = Vec::with_capacity(hashes.len());
                for h in hashes {
                    if !servable.contains(&h) {
                        out.push(None);
                        continue;
                    }
                    match store.get_block_unverified(&h) {
                        Ok(data) if data.len() <= budget || out.is_empty() => {
                            budget = budget.saturating_sub(data.len());
                            out.push(Some(wire::Bytes(data)));
                        }
                        _ => out.push(None),
                    }
                }
                Ok(Response::Blocks(out))
            })
            .await
        }
    }
}

/// The blocks a block links to, with what they are.
type Children = Vec<(BlockHash, BlockKind)>;

/// What became of one batch of received blocks.
struct Staged {
    /// Verified and written: size, and the blocks each links to.
    stored: Vec<(usize, Children)>,
    /// The holder did not have these.
    missing: Vec<BlockHash>,
    /// Bytes that do not match their digest.
    bad: Vec<BlockHash>,
}

/// Verify each block against its digest, parse its links, and stage it (blocking).
fn verify_and_stage(
    stage: &std::sync::Mutex<crate::store::Stage>,
    items: Vec<(BlockHash, BlockKind, Option<wire::Bytes>)>,
) -> Result<Staged, NetError> {
    let mut out = Staged {
        stored: Vec::new(),
        missing: Vec::new(),
        bad: Vec::new(),
    };
    for (h, kind, data) in items {
        match data {
            Some(wire::Bytes(d)) if BlockHash::of(&d) == h => {
                let children = block_children(&h, kind, &d)?;
                let links: Vec<BlockHash> = children.iter().map(|(c, _)| *c).collect();
                stage
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put_hashed(h, &d, &links)
                    .map_err(|e| NetError::Mimei(e.into()))?;
                out.stored.push((d.len(), children));
            }
            Some(_) => out.bad.push(h),
            None => out.missing.push(h),
        }
    }
    Ok(out)
}

/// The blocks a Mimei's versions need, as computed at `heads` (next, last) within
/// [`SERVABLE_FOR`].
pub(crate) struct Servable {
    heads: (u64, Option<u64>),
    at: Instant,
    blocks: std::sync::Arc<HashSet<BlockHash>>,
}

/// How long a computed block set is trusted while the Mimei's heads stay the same (an
/// older version pulled in later does not move the heads).
const SERVABLE_FOR: std::time::Duration = std::time::Duration::from_secs(30);
/// Mimeis whose block sets are kept.
const SERVABLE_CACHED: usize = 64;

fn servable(
    handle: &NetHandle,
    mimeis: &crate::mimei::Mimeis,
    id: &MimeiId,
) -> Result<std::sync::Arc<HashSet<BlockHash>>, Response> {
    let heads = mimeis
        .heads(id)
        .map_err(|e| Response::error("not_found", e.to_string()))?;
    let key = (heads.next, heads.last);
    let lock = || {
        handle
            .inner
            .servable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    };
    if let Some(s) = lock().get(id)
        && s.heads == key
        && s.at.elapsed() < SERVABLE_FOR
    {
        return Ok(s.blocks.clone());
    }
    let blocks = std::sync::Arc::new(
        mimeis
            .version_blocks(id)
            .map_err(|e| Response::error("internal", e.to_string()))?,
    );
    let mut map = lock();
    if map.len() >= SERVABLE_CACHED {
        map.clear();
    }
    map.insert(
        *id,
        Servable {
            heads: key,
            at: Instant::now(),
            blocks: blocks.clone(),
        },
    );
    Ok(blocks)
}

fn readable(
    mimeis: &crate::mimei::Mimeis,
    user: &UserId,
    id: &MimeiId,
) -> Result<MimeiInfo, Response> {
    match mimeis.info(id) {
        Ok(info) if info.allows(user, Perm::Read) => Ok(info),
        Ok(_) => Err(Response::error("forbidden", "you may not read this Mimei")),
        Err(_) => Err(Response::error("not_found", "no such Mimei here")),
    }
}

async fn blocking(f: impl FnOnce() -> Result<Response, Response> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(r) | Err(r)) => r,
        Err(e) => Response::error("internal", e.to_string()),
    }
}

/// Pull version `version` (default: newest announced) of `id`. `extra` are holders to
/// try besides those the DHT names.
pub(crate) async fn pull(
    handle: &NetHandle,
    id: &MimeiId,
    version: Option<u64>,
    extra: &[PeerId],
) -> Result<PullReport, NetError> {
    handle.check_not_paused()?;
    let started = Instant::now();
    let rec = handle.mimei_record(id).await?;
    let n = match version {
        Some(n) => n,
        None => {
            rec.newest()
                .ok_or_else(|| NetError::NotFound(format!("{id} has no announced version")))?
                .0
        }
    };
    let digest = rec.digest_of(n).ok_or_else(|| {
        NetError::NotFound(format!("version {n} of {id} is not in its routing record"))
    })?;
    let mut report = PullReport {
        mimei: id.to_string(),
        version: n,
        ..Default::default()
    };
    let mimeis = handle.node().mimeis().clone();
    {
        let (m, id) = (mimeis.clone(), *id);
        if tokio::task::spawn_blocking(move || m.version(&id, n).is_ok())
            .await
            .unwrap_or(false)
        {
            report.already_present = true;
            return Ok(report);
        }
    }

    // Holders: the signer of the routing record, providers, and any the caller knows.
    let me = handle.peer_id();
    let mut holders: Vec<PeerId> = Vec::new();
    let mut add = |p: PeerId| {
        if p != me && !holders.contains(&p) {
            holders.push(p);
        }
    };
    extra.iter().copied().for_each(&mut add);
    if let Ok(p) = super::peer_id_of(&rec.holder) {
        add(p);
    }
    for p in handle.providers(records::holder_key(id)).await? {
        add(p);
    }
    if holders.is_empty() {
        return Err(NetError::NoHolders(id.to_string()));
    }

    // The version record, checked against the signed digest.
    let mut dropped: HashSet<PeerId> = HashSet::new();
    let mut found: Option<(MimeiInfo, VersionRecord)> = None;
    for p in &holders {
        match handle
            .request(
                *p,
                RequestBody::Version {
                    mimei: *id,
                    number: Some(n),
                },
            )
            .await
        {
            Ok(Response::Version { info, record })
                if record.number == n
                    && info.id == *id
                    && crate::mimei::version_digest(&record) == digest =>
            {
                found = Some((*info, *record));
                break;
            }
            Ok(Response::Version { .. }) => {
                tracing::warn!(peer = %p, "sent a version record that does not match the signed digest");
                dropped.insert(*p);
            }
            Ok(_) | Err(_) => {}
        }
    }
    let (info, record) =
        found.ok_or_else(|| NetError::NoHolders(format!("version {n} of {id}")))?;

    // The blocks.
    let store = mimeis.store().clone();
    let stage = std::sync::Arc::new(std::sync::Mutex::new(store.stage()));
    let mut todo: VecDeque<(BlockHash, BlockKind)> =
        crate::mimei::version_roots(&record).into_iter().collect();
    let mut seen: HashSet<BlockHash> = todo.iter().map(|(h, _)| *h).collect();
    let mut kinds: HashMap<BlockHash, BlockKind> = todo.iter().copied().collect();
    let mut tries: HashMap<BlockHash, usize> = HashMap::new();
    let mut busy: HashMap<PeerId, usize> = HashMap::new();
    let mut used: HashSet<PeerId> = HashSet::new();
    let mut flight = FuturesUnordered::new();
    // Batches that arrived, being verified and written on blocking threads while the
    // next ones are on the wire.
    let mut storing = FuturesUnordered::new();
    let mut want: VecDeque<BlockHash> = VecDeque::new();

    loop {
        // Pausing stops a pull in flight: what arrived stays, and a later pull resumes.
        handle.check_not_paused()?;
        // Resolve local blocks first (resume), queue the rest for fetching.
        while let Some((h, kind)) = todo.pop_front() {
            let s = store.clone();
            let local = tokio::task::spawn_blocking(move || s.get_block(&h).ok())
                .await
                .ok()
                .flatten();
            match local {
                Some(data) => {
                    report.blocks_local += 1;
                    for (c, k) in block_children(&h, kind, &data)? {
                        if seen.insert(c) {
                            kinds.insert(c, k);
                            todo.push_back((c, k));
                        }
                    }
                }
                None => want.push_back(h),
            }
        }
        // Hand out batches to holders with room.
        let live: Vec<PeerId> = holders
            .iter()
            .filter(|p| !dropped.contains(p))
            .copied()
            .collect();
        if live.is_empty() && (!want.is_empty() || !flight.is_empty()) {
            return Err(NetError::NoHolders(format!(
                "all holders of {id} failed or sent bad data"
            )));
        }
        let mut i = 0;
        while !want.is_empty() && !live.is_empty() && storing.len() < MAX_STORING {
            let Some(p) = (0..live.len())
                .map(|k| live[(i + k) % live.len()])
                .find(|p| busy.get(p).copied().unwrap_or(0) < IN_FLIGHT_PER_HOLDER)
            else {
                break;
            };
            i += 1;
            let batch: Vec<BlockHash> = (0..BATCH).filter_map(|_| want.pop_front()).collect();
            *busy.entry(p).or_default() += 1;
            used.insert(p);
            let h = handle.clone();
            let mimei = *id;
            flight.push(async move {
                let r = h
                    .request(
                        p,
                        RequestBody::Blocks {
                            mimei,
                            hashes: batch.clone(),
                        },
                    )
                    .await;
                (p, batch, r)
            });
        }
        if flight.is_empty() && storing.is_empty() {
            if want.is_empty() && todo.is_empty() {
                break;
            }
            continue;
        }
        tokio::select! {
            Some((p, batch, r)) = flight.next(), if !flight.is_empty() => {
                *busy.entry(p).or_default() -= 1;
                let blocks = match r {
                    Ok(Response::Blocks(b)) if b.len() == batch.len() => b,
                    Ok(other) => {
                        tracing::warn!(peer = %p, "bad answer to a block request: {}", short(&other));
                        dropped.insert(p);
                        want.extend(batch);
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(peer = %p, "block request failed: {e}");
                        dropped.insert(p);
                        want.extend(batch);
                        continue;
                    }
                };
                let items: Vec<_> = batch
                    .into_iter()
                    .zip(blocks)
                    .map(|(h, d)| (h, kinds.get(&h).copied().unwrap_or(BlockKind::Chunk), d))
                    .collect();
                let st = stage.clone();
                storing.push(async move {
                    let r = tokio::task::spawn_blocking(move || verify_and_stage(&st, items)).await;
                    (p, r)
                });
            }
            Some((p, r)) = storing.next(), if !storing.is_empty() => {
                let out = r.map_err(|e| NetError::Internal(e.to_string()))??;
                for (len, children) in out.stored {
                    report.blocks_fetched += 1;
                    report.bytes_fetched += len as u64;
                    for (c, k) in children {
                        if seen.insert(c) {
                            kinds.insert(c, k);
                            todo.push_back((c, k));
                        }
                    }
                }
                for h in out.missing {
                    let t = tries.entry(h).or_default();
                    *t += 1;
                    if *t > holders.len() * 2 {
                        return Err(NetError::NoHolders(format!("block {h} of {id}")));
                    }
                    want.push_back(h);
                }
                if !out.bad.is_empty() {
                    tracing::warn!(peer = %p, "sent a block whose digest does not match; dropping it");
                    dropped.insert(p);
                    want.extend(out.bad);
                }
            }
        }
    }

    // Commit: complete or absent.
    let (m, info2, record2, st) = (mimeis.clone(), info.clone(), record.clone(), stage.clone());
    let release = rec.release.filter(|r| *r == n);
    tokio::task::spawn_blocking(move || {
        let r = m.install_version(&info2, &record2);
        drop(st);
        if r.is_ok()
            && let Some(v) = release
        {
            // The author's signed routing record names this version the release.
            m.install_release(&info2.id, v)?;
        }
        r
    })
    .await
    .map_err(|e| NetError::Internal(e.to_string()))??;
    drop(stage);
    handle.provide(records::holder_key(id)).await?;
    report.holders_used = used.len();
    report.holders_dropped = dropped.iter().map(|p| p.to_string()).collect();
    report.millis = started.elapsed().as_millis() as u64;
    tracing::info!(mimei = %id, version = n, blocks = report.blocks_fetched, bytes = report.bytes_fetched, "pulled");
    Ok(report)
}

fn short(r: &Response) -> String {
    match r {
        Response::Error { code, message } => format!("{code}: {message}"),
        Response::Blocks(b) => format!("{} blocks", b.len()),
        _ => "unexpected response".into(),
    }
}

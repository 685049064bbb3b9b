//! The peer-to-peer network (SPEC P1–P5): one libp2p swarm per running node.
//!
//! ## Shape
//! The swarm lives in one tokio task, the **actor** ([`actor`]), which owns it and is
//! the only code that touches it. Everyone else holds a [`NetHandle`] (cheap to
//! clone) and sends it commands over a channel; each command carries a oneshot for
//! its answer. Work that needs the disk (serving blocks, committing a pulled version)
//! runs outside the actor, in blocking tasks, so the swarm is never stalled by I/O.
//!
//! The libp2p identity is the node key, so the PeerId *is* the [`NodeId`]; the
//! node's [`DeviceCert`](crate::identity::DeviceCert) links it to its user.
//!
//! ## Protocols
//! | protocol | what for |
//! |---|---|
//! | TCP and QUIC, noise, yamux | transports, encryption, multiplexing |
//! | identify, ping | addresses and liveness |
//! | Kademlia `/leither/kad/1` | signed records and provider records ([`records`]); filtered on put *and* get |
//! | mDNS (config `net.mdns`) | peers on the LAN |
//! | relay client (+ server with `net.relay_server`), DCUtR, AutoNAT | reachability behind NAT |
//! | connection limits | total, per peer, pending |
//! | request-response `/leither/rr/1` ([`wire`]) | blocks, versions, backup requests, app messages |
//! | gossipsub | per-topic publish/subscribe (org chats) |
//!
//! ## Records (see [`records`])
//! Node record (addresses, user, device cert, light/full), Mimei routing record
//! (holder, newest versions with their digests, signed by a device of the author) and
//! name record (name → Mimei or node, first claim wins, owner re-points). Every record
//! is checked when a peer asks us to store it and when a lookup returns it; this
//! node's own records are re-signed and re-published every
//! [`records::REPUBLISH_MS`] (and at start).
//!
//! ## Replication (see [`pull`])
//! `pull` finds holders (provider records + the signed routing record), fetches a
//! version's record (checked against the signed digest) and then its blocks from
//! several holders in parallel, each block checked against the digest its parent
//! named. A peer that sends a wrong block is dropped; blocks already stored are not
//! fetched again (resume); the version is committed in one transaction and the node
//! then announces itself as a holder.
//!
//! ## For other modules
//! - names: [`NetHandle::resolve_name`] (name → [`NameTarget`]), [`NetHandle::claim_name`];
//! - Mimei: [`NetHandle::pull`] (fetch a version from the network), [`NetHandle::pin`];
//! - messages: [`NetHandle::send`]`(node, kind, bytes) -> bytes` delivers an opaque
//!   (already signed by the caller) message to a node and returns its answer; the
//!   receiving side gets every such message on [`NetHandle::inbound`] as an
//!   [`InboundMessage`] with the sender's node and user (checked) and a reply slot;
//! - users: [`NetHandle::send_to_user`]`(user, kind, bytes)` finds the user's devices
//!   (provider records under `/leither/user-nodes/<user>`, each checked against its
//!   signed node record) and sends to the first that answers;
//! - pub/sub: [`NetHandle::publish`]`(topic, bytes)` and
//!   [`NetHandle::subscribe`]`(topic)` (a broadcast receiver of [`TopicMessage`]).

pub mod actor;
pub mod courier;
pub mod pull;
pub mod records;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::identity::{DeviceCert, Identity, Keypair, NodeId, Signed, UserId};
use crate::mimei::MimeiId;
use crate::node::Node;

pub use pull::PullReport;
pub use records::{NameTarget, RecordError, Valid};

/// The `[net]` section of config.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Start the network with `leither run`.
    pub enabled: bool,
    /// Multiaddrs to listen on (TCP and QUIC).
    pub listen: Vec<String>,
    /// Peers to join the network through: multiaddrs ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Find peers on the local network by multicast DNS.
    pub mdns: bool,
    /// Relay traffic for nodes behind NAT.
    pub relay_server: bool,
    /// Relay nodes to reserve a slot on (multiaddrs ending in `/p2p/<peer id>`): a node
    /// behind NAT is then reachable at `<relay>/p2p-circuit/p2p/<its id>`, and DCUtR
    /// upgrades such connections to direct ones where the NATs allow hole punching.
    pub relays: Vec<String>,
    /// A light node (phone): DHT client only, does not store others' records.
    pub light: bool,
    /// Most connections in all, and per peer.
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    /// Whose backup requests are accepted: "none", "own" (devices of this user) or "any".
    pub accept_backups: String,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            enabled: true,
            listen: vec![
                "/ip4/0.0.0.0/tcp/7788".into(),
                "/ip4/0.0.0.0/udp/7788/quic-v1".into(),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            relay_server: false,
            relays: Vec::new(),
            light: false,
            max_connections: 512,
            max_connections_per_peer: 4,
            accept_backups: "own".into(),
        }
    }
}

/// What went wrong in the network layer. `code()` is the API error code.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("the network is not running on this node")]
    NotRunning,
    #[error("syncing is paused on this node (resume it in the tray or with /api/v1/sync)")]
    Paused,
    #[error("invalid address or peer: {0}")]
    BadAddress(String),
    #[error("not found in the network: {0}")]
    NotFound(String),
    #[error("name `{0}` is already claimed by another user")]
    NameTaken(String),
    #[error("record refused: {0}")]
    Record(#[from] RecordError),
    #[error("peer {peer}: {message}")]
    Peer { peer: String, message: String },
    #[error("no holder could provide {0}")]
    NoHolders(String),
    #[error("refused by peer: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("Mimei: {0}")]
    Mimei(#[from] crate::mimei::MimeiError),
    #[error("starting the network: {0}")]
    Start(String),
    #[error("{0}")]
    Internal(String),
}

impl NetError {
    /// Stable error code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            NetError::NotRunning => "net_not_running",
            NetError::Paused => "sync_paused",
            NetError::BadAddress(_) => "bad_address",
            NetError::NotFound(_) => "not_found",
            NetError::NameTaken(_) => "name_taken",
            NetError::Record(_) => "record_refused",
            NetError::Peer { .. } => "peer_failed",
            NetError::NoHolders(_) => "no_holders",
            NetError::Refused { .. } => "refused",
            NetError::Mimei(_) => "mimei_error",
            NetError::Start(_) => "net_start_failed",
            NetError::Internal(_) => "internal",
        }
    }
}

/// A message from another node (see [`NetHandle::send`]). Answer through `reply`;
/// dropping it answers with an error.
#[derive(Debug)]
pub struct InboundMessage {
    pub node: NodeId,
    pub user: UserId,
    pub kind: String,
    pub body: Vec<u8>,
    pub reply: oneshot::Sender<Vec<u8>>,
}

/// A message received on a subscribed topic.
#[derive(Debug, Clone)]
pub struct TopicMessage {
    pub topic: String,
    /// The node that published it (gossipsub signs every message with the node key).
    pub from: Option<NodeId>,
    pub data: Vec<u8>,
    /// Set on topics subscribed with [`NetHandle::subscribe_validated`]: the message
    /// is forwarded to other peers only once [`NetHandle::validated`] accepts it.
    pub validation: Option<(libp2p::gossipsub::MessageId, PeerId)>,
}

/// What the application made of a message on a validated topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Forged or malformed: drop it and lower the score of the peer that sent it.
    Reject,
    /// Not judged (e.g. a local storage error): drop it without penalty.
    Ignore,
}

/// A connected peer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerInfo {
    pub node: String,
    pub addrs: Vec<String>,
    /// Agent string from identify, if received.
    pub agent: Option<String>,
    /// Round-trip time of the last ping, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Its gossipsub v1.1 score here (negative after invalid messages; below -80 it
    /// is ignored).
    pub gossip_score: Option<f64>,
}

/// The state of this node's network.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetStatus {
    pub node: String,
    pub listen: Vec<String>,
    pub external: Vec<String>,
    /// AutoNAT's verdict: "public", "private" or "unknown".
    pub nat: String,
    pub peers: usize,
    pub routing_table: usize,
    pub stored_records: usize,
    pub light: bool,
}

/// The keys the network signs with (copied out of the unlocked [`Identity`]).
pub(crate) struct Keys {
    pub node: Keypair,
    pub user: Keypair,
    pub node_id: NodeId,
    pub user_id: UserId,
    pub cert: Signed<DeviceCert>,
}

/// Handle to the running network. Cheap to clone.
#[derive(Clone)]
pub struct NetHandle {
    pub(crate) inner: Arc<HandleInner>,
}

pub(crate) struct HandleInner {
    pub(crate) cmd: mpsc::Sender<actor::Command>,
    pub(crate) keys: Keys,
    pub(crate) node: Node,
    pub(crate) peer_id: PeerId,
    pub(crate) inbound: Mutex<Option<mpsc::Receiver<InboundMessage>>>,
    /// Names this node claimed, to re-publish.
    pub(crate) names: Mutex<HashMap<String, NameTarget>>,
    pub(crate) light: bool,
    /// The user paused syncing: no pulls, no blocks served (shared with the gateway).
    pub(crate) paused: Arc<AtomicBool>,
    /// Per Mimei, the blocks its versions need (what may be served under its name).
    pub(crate) servable: Mutex<HashMap<MimeiId, pull::Servable>>,
}

/// NodeId ↔ PeerId (the same ed25519 key).
pub fn peer_id_of(node: &NodeId) -> Result<PeerId, NetError> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(node.as_bytes())
        .map_err(|e| NetError::BadAddress(e.to_string()))?;
    Ok(libp2p::identity::PublicKey::from(key).to_peer_id())
}

/// The NodeId of a peer, if its PeerId inlines an ed25519 key (all Leither nodes).
pub fn node_id_of(peer: &PeerId) -> Option<NodeId> {
    let mh: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(NodeId::from_bytes(ed.to_bytes()))
}

/// Parse a node given as a NodeId (Leither text form) or a libp2p PeerId.
pub fn parse_peer(s: &str) -> Result<PeerId, NetError> {
    if let Ok(n) = s.parse::<NodeId>() {
        return peer_id_of(&n);
    }
    s.parse::<PeerId>()
        .map_err(|e| NetError::BadAddress(format!("`{s}`: {e}")))
}

/// Start the network of `node` with the unlocked `identity`: builds the swarm, starts
/// the actor and the re-publisher, dials the bootstrap peers. Call inside a tokio
/// runtime.
pub async fn start(node: Node, identity: &Identity) -> Result<NetHandle, NetError> {
    start_with_pause(node, identity, Arc::new(AtomicBool::new(false))).await
}

/// [`start`], with the flag by which the user pauses syncing (pulls and serving blocks
/// stop while it holds; see [`NetHandle::sync_paused`]).
pub async fn start_with_pause(
    node: Node,
    identity: &Identity,
    paused: Arc<AtomicBool>,
) -> Result<NetHandle, NetError> {
    let config = node.config().net.clone();
    let keys = Keys {
        node: Keypair::from_secret(&identity.node_secret_key_bytes()),
        user: Keypair::from_secret(&identity.user_keypair().secret_bytes()),
        node_id: identity.node_id(),
        user_id: identity.user_id(),
        cert: identity.device_cert().clone(),
    };
    let (inbound_tx, inbound_rx) = mpsc::channel(256);
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let swarm = actor::build_swarm(&identity.node_secret_key_bytes(), &config)?;
    let peer_id = *swarm.local_peer_id();
    let handle = NetHandle {
        inner: Arc::new(HandleInner {
            cmd: cmd_tx.clone(),
            keys,
            node: node.clone(),
            peer_id,
            inbound: Mutex::new(Some(inbound_rx)),
            names: Mutex::new(load_names(&node)),
            light: config.light,
            paused,
            servable: Mutex::new(HashMap::new()),
        }),
    };
    let actor = actor::Actor::new(swarm, cmd_tx, cmd_rx, inbound_tx, handle.clone(), &config)?;
    tokio::spawn(actor.run());
    for addr in &config.bootstrap {
        if let Err(e) = handle.dial(addr).await {
            tracing::warn!(%addr, "bootstrap peer: {e}");
        }
    }
    for addr in &config.relays {
        if let Err(e) = handle.listen_via_relay(addr).await {
            tracing::warn!(%addr, "relay: {e}");
        }
    }
    if !config.bootstrap.is_empty() {
        let _ = handle.inner.cmd.send(actor::Command::Bootstrap).await;
    }
    let republisher = handle.clone();
    tokio::spawn(async move { republisher.republish_loop().await });
    tracing::info!(peer = %peer_id, "network started");
    Ok(handle)
}

const NAMES_FILE: &str = "names.json";

/// The gossipsub topic on which a Mimei's holders announce each new version.
pub fn follow_topic(id: &MimeiId) -> String {
    format!("leither/follow/{id}")
}

fn load_names(node: &Node) -> HashMap<String, NameTarget> {
    std::fs::read(node.data_dir().join(NAMES_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

impl NetHandle {
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> actor::Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(make(tx))
            .await
            .map_err(|_| NetError::NotRunning)?;
        rx.await.map_err(|_| NetError::NotRunning)
    }

    /// Resolves once the network stopped (for tasks that should end with it).
    pub async fn closed(&self) {
        self.inner.cmd.closed().await
    }

    /// Stop the swarm; every handle's calls fail with [`NetError::NotRunning`] after.
    pub async fn shutdown(&self) {
        let _ = self.inner.cmd.send(actor::Command::Shutdown).await;
        self.inner.cmd.closed().await;
    }

    /// This node's libp2p PeerId (the node key).
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.keys.node_id
    }

    pub fn user_id(&self) -> UserId {
        self.inner.keys.user_id
    }

    /// The node this network belongs to.
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// Connect to a peer at `addr` (a multiaddr, ideally ending in `/p2p/<peer>`).
    pub async fn dial(&self, addr: &str) -> Result<(), NetError> {
        let addr: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::BadAddress(format!("`{addr}`: {e}")))?;
        self.call(|tx| actor::Command::Dial(addr, tx)).await?
    }

    /// Addresses this node listens on (with `/p2p/<peer id>`), for others to dial.
    pub async fn listen_addrs(&self) -> Result<Vec<String>, NetError> {
        Ok(self.status().await?.listen)
    }

    pub async fn status(&self) -> Result<NetStatus, NetError> {
        self.call(actor::Command::Status).await
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.call(actor::Command::Peers).await
    }

    /// The valid records this node stores for the DHT: `(key, record)`.
    pub async fn records(&self) -> Result<Vec<(Vec<u8>, Valid)>, NetError> {
        self.call(actor::Command::LocalRecords).await
    }

    /// Store a signed record locally and on the closest peers. Returns how many peers
    /// accepted it.
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>) -> Result<usize, NetError> {
        self.call(|tx| actor::Command::PutRecord {
            key,
            value,
            reply: tx,
        })
        .await?
    }

    /// Look a record up; only valid records are considered (see [`records::choose`]).
    pub async fn get_record(&self, key: Vec<u8>) -> Result<Valid, NetError> {
        Ok(self.get_record_traced(key).await?.0)
    }

    /// [`get_record`](Self::get_record) with how many peers the lookup asked.
    pub async fn get_record_traced(
        &self,
        key: Vec<u8>,
    ) -> Result<(Valid, actor::LookupStats), NetError> {
        self.call(|tx| actor::Command::GetRecord { key, reply: tx })
            .await?
    }

    /// Announce this node as a provider of `key`.
    pub async fn provide(&self, key: Vec<u8>) -> Result<(), NetError> {
        self.call(|tx| actor::Command::Provide { key, reply: tx })
            .await?
    }

    /// Peers that announced themselves as providers of `key`.
    pub async fn providers(&self, key: Vec<u8>) -> Result<Vec<PeerId>, NetError> {
        self.call(|tx| actor::Command::Providers { key, reply: tx })
            .await
    }

    /// Send a request to `peer` and wait for its answer.
    pub async fn request(
        &self,
        peer: PeerId,
        body: wire::RequestBody,
    ) -> Result<wire::Response, NetError> {
        self.call(|tx| actor::Command::Request {
            peer,
            body,
            reply: tx,
        })
        .await?
    }

    /// Send an opaque application message of `kind` to `node`; returns its answer.
    /// The peer's side receives it on [`NetHandle::inbound`].
    pub async fn send(
        &self,
        node: &NodeId,
        kind: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        let peer = peer_id_of(node)?;
        match self
            .request(
                peer,
                wire::RequestBody::App {
                    kind: kind.to_string(),
                    body: wire::Bytes(body),
                },
            )
            .await?
        {
            wire::Response::App(bytes) => Ok(bytes.0),
            wire::Response::Error { code, message } => Err(NetError::Refused { code, message }),
            other => Err(NetError::Peer {
                peer: peer.to_string(),
                message: format!("unexpected answer {other:?}"),
            }),
        }
    }

    /// The stream of messages other nodes send here. There is one receiver: the first
    /// caller gets it, later calls get `None`.
    pub fn inbound(&self) -> Option<mpsc::Receiver<InboundMessage>> {
        self.inner
            .inbound
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Publish `data` on a gossipsub topic.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError> {
        let topic = topic.to_string();
        self.call(|tx| actor::Command::Publish {
            topic,
            data,
            reply: tx,
        })
        .await?
    }

    /// Subscribe to a gossipsub topic.
    pub async fn subscribe(
        &self,
        topic: &str,
    ) -> Result<broadcast::Receiver<TopicMessage>, NetError> {
        self.subscribe_with(topic, false).await
    }

    /// [`NetHandle::subscribe`] to a topic whose messages the application checks: each
    /// must be answered with [`NetHandle::validated`]; rejected ones count against the
    /// sending peer's gossipsub v1.1 score (invalid message deliveries), so a peer that
    /// floods forgeries is pruned from the mesh and then ignored.
    pub async fn subscribe_validated(
        &self,
        topic: &str,
    ) -> Result<broadcast::Receiver<TopicMessage>, NetError> {
        self.subscribe_with(topic, true).await
    }

    async fn subscribe_with(
        &self,
        topic: &str,
        validated: bool,
    ) -> Result<broadcast::Receiver<TopicMessage>, NetError> {
        let topic = topic.to_string();
        self.call(|tx| actor::Command::Subscribe {
            topic,
            validated,
            reply: tx,
        })
        .await?
    }

    /// Leave a gossipsub topic: this node no longer receives nor forwards its messages,
    /// and the receivers of [`NetHandle::subscribe`] end.
    pub async fn unsubscribe(&self, topic: &str) {
        let _ = self
            .inner
            .cmd
            .send(actor::Command::Unsubscribe {
                topic: topic.to_string(),
            })
            .await;
    }

    /// Report the application's verdict on a message of a validated topic.
    pub async fn validated(&self, msg: &TopicMessage, verdict: Verdict) {
        if let Some((id, source)) = &msg.validation {
            let _ = self
                .inner
                .cmd
                .send(actor::Command::Validated {
                    id: id.clone(),
                    source: *source,
                    verdict,
                })
                .await;
        }
    }

    /// The signed node records of the other nodes providing `key`.
    async fn provider_records(&self, key: Vec<u8>) -> Result<Vec<records::NodeRecord>, NetError> {
        let mut out: Vec<records::NodeRecord> = Vec::new();
        for p in self.providers(key).await? {
            let Some(node) = node_id_of(&p) else { continue };
            if node == self.node_id() || out.iter().any(|r| r.node == node) {
                continue;
            }
            match self.find_node(&node).await {
                Ok(r) => out.push(r),
                Err(e) => tracing::debug!(%node, "no node record: {e}"),
            }
        }
        Ok(out)
    }

    /// The other nodes (devices) of `user` that announced themselves, each checked
    /// through its signed node record: the device certificate must be `user`'s (a peer
    /// announcing itself for somebody else's key is ignored).
    pub async fn nodes_of_user(&self, user: &UserId) -> Result<Vec<records::NodeRecord>, NetError> {
        let mut r = self.provider_records(records::user_nodes_key(user)).await?;
        r.retain(|r| r.cert.user() == *user);
        Ok(r)
    }

    /// Publish this user's public profile (display name, bio, encryption key) and
    /// announce this node under the name, so others can find the user by it.
    pub async fn publish_profile(
        &self,
        name: &str,
        bio: &str,
        enc: crate::identity::EncryptionPublicKey,
    ) -> Result<usize, NetError> {
        let k = &self.inner.keys;
        let now = records::now_ms();
        let mut bio = bio.to_string();
        while bio.len() > records::MAX_PROFILE_BIO {
            bio.pop();
        }
        let r = records::ProfileRecord {
            user: k.user_id,
            name: name.to_string(),
            bio,
            enc,
            seq: now,
            expires: now + records::RECORD_TTL_MS,
        };
        let value = records::sign(&k.user, &r)?;
        let n = self
            .put_record(records::profile_key(&k.user_id), value)
            .await?;
        if !name.trim().is_empty() {
            self.provide(records::people_key(name)).await?;
        }
        Ok(n)
    }

    /// A user's public profile from the DHT, verified.
    pub async fn find_profile(&self, user: &UserId) -> Result<records::ProfileRecord, NetError> {
        match self.get_record(records::profile_key(user)).await? {
            Valid::Profile(r) => Ok(r),
            _ => Err(NetError::NotFound(user.to_string())),
        }
    }

    /// Everyone whose display name is `name` (trimmed, any case): nodes announced under
    /// the name, their users, and those users' signed profiles that really carry it.
    /// Names are not unique: several people may come back.
    pub async fn find_people(&self, name: &str) -> Result<Vec<records::ProfileRecord>, NetError> {
        let want = records::normal_name(name);
        let mut out: Vec<records::ProfileRecord> = Vec::new();
        for r in self.provider_records(records::people_key(name)).await? {
            let user = r.cert.user();
            if user == self.user_id() || out.iter().any(|p| p.user == user) {
                continue;
            }
            match self.find_profile(&user).await {
                Ok(p) if records::normal_name(&p.name) == want => out.push(p),
                Ok(_) => tracing::debug!(%user, "announced under a name it does not carry"),
                Err(e) => tracing::debug!(%user, "no profile: {e}"),
            }
        }
        Ok(out)
    }

    /// Send a message to any reachable node of `user` (see [`send`](Self::send)); the
    /// first node that answers wins. This is what a social courier needs.
    pub async fn send_to_user(
        &self,
        user: &UserId,
        kind: &str,
        body: Vec<u8>,
    ) -> Result<(NodeId, Vec<u8>), NetError> {
        let nodes = self.nodes_of_user(user).await?;
        let mut last = NetError::NotFound(format!("no node of user {user}"));
        for node in nodes.into_iter().map(|r| r.node) {
            match self.send(&node, kind, body.clone()).await {
                Ok(answer) => return Ok((node, answer)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Publish this node's own record.
    pub async fn announce_node(&self) -> Result<usize, NetError> {
        let k = &self.inner.keys;
        let now = records::now_ms();
        let status = self.status().await?;
        let mut addrs = status.external.clone();
        addrs.extend(status.listen.iter().cloned());
        addrs.truncate(records::MAX_ADDRS);
        let r = records::NodeRecord {
            node: k.node_id,
            addrs,
            cert: k.cert.clone(),
            light: self.inner.light,
            seq: now,
            expires: now + records::RECORD_TTL_MS,
        };
        let value = records::sign(&k.node, &r)?;
        let n = self
            .put_record(records::node_key(&k.node_id), value)
            .await?;
        self.provide(records::user_nodes_key(&k.user_id)).await?;
        Ok(n)
    }

    /// Look up a node's record (addresses, user, light).
    pub async fn find_node(&self, node: &NodeId) -> Result<records::NodeRecord, NetError> {
        match self.get_record(records::node_key(node)).await? {
            Valid::Node(r) => Ok(r),
            _ => Err(NetError::NotFound(node.to_string())),
        }
    }

    /// Announce that this node holds `id`'s versions: a provider record, and, if this
    /// user wrote the Mimei, the signed routing record with its newest versions.
    pub async fn announce_mimei(&self, id: &MimeiId) -> Result<(), NetError> {
        let mimeis = self.node().mimeis().clone();
        let id2 = *id;
        let (info, versions, release) = tokio::task::spawn_blocking(move || {
            Ok::<_, NetError>((
                mimeis.info(&id2)?,
                mimeis.versions(&id2)?,
                mimeis.heads(&id2)?.release,
            ))
        })
        .await
        .map_err(|e| NetError::Internal(e.to_string()))??;
        if versions.is_empty() {
            return Ok(());
        }
        self.provide(records::holder_key(id)).await?;
        let k = &self.inner.keys;
        if info.author == k.user_id {
            let now = records::now_ms();
            let list: Vec<(u64, crate::store::BlockHash)> = versions
                .iter()
                .rev()
                .take(records::MAX_VERSIONS)
                .rev()
                .map(|v| (v.number, crate::mimei::version_digest(v)))
                .collect();
            let r = records::MimeiRecord {
                id: *id,
                author: info.author,
                app_type: info.app_type,
                ext: info.ext,
                mark: info.mark,
                holder: k.node_id,
                cert: k.cert.clone(),
                release: release.filter(|r| list.iter().any(|(n, _)| n == r)),
                versions: list,
                seq: now,
                expires: now + records::RECORD_TTL_MS,
            };
            let value = records::sign(&k.node, &r)?;
            self.put_record(records::mimei_key(id), value).await?;
        }
        Ok(())
    }

    /// Publish an org's public records (signed charter, info and member list bytes,
    /// as a member's node holds them) under the org's DHT key.
    pub async fn publish_org(
        &self,
        org: &crate::org::OrgId,
        charter: Vec<u8>,
        info: Vec<u8>,
        members: Vec<u8>,
    ) -> Result<usize, NetError> {
        let expires = records::now_ms() + records::RECORD_TTL_MS;
        let value = records::org_record(charter, info, members, expires)
            .map_err(|e| NetError::Internal(e.to_string()))?;
        self.put_record(records::org_key(org), value).await
    }

    /// Find an org by its ID alone: its public records from the DHT, verified.
    pub async fn find_org(&self, org: &crate::org::OrgId) -> Result<records::OrgPublic, NetError> {
        match self.get_record(records::org_key(org)).await? {
            Valid::Org(o) => Ok(*o),
            _ => Err(NetError::NotFound(org.to_string())),
        }
    }

    /// The signed routing record of a Mimei.
    pub async fn mimei_record(&self, id: &MimeiId) -> Result<records::MimeiRecord, NetError> {
        match self.get_record(records::mimei_key(id)).await? {
            Valid::Mimei(r) => Ok(r),
            _ => Err(NetError::NotFound(id.to_string())),
        }
    }

    /// Claim `name` for this user, pointing at `target`; re-pointing a name this user
    /// owns works the same way. Fails with [`NetError::NameTaken`] if another user
    /// holds it.
    pub async fn claim_name(&self, name: &str, target: NameTarget) -> Result<(), NetError> {
        records::valid_name(name)?;
        let k = &self.inner.keys;
        let mut seq = records::now_ms();
        match self.get_record(records::name_key(name)).await {
            Ok(Valid::Name(old)) if old.owner != k.user_id => {
                return Err(NetError::NameTaken(name.into()));
            }
            Ok(Valid::Name(old)) => seq = seq.max(old.seq + 1),
            _ => {}
        }
        let r = records::NameRecord {
            name: name.to_string(),
            target,
            owner: k.user_id,
            seq,
            expires: seq + records::RECORD_TTL_MS,
        };
        let value = records::sign(&k.user, &r)?;
        match self.put_record(records::name_key(name), value).await {
            Err(NetError::Record(RecordError::NameTaken(n))) => return Err(NetError::NameTaken(n)),
            other => other?,
        };
        // Two claims at once: the network keeps one; check it is ours.
        if let Ok(Valid::Name(now)) = self.get_record(records::name_key(name)).await
            && now.owner != k.user_id
        {
            return Err(NetError::NameTaken(name.into()));
        }
        let mut names = self.inner.names.lock().unwrap_or_else(|p| p.into_inner());
        names.insert(name.to_string(), target);
        let _ = crate::fsutil::write_private_atomic(
            &self.node().data_dir().join(NAMES_FILE),
            &serde_json::to_vec(&*names).unwrap_or_default(),
        );
        Ok(())
    }

    /// What `name` points at, and its owner.
    pub async fn resolve_name(&self, name: &str) -> Result<records::NameRecord, NetError> {
        records::valid_name(name)?;
        match self.get_record(records::name_key(name)).await {
            Ok(Valid::Name(r)) => Ok(r),
            Ok(_) | Err(NetError::NotFound(_)) => Err(NetError::NotFound(format!("name `{name}`"))),
            Err(e) => Err(e),
        }
    }

    /// Resolve a name or a Mimei ID (text form) to a Mimei ID.
    pub async fn resolve_mimei(&self, name_or_id: &str) -> Result<MimeiId, NetError> {
        if let Ok(id) = name_or_id.parse::<MimeiId>() {
            return Ok(id);
        }
        match self.resolve_name(name_or_id).await?.target {
            NameTarget::Mimei(id) => Ok(id),
            NameTarget::Node(_) => Err(NetError::NotFound(format!(
                "name `{name_or_id}` names a node, not a Mimei"
            ))),
        }
    }

    /// Connect to relay `addr` and reserve a slot on it, so peers reach this node through
    /// `<addr>/p2p-circuit/p2p/<node id>` (and hole punching can upgrade that).
    pub async fn listen_via_relay(&self, addr: &str) -> Result<(), NetError> {
        let relay: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::BadAddress(format!("relay `{addr}`: {e}")))?;
        if !relay
            .iter()
            .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        {
            return Err(NetError::BadAddress(format!(
                "relay `{addr}` must end in /p2p/<peer id>"
            )));
        }
        self.dial(addr).await?;
        let (reply, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(actor::Command::Listen(
                relay.with(libp2p::multiaddr::Protocol::P2pCircuit),
                reply,
            ))
            .await
            .map_err(|_| NetError::NotRunning)?;
        rx.await.map_err(|_| NetError::NotRunning)?
    }

    /// Whether the user paused syncing.
    pub fn sync_paused(&self) -> bool {
        self.inner.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// [`NetError::Paused`] while syncing is paused.
    pub(crate) fn check_not_paused(&self) -> Result<(), NetError> {
        if self.sync_paused() {
            Err(NetError::Paused)
        } else {
            Ok(())
        }
    }

    /// Fetch version `version` (default: the newest announced) of `id` from the
    /// network, verify it, commit it and announce this node as a holder.
    pub async fn pull(&self, id: &MimeiId, version: Option<u64>) -> Result<PullReport, NetError> {
        pull::pull(self, id, version, &[]).await
    }

    /// Pull every version the routing record lists, and keep holding them (the node
    /// then serves and re-announces them).
    pub async fn pin(&self, id: &MimeiId) -> Result<Vec<PullReport>, NetError> {
        let rec = self.mimei_record(id).await?;
        let mut out = Vec::new();
        for (n, _) in &rec.versions {
            out.push(pull::pull(self, id, Some(*n), &[]).await?);
        }
        Ok(out)
    }

    /// Follow `id`'s database (SPEC P3, after each backup): pull the newest version now
    /// and every version announced later, and merge each into this node's `cur` with
    /// [`Mimeis::merge_db_version`](crate::mimei::Mimeis::merge_db_version) (the
    /// peer's later backup wins a key both changed; other local keys survive). The
    /// local user needs write access (typically another device of the same user).
    /// Runs until the network stops; returns once the first merge is done.
    pub async fn follow_db(&self, id: &MimeiId) -> Result<(), NetError> {
        let mut rx = self.subscribe(&follow_topic(id)).await?;
        let rec = self.mimei_record(id).await?;
        let first = rec
            .newest()
            .ok_or_else(|| NetError::NotFound(format!("{id} has no version")))?
            .0;
        let base = self.merge_from(id, None, first).await?;
        let h = self.clone();
        let id = *id;
        tokio::spawn(async move {
            let mut base = base;
            loop {
                let msg = tokio::select! {
                    _ = h.inner.cmd.closed() => return,
                    m = rx.recv() => m,
                };
                let n = match msg {
                    Ok(m) => match <[u8; 8]>::try_from(m.data.as_slice()) {
                        Ok(b) => u64::from_be_bytes(b),
                        Err(_) => continue,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                if base.is_some_and(|b| n <= b) {
                    continue;
                }
                // The routing record may lag the announcement by a moment.
                for _ in 0..20 {
                    match h.merge_from(&id, base, n).await {
                        Ok(b) => {
                            base = b;
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(mimei = %id, version = n, "follow: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                        }
                    }
                }
            }
        });
        Ok(())
    }

    async fn merge_from(
        &self,
        id: &MimeiId,
        base: Option<u64>,
        n: u64,
    ) -> Result<Option<u64>, NetError> {
        pull::pull(self, id, Some(n), &[]).await?;
        let (m, who, id2) = (self.node().mimeis().clone(), self.user_id(), *id);
        let changed = tokio::task::spawn_blocking(move || m.merge_db_version(&who, &id2, base, n))
            .await
            .map_err(|e| NetError::Internal(e.to_string()))??;
        tracing::info!(mimei = %id, version = n, changed, "merged a followed database");
        Ok(Some(n))
    }

    /// Ask `peer` to keep a copy of `id` (it pulls it from this node).
    pub async fn backup_request(&self, peer: &str, id: &MimeiId) -> Result<(), NetError> {
        let peer = parse_peer(peer)?;
        match self
            .request(peer, wire::RequestBody::Backup { mimei: *id })
            .await?
        {
            wire::Response::Accepted => Ok(()),
            wire::Response::Error { code, message } => Err(NetError::Refused { code, message }),
            other => Err(NetError::Peer {
                peer: peer.to_string(),
                message: format!("unexpected answer {other:?}"),
            }),
        }
    }

    /// Re-sign and re-publish everything this node announces: its node record, the
    /// Mimei it holds, the names its user claimed.
    pub async fn republish(&self) {
        if let Err(e) = self.announce_node().await {
            tracing::debug!("node record: {e}");
        }

        let mimeis = self.node().mimeis().clone();
        let ids = tokio::task::spawn_blocking(move || mimeis.all())
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        for info in ids {
            if let Err(e) = self.announce_mimei(&info.id).await {
                tracing::debug!(mimei = %info.id, "announce: {e}");
            }
        }
        let names: Vec<_> = self
            .inner
            .names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .into_iter()
            .collect();
        for (name, target) in names {
            if let Err(e) = self.claim_name(&name, target).await {
                tracing::warn!(%name, "re-publishing name: {e}");
            }
        }
    }

    async fn republish_loop(self) {
        // Give the bootstrap connections a moment, then publish and keep publishing.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mut events = self.node().mimeis().subscribe();
        let mut tick =
            tokio::time::interval(std::time::Duration::from_millis(records::REPUBLISH_MS));
        loop {
            tokio::select! {
                _ = self.inner.cmd.closed() => return,
                _ = tick.tick() => self.republish().await,
                ev = events.recv() => match ev {
                    Ok(crate::mimei::MimeiEvent::Released { id, .. }) => {
                        if let Err(e) = self.announce_mimei(&id).await {
                            tracing::debug!(mimei = %id, "announce: {e}");
                        }
                    }
                    Ok(crate::mimei::MimeiEvent::Backup { id, version }) => {
                        if let Err(e) = self.announce_mimei(&id).await {
                            tracing::debug!(mimei = %id, "announce: {e}");
                        }
                        // Tell followers (no subscriber yet is fine).
                        let _ = self.publish(&follow_topic(&id), version.to_be_bytes().to_vec()).await;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

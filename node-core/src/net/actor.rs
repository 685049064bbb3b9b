//! The swarm actor: the one task that owns the libp2p [`Swarm`]. It turns commands from
//! [`NetHandle`](super::NetHandle)s into swarm calls, and swarm events into answers,
//! stored records and served requests.
//!
//! Record filtering happens here: Kademlia runs with `StoreInserts::FilterBoth`, so
//! every record a peer puts arrives as an event and is stored only if
//! [`records::check`] and [`records::supersedes`] accept it; every record a lookup
//! returns is checked the same way before it is used.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::kad::store::{MemoryStore, MemoryStoreConfig, RecordStore};
use libp2p::kad::{self, GetProvidersOk, GetRecordOk, QueryId, QueryResult, Quorum, Record};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, autonat, connection_limits, dcutr, gossipsub,
    identify, mdns, noise, ping, relay, tcp, yamux,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::records::{self, Valid};
use super::wire::{self, Request, RequestBody, Response};
use super::{InboundMessage, NetConfig, NetError, NetHandle, NetStatus, PeerInfo, TopicMessage};

pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/leither/kad/1");

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    limits: connection_limits::Behaviour,
    relay_client: relay::client::Behaviour,
    relay_server: Toggle<relay::Behaviour>,
    dcutr: dcutr::Behaviour,
    autonat: autonat::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    rr: request_response::Behaviour<wire::Codec>,
    gossip: gossipsub::Behaviour,
}

/// Build the swarm for the node key `secret` (so PeerId = NodeId) and `config`.
pub fn build_swarm(secret: &[u8; 32], config: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
    let mut bytes = *secret;
    let key = libp2p::identity::ed25519::SecretKey::try_from_bytes(&mut bytes)
        .map_err(|e| NetError::Start(e.to_string()))?;
    let keypair: libp2p::identity::Keypair = libp2p::identity::ed25519::Keypair::from(key).into();
    let start = |e: &dyn std::fmt::Display| NetError::Start(e.to_string());
    let config = config.clone();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| start(&e))?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| start(&e))?
        .with_behaviour(|key, relay_client| {
            let peer = key.public().to_peer_id();
            let limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(config.max_connections_per_peer))
                .with_max_pending_incoming(Some(64))
                .with_max_pending_outgoing(Some(64));
            let mut kad_config = kad::Config::new(KAD_PROTOCOL);
            kad_config
                .set_record_filtering(kad::StoreInserts::FilterBoth)
                .set_query_timeout(Duration::from_secs(20))
                .set_record_ttl(Some(Duration::from_millis(records::MAX_TTL_MS)))
                .set_publication_interval(None)
                .set_provider_publication_interval(Some(Duration::from_secs(6 * 3600)))
                .set_max_packet_size(64 * 1024);
            let store = MemoryStore::with_config(
                peer,
                MemoryStoreConfig {
                    max_records: 65536,
                    max_value_bytes: records::MAX_ORG_RECORD_BYTES,
                    max_providers_per_key: 64,
                    max_provided_keys: 65536,
                },
            );
            let mut kad = kad::Behaviour::with_config(peer, store, kad_config);
            kad.set_mode(Some(if config.light {
                kad::Mode::Client
            } else {
                kad::Mode::Server
            }));
            let mdns = if config.mdns {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer)?)
            } else {
                None
            };
            let gossip_config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(256 * 1024)
                .heartbeat_interval(Duration::from_millis(700))
                // Forward only what the application accepted (org chat is checked
                // against the org's membership; other topics are accepted at once).
                .validate_messages()
                .build()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let mut gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossip_config,
            )
            .map_err(std::io::Error::other)?;
            let (params, thresholds) = peer_score();
            gossip
                .with_peer_score(params, thresholds)
                .map_err(std::io::Error::other)?;
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                relay_client,
                relay_server: Toggle::from(
                    config
                        .relay_server
                        .then(|| relay::Behaviour::new(peer, relay::Config::default())),
                ),
                dcutr: dcutr::Behaviour::new(peer),
                autonat: autonat::Behaviour::new(
                    peer,
                    autonat::Config {
                        boot_delay: Duration::from_secs(5),
                        only_global_ips: false,
                        ..Default::default()
                    },
                ),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/leither/1".into(),
                    key.public(),
                )),
                ping: ping::Behaviour::new(ping::Config::new()),
                kad,
                mdns: Toggle::from(mdns),
                rr: request_response::Behaviour::with_codec(
                    wire::Codec,
                    [(wire::PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(60))
                        .with_max_concurrent_streams(256),
                ),
                gossip,
            })
        })
        .map_err(|e| start(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    for addr in &config.listen {
        let addr: Multiaddr = addr
            .parse()
            .map_err(|e| NetError::BadAddress(format!("listen `{addr}`: {e}")))?;
        if let Err(e) = swarm.listen_on(addr.clone()) {
            // A taken port (another node on this machine) is not fatal: take any port.
            let any: Multiaddr = addr
                .iter()
                .map(|p| match p {
                    Protocol::Tcp(_) => Protocol::Tcp(0),
                    Protocol::Udp(_) => Protocol::Udp(0),
                    p => p,
                })
                .collect();
            tracing::warn!(%addr, "cannot listen ({e}); using {any}");
            swarm
                .listen_on(any.clone())
                .map_err(|e| NetError::Start(format!("listen on {any}: {e}")))?;
        }
    }
    Ok(swarm)
}

/// Gossipsub v1.1 peer scoring. Defaults, but: loopback is exempt from the IP
/// colocation penalty (several nodes of one machine, tests), and the colocation
/// threshold allows a household behind one NAT.
fn peer_score() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let params = gossipsub::PeerScoreParams {
        ip_colocation_factor_threshold: 20.0,
        ip_colocation_factor_whitelist: [std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    (params, gossipsub::PeerScoreThresholds::default())
}

/// Scoring of a validated (org chat) topic. Invalid messages count squared: one (an
/// honest race, say a post arriving before the poster's membership) costs -10, three
/// in quick succession put the peer below the graylist threshold (-80); the count decays
/// by 10 % a second. No penalty for delivering few messages: a quiet org is normal.
fn topic_score() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    }
}

/// What the actor can be asked.
// Commands live only between a handle and the actor; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Shutdown,
    /// Fill the routing table: a Kademlia bootstrap (lookup of our own ID).
    Bootstrap,
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    /// Listen on one more address (a relay circuit).
    Listen(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    Status(oneshot::Sender<NetStatus>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    LocalRecords(oneshot::Sender<Vec<(Vec<u8>, Valid)>>),
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<usize, NetError>>,
    },
    GetRecord {
        key: Vec<u8>,
        reply: oneshot::Sender<Result<(Valid, LookupStats), NetError>>,
    },
    Provide {
        key: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Providers {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Request {
        peer: PeerId,
        body: RequestBody,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Respond(ResponseChannel<Response>, Response),
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    Subscribe {
        topic: String,
        /// Messages wait for [`Command::Validated`] before being forwarded.
        validated: bool,
        reply: oneshot::Sender<Result<broadcast::Receiver<TopicMessage>, NetError>>,
    },
    Validated {
        id: gossipsub::MessageId,
        source: PeerId,
        verdict: super::Verdict,
    },
    /// Leave a topic; its receivers see the channel closed.
    Unsubscribe {
        topic: String,
    },
}

/// How a DHT lookup went: peers asked and answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct LookupStats {
    pub requests: u32,
    pub successes: u32,
}

enum Pending {
    Put(oneshot::Sender<Result<usize, NetError>>),
    Get {
        key: Vec<u8>,
        found: Vec<Valid>,
        reply: oneshot::Sender<Result<(Valid, LookupStats), NetError>>,
    },
    Provide(oneshot::Sender<Result<(), NetError>>),
    Providers {
        found: HashSet<PeerId>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Ignore,
}

#[derive(Default)]
struct Peer {
    addrs: Vec<Multiaddr>,
    agent: Option<String>,
    rtt: Option<Duration>,
    /// It offers relay reservations (circuit relay v2 hop).
    relay: bool,
}

/// The circuit relay v2 protocol a relay server speaks.
const RELAY_HOP: StreamProtocol = StreamProtocol::new("/libp2p/circuit/relay/0.2.0/hop");
/// Relays a node behind NAT reserves on by itself (beyond those configured).
const AUTO_RELAYS: usize = 2;

pub struct Actor {
    swarm: Swarm<Behaviour>,
    cmd_tx: mpsc::Sender<Command>,
    cmd_rx: mpsc::Receiver<Command>,
    inbound: mpsc::Sender<InboundMessage>,
    handle: std::sync::Weak<super::HandleInner>,
    queries: HashMap<QueryId, Pending>,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    dials: HashMap<PeerId, Vec<oneshot::Sender<Result<(), NetError>>>>,
    topics: HashMap<gossipsub::TopicHash, (String, broadcast::Sender<TopicMessage>)>,
    peers: HashMap<PeerId, Peer>,
    nat: autonat::NatStatus,
    light: bool,
    /// A relay server announces its concrete listen addresses as external at once: a
    /// node run as a relay is public by configuration, and libp2p's relay only offers
    /// reservations once it has an external address (AutoNAT would take seconds).
    relay_server: bool,
    /// Topics whose messages the application validates (org chat).
    validated_topics: HashSet<gossipsub::TopicHash>,
    /// Listeners on relay circuits (reservations). Configured ones are re-made when they
    /// close; automatic ones (in `auto_listeners`) are replaced by [`Actor::auto_relay`].
    relay_listeners: HashMap<libp2p::core::transport::ListenerId, Multiaddr>,
    auto_listeners: HashSet<libp2p::core::transport::ListenerId>,
}

impl Actor {
    pub fn new(
        swarm: Swarm<Behaviour>,
        cmd_tx: mpsc::Sender<Command>,
        cmd_rx: mpsc::Receiver<Command>,
        inbound: mpsc::Sender<InboundMessage>,
        handle: NetHandle,
        config: &NetConfig,
    ) -> Result<Actor, NetError> {
        Ok(Actor {
            swarm,
            cmd_tx,
            cmd_rx,
            inbound,
            // Weak: the actor must not keep the handle (and so itself) alive.
            handle: std::sync::Arc::downgrade(&handle.inner),
            queries: HashMap::new(),
            requests: HashMap::new(),
            dials: HashMap::new(),
            topics: HashMap::new(),
            peers: HashMap::new(),
            nat: autonat::NatStatus::Unknown,
            light: config.light,
            relay_server: config.relay_server,
            relay_listeners: HashMap::new(),
            auto_listeners: HashSet::new(),
            validated_topics: HashSet::new(),
        })
    }

    /// Run until every handle is dropped.
    pub async fn run(mut self) {
        loop {
            tokio::select! {
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => self.command(cmd),
                },
                ev = self.swarm.select_next_some() => self.event(ev),
            }
            if self.handle.strong_count() == 0 {
                break;
            }
        }
        tracing::debug!("network actor stopped");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Shutdown => {}
            Command::Bootstrap => {
                if let Ok(q) = self.swarm.behaviour_mut().kad.bootstrap() {
                    self.queries.insert(q, Pending::Ignore);
                }
            }
            Command::Listen(addr, reply) => {
                let r = self
                    .listen(addr.clone())
                    .map(|_| ())
                    .map_err(|e| NetError::Start(format!("listen on {addr}: {e}")));
                let _ = reply.send(r);
            }
            Command::Dial(addr, reply) => {
                // The last `/p2p/`: in `<relay>/p2p-circuit/p2p/<peer>` the first is the relay.
                let peer = addr
                    .iter()
                    .filter_map(|p| match p {
                        libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                        _ => None,
                    })
                    .last();
                if let Some(peer) = peer {
                    if self.swarm.is_connected(&peer) {
                        let _ = reply.send(Ok(()));
                        return;
                    }
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                }
                match self.swarm.dial(addr.clone()) {
                    Ok(()) => match peer {
                        Some(p) => self.dials.entry(p).or_default().push(reply),
                        None => {
                            let _ = reply.send(Ok(()));
                        }
                    },
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Peer {
                            peer: addr.to_string(),
                            message: e.to_string(),
                        }));
                    }
                }
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Peers(reply) => {
                let list = self
                    .swarm
                    .connected_peers()
                    .map(|p| {
                        let info = self.peers.get(p);
                        PeerInfo {
                            node: node_text(p),
                            addrs: info
                                .map(|i| i.addrs.iter().map(|a| a.to_string()).collect())
                                .unwrap_or_default(),
                            agent: info.and_then(|i| i.agent.clone()),
                            rtt_ms: info.and_then(|i| i.rtt).map(|d| d.as_secs_f64() * 1000.0),
                            gossip_score: self.swarm.behaviour().gossip.peer_score(p),
                        }
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::LocalRecords(reply) => {
                let now = records::now_ms();
                let list = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .records()
                    .filter_map(|r| {
                        records::check(r.key.as_ref(), &r.value, now)
                            .ok()
                            .map(|v| (r.key.to_vec(), v))
                    })
                    .collect();
                let _ = reply.send(list);
            }
            Command::PutRecord { key, value, reply } => {
                let record = Record::new(key, value);
                if let Err(e) = self.store_checked(record.clone()) {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                if self.swarm.connected_peers().next().is_none() {
                    let _ = reply.send(Ok(0));
                    return;
                }
                match self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .put_record(record, Quorum::One)
                {
                    Ok(q) => {
                        self.queries.insert(q, Pending::Put(reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Internal(format!("{e:?}"))));
                    }
                }
            }
            Command::GetRecord { key, reply } => {
                let now = records::now_ms();
                let mut found = Vec::new();
                if let Some(r) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .store_mut()
                    .get(&kad::RecordKey::new(&key))
                    && let Ok(v) = records::check(&key, &r.value, now)
                {
                    found.push(v);
                }
                if self.swarm.connected_peers().next().is_none() {
                    let _ = reply.send(
                        records::choose(found)
                            .map(|v| (v, LookupStats::default()))
                            .ok_or_else(|| not_found(&key)),
                    );
                    return;
                }
                let q = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_record(kad::RecordKey::new(&key));
                self.queries.insert(q, Pending::Get { key, found, reply });
            }
            Command::Provide { key, reply } => {
                match self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(kad::RecordKey::new(&key))
                {
                    Ok(q) => {
                        if self.swarm.connected_peers().next().is_none() {
                            self.queries.insert(q, Pending::Ignore);
                            let _ = reply.send(Ok(()));
                        } else {
                            self.queries.insert(q, Pending::Provide(reply));
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Internal(format!("{e:?}"))));
                    }
                }
            }
            Command::Providers { key, reply } => {
                let q = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&key));
                self.queries.insert(
                    q,
                    Pending::Providers {
                        found: HashSet::new(),
                        reply,
                    },
                );
            }
            Command::Request { peer, body, reply } => {
                let Some(handle) = self.handle.upgrade() else {
                    return;
                };
                let req = Request {
                    cert: handle.keys.cert.clone(),
                    body,
                };
                let id = self.swarm.behaviour_mut().rr.send_request(&peer, req);
                self.requests.insert(id, reply);
            }
            Command::Respond(channel, response) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response);
            }
            Command::Publish { topic, data, reply } => {
                let topic = gossipsub::IdentTopic::new(topic);
                let r = self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .publish(topic, data)
                    .map(|_| ())
                    .map_err(|e| NetError::Internal(format!("publish: {e}")));
                let _ = reply.send(r);
            }
            Command::Subscribe {
                topic,
                validated,
                reply,
            } => {
                let t = gossipsub::IdentTopic::new(topic.clone());
                let hash = t.hash();
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                if validated && let Err(e) = gossip.set_topic_params(t.clone(), topic_score()) {
                    tracing::warn!(%topic, "gossipsub topic scoring: {e}");
                }
                let r = match gossip.subscribe(&t) {
                    Ok(_) => {
                        if validated {
                            self.validated_topics.insert(hash.clone());
                        }
                        Ok(self
                            .topics
                            .entry(hash)
                            .or_insert_with(|| (topic, broadcast::channel(1024).0))
                            .1
                            .subscribe())
                    }
                    Err(e) => Err(NetError::Internal(format!("subscribe: {e}"))),
                };
                let _ = reply.send(r);
            }
            Command::Unsubscribe { topic } => {
                let t = gossipsub::IdentTopic::new(topic);
                self.swarm.behaviour_mut().gossip.unsubscribe(&t);
                self.topics.remove(&t.hash());
                self.validated_topics.remove(&t.hash());
            }
            Command::Validated {
                id,
                source,
                verdict,
            } => {
                let acceptance = match verdict {
                    super::Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                    super::Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                    super::Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&id, &source, acceptance);
            }
        }
    }

    fn status(&mut self) -> NetStatus {
        let me = *self.swarm.local_peer_id();
        // Relay circuit addresses already end in `/p2p/<me>`.
        let with_peer = |a: &Multiaddr| match a.iter().last() {
            Some(Protocol::P2p(_)) => a.to_string(),
            _ => format!("{a}/p2p/{me}"),
        };
        let routing_table = self
            .swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|b| b.num_entries())
            .sum();
        let stored_records = self.swarm.behaviour_mut().kad.store_mut().records().count();
        NetStatus {
            node: node_text(&me),
            listen: self.swarm.listeners().map(with_peer).collect(),
            external: self.swarm.external_addresses().map(with_peer).collect(),
            nat: match self.nat {
                autonat::NatStatus::Public(_) => "public",
                autonat::NatStatus::Private => "private",
                autonat::NatStatus::Unknown => "unknown",
            }
            .into(),
            peers: self.swarm.connected_peers().count(),
            routing_table,
            stored_records,
            light: self.light,
        }
    }

    /// Store a record locally if it is valid and may replace what is stored.
    fn store_checked(&mut self, record: Record) -> Result<(), records::RecordError> {
        let now = records::now_ms();
        let new = records::check(record.key.as_ref(), &record.value, now)?;
        let store = self.swarm.behaviour_mut().kad.store_mut();
        if let Some(old) = store.get(&record.key)
            && let Ok(old) = records::check(old.key.as_ref(), &old.value, now)
        {
            records::supersedes(&old, &new, now)?;
        }
        let mut record = record;
        record.expires = Some(
            std::time::Instant::now() + Duration::from_millis(new.expires().saturating_sub(now)),
        );
        store
            .put(record)
            .map_err(|e| records::RecordError::Invalid(format!("store: {e:?}")))
    }

    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::Behaviour(ev) => self.behaviour_event(ev),
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                // Every open connection's address: a relayed one (`/p2p-circuit`) and,
                // after hole punching, the direct one.
                let addr = endpoint.get_remote_address().clone();
                let p = self.peers.entry(peer_id).or_default();
                if !p.addrs.contains(&addr) {
                    p.addrs.push(addr);
                }
                for reply in self.dials.remove(&peer_id).unwrap_or_default() {
                    let _ = reply.send(Ok(()));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.peers.remove(&peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id, endpoint, ..
            } => {
                if let Some(p) = self.peers.get_mut(&peer_id) {
                    p.addrs.retain(|a| a != endpoint.get_remote_address());
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } if !self.swarm.is_connected(&peer) => {
                for reply in self.dials.remove(&peer).unwrap_or_default() {
                    let _ = reply.send(Err(NetError::Peer {
                        peer: peer.to_string(),
                        message: error.to_string(),
                    }));
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "network listening");
                let concrete = !address.iter().any(|p| {
                    matches!(
                        p,
                        Protocol::Ip4(ip) if ip.is_unspecified() || ip.is_loopback()
                    ) || matches!(p, Protocol::P2pCircuit)
                });
                if self.relay_server && concrete {
                    self.swarm.add_external_address(address);
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if self.auto_listeners.remove(&listener_id) {
                    self.relay_listeners.remove(&listener_id);
                    tracing::info!(?reason, "automatic relay reservation closed");
                    self.auto_relay();
                } else if let Some(addr) = self.relay_listeners.remove(&listener_id) {
                    // The relay refused or dropped the reservation (not a relay yet,
                    // restarted, gone): ask again in a while, for as long as we run.
                    tracing::info!(%addr, ?reason, "relay reservation closed; retrying in 5 s");
                    let cmd = self.cmd_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        let (reply, _) = oneshot::channel();
                        let _ = cmd.send(Command::Listen(addr, reply)).await;
                    });
                }
            }
            _ => {}
        }
    }

    fn behaviour_event(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Kad(ev) => self.kad_event(ev),
            BehaviourEvent::Rr(ev) => self.rr_event(ev),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let p = self.peers.entry(peer_id).or_default();
                p.agent = Some(info.agent_version.clone());
                p.relay = info.protocols.contains(&RELAY_HOP);
                if p.relay {
                    self.auto_relay();
                }
                // Only peers that speak our DHT go into the routing table; light
                // nodes (DHT clients) do not advertise it and stay out.
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for addr in info.listen_addrs {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                self.peers.entry(peer).or_default().rtt = Some(rtt);
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                for (peer, addr) in list {
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr.clone());
                    }
                }
            }
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => {
                tracing::info!(status = ?new, "NAT status");
                self.nat = new;
                self.auto_relay();
            }
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                message,
                message_id,
                propagation_source,
            }) => {
                // Every message waits for a verdict (`validate_messages`); topics the
                // application does not judge are accepted here at once.
                let validation = if self.validated_topics.contains(&message.topic) {
                    Some((message_id, propagation_source))
                } else {
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Accept,
                        );
                    None
                };
                if let Some((name, tx)) = self.topics.get(&message.topic) {
                    let _ = tx.send(TopicMessage {
                        topic: name.clone(),
                        from: message.source.as_ref().and_then(super::node_id_of),
                        data: message.data,
                        validation,
                    });
                }
            }
            BehaviourEvent::Dcutr(ev) => tracing::info!(?ev, "hole punching"),
            BehaviourEvent::RelayClient(ev) => tracing::info!(?ev, "relay client"),
            _ => {}
        }
    }

    /// Listen on `addr`; a relay circuit is remembered in `relay_listeners`.
    fn listen(
        &mut self,
        addr: Multiaddr,
    ) -> Result<libp2p::core::transport::ListenerId, libp2p::TransportError<std::io::Error>> {
        let id = self.swarm.listen_on(addr.clone())?;
        if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
            self.relay_listeners.insert(id, addr);
        }
        Ok(id)
    }

    /// Behind NAT (AutoNAT says private), reserve on connected relay servers until
    /// [`AUTO_RELAYS`] reservations are held, so others can reach this node through
    /// them (and hole punching can upgrade). Relays named in `[net] relays` count too.
    fn auto_relay(&mut self) {
        if self.nat != autonat::NatStatus::Private || self.light {
            return;
        }
        let held: HashSet<PeerId> = self
            .relay_listeners
            .values()
            .filter_map(|a| {
                a.iter().find_map(|p| match p {
                    Protocol::P2p(id) => Some(id),
                    _ => None,
                })
            })
            .collect();
        let mut want = AUTO_RELAYS.saturating_sub(held.len());
        let candidates: Vec<(PeerId, Multiaddr)> = self
            .peers
            .iter()
            .filter(|(id, p)| p.relay && !held.contains(id))
            .filter_map(|(id, p)| {
                let direct = p
                    .addrs
                    .iter()
                    .find(|a| !a.iter().any(|x| matches!(x, Protocol::P2pCircuit)))?;
                Some((*id, direct.clone()))
            })
            .collect();
        for (id, addr) in candidates {
            if want == 0 {
                break;
            }
            let circuit = addr
                .with_p2p(id)
                .unwrap_or_else(|a| a)
                .with(Protocol::P2pCircuit);
            match self.listen(circuit) {
                Ok(lid) => {
                    tracing::info!(relay = %id, "behind NAT: reserving on a relay");
                    self.auto_listeners.insert(lid);
                    want -= 1;
                }
                Err(e) => tracing::debug!(relay = %id, "relay reservation: {e}"),
            }
        }
    }

    fn kad_event(&mut self, ev: kad::Event) {
        match ev {
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        source,
                        record: Some(record),
                        ..
                    },
            } => {
                if let Err(e) = self.store_checked(record) {
                    tracing::debug!(peer = %source, "refused a record: {e}");
                }
            }
            kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(record),
                    },
            } => {
                let key = record.key.as_ref();
                let ok = key.starts_with(b"/leither/holders/")
                    || key.starts_with(b"/leither/user-nodes/");
                if ok {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .kad
                        .store_mut()
                        .add_provider(record);
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result,
                step,
                stats,
            } => self.query_progress(id, result, step.last, stats),
            _ => {}
        }
    }

    fn query_progress(
        &mut self,
        id: QueryId,
        result: QueryResult,
        last: bool,
        stats: kad::QueryStats,
    ) {
        let Some(mut pending) = self.queries.remove(&id) else {
            return;
        };
        let mut done = last;
        match (&mut pending, result) {
            (
                Pending::Get { key, found, .. },
                QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(r))),
            ) => {
                match records::check(key, &r.record.value, records::now_ms()) {
                    Ok(v) => found.push(v),
                    Err(e) => tracing::debug!(peer = ?r.peer, "bad record from lookup: {e}"),
                }
                // Three valid answers are enough to choose.
                if found.len() >= 3
                    && let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id)
                {
                    q.finish();
                }
            }
            (Pending::Get { .. }, QueryResult::GetRecord(Err(_))) => done = true,
            (Pending::Put(_), QueryResult::PutRecord(r)) => {
                if let Pending::Put(reply) = pending {
                    // Quorum failures still leave the record stored here and wherever
                    // it was accepted; report how many acknowledged.
                    let _ = reply.send(Ok(usize::from(r.is_ok())));
                }
                return;
            }
            (Pending::Provide(_), QueryResult::StartProviding(_)) => {
                if let Pending::Provide(reply) = pending {
                    let _ = reply.send(Ok(()));
                }
                return;
            }
            (
                Pending::Providers { found, .. },
                QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { providers, .. })),
            ) => {
                found.extend(providers);
                if found.len() >= 20
                    && let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id)
                {
                    q.finish();
                }
            }
            _ => {}
        }
        if !done {
            self.queries.insert(id, pending);
            return;
        }
        match pending {
            Pending::Get { key, found, reply } => {
                let stats = LookupStats {
                    requests: stats.num_requests(),
                    successes: stats.num_successes(),
                };
                let _ = reply.send(
                    records::choose(found)
                        .map(|v| (v, stats))
                        .ok_or_else(|| not_found(&key)),
                );
            }
            Pending::Providers { found, reply } => {
                let _ = reply.send(found.into_iter().collect());
            }
            Pending::Put(reply) => {
                let _ = reply.send(Ok(0));
            }
            Pending::Provide(reply) => {
                let _ = reply.send(Ok(()));
            }
            Pending::Ignore => {}
        }
    }

    fn rr_event(&mut self, ev: request_response::Event<Request, Response>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.requests.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let Some(handle) = self.handle.upgrade() else {
                        return;
                    };
                    let tx = self.cmd_tx.clone();
                    let inbound = self.inbound.clone();
                    let handle = NetHandle { inner: handle };
                    tokio::spawn(async move {
                        let response = super::pull::serve(&handle, peer, request, inbound).await;
                        let _ = tx.send(Command::Respond(channel, response)).await;
                    });
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Peer {
                        peer: peer.to_string(),
                        message: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound request failed: {error}");
            }
            _ => {}
        }
    }
}

fn node_text(p: &PeerId) -> String {
    super::node_id_of(p)
        .map(|n| n.to_string())
        .unwrap_or_else(|| p.to_string())
}

fn not_found(key: &[u8]) -> NetError {
    NetError::NotFound(String::from_utf8_lossy(key).chars().take(40).collect())
}

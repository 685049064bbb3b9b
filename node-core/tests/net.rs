//! The peer-to-peer network with real nodes on loopback: in-process nodes (each with
//! its own data dir, identity, store and libp2p swarm over real TCP/QUIC sockets), and
//! a hostile peer built from raw libp2p that serves wrong blocks, forges records and
//! sends oversized frames.

use std::path::Path;
use std::time::{Duration, Instant};

use leither_core::config::Config;
use leither_core::identity::{
    Identity, IdentityOptions, KdfParams, KeyBackend, Passphrase, PassphrasePurpose,
};
use leither_core::mimei::{MimeiId, MimeiPath, NewMimei, Rights, VersionRef};
use leither_core::net::{self, NameTarget, NetError, NetHandle};
use leither_core::node::Node;

fn pass(_: PassphrasePurpose) -> Result<Passphrase, leither_core::identity::IdentityError> {
    Ok(Passphrase::new("test passphrase"))
}

fn options() -> IdentityOptions {
    IdentityOptions {
        backend: KeyBackend::File,
        device_name: "test".into(),
        kdf: KdfParams::INSECURE_FAST_FOR_TESTS,
    }
}

pub struct TestNode {
    pub node: Node,
    pub net: NetHandle,
}

fn config(bootstrap: &[String], quic: bool) -> Config {
    let mut c = Config::default();
    c.net.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    if quic {
        c.net.listen.push("/ip4/127.0.0.1/udp/0/quic-v1".into());
    }
    c.net.mdns = false;
    c.net.bootstrap = bootstrap.to_vec();
    c
}

async fn start(dir: &Path, bootstrap: &[String], quic: bool) -> TestNode {
    start_paused(dir, bootstrap, quic, Default::default()).await
}

/// [`start`] with the node's pause-sync flag.
async fn start_paused(
    dir: &Path,
    bootstrap: &[String],
    quic: bool,
    paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> TestNode {
    let identity = if Identity::exists(dir) {
        Identity::load(dir, pass).unwrap()
    } else {
        Identity::create(dir, &options(), pass).unwrap().0
    };
    let node = Node::open(dir, config(bootstrap, quic), identity.public()).unwrap();
    let net = net::start_with_pause(node.clone(), &identity, paused)
        .await
        .unwrap();
    node.set_net(net.clone());
    TestNode { node, net }
}

async fn addr(n: &TestNode) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = n.net.listen_addrs().await.unwrap();
        if let Some(a) = l.iter().find(|a| a.contains("/tcp/")) {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Retry `f` until it returns `Some` or 20 s pass.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A public Mimei on `n` with a small file, a chunked file and database rows, backed up.
fn publish(n: &TestNode, mark: &str) -> (MimeiId, Vec<u8>) {
    let user = *n.node.user();
    let m = n.node.mimeis();
    let info = m
        .create(
            &user,
            &NewMimei {
                app_type: "test".into(),
                ext: String::new(),
                mark: mark.into(),
                rights: Some(Rights::public()),
            },
        )
        .unwrap();
    let big: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
    m.write_file(
        &user,
        &info.id,
        &MimeiPath::parse("docs/hello.txt").unwrap(),
        &b"hello network"[..],
    )
    .unwrap();
    m.write_file(
        &user,
        &info.id,
        &MimeiPath::parse("big.bin").unwrap(),
        &big[..],
    )
    .unwrap();
    for i in 0..50 {
        m.db_put(&user, &info.id, &format!("k{i:03}"), &vec![i as u8; 3000])
            .unwrap();
    }
    m.backup(&user, &info.id, "v0").unwrap();
    (info.id, big)
}

fn read(n: &TestNode, id: &MimeiId, path: &str) -> Vec<u8> {
    n.node
        .mimeis()
        .read_file(
            n.node.user(),
            id,
            VersionRef::Last,
            &MimeiPath::parse(path).unwrap(),
        )
        .unwrap()
        .read_all()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_nodes_publish_pull_names_restart() {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(dirs[0].path(), &[], true).await;
    let boot = vec![addr(&a).await];
    let mut nodes = vec![a];
    for d in &dirs[1..] {
        nodes.push(start(d.path(), &boot, true).await);
    }
    // Everyone knows more than the bootstrap node once identify + Kademlia ran.
    for n in &nodes {
        eventually("routing tables", || async {
            (n.net.status().await.unwrap().routing_table >= 2).then_some(())
        })
        .await;
    }

    // Publish on A; find and pull on D.
    let (id, big) = publish(&nodes[0], "shared");
    let d = &nodes[3];
    eventually("routing record on D", || async {
        d.net.mimei_record(&id).await.ok()
    })
    .await;
    let report = d.net.pull(&id, None).await.unwrap();
    assert_eq!(report.version, 0);
    assert!(!report.already_present);
    assert!(report.blocks_fetched > 5, "{report:?}");
    assert_eq!(read(d, &id, "big.bin"), big);
    assert_eq!(read(d, &id, "docs/hello.txt"), b"hello network");
    let a_ver = nodes[0].node.mimeis().version(&id, 0).unwrap();
    assert_eq!(d.node.mimeis().version(&id, 0).unwrap(), a_ver);
    let verify = d.node.mimeis().verify(d.node.user(), &id).unwrap();
    assert!(verify.problems.is_empty(), "{:?}", verify.problems);
    assert_eq!(
        d.node
            .mimeis()
            .db_get(d.node.user(), &id, VersionRef::Last, "k007")
            .unwrap(),
        Some(vec![7u8; 3000])
    );
    // Pulling again is a no-op; E can now pull from A and D in parallel.
    assert!(d.net.pull(&id, None).await.unwrap().already_present);
    let e = &nodes[4];
    let r = e.net.pull(&id, Some(0)).await.unwrap();
    assert_eq!(read(e, &id, "big.bin"), big);
    assert!(r.holders_used >= 1);

    // Names: A claims, everybody resolves, B cannot take it, A re-points.
    nodes[0]
        .net
        .claim_name("shared-docs", NameTarget::Mimei(id))
        .await
        .unwrap();
    for n in &nodes {
        let r = eventually("name", || async {
            n.net.resolve_name("shared-docs").await.ok()
        })
        .await;
        assert_eq!(r.target, NameTarget::Mimei(id));
        assert_eq!(&r.owner, nodes[0].node.user());
        assert_eq!(n.net.resolve_mimei("shared-docs").await.unwrap(), id);
    }
    let taken = nodes[1]
        .net
        .claim_name("shared-docs", NameTarget::Node(nodes[1].net.node_id()))
        .await;
    assert!(matches!(taken, Err(NetError::NameTaken(_))), "{taken:?}");
    let new_target = NameTarget::Node(nodes[0].net.node_id());
    nodes[0]
        .net
        .claim_name("shared-docs", new_target)
        .await
        .unwrap();
    for n in &nodes {
        eventually("re-pointed name", || async {
            (n.net.resolve_name("shared-docs").await.ok()?.target == new_target).then_some(())
        })
        .await;
    }
    assert!(matches!(
        nodes[2].net.resolve_name("nobody-has-this").await,
        Err(NetError::NotFound(_))
    ));

    // Messages and pub/sub (for social/org).
    let mut inbox = nodes[1].net.inbound().unwrap();
    tokio::spawn(async move {
        while let Some(m) = inbox.recv().await {
            let mut answer = m.kind.into_bytes();
            answer.extend(m.body);
            let _ = m.reply.send(answer);
        }
    });
    let answer = nodes[2]
        .net
        .send(&nodes[1].net.node_id(), "echo:", b"hi".to_vec())
        .await
        .unwrap();
    assert_eq!(answer, b"echo:hi");
    // By user: C finds B's device through the DHT and reaches it.
    let b_user = *nodes[1].node.user();
    let (via, answer) = eventually("user's nodes", || async {
        nodes[2]
            .net
            .send_to_user(&b_user, "echo:", b"user".to_vec())
            .await
            .ok()
    })
    .await;
    assert_eq!(via, nodes[1].net.node_id());
    assert_eq!(answer, b"echo:user");

    // Restart D with the same data dir: same identity, same holdings, still serving.
    let d_node_id = nodes[3].net.node_id();
    let d = nodes.remove(3);
    d.node.stop_net().await;
    drop(d);
    let d = start(dirs[3].path(), &boot, false).await;
    assert_eq!(d.net.node_id(), d_node_id);
    assert_eq!(read(&d, &id, "big.bin"), big);
    assert!(d.net.pull(&id, None).await.unwrap().already_present);
}

mod common;

/// A `[net]` section for a `leither run` process on loopback.
fn write_config(dir: &Path, bootstrap: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    let boot = bootstrap
        .map(|b| format!("bootstrap = [\"{b}\"]\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[net]\nlisten = [\"/ip4/127.0.0.1/tcp/0\", \"/ip4/127.0.0.1/udp/0/quic-v1\"]\nmdns = false\n{boot}"
        ),
    )
    .unwrap();
}

/// The process's TCP listen address, once its network has started listening (the API
/// answers before the listeners report their addresses).
async fn tcp_addr(p: &common::NodeProc) -> String {
    eventually("a TCP listen address", || async {
        let v = p.ok(reqwest::Method::GET, "/api/v1/net/status", None).await;
        v["listen"]
            .as_array()?
            .iter()
            .filter_map(|a| a.as_str())
            .find(|a| a.contains("/tcp/"))
            .map(str::to_string)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_pull_and_names_through_the_cli() {
    use common::{NodeProc, cli, cli_fails};
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    write_config(dirs[0].path(), None);
    let p1 = NodeProc::start(dirs[0].path()).await;
    let boot = tcp_addr(&p1).await;
    write_config(dirs[1].path(), Some(&boot));
    write_config(dirs[2].path(), Some(&boot));
    let p2 = NodeProc::start(dirs[1].path()).await;
    let mut p3 = NodeProc::start(dirs[2].path()).await;
    let (d1, d2, d3) = (dirs[0].path(), dirs[1].path(), dirs[2].path());

    // Publish on node 1 with the CLI.
    let id = cli(d1, &["mimei", "create", "--public", "site"])
        .trim()
        .to_string();
    let content: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
    let file = dirs[0].path().join("page.bin");
    std::fs::write(&file, &content).unwrap();
    cli(
        d1,
        &["mimei", "put", &id, "www/page.bin", file.to_str().unwrap()],
    );
    cli(d1, &["mimei", "backup", &id]);

    // Node 3 finds and pulls it (the routing record needs a moment to spread).
    let deadline = Instant::now() + Duration::from_secs(30);
    let pulled = loop {
        let out = common::leither(d3)
            .args(["mimei", "pull", &id])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "pull never worked: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(pulled.contains("pulled"), "{pulled}");
    let out = dirs[2].path().join("out.bin");
    cli(
        d3,
        &[
            "mimei",
            "get",
            &format!("{id}@0"),
            "www/page.bin",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&out).unwrap(), content);
    let verify = cli(d3, &["--json", "mimei", "verify", &id]);
    assert!(verify.contains("\"problems\": []"), "{verify}");

    // Names through the CLI: claim on 1, resolve on 2 and 3, 2 cannot take it.
    let claimed = cli(d1, &["name", "claim", "my-site", &id]);
    assert!(claimed.contains(&id), "{claimed}");
    for d in [d2, d3] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = common::leither(d)
                .args(["name", "resolve", "my-site"])
                .output()
                .unwrap();
            if out.status.success() {
                assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
                break;
            }
            assert!(Instant::now() < deadline, "name never resolved");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (stdout, stderr) = cli_fails(d2, &["--json", "name", "claim", "my-site", &id]);
    assert!(stdout.contains("name_taken"), "{stdout} {stderr}");

    // Status and peers show the network.
    let status = cli(d2, &["status"]);
    assert!(status.contains("NAT"), "{status}");
    let p1_node = p1
        .ok(reqwest::Method::GET, "/api/v1/net/status", None)
        .await["node"]
        .as_str()
        .unwrap()
        .to_string();
    let peers = cli(d2, &["--json", "peers"]);
    assert!(peers.contains(&p1_node), "{peers}");

    // Restart node 3: same identity, still holds the version, serves it to node 2.
    let before = cli(d3, &["identity", "show"]);
    p3.stop();
    drop(p3);
    let _p3 = NodeProc::start(d3).await;
    assert_eq!(cli(d3, &["identity", "show"]), before);
    cli(
        d3,
        &[
            "mimei",
            "get",
            &format!("{id}@0"),
            "www/page.bin",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&out).unwrap(), content);
    let pulled = cli(d2, &["mimei", "pull", &format!("{id}@0")]);
    assert!(pulled.contains("pulled"), "{pulled}");
    drop(p2);
    drop(p1);
}

/// The hostile peer: raw libp2p speaking our protocols, lying in every way it can.
mod evil {
    use std::io;

    use futures::prelude::*;
    use libp2p::kad::store::MemoryStore;
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::NetworkBehaviour;
    use libp2p::{StreamProtocol, identify, kad, noise, tcp, yamux};

    /// Requests arrive as frame payloads; responses and requests go out as raw bytes,
    /// so this peer can send frames our codec would never write.
    #[derive(Clone, Default)]
    pub struct RawCodec;

    impl request_response::Codec for RawCodec {
        type Protocol = StreamProtocol;
        type Request = Vec<u8>;
        type Response = Vec<u8>;

        async fn read_request<T: AsyncRead + Unpin + Send>(
            &mut self,
            _: &StreamProtocol,
            io: &mut T,
        ) -> io::Result<Vec<u8>> {
            let mut len = [0u8; 4];
            io.read_exact(&mut len).await?;
            let mut buf = vec![0u8; (u32::from_be_bytes(len) as usize).min(4 << 20)];
            io.read_exact(&mut buf).await?;
            Ok(buf)
        }
        async fn read_response<T: AsyncRead + Unpin + Send>(
            &mut self,
            _: &StreamProtocol,
            io: &mut T,
        ) -> io::Result<Vec<u8>> {
            let mut buf = Vec::new();
            io.take(1 << 20).read_to_end(&mut buf).await?;
            Ok(buf)
        }
        async fn write_request<T: AsyncWrite + Unpin + Send>(
            &mut self,
            _: &StreamProtocol,
            io: &mut T,
            r: Vec<u8>,
        ) -> io::Result<()> {
            io.write_all(&r).await?;
            io.close().await
        }
        async fn write_response<T: AsyncWrite + Unpin + Send>(
            &mut self,
            _: &StreamProtocol,
            io: &mut T,
            r: Vec<u8>,
        ) -> io::Result<()> {
            io.write_all(&r).await?;
            io.close().await
        }
    }

    #[derive(NetworkBehaviour)]
    pub struct Evil {
        pub identify: identify::Behaviour,
        pub kad: kad::Behaviour<MemoryStore>,
        pub rr: request_response::Behaviour<RawCodec>,
    }

    pub fn swarm() -> libp2p::Swarm<Evil> {
        let mut s = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|key| {
                let peer = key.public().to_peer_id();
                let mut kad = kad::Behaviour::with_config(
                    peer,
                    MemoryStore::new(peer),
                    kad::Config::new(leither_core::net::actor::KAD_PROTOCOL),
                );
                kad.set_mode(Some(kad::Mode::Server));
                Evil {
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/leither/1".into(),
                        key.public(),
                    )),
                    kad,
                    rr: request_response::Behaviour::new(
                        [(leither_core::net::wire::PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default(),
                    ),
                }
            })
            .unwrap()
            .with_swarm_config(|c| {
                c.with_idle_connection_timeout(std::time::Duration::from_secs(60))
            })
            .build();
        s.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        s
    }

    /// A length-prefixed frame of `value`.
    pub fn frame<T: serde::Serialize>(value: &T) -> Vec<u8> {
        let body = postcard::to_allocvec(value).unwrap();
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_peer_is_refused_and_pull_completes_from_honest_ones() {
    use futures::StreamExt;
    use leither_core::identity::{DeviceCert, Keypair, NodeId, UserId};
    use leither_core::net::records::{self, NameRecord};
    use leither_core::net::wire::{Bytes, Request, RequestBody, Response};
    use libp2p::request_response::{Event, Message};
    use libp2p::swarm::SwarmEvent;

    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(dirs[0].path(), &[], false).await;
    let boot = vec![addr(&a).await];
    let b = start(dirs[1].path(), &boot, false).await;
    let c = start(dirs[2].path(), &boot, false).await;
    let (id, big) = publish(&a, "target");
    a.net
        .claim_name("victim", NameTarget::Mimei(id))
        .await
        .unwrap();
    let honest_version = a.node.mimeis().version(&id, 0).unwrap();
    let honest_info = a.node.mimeis().info(&id).unwrap();

    // The hostile peer joins, announces itself as a holder and starts lying.
    let mut s = evil::swarm();
    let evil_peer = *s.local_peer_id();
    s.dial(boot[0].parse::<libp2p::Multiaddr>().unwrap())
        .unwrap();
    let a_peer = a.net.peer_id();
    let ticks = tokio::time::Instant::now();
    let mut provided = false;
    let mut forged = false;
    let mut huge_sent = false;
    let mut block_requests = 0usize;
    let evil_task = tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                ev = s.select_next_some() => ev,
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                    if !provided && ticks.elapsed().as_millis() > 300 {
                        provided = true;
                        s.behaviour_mut().kad.add_address(&a_peer, boot_addr(&boot[0]));
                        let _ = s.behaviour_mut().kad.bootstrap();
                        s.behaviour_mut()
                            .kad
                            .start_providing(records::holder_key(&id).into())
                            .unwrap();
                    }
                    if provided && !forged && ticks.elapsed().as_millis() > 800 {
                        forged = true;
                        // 1. A name record for the claimed name, validly signed by another user.
                        let mallory = Keypair::generate().unwrap();
                        let now = records::now_ms();
                        let r = NameRecord {
                            name: "victim".into(),
                            target: NameTarget::Node(NodeId::from_bytes([7; 32])),
                            owner: UserId::from_public_key(mallory.public_key()),
                            seq: u64::MAX / 2,
                            expires: now + records::RECORD_TTL_MS,
                        };
                        let v = records::sign(&mallory, &r).unwrap();
                        let _ = s.behaviour_mut().kad.put_record(
                            kad::Record::new(records::name_key("victim"), v),
                            kad::Quorum::One,
                        );
                        // 2. A routing record for A's Mimei from a device that is not A's.
                        let node = Keypair::generate().unwrap();
                        let node_id = NodeId::from_public_key(node.public_key());
                        let cert = DeviceCert::issue(&mallory, node_id, "evil").unwrap();
                        let fake = records::MimeiRecord {
                            id,
                            author: honest_info.author,
                            app_type: honest_info.app_type.clone(),
                            ext: honest_info.ext.clone(),
                            mark: honest_info.mark.clone(),
                            holder: node_id,
                            cert,
                            versions: vec![(9, leither_core::store::BlockHash::of(b"x"))],
                            release: None,
                            seq: u64::MAX / 2,
                            expires: now + records::RECORD_TTL_MS,
                        };
                        let _ = s.behaviour_mut().kad.put_record(
                            kad::Record::new(records::mimei_key(&id), records::sign(&node, &fake).unwrap()),
                            kad::Quorum::One,
                        );
                        // 3. Unsigned and oversized junk under record keys.
                        let _ = s.behaviour_mut().kad.put_record(
                            kad::Record::new(records::name_key("junk"), b"not signed".to_vec()),
                            kad::Quorum::One,
                        );
                        let _ = s.behaviour_mut().kad.put_record(
                            kad::Record::new(records::name_key("huge"), vec![1u8; 60_000]),
                            kad::Quorum::One,
                        );
                        // 4. A request frame claiming 200 MiB.
                        s.behaviour_mut().rr.send_request(&a_peer, (200u32 << 20).to_be_bytes().to_vec());
                        huge_sent = true;
                    }
                    continue;
                }
            };
            if let SwarmEvent::NewListenAddr { address, .. } = &ev {
                s.add_external_address(address.clone());
            }
            if let SwarmEvent::Behaviour(evil::EvilEvent::Rr(Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            })) = ev
            {
                let Ok(req) = postcard::from_bytes::<Request>(&request) else {
                    continue;
                };
                let answer = match req.body {
                    // The version record is honest (it is checked against A's signed digest)…
                    RequestBody::Version { .. } => evil::frame(&Response::Version {
                        info: Box::new(honest_info.clone()),
                        record: Box::new(honest_version.clone()),
                    }),
                    // …the blocks are not: garbage, or a frame claiming 100 MiB.
                    RequestBody::Blocks { hashes, .. } => {
                        block_requests += 1;
                        if block_requests.is_multiple_of(2) {
                            (100u32 << 20).to_be_bytes().to_vec()
                        } else {
                            evil::frame(&Response::Blocks(
                                hashes
                                    .iter()
                                    .map(|_| Some(Bytes(vec![0xAB; 1000])))
                                    .collect(),
                            ))
                        }
                    }
                    _ => evil::frame(&Response::error("no", "no")),
                };
                let _ = s.behaviour_mut().rr.send_response(channel, answer);
            }
            let _ = huge_sent;
        }
    });

    fn boot_addr(s: &str) -> libp2p::Multiaddr {
        s.parse().unwrap()
    }
    use libp2p::kad;

    // Give the lies time to spread, then pull on C: it must complete from A (and B).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let providers = c.net.providers(records::holder_key(&id)).await.unwrap();
    assert!(
        providers.contains(&evil_peer),
        "the hostile peer should be a known holder: {providers:?}"
    );
    let report = c.net.pull(&id, None).await.unwrap();
    assert_eq!(report.version, 0);
    assert_eq!(read(&c, &id, "big.bin"), big);
    assert!(
        report.holders_dropped.contains(&evil_peer.to_string()),
        "the hostile peer should have been dropped: {report:?}"
    );
    let v = c.node.mimeis().verify(c.node.user(), &id).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);

    // The forged records were not stored anywhere and do not win lookups.
    for n in [&a, &b, &c] {
        for (_, r) in n.net.records().await.unwrap() {
            if let leither_core::net::Valid::Name(nr) = &r {
                assert_eq!(nr.name, "victim");
                assert_eq!(&nr.owner, a.node.user());
            }
            if let leither_core::net::Valid::Mimei(mr) = &r {
                assert_eq!(mr.holder, a.net.node_id());
            }
        }
        let name = n.net.resolve_name("victim").await.unwrap();
        assert_eq!(name.target, NameTarget::Mimei(id));
        assert_eq!(
            n.net.mimei_record(&id).await.unwrap().newest().unwrap().0,
            0
        );
        assert!(n.net.resolve_name("junk").await.is_err());
        assert!(n.net.resolve_name("huge").await.is_err());
    }
    // A survived the oversized frame and still serves.
    assert!(a.net.status().await.unwrap().peers >= 2);
    evil_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_device_follows_the_database_peer_backup_wins_conflicts() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Two devices of one user: B recovers A's identity from the phrase.
    let (ida, phrase) = Identity::create(da.path(), &options(), pass).unwrap();
    drop(ida);
    Identity::recover(db.path(), &phrase, &options(), pass).unwrap();
    let a = start(da.path(), &[], false).await;
    let b = start(db.path(), &[addr(&a).await], false).await;
    assert_eq!(a.node.user(), b.node.user());
    assert_ne!(a.net.node_id(), b.net.node_id());

    let user = *a.node.user();
    let m = a.node.mimeis();
    let id = m
        .create(
            &user,
            &NewMimei {
                app_type: "notes".into(),
                ext: String::new(),
                mark: "synced".into(),
                rights: None, // private: only this user's devices may read it
            },
        )
        .unwrap()
        .id;
    let put = |k: &str, v: Option<&str>| (k.to_string(), v.map(|v| v.as_bytes().to_vec()));
    m.db_write(
        &user,
        &id,
        &[
            put("k1", Some("a")),
            put("k2", Some("b")),
            put("k4", Some("d")),
        ],
    )
    .unwrap();
    m.backup(&user, &id, "v0").unwrap();
    eventually("routing record", || async {
        b.net.mimei_record(&id).await.ok()
    })
    .await;

    b.net.follow_db(&id).await.unwrap();
    let get = |n: &TestNode, k: &str| {
        n.node
            .mimeis()
            .db_get(n.node.user(), &id, VersionRef::Cur, k)
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(get(&b, "k1").as_deref(), Some("a"));
    assert_eq!(get(&b, "k2").as_deref(), Some("b"));

    // Both sides change things; A's next backup reaches B by itself.
    let bm = b.node.mimeis();
    bm.db_write(
        &user,
        &id,
        &[put("k2", Some("local")), put("k3", Some("only-b"))],
    )
    .unwrap();
    m.db_write(
        &user,
        &id,
        &[
            put("k1", Some("a2")),
            put("k2", Some("b2")),
            put("k4", None),
        ],
    )
    .unwrap();
    m.backup(&user, &id, "v1").unwrap();
    eventually("followed backup merged", || async {
        (get(&b, "k1").as_deref() == Some("a2")).then_some(())
    })
    .await;
    assert_eq!(
        get(&b, "k2").as_deref(),
        Some("b2"),
        "the peer's backup wins a key both changed"
    );
    assert_eq!(
        get(&b, "k3").as_deref(),
        Some("only-b"),
        "local keys the peer did not touch survive"
    );
    assert_eq!(get(&b, "k4"), None, "a key the peer deleted is deleted");
    assert!(b.node.mimeis().version(&id, 1).is_ok());
}

/// The HTTP bridge on a node that does not hold a Mimei: with the network as its
/// release source it resolves the name through the DHT, pulls the author's release
/// (the routing record names it) and serves the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_pulls_a_release_from_the_network() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use leither_core::api::bridge;
    use tower::ServiceExt;

    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = start(dirs[0].path(), &[], false).await;
    let boot = vec![addr(&a).await];
    let b = start(dirs[1].path(), &boot, false).await;
    let (id, _) = publish(&a, "site");
    a.node
        .mimeis()
        .release(a.node.user(), &id, VersionRef::Number(0))
        .unwrap();
    a.net
        .claim_name("bridge-site", NameTarget::Mimei(id))
        .await
        .unwrap();
    let router = bridge::routes(
        b.node.clone(),
        std::sync::Arc::new(bridge::NetOrLocal(b.node.clone())),
    );
    let get = |path: String| {
        let r = router.clone();
        async move {
            let resp = r
                .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }
    };
    // By name: resolved on the DHT, release pulled, file served.
    let body = eventually("the bridge serves the file by name", || async move {
        let (s, body) = get("/m/bridge-site/docs/hello.txt".into()).await;
        s.is_success().then_some(body)
    })
    .await;
    assert_eq!(&body[..], b"hello network");
    assert_eq!(b.node.mimeis().heads(&id).unwrap().release, Some(0));
    // By ID, now local.
    let (s, body) = get(format!("/m/{id}/docs/hello.txt")).await;
    assert!(s.is_success());
    assert_eq!(&body[..], b"hello network");
    // A name nobody claimed is still a 404.
    let (s, _) = get("/m/no-such-site/docs/hello.txt".into()).await;
    assert_eq!(s, axum::http::StatusCode::NOT_FOUND);
}

/// `leither app install <id>` on a node that does not have the app pulls its release
/// from the node that published it, and the app's files are then served on the
/// installing node's app origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_install_pulls_the_release_from_another_node() {
    use common::{NodeProc, cli};
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    write_config(dirs[0].path(), None);
    let p1 = NodeProc::start(dirs[0].path()).await;
    let boot = tcp_addr(&p1).await;
    write_config(dirs[1].path(), Some(&boot));
    let p2 = NodeProc::start(dirs[1].path()).await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/examples/notes");
    let out = cli(dirs[0].path(), &["--json", "app", "publish", examples]);
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The routing record needs a moment to spread.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = common::leither(dirs[1].path())
            .args(["app", "install", &id])
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "install never worked: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let list = cli(dirs[1].path(), &["app", "list"]);
    assert!(list.contains("notes"), "{list}");

    // The bundle is served on node 2's origin for the app.
    let port = p2.url.rsplit(':').next().unwrap().to_string();
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/app.js", p2.url))
        .header("host", format!("{id}.localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let local = std::fs::read_to_string(format!("{examples}/app.js")).unwrap();
    assert_eq!(r.text().await.unwrap(), local);
    drop(p1);
}

/// `leither run` starts the people courier with the network: a friend request made
/// with the CLI on one node reaches the other node's user, and the answer comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_request_between_two_processes() {
    use common::{NodeProc, cli};
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    write_config(dirs[0].path(), None);
    let _p1 = NodeProc::start(dirs[0].path()).await;
    let boot = tcp_addr(&_p1).await;
    write_config(dirs[1].path(), Some(&boot));
    let _p2 = NodeProc::start(dirs[1].path()).await;
    let (d1, d2) = (dirs[0].path(), dirs[1].path());
    let invite = cli(d2, &["invite"]).trim().to_string();
    cli(d1, &["friend", "add", &invite, "--note", "hi"]);
    let state = |dir: &Path| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&cli(dir, &["--json", "friend", "list"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["state"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let who = loop {
        let v: serde_json::Value =
            serde_json::from_str(&cli(d2, &["--json", "friend", "list"])).unwrap();
        if let Some(f) = v.as_array().unwrap().first() {
            break f["user"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    cli(d2, &["friend", "accept", &who]);
    while state(d1) != ["friend"] {
        assert!(
            Instant::now() < deadline,
            "the answer never arrived: {:?}",
            state(d1)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Pause sync (tray / `/api/v1/sync`) stops pulls on the paused node and its serving
/// of blocks to others; resuming lets the same pull complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_sync_neither_pulls_nor_serves() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_paused = Arc::new(AtomicBool::new(false));
    let b_paused = Arc::new(AtomicBool::new(false));
    let a = start_paused(da.path(), &[], false, a_paused.clone()).await;
    let b = start_paused(db.path(), &[addr(&a).await], false, b_paused.clone()).await;
    let (id, big) = publish(&a, "paused");
    eventually("routing record on B", || async {
        b.net.mimei_record(&id).await.ok()
    })
    .await;

    b_paused.store(true, Ordering::Relaxed);
    assert!(b.net.sync_paused());
    let e = b.net.pull(&id, None).await.unwrap_err();
    assert!(matches!(e, NetError::Paused), "{e}");
    assert_eq!(e.code(), "sync_paused");

    // The holder paused: it serves nothing, so the pull finds no holder.
    b_paused.store(false, Ordering::Relaxed);
    a_paused.store(true, Ordering::Relaxed);
    let e = b.net.pull(&id, None).await.unwrap_err();
    assert!(!matches!(e, NetError::Paused), "{e}");
    assert!(
        b.node.mimeis().version(&id, 0).is_err(),
        "nothing committed"
    );

    a_paused.store(false, Ordering::Relaxed);
    let r = b.net.pull(&id, None).await.unwrap();
    assert_eq!(r.version, 0);
    assert_eq!(read(&b, &id, "big.bin"), big);
}

/// A peer allowed to read one Mimei cannot fetch blocks of another (private) one by
/// naming the readable Mimei and a digest it learnt elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_served_only_under_the_mimei_they_belong_to() {
    use leither_core::net::wire::{RequestBody, Response};
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), &[], false).await;
    let b = start(db.path(), &[addr(&a).await], false).await;
    let (public, _) = publish(&a, "public");
    let user = *a.node.user();
    let m = a.node.mimeis();
    let secret = m
        .create(
            &user,
            &NewMimei {
                app_type: "test".into(),
                ext: String::new(),
                mark: "secret".into(),
                rights: None,
            },
        )
        .unwrap();
    m.write_file(
        &user,
        &secret.id,
        &MimeiPath::parse("diary.txt").unwrap(),
        &b"dear diary"[..],
    )
    .unwrap();
    let secret_root = m.backup(&user, &secret.id, "v0").unwrap().fs_root;
    let public_root = m.version(&public, 0).unwrap().fs_root;
    let a_peer = net::peer_id_of(&a.net.node_id()).unwrap();

    let r = b
        .net
        .request(
            a_peer,
            RequestBody::Blocks {
                mimei: public,
                hashes: vec![secret_root, public_root],
            },
        )
        .await
        .unwrap();
    match r {
        Response::Blocks(v) => {
            assert!(v[0].is_none(), "a block of the private Mimei was served");
            assert!(v[1].is_some(), "the public Mimei's own root was not served");
        }
        other => panic!("unexpected answer: {other:?}"),
    }
    // Naming the private Mimei itself is refused outright.
    let r = b
        .net
        .request(
            a_peer,
            RequestBody::Blocks {
                mimei: secret.id,
                hashes: vec![secret_root],
            },
        )
        .await
        .unwrap();
    assert!(matches!(r, Response::Error { .. }), "{r:?}");
}

/// Gossipsub v1.1 scoring on a validated topic (org chat): messages the application
/// rejects lower the score of the peer that forwarded them; accepted ones do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_topic_messages_lower_the_senders_gossip_score() {
    use leither_core::net::Verdict;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(da.path(), &[], false).await;
    let b = start(db.path(), &[addr(&a).await], false).await;
    let mut rx = a
        .net
        .subscribe_validated("leither/test/scored")
        .await
        .unwrap();
    let _b_rx = b.net.subscribe("leither/test/scored").await.unwrap();
    let b_node = b.net.node_id().to_string();
    let score = || async {
        a.net
            .peers()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.node == b_node)
            .and_then(|p| p.gossip_score)
    };
    // B is in A's mesh once B's publish gets through.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let _ = b
            .net
            .publish("leither/test/scored", b"hello".to_vec())
            .await;
        if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            break m;
        }
        assert!(Instant::now() < deadline, "no message from B");
    };
    assert!(
        first.validation.is_some(),
        "validated topics carry the message id"
    );
    a.net.validated(&first, Verdict::Accept).await;
    let before = score().await.unwrap_or(0.0);
    assert!(before >= 0.0, "an accepted message must not cost: {before}");

    for i in 0..3 {
        b.net
            .publish("leither/test/scored", format!("forged {i}").into_bytes())
            .await
            .unwrap();
        let m = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a forged message")
            .unwrap();
        a.net.validated(&m, Verdict::Reject).await;
    }
    let after = eventually("B's score to drop", || async {
        score().await.filter(|s| *s < -50.0)
    })
    .await;
    assert!(after < before, "{after} < {before}");

    // A leaves the topic (an org member removed): its receiver ends, and B soon has
    // nobody left to publish to.
    a.net.unsubscribe("leither/test/scored").await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::sync::broadcast::error::RecvError;
        while !matches!(rx.recv().await, Err(RecvError::Closed)) {}
    })
    .await;
    assert!(closed.is_ok(), "the receiver did not end");
    eventually("B to see A left the topic", || async {
        b.net
            .publish("leither/test/scored", b"anyone?".to_vec())
            .await
            .err()
    })
    .await;
}

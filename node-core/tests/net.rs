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
    let identity = if Identity::exists(dir) {
        Identity::load(dir, pass).unwrap()
    } else {
        Identity::create(dir, &options(), pass).unwrap().0
    };
    let node = Node::open(dir, config(bootstrap, quic), identity.public()).unwrap();
    let net = net::start(node.clone(), &identity).await.unwrap();
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

async fn tcp_addr(p: &common::NodeProc) -> String {
    let v = p.ok(reqwest::Method::GET, "/api/v1/net/status", None).await;
    v["listen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .find(|a| a.contains("/tcp/"))
        .expect("a TCP listen address")
        .to_string()
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

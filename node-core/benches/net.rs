//! Network benchmarks (issue 3), real nodes on loopback in one process:
//!
//! 1. **pull**: a Mimei holding one file of `LEITHER_BENCH_PULL_MIB` MiB (default 1024)
//!    is published on node A and pulled by node B; the same byte count is then copied
//!    over a plain tokio TCP connection on loopback. Prints both rates and the ratio.
//! 2. **dht**: `LEITHER_BENCH_DHT_NODES` nodes (default 200) join through one
//!    bootstrap node; each of 50 nodes publishes a name record, then
//!    `LEITHER_BENCH_DHT_LOOKUPS` lookups (default 500) from random nodes of random names:
//!    success rate, peers asked per lookup, p50/p99 latency.
//! 3. **gossip**: org-chat fan-out over gossipsub among 50 nodes (see `bench_gossip`).
//!
//! Run: `cargo bench -p leither-core --bench net` (set `LEITHER_BENCH_ONLY=pull|dht|gossip`).

use std::path::Path;
use std::time::{Duration, Instant};

use leither_core::config::Config;
use leither_core::identity::{
    Identity, IdentityOptions, KdfParams, KeyBackend, Passphrase, PassphrasePurpose,
};
use leither_core::mimei::{MimeiPath, NewMimei, Rights};
use leither_core::net::{self, NameTarget, NetHandle};
use leither_core::node::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pass(_: PassphrasePurpose) -> Result<Passphrase, leither_core::identity::IdentityError> {
    Ok(Passphrase::new("bench"))
}

async fn start(
    dir: &Path,
    bootstrap: &[String],
    cache_mib: u64,
    max_connections: u32,
) -> (Node, NetHandle) {
    let identity = Identity::create(
        dir,
        &IdentityOptions {
            backend: KeyBackend::File,
            device_name: "bench".into(),
            kdf: KdfParams::INSECURE_FAST_FOR_TESTS,
        },
        pass,
    )
    .unwrap()
    .0;
    let mut c = Config::default();
    c.store.cache_mib = cache_mib;
    // QUIC for the DHT (one UDP socket per node, not one fd per connection: 200 nodes
    // in one process fit the fd limit), TCP for the pull.
    c.net.listen = vec![if max_connections == 0 {
        "/ip4/127.0.0.1/udp/0/quic-v1".into()
    } else {
        "/ip4/127.0.0.1/tcp/0".into()
    }];
    c.net.mdns = false;
    c.net.bootstrap = bootstrap.to_vec();
    c.net.max_connections = if max_connections == 0 {
        512
    } else {
        max_connections
    };
    let node = Node::open(dir, c, identity.public()).unwrap();
    let net = net::start(node.clone(), &identity).await.unwrap();
    node.set_net(net.clone());
    (node, net)
}

async fn tcp_addr(n: &NetHandle) -> String {
    loop {
        if let Some(a) = n
            .listen_addrs()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.contains("/tcp/") || a.contains("/quic-v1"))
        {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Pseudo-random, incompressible-ish content, generated as it is read.
struct Gen {
    left: u64,
    x: u64,
}

impl std::io::Read for Gen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            self.x ^= self.x << 13;
            self.x ^= self.x >> 7;
            self.x ^= self.x << 17;
            let b = self.x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

async fn bench_pull() {
    let mib = env("LEITHER_BENCH_PULL_MIB", 1024);
    let bytes = mib * 1024 * 1024;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a_node, a) = start(da.path(), &[], 64, 512).await;
    let boot = vec![tcp_addr(&a).await];
    let (b_node, b) = start(db.path(), &boot, 64, 512).await;

    let user = *a_node.user();
    let m = a_node.mimeis().clone();
    let t = Instant::now();
    let id = tokio::task::spawn_blocking(move || {
        let info = m
            .create(
                &user,
                &NewMimei {
                    app_type: "bench".into(),
                    ext: String::new(),
                    mark: "pull".into(),
                    rights: Some(Rights::public()),
                },
            )
            .unwrap();
        m.write_file(
            &user,
            &info.id,
            &MimeiPath::parse("data.bin").unwrap(),
            Gen {
                left: bytes,
                x: 0x9E37_79B9_7F4A_7C15,
            },
        )
        .unwrap();
        m.backup(&user, &info.id, "bench").unwrap();
        info.id
    })
    .await
    .unwrap();
    eprintln!(
        "pull: wrote {mib} MiB on A in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    loop {
        if b.mimei_record(&id).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = Instant::now();
    let report = b.pull(&id, None).await.unwrap();
    let pull_s = t.elapsed().as_secs_f64();
    assert!(report.bytes_fetched >= bytes, "{report:?}");
    let pull_rate = bytes as f64 / pull_s / 1e6;

    // The same byte count over a plain TCP connection on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let buf = vec![7u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            s.write_all(&buf[..n]).await.unwrap();
            left -= n as u64;
        }
    });
    let t = Instant::now();
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < bytes {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got += n as u64;
    }
    let tcp_s = t.elapsed().as_secs_f64();
    server.await.unwrap();
    let tcp_rate = bytes as f64 / tcp_s / 1e6;
    println!(
        "pull {mib} MiB: {pull_s:.2} s = {pull_rate:.0} MB/s ({} blocks, {} holders) | plain TCP: {tcp_s:.2} s = {tcp_rate:.0} MB/s | ratio {:.0}%",
        report.blocks_fetched,
        report.holders_used,
        100.0 * pull_rate / tcp_rate
    );
    b_node.stop_net().await;
    a_node.stop_net().await;
}

async fn bench_dht() {
    let n = env("LEITHER_BENCH_DHT_NODES", 200) as usize;
    let lookups = env("LEITHER_BENCH_DHT_LOOKUPS", 500) as usize;
    // 0 = QUIC with the default connection limit; N = TCP with N connections per node
    // (200 TCP nodes in one process exceed the 20000 file descriptors allowed here).
    let conns = env("LEITHER_BENCH_DHT_CONNS", 0) as u32;
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (_n0, first) = start(&root.path().join("0"), &[], 1, conns).await;
    let mut addrs = vec![tcp_addr(&first).await];
    let mut nets = vec![first];
    let mut nodes = Vec::new();
    for i in 1..n {
        // Join through the previous node and one at random, so no single node takes
        // every first connection.
        let boot = vec![addrs[i - 1].clone(), addrs[(i * 7919) % i].clone()];
        let (node, net) = start(&root.path().join(i.to_string()), &boot, 1, conns).await;
        addrs.push(tcp_addr(&net).await);
        nodes.push(node);
        nets.push(net);
    }
    // Let identify + Kademlia bootstrap fill the routing tables.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut rt = Vec::new();
    for net in &nets {
        rt.push(net.status().await.unwrap().routing_table);
    }
    rt.sort();
    eprintln!(
        "dht: {n} nodes up in {:.1} s; routing table sizes p0 {} p50 {} p100 {}",
        t.elapsed().as_secs_f64(),
        rt[0],
        rt[rt.len() / 2],
        rt[rt.len() - 1]
    );
    let publishers = 50.min(n);
    for (i, net) in nets.iter().enumerate().take(publishers) {
        net.claim_name(&format!("bench-{i}"), NameTarget::Node(net.node_id()))
            .await
            .unwrap();
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut lat = Vec::new();
    let mut asked = Vec::new();
    let mut ok = 0;
    for _ in 0..lookups {
        let from = (next() % n as u64) as usize;
        let which = (next() % publishers as u64) as usize;
        let key = net::records::name_key(&format!("bench-{which}"));
        let t = Instant::now();
        let r = nets[from].get_record_traced(key).await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Ok((net::Valid::Name(rec), stats)) = r
            && rec.target == NameTarget::Node(nets[which].node_id())
        {
            ok += 1;
            asked.push(stats.requests);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    asked.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "dht {n} nodes, {lookups} lookups: found {ok}/{lookups} ({:.1}%), peers asked p50 {} max {}, latency p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        100.0 * ok as f64 / lookups as f64,
        asked.get(asked.len() / 2).copied().unwrap_or(0),
        asked.last().copied().unwrap_or(0),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
}

/// Group chat fan-out: `LEITHER_BENCH_GOSSIP_NODES` nodes (default 50) on one
/// validated topic (as org chat: each message waits for the receiver's verdict before
/// it is forwarded); members take turns publishing `LEITHER_BENCH_GOSSIP_MSGS` messages
/// (default 300) every `LEITHER_BENCH_GOSSIP_EVERY_MS` (default 10) ms; latency is
/// publish → delivered at each other member.
/// `LEITHER_BENCH_GOSSIP_VALIDATE=0`: forward without waiting for a verdict.
async fn bench_gossip() {
    use std::sync::{Arc, Mutex};
    let n = env("LEITHER_BENCH_GOSSIP_NODES", 50) as usize;
    let msgs = env("LEITHER_BENCH_GOSSIP_MSGS", 300) as usize;
    let every_ms = env("LEITHER_BENCH_GOSSIP_EVERY_MS", 10);
    let topic = "leither/bench/org";
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (_n0, first) = start(&root.path().join("0"), &[], 1, 0).await;
    let mut addrs = vec![tcp_addr(&first).await];
    let mut nets = vec![first];
    let mut nodes = Vec::new();
    for i in 1..n {
        let boot = vec![addrs[i - 1].clone(), addrs[(i * 7919) % i].clone()];
        let (node, net) = start(&root.path().join(i.to_string()), &boot, 1, 0).await;
        addrs.push(tcp_addr(&net).await);
        nodes.push(node);
        nets.push(net);
    }
    let epoch = Instant::now();
    // (message index, receiver) -> latency in ms
    let got: Arc<Mutex<Vec<(u32, f64)>>> = Arc::new(Mutex::new(Vec::new()));
    for net in &nets {
        let mut rx = if env("LEITHER_BENCH_GOSSIP_VALIDATE", 1) == 1 {
            net.subscribe_validated(topic).await.unwrap()
        } else {
            net.subscribe(topic).await.unwrap()
        };
        let (net, got) = (net.clone(), got.clone());
        tokio::spawn(async move {
            while let Ok(m) = rx.recv().await {
                net.validated(&m, net::Verdict::Accept).await;
                if m.data.len() >= 12 {
                    let idx = u32::from_le_bytes(m.data[0..4].try_into().unwrap());
                    let sent = u64::from_le_bytes(m.data[4..12].try_into().unwrap());
                    let now = epoch.elapsed().as_micros() as u64;
                    got.lock()
                        .unwrap()
                        .push((idx, now.saturating_sub(sent) as f64 / 1000.0));
                }
            }
        });
    }
    eprintln!(
        "gossip: {n} nodes up and subscribed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Warm up until a message from node 0 reaches every other node (mesh formed).
    let warm = Instant::now();
    let mut w = u32::MAX;
    loop {
        let mut body = w.to_le_bytes().to_vec();
        body.extend_from_slice(&(epoch.elapsed().as_micros() as u64).to_le_bytes());
        let _ = nets[(w as usize) % n].publish(topic, body).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reached = got.lock().unwrap().iter().filter(|(i, _)| *i == w).count();
        if reached >= n - 1 || warm.elapsed() > Duration::from_secs(120) {
            eprintln!(
                "gossip: warm-up message reached {reached}/{} after {:.1} s",
                n - 1,
                warm.elapsed().as_secs_f64()
            );
            break;
        }
        w -= 1;
    }
    got.lock().unwrap().clear();
    let start_pub = Instant::now();
    for i in 0..msgs as u32 {
        let mut body = i.to_le_bytes().to_vec();
        body.extend_from_slice(&(epoch.elapsed().as_micros() as u64).to_le_bytes());
        body.extend_from_slice(&[0u8; 200]); // a chat line's worth of bytes
        nets[i as usize % n].publish(topic, body).await.unwrap();
        tokio::time::sleep(Duration::from_millis(every_ms)).await;
    }
    let want = msgs * (n - 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got
        .lock()
        .unwrap()
        .iter()
        .filter(|(i, _)| (*i as usize) < msgs)
        .count()
        < want
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = start_pub.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = got
        .lock()
        .unwrap()
        .iter()
        .filter(|(i, _)| (*i as usize) < msgs)
        .map(|(_, l)| *l)
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "gossip {n} nodes, {msgs} messages: delivered {}/{want} ({:.1}%), latency p50 {:.1} ms p99 {:.1} ms max {:.1} ms, {:.0} deliveries/s ({:.0} messages/s published)",
        lat.len(),
        lat.len() as f64 * 100.0 / want as f64,
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1],
        lat.len() as f64 / secs,
        msgs as f64 / secs,
    );
    drop(nodes);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("LEITHER_BENCH_ONLY").unwrap_or_default();
    // `cargo bench` passes `--bench`; nothing else is parsed.
    if only.is_empty() || only == "pull" {
        rt.block_on(bench_pull());
    }
    if only.is_empty() || only == "dht" {
        rt.block_on(bench_dht());
    }
    if only.is_empty() || only == "gossip" {
        rt.block_on(bench_gossip());
    }
}

//! Ledger tree benchmark (issue 7): Leither's sparse Merkle sum tree vs `jmt` (Jellyfish
//! Merkle Tree, sha256, in-memory `MockTreeStore`) and `sparse-merkle-tree` (Nervos, blake2b,
//! `trie` feature, in-memory `DefaultStore`) on the same workload in the same run.
//!
//! Workload: `N` accounts (20-byte IDs = blake3 of an index, so uniformly spread), then
//! batches of 10,000 updates to random existing accounts (one batch = one heartbeat / one
//! version). All three trees run in memory; a fourth line runs Leither persisted on sled.
//!
//! ```text
//! LEDGER_BENCH_ACCOUNTS=1000000 cargo bench -p leither-core --bench ledger   # doc figures
//! cargo bench -p leither-core --bench ledger                                   # N = 100,000
//! ```
//! `LEDGER_BENCH_ONLY=leither,jmt,smt,sled` (comma-separated) runs only some parts.
//! Besides criterion's timings it prints: inserts/s from empty to N (one timed pass per
//! tree), proof sizes, and bytes stored per account and per changed node on sled.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use leither_core::ledger::{
    AccountId, AccountProof, AccountState, LedgerConfig, LedgerStore, SumTree, Update,
};

const BATCH: usize = 10_000;

fn accounts() -> usize {
    std::env::var("LEDGER_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn account(i: u64) -> [u8; 20] {
    *blake3::hash(&i.to_le_bytes())
        .as_bytes()
        .first_chunk()
        .expect("32 >= 20")
}

fn state(i: u64, round: u64) -> AccountState {
    AccountState {
        balance: 1_000 + i + round,
        nonce: round,
        frozen: 0,
    }
}

/// Small deterministic PRNG (splitmix64) so every tree gets the same batches.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The accounts and states of one update batch (round `r`).
fn update_batch(rng: &mut Rng, n: usize, round: u64) -> Vec<(u64, [u8; 20], AccountState)> {
    (0..BATCH)
        .map(|_| {
            let i = rng.next() % n as u64;
            (i, account(i), state(i, round))
        })
        .collect()
}

fn insert_batches(n: usize) -> impl Iterator<Item = Vec<(u64, [u8; 20], AccountState)>> {
    (0..n).step_by(BATCH).map(move |start| {
        (start..(start + BATCH).min(n))
            .map(|i| (i as u64, account(i as u64), state(i as u64, 0)))
            .collect()
    })
}

fn encode_state(s: &AccountState) -> [u8; 24] {
    let mut v = [0u8; 24];
    v[..8].copy_from_slice(&s.balance.to_le_bytes());
    v[8..16].copy_from_slice(&s.nonce.to_le_bytes());
    v[16..].copy_from_slice(&s.frozen.to_le_bytes());
    v
}

fn key32(id: &[u8; 20]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..20].copy_from_slice(id);
    k
}

/// The three trees behind one interface: apply one batch as one version.
trait Bench {
    const NAME: &'static str;
    fn apply(&mut self, batch: &[(u64, [u8; 20], AccountState)]);
}

struct Leither(SumTree);
impl Bench for Leither {
    const NAME: &'static str = "leither";
    fn apply(&mut self, batch: &[(u64, [u8; 20], AccountState)]) {
        let cs = self
            .0
            .apply(
                batch
                    .iter()
                    .map(|(_, id, s)| (AccountId::from_bytes(*id), Update::Set(*s))),
            )
            .expect("valid batch");
        black_box(cs);
    }
}

struct LeitherSled(LedgerStore, #[allow(dead_code)] tempfile::TempDir);
impl Bench for LeitherSled {
    const NAME: &'static str = "leither+sled";
    fn apply(&mut self, batch: &[(u64, [u8; 20], AccountState)]) {
        let c = self
            .0
            .apply(
                batch
                    .iter()
                    .map(|(_, id, s)| (AccountId::from_bytes(*id), Update::Set(*s))),
            )
            .expect("valid batch");
        black_box(c);
    }
}

struct Jmt(jmt::mock::MockTreeStore, u64);
impl Bench for Jmt {
    const NAME: &'static str = "jmt";
    fn apply(&mut self, batch: &[(u64, [u8; 20], AccountState)]) {
        let tree = jmt::Sha256Jmt::new(&self.0);
        let values = batch
            .iter()
            .map(|(_, id, s)| (jmt::KeyHash(key32(id)), Some(encode_state(s).to_vec())));
        let (root, update) = tree.put_value_set(values, self.1).expect("jmt put");
        self.0.write_tree_update_batch(update).expect("jmt write");
        self.1 += 1;
        black_box(root);
    }
}

type NervosSmt = sparse_merkle_tree::SparseMerkleTree<
    sparse_merkle_tree::blake2b::Blake2bHasher,
    sparse_merkle_tree::H256,
    sparse_merkle_tree::default_store::DefaultStore<sparse_merkle_tree::H256>,
>;
struct Smt(NervosSmt);
impl Bench for Smt {
    const NAME: &'static str = "sparse-merkle-tree";
    fn apply(&mut self, batch: &[(u64, [u8; 20], AccountState)]) {
        let leaves = batch
            .iter()
            .map(|(_, id, s)| (key32(id).into(), key32_of(&encode_state(s)).into()))
            .collect();
        black_box(self.0.update_all(leaves).expect("smt update"));
    }
}

fn key32_of(v: &[u8; 24]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..24].copy_from_slice(v);
    k
}

/// Fill `tree` with `n` accounts in 10k batches; returns inserts/s.
fn fill<B: Bench>(tree: &mut B, n: usize) -> f64 {
    let batches: Vec<_> = insert_batches(n).collect();
    let t = Instant::now();
    for b in &batches {
        tree.apply(b);
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn bench_updates<B: Bench>(c: &mut Criterion, tree: &mut B, n: usize, report: &mut Vec<String>) {
    let rate = fill(tree, n);
    report.push(format!(
        "{:<20} inserts from empty to {n}: {:>10.0} inserts/s",
        B::NAME,
        rate
    ));
    let mut g = c.benchmark_group(format!("update_{BATCH}_into_{n}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(criterion::Throughput::Elements(BATCH as u64));
    let mut rng = Rng(42);
    let mut round = 1;
    g.bench_function(B::NAME, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = update_batch(&mut rng, n, round);
                round += 1;
                let t = Instant::now();
                tree.apply(&batch);
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

/// Whether `LEDGER_BENCH_ONLY` (comma-separated: leither, jmt, smt, sled) selects `part`.
fn selected(part: &str) -> bool {
    std::env::var("LEDGER_BENCH_ONLY").map_or(true, |v| v.split(',').any(|p| p.trim() == part))
}

fn ledger(c: &mut Criterion) {
    let n = accounts();
    let mut report = vec![format!(
        "ledger bench: N = {n} accounts, batches of {BATCH}"
    )];

    if selected("leither") {
        let mut leither = Leither(SumTree::new());
        bench_updates(c, &mut leither, n, &mut report);
        proofs(c, &leither.0, n, &mut report);
        record_sizes(&mut leither.0, n, &mut report);
    }
    if selected("jmt") {
        let mut jmt = Jmt(jmt::mock::MockTreeStore::default(), 0);
        bench_updates(c, &mut jmt, n, &mut report);
    }
    if selected("smt") {
        let mut smt = Smt(NervosSmt::default());
        bench_updates(c, &mut smt, n, &mut report);
    }
    if selected("sled") {
        sled_part(c, n, &mut report);
    }
    println!("\n==== ledger summary ====");
    for line in report {
        println!("{line}");
    }
}

/// Store bytes per account and per changed node, from the records the store would write
/// (exact: same encoding), without sled (see `sled_part` for why sled runs smaller).
fn record_sizes(tree: &mut SumTree, n: usize, report: &mut Vec<String>) {
    report.push(format!(
        "leither records at {n} accounts (latest state, key+value): {:.1} B/account",
        tree.live_record_bytes() as f64 / tree.len() as f64
    ));
    let batch = update_batch(&mut Rng(99), n, 1_000_000);
    let cs = tree
        .apply(
            batch
                .iter()
                .map(|(_, id, s)| (AccountId::from_bytes(*id), Update::Set(*s))),
        )
        .expect("valid batch");
    let nodes = cs.nodes_written() + cs.nodes_removed();
    report.push(format!(
        "leither heartbeat of {BATCH} updates at {n}: {nodes} nodes written ({:.2}/update), {:.1} B/changed node (key+value; seed: 36)",
        nodes as f64 / BATCH as f64,
        tree.changeset_record_bytes(&cs) as f64 / nodes as f64
    ));
}

/// sled 0.34 keeps roughly 2–4 KB of RSS per record under batched random writes whatever
/// its cache setting (measured; see docs/ledger.md), so 1M accounts on sled do not fit in this
/// machine's 24 GB: the persisted part runs at `LEDGER_BENCH_SLED_ACCOUNTS` (default
/// min(N, 200,000)).
fn sled_part(c: &mut Criterion, n: usize, report: &mut Vec<String>) {
    let n = std::env::var("LEDGER_BENCH_SLED_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n.min(200_000));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::open(dir.path()).expect("sled");
    let store = LedgerStore::open(
        db.open_tree("ledger/bench").expect("tree"),
        LedgerConfig {
            keep_heartbeats: Some(1),
        },
    )
    .expect("open");
    let mut sled_tree = LeitherSled(store, dir);
    bench_updates(c, &mut sled_tree, n, report);
    storage(&mut sled_tree.0, &db, n, report);
}

fn proofs(c: &mut Criterion, tree: &SumTree, n: usize, report: &mut Vec<String>) {
    let root = tree.root();
    let mut rng = Rng(7);
    let samples: Vec<(AccountId, Vec<u8>)> = (0..1000)
        .map(|_| {
            let id = AccountId::from_bytes(account(rng.next() % n as u64));
            (id, tree.prove(&id).encode())
        })
        .collect();
    let sizes: Vec<usize> = samples.iter().map(|(_, p)| p.len()).collect();
    let avg = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let absent = AccountId::from_bytes(account(u64::MAX));
    report.push(format!(
        "leither proof at {n}: avg {avg:.0} B, max {} B, min {} B (non-inclusion: {} B)",
        sizes.iter().max().unwrap_or(&0),
        sizes.iter().min().unwrap_or(&0),
        tree.prove(&absent).encode().len()
    ));
    let mut g = c.benchmark_group(format!("proof_{n}"));
    let mut i = 0;
    g.bench_function("prove+encode", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            black_box(tree.prove(&samples[i].0).encode())
        })
    });
    g.bench_function("decode+verify", |b| {
        b.iter(|| {
            i = (i + 1) % samples.len();
            let p = AccountProof::decode(&samples[i].1).expect("decodes");
            black_box(p.verify(&samples[i].0, &root).expect("verifies"))
        })
    });
    g.finish();
}

fn storage(store: &mut LedgerStore, db: &sled::Db, n: usize, report: &mut Vec<String>) {
    // One more batch of 10k updates, to size the records a heartbeat writes.
    let batch = update_batch(&mut Rng(99), n, 1_000_000);
    let c = store
        .apply(
            batch
                .iter()
                .map(|(_, id, s)| (AccountId::from_bytes(*id), Update::Set(*s))),
        )
        .expect("valid batch");
    let written = c.nodes_written + c.nodes_removed;
    report.push(format!(
        "leither+sled heartbeat of {BATCH} updates: {} nodes written, {:.1} B/changed node (key+value, raw), {:.1} nodes/update",
        written,
        c.node_bytes as f64 / written as f64,
        written as f64 / BATCH as f64
    ));
    store.prune(store.root().heartbeat).expect("prune");
    let s = store.stats().expect("stats");
    db.flush().expect("flush");
    let disk = db.size_on_disk().expect("size");
    report.push(format!(
        "leither+sled at {n} accounts (latest heartbeat only): {} node records, raw {:.1} B/account, sled size_on_disk {:.1} B/account",
        s.node_records,
        (s.node_bytes + s.other_bytes) as f64 / n as f64,
        disk as f64 / n as f64
    ));
}

criterion_group!(benches, ledger);
criterion_main!(benches);

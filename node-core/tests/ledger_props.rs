//! Property tests of the ledger tree against a naive model: a `BTreeMap` of accounts and a
//! full recompute of the root from scratch (SPEC L1, L2, L5).

use std::collections::BTreeMap;

use leither_core::ledger::hash::{bit, common_prefix_len, inner_hash, leaf_hash, mask};
use leither_core::ledger::{
    AccountId, AccountProof, AccountState, LedgerConfig, LedgerError, LedgerStore, NodeHash,
    NodeView, Root, SumTree, Update, Verified,
};
use proptest::prelude::*;

type Model = BTreeMap<[u8; 20], AccountState>;

/// The root of `model` computed from nothing but the hash functions (no incremental state).
fn naive_root(model: &Model) -> (NodeHash, u64) {
    fn go(items: &[([u8; 20], AccountState)]) -> ([u8; 32], u64) {
        if let [(k, s)] = items {
            return (leaf_hash(k, s), s.balance);
        }
        let (first, last) = (&items[0].0, &items[items.len() - 1].0);
        let d = common_prefix_len(first, last);
        let split = items.partition_point(|(k, _)| !bit(k, d));
        let (l, r) = (go(&items[..split]), go(&items[split..]));
        (
            inner_hash(d, &mask(first, d), (&l.0, l.1), (&r.0, r.1)),
            l.1 + r.1,
        )
    }
    let items: Vec<_> = model.iter().map(|(k, s)| (*k, *s)).collect();
    if items.is_empty() {
        return (NodeHash::EMPTY, 0);
    }
    let (h, s) = go(&items);
    (NodeHash::from_bytes(h), s)
}

/// Keys that share long prefixes (many collisions and deep compressed paths), mixed with
/// uniformly random ones.
fn key() -> impl Strategy<Value = [u8; 20]> {
    prop_oneof![
        3 => (0usize..4, 0u8..4, 0u8..4).prop_map(|(a, b, c)| {
            let mut k = [0u8; 20];
            k[0] = [0x00, 0x01, 0x80, 0xff][a];
            k[1] = b;
            k[19] = c;
            k
        }),
        1 => any::<[u8; 20]>(),
    ]
}

fn update() -> impl Strategy<Value = Update> {
    prop_oneof![
        3 => (0u64..1_000_000, 0u64..5, 0u64..=100).prop_map(|(balance, nonce, pct)| {
            Update::Set(AccountState { balance, nonce, frozen: balance * pct / 100 })
        }),
        1 => Just(Update::Remove),
    ]
}

fn batches() -> impl Strategy<Value = Vec<Vec<([u8; 20], Update)>>> {
    prop::collection::vec(prop::collection::vec((key(), update()), 0..25), 1..8)
}

fn apply_model(model: &mut Model, batch: &[([u8; 20], Update)]) {
    for (k, u) in batch {
        match u {
            Update::Set(s) => {
                model.insert(*k, *s);
            }
            Update::Remove => {
                model.remove(k);
            }
        }
    }
}

fn ops(batch: &[([u8; 20], Update)]) -> impl Iterator<Item = (AccountId, Update)> + '_ {
    batch.iter().map(|(k, u)| (AccountId::from_bytes(*k), *u))
}

/// Open sled at `dir`. sled releases a dropped database through epoch-based reclamation, so
/// right after a drop the directory lock can still be held for a moment: wait for it to be
/// released (bounded), rather than fail a restart test on that race.
fn open_db(dir: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => return db,
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::Other
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("open sled: {e}"),
        }
    }
}

fn temp_store(keep: Option<u64>) -> (tempfile::TempDir, sled::Db, LedgerStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let store = LedgerStore::open(
        db.open_tree("ledger/org").unwrap(),
        LedgerConfig {
            keep_heartbeats: keep,
        },
    )
    .unwrap();
    (dir, db, store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Roots agree with a full recompute after every batch; the heartbeat advances exactly
    /// when the model changed; every account reads back.
    #[test]
    fn tree_matches_the_model(batches in batches()) {
        let mut tree = SumTree::new();
        let mut model = Model::new();
        let mut heartbeat = 0;
        for batch in &batches {
            let before = model.clone();
            apply_model(&mut model, batch);
            tree.apply(ops(batch)).unwrap();
            if model != before {
                heartbeat += 1;
            }
            let (digest, total) = naive_root(&model);
            prop_assert_eq!(tree.root(), Root { heartbeat, digest, total });
            prop_assert_eq!(tree.len(), model.len());
            for (k, _) in batch {
                prop_assert_eq!(tree.get(&AccountId::from_bytes(*k)), model.get(k).copied());
            }
        }
    }

    /// Every inclusion and non-inclusion proof verifies against the root alone; wrong totals,
    /// wrong digests, other accounts and tampered bytes do not.
    #[test]
    fn proofs_verify_and_tampering_fails(
        batches in batches(),
        probes in prop::collection::vec(key(), 1..10),
        flip in (any::<prop::sample::Index>(), 1u8..=255),
    ) {
        let mut tree = SumTree::new();
        let mut model = Model::new();
        for batch in &batches {
            apply_model(&mut model, batch);
            tree.apply(ops(batch)).unwrap();
        }
        let root = tree.root();
        for k in model.keys().chain(probes.iter()) {
            let id = AccountId::from_bytes(*k);
            let proof = AccountProof::decode(&tree.prove(&id).encode()).unwrap();
            let expect = model.get(k).map_or(Verified::Absent, |s| Verified::Included(*s));
            prop_assert_eq!(proof.verify(&id, &root), Ok(expect));
            let wrong_total = Root { total: root.total.wrapping_add(1), ..root };
            let wrong_digest = Root { digest: NodeHash::from_bytes([7; 32]), ..root };
            prop_assert!(proof.verify(&id, &wrong_total).is_err());
            prop_assert!(proof.verify(&id, &wrong_digest).is_err());
            // wrong key: an account that exists is never shown absent, nor with a state it
            // does not have (a non-inclusion proof ends at a real leaf, which it does prove)
            for other in model.keys().filter(|o| *o != k) {
                let other_id = AccountId::from_bytes(*other);
                match proof.verify(&other_id, &root) {
                    Err(_) => {}
                    Ok(Verified::Included(s)) => {
                        prop_assert_eq!(proof.leaf().map(|l| l.0), Some(other_id));
                        prop_assert_eq!(Some(&s), model.get(other));
                    }
                    Ok(Verified::Absent) => prop_assert!(false, "{} shown absent", other_id),
                }
            }
            let mut bytes = proof.encode();
            let i = flip.0.index(bytes.len());
            bytes[i] ^= flip.1;
            if let Ok(tampered) = AccountProof::decode(&bytes) {
                prop_assert!(tampered.verify(&id, &root).is_err(), "byte {} ^ {:#x} still verifies", i, flip.1);
            }
        }
    }

    /// Persisted: every past heartbeat reads its own accounts, root and proofs; a restart from
    /// disk gives the same root and carries on identically; pruning keeps exactly the window.
    #[test]
    fn store_history_restart_and_pruning(batches in batches(), keep in prop::option::of(1u64..4)) {
        let (dir, db, mut store) = temp_store(keep);
        let mut model = Model::new();
        let mut snapshots = vec![(Root { heartbeat: 0, digest: NodeHash::EMPTY, total: 0 }, Model::new())];
        for batch in &batches {
            apply_model(&mut model, batch);
            let c = store.apply(ops(batch)).unwrap();
            if c.root.heartbeat != snapshots.last().unwrap().0.heartbeat {
                snapshots.push((c.root, model.clone()));
            }
            prop_assert_eq!(c.root.digest, naive_root(&model).0);
        }
        let latest = store.root().heartbeat;
        let oldest = store.oldest_heartbeat();
        prop_assert_eq!(oldest, keep.map_or(0, |k| latest.saturating_sub(k - 1)));
        let mut keys: Vec<_> = batches.iter().flatten().map(|(k, _)| *k).collect();
        keys.dedup();
        for (root, snap) in &snapshots {
            let h = root.heartbeat;
            if h < oldest {
                prop_assert!(matches!(store.root_at(h), Err(LedgerError::Pruned { .. })), "heartbeat {} readable", h);
                continue;
            }
            prop_assert_eq!(store.root_at(h).unwrap(), *root);
            // every node of that heartbeat's tree reads back as a fresh tree of it has it
            let reference = SumTree::from_accounts(snap.iter().map(|(k, s)| (AccountId::from_bytes(*k), *s))).unwrap();
            let mut stack: Vec<_> = reference.root_node().into_iter().map(|n| n.position()).collect();
            while let Some(pos) = stack.pop() {
                let stored = store.node_at(&pos, h).unwrap();
                prop_assert_eq!(stored, reference.node(&pos));
                if let Some(NodeView::Inner { children, .. }) = stored {
                    stack.extend(children);
                }
            }
            for k in &keys {
                let id = AccountId::from_bytes(*k);
                prop_assert_eq!(store.account_at(&id, h).unwrap(), snap.get(k).copied());
                let expect = snap.get(k).map_or(Verified::Absent, |s| Verified::Included(*s));
                prop_assert_eq!(store.prove_at(&id, h).unwrap().verify(&id, root), Ok(expect));
            }
        }
        // restart from disk
        let root = store.root();
        drop(store);
        drop(db);
        let db = open_db(dir.path());
        let mut store = LedgerStore::open(db.open_tree("ledger/org").unwrap(), LedgerConfig { keep_heartbeats: keep }).unwrap();
        prop_assert_eq!(store.root(), root);
        prop_assert_eq!(store.oldest_heartbeat(), oldest);
        let extra = [([0x80u8; 20], Update::Set(AccountState::with_balance(5)))];
        apply_model(&mut model, &extra);
        prop_assert_eq!(store.apply(ops(&extra)).unwrap().root.digest, naive_root(&model).0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Any damaged node record gives errors, never a panic: on open, on reads at every
    /// heartbeat, on proofs.
    #[test]
    fn corrupted_records_never_panic(
        batches in batches(),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        damage in prop_oneof![any::<u8>().prop_map(Some), Just(None)],
    ) {
        let (_dir, db, mut store) = temp_store(None);
        for batch in &batches {
            store.apply(ops(batch)).unwrap();
        }
        let latest = store.root().heartbeat;
        let tree = db.open_tree("ledger/org").unwrap();
        let records: Vec<_> = tree.scan_prefix(b"n").map(Result::unwrap).collect();
        prop_assume!(!records.is_empty());
        let (k, v) = &records[pick.index(records.len())];
        let mut bad = v.to_vec();
        match damage {
            Some(x) => { let i = at.index(bad.len()); bad[i] ^= x | 1; }
            None => bad.truncate(at.index(bad.len())),
        }
        tree.insert(k, bad).unwrap();
        drop(store);
        let keys: Vec<_> = batches.iter().flatten().map(|(k, _)| AccountId::from_bytes(*k)).collect();
        if let Ok(store) = LedgerStore::open(tree, LedgerConfig { keep_heartbeats: None }) {
            for h in 0..=latest {
                let root = store.root_at(h).ok();
                for id in &keys {
                    let _ = store.account_at(id, h);
                    if let (Ok(p), Some(root)) = (store.prove_at(id, h), root) {
                        let _ = p.verify(id, &root);
                    }
                }
            }
        }
    }
}

#[test]
fn restart_from_disk_with_many_accounts_and_a_corrupted_node() {
    let (dir, db, mut store) = temp_store(None);
    let id = |i: u32| {
        AccountId::from_bytes(
            *blake3::hash(&i.to_le_bytes())
                .as_bytes()
                .first_chunk()
                .unwrap(),
        )
    };
    for round in 0..10u32 {
        store
            .apply((0..500u32).map(|i| {
                let k = i * 7 + round * 131;
                let u = if k % 5 == 0 {
                    Update::Remove
                } else {
                    Update::Set(AccountState::with_balance(k as u64))
                };
                (id(k % 2000), u)
            }))
            .unwrap();
    }
    let root = store.root();
    let old = store.root_at(3).unwrap();
    drop(store);
    drop(db);

    let db = open_db(dir.path());
    let tree = db.open_tree("ledger/org").unwrap();
    let store = LedgerStore::open(
        tree.clone(),
        LedgerConfig {
            keep_heartbeats: None,
        },
    )
    .unwrap();
    assert_eq!(store.root(), root);
    assert_eq!(store.root_at(3).unwrap(), old);
    drop(store);

    // Damage the newest record of the root node: opening must fail with an error.
    let top = LedgerStore::open(
        tree.clone(),
        LedgerConfig {
            keep_heartbeats: None,
        },
    )
    .unwrap()
    .tree()
    .root_node()
    .unwrap()
    .position();
    let mut prefix = vec![b'n', top.depth()];
    prefix.extend_from_slice(&top.prefix().as_bytes()[..(top.depth() as usize).div_ceil(8)]);
    let (k, v) = tree.scan_prefix(&prefix).last().unwrap().unwrap();
    assert_eq!(v[0], 1, "an inner record");
    let mut bad = v.to_vec();
    bad[5] ^= 0xff;
    tree.insert(&k, bad).unwrap();
    assert!(matches!(
        LedgerStore::open(tree.clone(), LedgerConfig::default()),
        Err(LedgerError::Corrupt(_))
    ));
    tree.insert(&k, &v[..3]).unwrap();
    assert!(matches!(
        LedgerStore::open(tree, LedgerConfig::default()),
        Err(LedgerError::Corrupt(_))
    ));
}

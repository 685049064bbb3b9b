//! [`LedgerStore`]: the ledger tree persisted on sled, readable at any retained heartbeat.
//!
//! The caller opens the `sled::Tree` (one per org, e.g. `db.open_tree("ledger/<org>")`) and
//! hands it over, so the ledger shares the node's one sled database. Key spaces inside it:
//!
//! ```text
//! 'n' ‖ position ‖ heartbeat   node record written at that heartbeat (see `node`)
//! 'r' ‖ heartbeat              root: digest:32 ‖ total:u64 LE ‖ root position (absent = empty)
//! 'j' ‖ heartbeat              journal: node keys that became stale at that heartbeat
//! 'm'                          meta: latest heartbeat ‖ oldest kept heartbeat (u64 LE)
//! ```
//!
//! Invariants: one heartbeat is one atomic sled batch (its nodes, tombstones, root, journal
//! and meta), so a heartbeat is either completely on disk or absent. Every record that a
//! heartbeat makes stale (a replaced version, or a tombstone itself) is listed in that
//! heartbeat's journal; pruning up to heartbeat `k` deletes exactly the records listed in
//! journals `<= k`, which are the ones no read at `>= k` can reach.
//!
//! The current state is also held in memory as a [`SumTree`] (rebuilt from the live records
//! on open), so applying a batch and proving at the latest heartbeat never read the disk;
//! reads at older heartbeats go to sled, one reverse seek per node.

use super::hash::bit;
use super::node::{self, NodePosition, NodeView, Record, corrupt, decode_node_key, node_key};
use super::proof::{AccountProof, ProofStep};
use super::{AccountId, AccountState, Heartbeat, LedgerError, NodeHash, Root, SumTree, Update};
use std::collections::HashMap;

const ROOT_SPACE: u8 = b'r';
const JOURNAL_SPACE: u8 = b'j';
const META_KEY: &[u8] = b"m";

/// How much history to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LedgerConfig {
    /// Heartbeats kept readable, the latest included; `None` keeps everything. Default:
    /// 86,400 — the seed's 24-hour publication period (L6) at one heartbeat per second.
    pub keep_heartbeats: Option<u64>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            keep_heartbeats: Some(86_400),
        }
    }
}

/// What one committed batch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The ledger root after the batch (same heartbeat as before if nothing changed).
    pub root: Root,
    /// Node records written (leaves + inner nodes), tombstones excluded.
    pub nodes_written: usize,
    /// Tombstones written for removed positions.
    pub nodes_removed: usize,
    /// Key + value bytes of the node records and tombstones written.
    pub node_bytes: usize,
}

/// Record counts and raw sizes (keys + values) in the ledger's sled tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Node records of every retained version, tombstones included.
    pub node_records: usize,
    /// Their key + value bytes.
    pub node_bytes: usize,
    /// Roots, journals and meta: key + value bytes.
    pub other_bytes: usize,
}

/// The ledger of one org on disk, with its current tree in memory.
pub struct LedgerStore {
    db: sled::Tree,
    tree: SumTree,
    config: LedgerConfig,
    oldest: Heartbeat,
}

impl LedgerStore {
    /// Open (or create) the ledger kept in `db`, rebuilding the current tree from disk and
    /// checking it against the stored root of the latest heartbeat.
    pub fn open(db: sled::Tree, config: LedgerConfig) -> Result<Self, LedgerError> {
        let (latest, oldest) = read_meta(&db)?;
        let tree = load_tree(&db, latest)?;
        let s = Self {
            db,
            tree,
            config,
            oldest,
        };
        let stored = s.root_at(latest)?;
        if stored != s.tree.root() {
            return Err(corrupt("rebuilt tree does not match the stored root"));
        }
        Ok(s)
    }

    /// The current tree (for reads and proofs at the latest heartbeat).
    pub fn tree(&self) -> &SumTree {
        &self.tree
    }

    /// The root of the latest heartbeat.
    pub fn root(&self) -> Root {
        self.tree.root()
    }

    /// The oldest heartbeat still readable.
    pub fn oldest_heartbeat(&self) -> Heartbeat {
        self.oldest
    }

    /// Apply one heartbeat's batch and persist what changed, then prune past the window.
    pub fn apply(
        &mut self,
        updates: impl IntoIterator<Item = (AccountId, Update)>,
    ) -> Result<Commit, LedgerError> {
        let cs = self.tree.apply(updates)?;
        let h = cs.heartbeat();
        if cs.is_empty() {
            return Ok(Commit {
                root: self.tree.root(),
                nodes_written: 0,
                nodes_removed: 0,
                node_bytes: 0,
            });
        }
        let mut batch = sled::Batch::default();
        let mut journal = Vec::new();
        let mut node_bytes = 0;
        let mut val = Vec::with_capacity(96);
        for (pos, version) in &cs.removed {
            let k = node_key(pos, h);
            val.clear();
            Record::Tombstone.encode_into(&mut val);
            node_bytes += k.len() + val.len();
            push_journal(&mut journal, &node_key(pos, *version));
            push_journal(&mut journal, &k);
            batch.insert(k, val.as_slice());
        }
        for (pos, version) in &cs.superseded {
            push_journal(&mut journal, &node_key(pos, *version));
        }
        for &n in &cs.written {
            let (pos, rec) = self.tree.record(n);
            debug_assert!(
                !cs.removed.iter().any(|(p, _)| *p == pos),
                "removed and written: {pos:?}"
            );
            let k = node_key(&pos, h);
            val.clear();
            rec.encode_into(&mut val);
            node_bytes += k.len() + val.len();
            batch.insert(k, val.as_slice());
        }
        let root = self.tree.root();
        batch.insert(
            &space_key(ROOT_SPACE, h)[..],
            encode_root(&root, self.tree.root_ref().map(|r| self.tree.record(r).0)),
        );
        batch.insert(&space_key(JOURNAL_SPACE, h)[..], journal);
        batch.insert(META_KEY, &encode_meta(h, self.oldest)[..]);
        if let Err(e) = self.db.apply_batch(batch) {
            // Memory ran ahead of the disk: go back to what the disk holds.
            self.tree = load_tree(&self.db, read_meta(&self.db)?.0)?;
            return Err(e.into());
        }
        if let Some(keep) = self.config.keep_heartbeats {
            let keep = keep.max(1);
            if h >= keep {
                self.prune(h + 1 - keep)?;
            }
        }
        Ok(Commit {
            root,
            nodes_written: cs.nodes_written(),
            nodes_removed: cs.nodes_removed(),
            node_bytes,
        })
    }

    /// Forget every heartbeat before `keep_from` (clamped to the latest); returns the number
    /// of node records deleted.
    pub fn prune(&mut self, keep_from: Heartbeat) -> Result<usize, LedgerError> {
        let keep_from = keep_from.min(self.tree.heartbeat());
        if keep_from <= self.oldest {
            return Ok(0);
        }
        // Refuse old reads first; a crash after this only leaves journals to finish later.
        self.db
            .insert(META_KEY, &encode_meta(self.tree.heartbeat(), keep_from)[..])?;
        self.oldest = keep_from;
        let mut deleted = 0;
        let mut batch = sled::Batch::default();
        let end = space_key(JOURNAL_SPACE, keep_from);
        for item in self.db.range(space_key(JOURNAL_SPACE, 0)..=end) {
            let (k, v) = item?;
            let mut rest = &v[..];
            while let Some((&len, tail)) = rest.split_first() {
                let key = tail
                    .get(..len as usize)
                    .ok_or_else(|| corrupt("truncated journal"))?;
                batch.remove(key);
                deleted += 1;
                rest = &tail[len as usize..];
            }
            batch.remove(k);
        }
        for item in self
            .db
            .range(space_key(ROOT_SPACE, 0)..space_key(ROOT_SPACE, keep_from))
        {
            batch.remove(item?.0);
        }
        self.db.apply_batch(batch)?;
        Ok(deleted)
    }

    /// The root published at heartbeat `h`.
    pub fn root_at(&self, h: Heartbeat) -> Result<Root, LedgerError> {
        self.check(h)?;
        Ok(self.stored_root(h)?.0)
    }

    /// An account's state as of heartbeat `h`.
    pub fn account_at(
        &self,
        account: &AccountId,
        h: Heartbeat,
    ) -> Result<Option<AccountState>, LedgerError> {
        self.check(h)?;
        match self.read(&NodePosition::leaf(account), h)? {
            Some(Record::Leaf(s)) => Ok(Some(s)),
            Some(Record::Inner { .. }) => Err(corrupt("inner record at a leaf position")),
            Some(Record::Tombstone) | None => Ok(None),
        }
    }

    /// Any node of the tree as it was at heartbeat `h` (the "time-space mirror", L2).
    pub fn node_at(
        &self,
        position: &NodePosition,
        h: Heartbeat,
    ) -> Result<Option<NodeView>, LedgerError> {
        self.check(h)?;
        Ok(self.read(position, h)?.and_then(|r| r.view(position)))
    }

    /// A proof for `account` against the root of heartbeat `h`.
    pub fn prove_at(&self, account: &AccountId, h: Heartbeat) -> Result<AccountProof, LedgerError> {
        self.check(h)?;
        if h == self.tree.heartbeat() {
            return Ok(self.tree.prove(account));
        }
        let Some(mut pos) = self.stored_root(h)?.1 else {
            return Ok(AccountProof::empty_tree());
        };
        let key = account.as_bytes();
        let mut steps = Vec::with_capacity(32);
        loop {
            match self.read(&pos, h)? {
                Some(Record::Leaf(state)) if pos.is_leaf() => {
                    return Ok(AccountProof::new(pos.prefix(), state, steps));
                }
                Some(Record::Inner { children, .. }) if !pos.is_leaf() => {
                    let b = bit(key, pos.depth()) as usize;
                    let (next, sib) = (children[b], children[1 - b]);
                    if next.depth() <= pos.depth() || sib.depth() <= pos.depth() {
                        return Err(corrupt("child not below its parent"));
                    }
                    let sib = self
                        .read(&sib, h)?
                        .and_then(|r| r.view(&sib))
                        .ok_or_else(|| corrupt("sibling missing at its heartbeat"))?;
                    steps.push(ProofStep {
                        depth: pos.depth(),
                        sibling_hash: *sib.hash().as_bytes(),
                        sibling_sum: sib.sum(),
                    });
                    pos = next;
                }
                _ => return Err(corrupt("path node missing or of the wrong kind")),
            }
        }
    }

    /// Count records and bytes (a full scan; for sizing, L8).
    pub fn stats(&self) -> Result<StoreStats, LedgerError> {
        let mut s = StoreStats::default();
        for item in self.db.iter() {
            let (k, v) = item?;
            if k.first() == Some(&node::NODE_SPACE) {
                s.node_records += 1;
                s.node_bytes += k.len() + v.len();
            } else {
                s.other_bytes += k.len() + v.len();
            }
        }
        Ok(s)
    }

    fn check(&self, h: Heartbeat) -> Result<(), LedgerError> {
        let latest = self.tree.heartbeat();
        if h > latest {
            return Err(LedgerError::FutureHeartbeat {
                requested: h,
                latest,
            });
        }
        if h < self.oldest {
            return Err(LedgerError::Pruned {
                requested: h,
                oldest: self.oldest,
            });
        }
        Ok(())
    }

    /// The newest record of `position` written at or before `h`.
    fn read(&self, position: &NodePosition, h: Heartbeat) -> Result<Option<Record>, LedgerError> {
        match self
            .db
            .range(node_key(position, 0)..=node_key(position, h))
            .next_back()
        {
            None => Ok(None),
            Some(item) => Record::decode(&item?.1).map(Some),
        }
    }

    fn stored_root(&self, h: Heartbeat) -> Result<(Root, Option<NodePosition>), LedgerError> {
        stored_root(&self.db, h)
    }
}

fn stored_root(db: &sled::Tree, h: Heartbeat) -> Result<(Root, Option<NodePosition>), LedgerError> {
    if h == 0 {
        return Ok((
            Root {
                heartbeat: 0,
                digest: NodeHash::EMPTY,
                total: 0,
            },
            None,
        ));
    }
    let v = db
        .get(space_key(ROOT_SPACE, h))?
        .ok_or_else(|| corrupt("root record missing"))?;
    if v.len() < 40 {
        return Err(corrupt("truncated root record"));
    }
    let digest = NodeHash::from_slice(&v[..32]).map_err(|_| corrupt("root digest"))?;
    let total = u64::from_le_bytes(v[32..40].try_into().map_err(|_| corrupt("root total"))?);
    let pos = if v.len() == 40 {
        None
    } else {
        let (p, n) = NodePosition::decode(&v[40..])?;
        if 40 + n != v.len() {
            return Err(corrupt("trailing bytes in root record"));
        }
        Some(p)
    };
    Ok((
        Root {
            heartbeat: h,
            digest,
            total,
        },
        pos,
    ))
}

fn encode_root(root: &Root, position: Option<NodePosition>) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(root.digest.as_bytes());
    v.extend_from_slice(&root.total.to_le_bytes());
    if let Some(p) = position {
        p.encode_into(&mut v);
    }
    v
}

fn space_key(space: u8, h: Heartbeat) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = space;
    k[1..].copy_from_slice(&h.to_be_bytes());
    k
}

fn push_journal(journal: &mut Vec<u8>, key: &[u8]) {
    // node keys are at most 1 + 1 + 20 + 8 bytes
    journal.push(key.len() as u8);
    journal.extend_from_slice(key);
}

fn encode_meta(latest: Heartbeat, oldest: Heartbeat) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&latest.to_le_bytes());
    m[8..].copy_from_slice(&oldest.to_le_bytes());
    m
}

fn read_meta(db: &sled::Tree) -> Result<(Heartbeat, Heartbeat), LedgerError> {
    match db.get(META_KEY)? {
        None => Ok((0, 0)),
        Some(m) if m.len() == 16 => {
            let latest = u64::from_le_bytes(m[..8].try_into().map_err(|_| corrupt("meta"))?);
            let oldest = u64::from_le_bytes(m[8..].try_into().map_err(|_| corrupt("meta"))?);
            Ok((latest, oldest))
        }
        Some(_) => Err(corrupt("meta record is not 16 bytes")),
    }
}

/// Rebuild the tree of heartbeat `latest` from the newest record of every position.
fn load_tree(db: &sled::Tree, latest: Heartbeat) -> Result<SumTree, LedgerError> {
    let mut leaves = Vec::new();
    let mut inner: HashMap<NodePosition, (Heartbeat, [u8; 32])> = HashMap::new();
    let mut last: Option<(NodePosition, Heartbeat, sled::IVec)> = None;
    let mut finish =
        |entry: Option<(NodePosition, Heartbeat, sled::IVec)>| -> Result<(), LedgerError> {
            let Some((pos, version, value)) = entry else {
                return Ok(());
            };
            match Record::decode(&value)? {
                Record::Tombstone => {}
                Record::Leaf(s) if pos.is_leaf() => leaves.push((pos.prefix(), s, version)),
                Record::Inner { hash, .. } if !pos.is_leaf() => {
                    inner.insert(pos, (version, hash));
                }
                _ => return Err(corrupt("record kind does not match its position")),
            }
            Ok(())
        };
    for item in db.scan_prefix([node::NODE_SPACE]) {
        let (k, v) = item?;
        let (pos, version) = decode_node_key(&k)?;
        if version > latest {
            return Err(corrupt("node record newer than the latest heartbeat"));
        }
        if last.as_ref().is_some_and(|(p, _, _)| *p != pos) {
            finish(last.take())?;
        }
        last = Some((pos, version, v));
    }
    finish(last.take())?;
    // Leaf keys share one length and sort by account, so `leaves` is already sorted.
    SumTree::restore(leaves, latest, |p| inner.get(p).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> AccountId {
        AccountId::from_bytes([b; 20])
    }

    fn set(b: u8, balance: u64) -> (AccountId, Update) {
        (id(b), Update::Set(AccountState::with_balance(balance)))
    }

    fn open(keep: Option<u64>) -> (sled::Db, LedgerStore) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let s = LedgerStore::open(
            db.open_tree("ledger/test").unwrap(),
            LedgerConfig {
                keep_heartbeats: keep,
            },
        )
        .unwrap();
        (db, s)
    }

    #[test]
    fn old_heartbeats_read_their_own_values() {
        let (_db, mut s) = open(None);
        s.apply([set(1, 10), set(2, 20)]).unwrap();
        s.apply([set(1, 11), (id(2), Update::Remove), set(3, 30)])
            .unwrap();
        assert_eq!(s.account_at(&id(1), 1).unwrap().unwrap().balance, 10);
        assert_eq!(s.account_at(&id(2), 1).unwrap().unwrap().balance, 20);
        assert_eq!(s.account_at(&id(3), 1).unwrap(), None);
        assert_eq!(s.account_at(&id(2), 2).unwrap(), None);
        assert_eq!(s.account_at(&id(1), 0).unwrap(), None);
        let r1 = s.root_at(1).unwrap();
        assert_eq!(r1.total, 30);
        let p = s.prove_at(&id(2), 1).unwrap();
        assert!(p.verify(&id(2), &r1).is_ok());
        assert!(p.verify(&id(2), &s.root()).is_err());
        assert!(matches!(
            s.root_at(3),
            Err(LedgerError::FutureHeartbeat { .. })
        ));
    }

    #[test]
    fn pruning_keeps_the_window_and_deletes_the_rest() {
        let (_db, mut s) = open(Some(2));
        for i in 1..=5u64 {
            s.apply([set(1, i), set(2, 100 + i)]).unwrap();
        }
        assert_eq!(s.oldest_heartbeat(), 4);
        assert!(matches!(
            s.account_at(&id(1), 3),
            Err(LedgerError::Pruned { .. })
        ));
        assert_eq!(s.account_at(&id(1), 4).unwrap().unwrap().balance, 4);
        assert!(
            s.prove_at(&id(2), 4)
                .unwrap()
                .verify(&id(2), &s.root_at(4).unwrap())
                .is_ok()
        );
        // two heartbeats of 3 nodes each, no more
        assert_eq!(s.stats().unwrap().node_records, 6);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let (db, mut s) = open(None);
        s.apply([set(1, 10), set(2, 20)]).unwrap();
        let tree = db.open_tree("ledger/test").unwrap();
        tree.insert(node_key(&NodePosition::leaf(&id(1)), 1), &[0u8, 1, 2][..])
            .unwrap();
        assert!(matches!(
            s.account_at(&id(1), 1),
            Err(LedgerError::Corrupt(_))
        ));
        assert!(s.prove_at(&id(1), 0).is_ok());
        drop(s);
        assert!(matches!(
            LedgerStore::open(tree, LedgerConfig::default()),
            Err(LedgerError::Corrupt(_))
        ));
    }
}

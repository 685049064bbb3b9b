//! [`SumTree`]: the ledger's current state as a pure in-memory state machine (sans-IO).
//!
//! It takes one batch of [`Update`]s per heartbeat and returns a [`Changeset`]: the nodes
//! written at the new heartbeat and the positions that became stale. [`super::store`] turns a
//! changeset into sled records; nothing here touches a disk, so every rule is unit-tested
//! directly.
//!
//! Why it is fast: a batch is sorted once, then a single recursive descent splits the sorted
//! slice at each node's branch bit (a binary search), so each touched path is rebuilt and
//! hashed exactly once per batch, however many updates share it. Nodes live in two arenas
//! (leaves, inner nodes) indexed by `u32` with free lists: no per-node allocation, and the
//! hot upper levels stay in cache.
//!
//! `records.rs` holds the side facing the store: node records, their sizes, and the rebuild
//! of a tree from stored records.

mod records;

use super::hash::{self, KEY_BITS, KEY_BYTES, bit, common_prefix_len};
use super::node::{NodePosition, NodeView};
use super::proof::{AccountProof, ProofStep};
use super::{AccountId, AccountState, Balance, Heartbeat, LedgerError, NodeHash, Root, Update};

type Key = [u8; KEY_BYTES];
type Op = (Key, Update);

/// An index into one of the two arenas; the top bit says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeRef(u32);

const LEAF_BIT: u32 = 1 << 31;

impl NodeRef {
    fn leaf(i: u32) -> Self {
        NodeRef(i | LEAF_BIT)
    }
    fn inner(i: u32) -> Self {
        NodeRef(i)
    }
    fn is_leaf(self) -> bool {
        self.0 & LEAF_BIT != 0
    }
    fn index(self) -> usize {
        (self.0 & !LEAF_BIT) as usize
    }
}

struct Leaf {
    key: Key,
    state: AccountState,
    hash: [u8; 32],
    /// Heartbeat at which this leaf was last written (its record's version on disk).
    version: Heartbeat,
}

struct Inner {
    prefix: Key,
    depth: u8,
    children: [NodeRef; 2],
    hash: [u8; 32],
    sum: Balance,
    version: Heartbeat,
}

/// The nodes one heartbeat wrote and the records it made stale.
#[derive(Debug)]
pub struct Changeset {
    heartbeat: Heartbeat,
    pub(crate) written: Vec<NodeRef>,
    /// Positions that no longer exist, with the heartbeat of their last record.
    pub(crate) removed: Vec<(NodePosition, Heartbeat)>,
    /// Positions rewritten in place, with the heartbeat of the record they replace.
    pub(crate) superseded: Vec<(NodePosition, Heartbeat)>,
}

impl Changeset {
    /// The heartbeat the batch produced (the unchanged current one if it changed nothing).
    pub fn heartbeat(&self) -> Heartbeat {
        self.heartbeat
    }

    /// True when the batch changed nothing, so the heartbeat did not advance.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty()
    }

    /// Number of nodes (leaves and inner nodes) written at this heartbeat.
    pub fn nodes_written(&self) -> usize {
        self.written.len()
    }

    /// Number of positions removed at this heartbeat.
    pub fn nodes_removed(&self) -> usize {
        self.removed.len()
    }
}

struct Cx {
    h: Heartbeat,
    written: Vec<NodeRef>,
    removed: Vec<(NodePosition, Heartbeat)>,
    superseded: Vec<(NodePosition, Heartbeat)>,
}

/// The ledger's sparse Merkle sum tree at its current heartbeat.
#[derive(Default)]
pub struct SumTree {
    leaves: Vec<Leaf>,
    free_leaves: Vec<u32>,
    inners: Vec<Inner>,
    free_inners: Vec<u32>,
    root: Option<NodeRef>,
    heartbeat: Heartbeat,
    accounts: usize,
}

impl SumTree {
    /// An empty ledger at heartbeat 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree holding exactly `accounts` (applied as one batch, so at heartbeat 1 unless
    /// empty). Used to compute a subtree's digest independently (L4).
    pub fn from_accounts(
        accounts: impl IntoIterator<Item = (AccountId, AccountState)>,
    ) -> Result<Self, LedgerError> {
        let mut t = Self::new();
        t.apply(accounts.into_iter().map(|(a, s)| (a, Update::Set(s))))?;
        Ok(t)
    }

    /// The current heartbeat.
    pub fn heartbeat(&self) -> Heartbeat {
        self.heartbeat
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts
    }

    /// Whether the ledger has no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts == 0
    }

    /// The published summary: heartbeat, root digest and total.
    pub fn root(&self) -> Root {
        match self.root {
            None => Root {
                heartbeat: self.heartbeat,
                digest: NodeHash::EMPTY,
                total: 0,
            },
            Some(r) => Root {
                heartbeat: self.heartbeat,
                digest: NodeHash::from_bytes(*self.hash_of(r)),
                total: self.sum_of(r),
            },
        }
    }

    /// The root node, if the ledger is not empty.
    pub fn root_node(&self) -> Option<NodeView> {
        self.root.map(|r| self.view(r))
    }

    /// The state of `account`, if it exists.
    pub fn get(&self, account: &AccountId) -> Option<AccountState> {
        let key = account.as_bytes();
        let mut n = self.root?;
        loop {
            if n.is_leaf() {
                let l = &self.leaves[n.index()];
                return (l.key == *key).then_some(l.state);
            }
            let i = &self.inners[n.index()];
            n = i.children[bit(key, i.depth) as usize];
        }
    }

    /// The node at `position` now, if there is one.
    pub fn node(&self, position: &NodePosition) -> Option<NodeView> {
        let target = position.prefix_bytes();
        let mut n = self.root?;
        loop {
            let (depth, prefix) = self.position_of(n);
            if depth > position.depth() || common_prefix_len(prefix, target) < depth {
                return None;
            }
            if depth == position.depth() {
                return (prefix == target).then(|| self.view(n));
            }
            let i = &self.inners[n.index()];
            n = i.children[bit(target, depth) as usize];
        }
    }

    /// An inclusion proof for `account` if it exists, a non-inclusion proof otherwise (L5).
    pub fn prove(&self, account: &AccountId) -> AccountProof {
        let key = account.as_bytes();
        let Some(mut n) = self.root else {
            return AccountProof::empty_tree();
        };
        let mut steps = Vec::with_capacity(32);
        loop {
            if n.is_leaf() {
                let l = &self.leaves[n.index()];
                return AccountProof::new(AccountId::from_bytes(l.key), l.state, steps);
            }
            let i = &self.inners[n.index()];
            let b = bit(key, i.depth) as usize;
            let sib = i.children[1 - b];
            steps.push(ProofStep {
                depth: i.depth,
                sibling_hash: *self.hash_of(sib),
                sibling_sum: self.sum_of(sib),
            });
            n = i.children[b];
        }
    }

    /// Apply one heartbeat's batch. Later updates of the same account win. Validation
    /// (frozen ≤ balance, total fits in `u64`) happens before anything changes, so a rejected
    /// batch leaves the tree as it was. The heartbeat advances only if the state changed.
    pub fn apply(
        &mut self,
        updates: impl IntoIterator<Item = (AccountId, Update)>,
    ) -> Result<Changeset, LedgerError> {
        let mut ops: Vec<Op> = updates
            .into_iter()
            .map(|(a, u)| (*a.as_bytes(), u))
            .collect();
        ops.sort_by_key(|o| o.0); // stable: equal keys keep batch order
        ops.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        self.validate(&ops)?;
        let mut cx = Cx {
            h: self.heartbeat + 1,
            written: Vec::new(),
            removed: Vec::new(),
            superseded: Vec::new(),
        };
        let (root, changed) = self.apply_at(self.root, &ops, &mut cx);
        self.root = root;
        if changed {
            self.heartbeat = cx.h;
        }
        Ok(Changeset {
            heartbeat: self.heartbeat,
            written: cx.written,
            removed: cx.removed,
            superseded: cx.superseded,
        })
    }

    fn validate(&self, ops: &[Op]) -> Result<(), LedgerError> {
        let mut added: u128 = 0;
        for (k, u) in ops {
            if let Update::Set(s) = u {
                if s.frozen > s.balance {
                    return Err(LedgerError::FrozenExceedsBalance {
                        account: AccountId::from_bytes(*k),
                        balance: s.balance,
                        frozen: s.frozen,
                    });
                }
                added += s.balance as u128;
            }
        }
        let total = self.root().total as u128;
        if total + added <= u64::MAX as u128 {
            return Ok(()); // fast path: even with nothing removed the total fits
        }
        let mut new_total = total + added;
        for (k, _) in ops {
            if let Some(old) = self.get(&AccountId::from_bytes(*k)) {
                new_total -= old.balance as u128;
            }
        }
        if new_total > u64::MAX as u128 {
            return Err(LedgerError::SumOverflow);
        }
        Ok(())
    }

    /// Apply the sorted, deduplicated `ops` (all lying in one region of the key space) to the
    /// subtree `node`; returns the new subtree and whether it changed.
    fn apply_at(
        &mut self,
        node: Option<NodeRef>,
        ops: &[Op],
        cx: &mut Cx,
    ) -> (Option<NodeRef>, bool) {
        let Some(n) = node else {
            let built = self.build(ops, cx);
            return (built, built.is_some());
        };
        if ops.is_empty() {
            return (Some(n), false);
        }
        let (depth, prefix) = self.position_of(n);
        let prefix = *prefix;
        let first = &ops[0].0;
        let last = &ops[ops.len() - 1].0;
        // Keys are sorted, so the ones sharing ≥ c bits with `prefix` are contiguous and the
        // smallest shared length is at one of the two ends.
        let c = common_prefix_len(first, &prefix)
            .min(common_prefix_len(last, &prefix))
            .min(depth);
        if c < depth {
            // Some updates fall outside this subtree: they branch off at bit c, above it.
            let split = ops.partition_point(|o| !bit(&o.0, c));
            let side = bit(&prefix, c);
            let (mine, other) = if side {
                (&ops[split..], &ops[..split])
            } else {
                (&ops[..split], &ops[split..])
            };
            let (kept, changed) = self.apply_at(Some(n), mine, cx);
            let built = self.build(other, cx);
            return match (kept, built) {
                (kept, None) => (kept, changed),
                (None, built) => (built, true),
                (Some(k), Some(b)) => {
                    let (l, r) = if side { (b, k) } else { (k, b) };
                    (Some(self.new_inner(c, &prefix, l, r, cx)), true)
                }
            };
        }
        if n.is_leaf() {
            // c == 160: the one update is for this very account.
            let i = n.index();
            return match ops[0].1 {
                Update::Set(s) if self.leaves[i].state == s => (Some(n), false),
                Update::Set(s) => {
                    let leaf = &mut self.leaves[i];
                    cx.superseded
                        .push((NodePosition::from_raw(KEY_BITS, &leaf.key), leaf.version));
                    leaf.state = s;
                    leaf.hash = hash::leaf_hash(&leaf.key, &s);
                    leaf.version = cx.h;
                    cx.written.push(n);
                    (Some(n), true)
                }
                Update::Remove => {
                    let leaf = &self.leaves[i];
                    cx.removed
                        .push((NodePosition::from_raw(KEY_BITS, &leaf.key), leaf.version));
                    self.free_leaves.push(i as u32);
                    self.accounts -= 1;
                    (None, true)
                }
            };
        }
        let i = n.index();
        let split = ops.partition_point(|o| !bit(&o.0, depth));
        let [cl, cr] = self.inners[i].children;
        let (l, lc) = self.apply_at(Some(cl), &ops[..split], cx);
        let (r, rc) = self.apply_at(Some(cr), &ops[split..], cx);
        if !lc && !rc {
            return (Some(n), false);
        }
        match (l, r) {
            (Some(l), Some(r)) => {
                let (hash, sum) = self.combine(depth, &prefix, l, r);
                let inner = &mut self.inners[i];
                cx.superseded
                    .push((NodePosition::from_raw(depth, &prefix), inner.version));
                inner.children = [l, r];
                inner.hash = hash;
                inner.sum = sum;
                inner.version = cx.h;
                cx.written.push(n);
                (Some(n), true)
            }
            (only, None) | (None, only) => {
                // One side emptied: the compressed path skips this node now.
                cx.removed.push((
                    NodePosition::from_raw(depth, &prefix),
                    self.inners[i].version,
                ));
                self.free_inners.push(i as u32);
                (only, true)
            }
        }
    }

    /// A new subtree holding the `Set` updates of `ops` (removals of absent accounts vanish).
    fn build(&mut self, ops: &[Op], cx: &mut Cx) -> Option<NodeRef> {
        let is_set = |o: &Op| matches!(o.1, Update::Set(_));
        let start = ops.iter().position(is_set)?;
        let end = ops.iter().rposition(is_set)? + 1;
        let ops = &ops[start..end];
        if let [(key, Update::Set(state))] = ops {
            return Some(self.new_leaf(key, *state, cx));
        }
        // First and last are `Set`s, so both halves below are non-empty.
        let d = common_prefix_len(&ops[0].0, &ops[ops.len() - 1].0);
        let split = ops.partition_point(|o| !bit(&o.0, d));
        let l = self.build(&ops[..split], cx);
        let r = self.build(&ops[split..], cx);
        match (l, r) {
            (Some(l), Some(r)) => Some(self.new_inner(d, &ops[0].0, l, r, cx)),
            (one, None) | (None, one) => one,
        }
    }

    fn new_leaf(&mut self, key: &Key, state: AccountState, cx: &mut Cx) -> NodeRef {
        let leaf = Leaf {
            key: *key,
            state,
            hash: hash::leaf_hash(key, &state),
            version: cx.h,
        };
        let r = match self.free_leaves.pop() {
            Some(i) => {
                self.leaves[i as usize] = leaf;
                NodeRef::leaf(i)
            }
            None => {
                self.leaves.push(leaf);
                NodeRef::leaf((self.leaves.len() - 1) as u32)
            }
        };
        self.accounts += 1;
        cx.written.push(r);
        r
    }

    fn new_inner(&mut self, depth: u8, path: &Key, l: NodeRef, r: NodeRef, cx: &mut Cx) -> NodeRef {
        let prefix = hash::mask(path, depth);
        let (hash, sum) = self.combine(depth, &prefix, l, r);
        let inner = Inner {
            prefix,
            depth,
            children: [l, r],
            hash,
            sum,
            version: cx.h,
        };
        let n = match self.free_inners.pop() {
            Some(i) => {
                self.inners[i as usize] = inner;
                NodeRef::inner(i)
            }
            None => {
                self.inners.push(inner);
                NodeRef::inner((self.inners.len() - 1) as u32)
            }
        };
        cx.written.push(n);
        n
    }

    fn combine(&self, depth: u8, prefix: &Key, l: NodeRef, r: NodeRef) -> ([u8; 32], Balance) {
        let (ls, rs) = (self.sum_of(l), self.sum_of(r));
        // `validate` proved the new total fits in u64 and balances are non-negative, so no
        // subtree sum can exceed it.
        let sum = ls
            .checked_add(rs)
            .unwrap_or_else(|| unreachable!("validated total overflowed"));
        (
            hash::inner_hash(depth, prefix, (self.hash_of(l), ls), (self.hash_of(r), rs)),
            sum,
        )
    }

    fn hash_of(&self, n: NodeRef) -> &[u8; 32] {
        if n.is_leaf() {
            &self.leaves[n.index()].hash
        } else {
            &self.inners[n.index()].hash
        }
    }

    fn sum_of(&self, n: NodeRef) -> Balance {
        if n.is_leaf() {
            self.leaves[n.index()].state.balance
        } else {
            self.inners[n.index()].sum
        }
    }

    fn position_of(&self, n: NodeRef) -> (u8, &Key) {
        if n.is_leaf() {
            (KEY_BITS, &self.leaves[n.index()].key)
        } else {
            let i = &self.inners[n.index()];
            (i.depth, &i.prefix)
        }
    }

    fn pos(&self, n: NodeRef) -> NodePosition {
        let (d, p) = self.position_of(n);
        NodePosition::from_raw(d, p)
    }

    pub(crate) fn view(&self, n: NodeRef) -> NodeView {
        if n.is_leaf() {
            let l = &self.leaves[n.index()];
            NodeView::Leaf {
                account: AccountId::from_bytes(l.key),
                state: l.state,
                hash: NodeHash::from_bytes(l.hash),
            }
        } else {
            let i = &self.inners[n.index()];
            NodeView::Inner {
                position: NodePosition::from_raw(i.depth, &i.prefix),
                hash: NodeHash::from_bytes(i.hash),
                sum: i.sum,
                children: [self.pos(i.children[0]), self.pos(i.children[1])],
            }
        }
    }

    pub(crate) fn root_ref(&self) -> Option<NodeRef> {
        self.root
    }

    /// The children of an inner node (`None` for a leaf).
    pub(crate) fn children(&self, n: NodeRef) -> Option<[NodeRef; 2]> {
        (!n.is_leaf()).then(|| self.inners[n.index()].children)
    }

    pub(crate) fn depth_of(&self, n: NodeRef) -> u8 {
        self.position_of(n).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> AccountId {
        AccountId::from_bytes([b; 20])
    }

    fn set(a: AccountId, balance: u64) -> (AccountId, Update) {
        (a, Update::Set(AccountState::with_balance(balance)))
    }

    #[test]
    fn empty_tree_has_the_empty_root() {
        let t = SumTree::new();
        assert_eq!(
            t.root(),
            Root {
                heartbeat: 0,
                digest: NodeHash::EMPTY,
                total: 0
            }
        );
        assert_eq!(t.get(&id(1)), None);
    }

    #[test]
    fn root_is_independent_of_insertion_order_and_batching() {
        let accounts: Vec<_> = (0..50u8)
            .map(|i| (id(i.wrapping_mul(37)), i as u64 * 10))
            .collect();
        let mut one = SumTree::new();
        one.apply(accounts.iter().map(|&(a, b)| set(a, b))).unwrap();
        let mut many = SumTree::new();
        for (a, b) in accounts.iter().rev() {
            many.apply([set(*a, *b)]).unwrap();
        }
        assert_eq!(one.root().digest, many.root().digest);
        assert_eq!(one.root().total, (0..50u64).map(|i| i * 10).sum::<u64>());
        assert_eq!(one.heartbeat(), 1);
        assert_eq!(many.heartbeat(), 50);
    }

    #[test]
    fn heartbeat_advances_only_on_change() {
        let mut t = SumTree::new();
        assert_eq!(t.apply([set(id(1), 5)]).unwrap().heartbeat(), 1);
        let same = t.apply([set(id(1), 5), (id(2), Update::Remove)]).unwrap();
        assert!(same.is_empty());
        assert_eq!(t.heartbeat(), 1);
        assert_eq!(t.apply([set(id(1), 6)]).unwrap().heartbeat(), 2);
    }

    #[test]
    fn later_update_in_a_batch_wins() {
        let mut t = SumTree::new();
        t.apply([
            set(id(1), 5),
            set(id(1), 7),
            (id(2), Update::Remove),
            set(id(2), 3),
        ])
        .unwrap();
        assert_eq!(t.get(&id(1)).map(|s| s.balance), Some(7));
        assert_eq!(t.get(&id(2)).map(|s| s.balance), Some(3));
        t.apply([set(id(2), 4), (id(2), Update::Remove)]).unwrap();
        assert_eq!(t.get(&id(2)), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn deleting_everything_returns_to_the_empty_root() {
        let mut t = SumTree::new();
        t.apply((0..20).map(|i| set(id(i), 1))).unwrap();
        let c = t.apply((0..20).map(|i| (id(i), Update::Remove))).unwrap();
        assert_eq!(c.nodes_removed(), 20 + 19);
        assert_eq!(t.root().digest, NodeHash::EMPTY);
        assert!(t.is_empty());
    }

    #[test]
    fn overflow_and_bad_frozen_are_rejected_without_change() {
        let mut t = SumTree::new();
        t.apply([set(id(1), u64::MAX - 1)]).unwrap();
        let before = t.root();
        assert!(matches!(
            t.apply([set(id(2), 2)]),
            Err(LedgerError::SumOverflow)
        ));
        // replacing the big balance makes room: the exact check counts the old balance out
        t.apply([set(id(1), 1), set(id(2), u64::MAX - 1)]).unwrap();
        assert_eq!(t.root().total, u64::MAX);
        let bad = AccountState {
            balance: 1,
            nonce: 0,
            frozen: 2,
        };
        let mid = t.root();
        assert!(matches!(
            t.apply([set(id(3), 1), (id(4), Update::Set(bad))]),
            Err(LedgerError::FrozenExceedsBalance { .. })
        ));
        assert_eq!(t.root(), mid);
        assert_ne!(before, mid);
    }

    #[test]
    fn changeset_lists_one_path_per_touched_account() {
        let mut t = SumTree::new();
        t.apply((0..=255u8).map(|i| set(id(i), 1))).unwrap();
        // 256 keys whose first bytes are all different: a full binary tree 8 levels deep
        let c = t.apply([set(id(0), 2)]).unwrap();
        assert_eq!(c.nodes_written(), 1 + 8, "the leaf and its 8 ancestors");
        assert_eq!(c.superseded.len(), 9);
        assert!(c.removed.is_empty());
    }

    #[test]
    fn nodes_are_readable_by_position() {
        let mut t = SumTree::new();
        t.apply([set(id(0x00), 1), set(id(0x01), 2), set(id(0x80), 4)])
            .unwrap();
        let root = t.node(&NodePosition::new(0, &id(0))).unwrap();
        assert_eq!(root.sum(), 7);
        assert_eq!(root.hash(), t.root().digest);
        let NodeView::Inner { children, .. } = root else {
            panic!("root is inner")
        };
        assert_eq!(children[1], NodePosition::leaf(&id(0x80)));
        assert_eq!(t.node(&children[0]).unwrap().sum(), 3);
        assert_eq!(t.node(&NodePosition::leaf(&id(0x01))).unwrap().sum(), 2);
        assert_eq!(t.node(&NodePosition::new(3, &id(0))), None);
    }
}

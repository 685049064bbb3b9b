//! The store-facing side of [`SumTree`]: each node's on-disk record, the bytes those records
//! take (the L8 sizing figures), and rebuilding a tree from the records of a heartbeat.

use super::{Changeset, NodeRef, SumTree};
use crate::ledger::hash::KEY_BITS;
use crate::ledger::node::{NodePosition, Record, node_key};
use crate::ledger::{AccountId, AccountState, Heartbeat, LedgerError, Update};

impl SumTree {
    /// The position and on-disk record of a node (for [`crate::ledger::store`]).
    pub(crate) fn record(&self, n: NodeRef) -> (NodePosition, Record) {
        if n.is_leaf() {
            let l = &self.leaves[n.index()];
            (
                NodePosition::from_raw(KEY_BITS, &l.key),
                Record::Leaf(l.state),
            )
        } else {
            let i = &self.inners[n.index()];
            let children = [self.pos(i.children[0]), self.pos(i.children[1])];
            (
                NodePosition::from_raw(i.depth, &i.prefix),
                Record::Inner {
                    hash: i.hash,
                    sum: i.sum,
                    children,
                },
            )
        }
    }

    /// Key + value bytes of the records that hold the current state in the store (one
    /// record per live node, before sled's own overhead): the L8 storage figure.
    pub fn live_record_bytes(&self) -> usize {
        let mut total = 0;
        let mut stack: Vec<NodeRef> = self.root.into_iter().collect();
        while let Some(n) = stack.pop() {
            total += self.record_bytes(n);
            stack.extend(self.children(n).into_iter().flatten());
        }
        total
    }

    /// Key + value bytes the store writes for `changes`, which must be the changeset this
    /// tree returned last (tombstones included, journal and root records excluded).
    pub fn changeset_record_bytes(&self, changes: &Changeset) -> usize {
        let tombstones: usize = changes
            .removed
            .iter()
            .map(|(p, _)| node_key(p, 0).len() + 1)
            .sum();
        tombstones
            + changes
                .written
                .iter()
                .map(|&n| self.record_bytes(n))
                .sum::<usize>()
    }

    fn record_bytes(&self, n: NodeRef) -> usize {
        let (pos, rec) = self.record(n);
        let mut v = Vec::with_capacity(96);
        rec.encode_into(&mut v);
        node_key(&pos, 0).len() + v.len()
    }

    /// Rebuild the tree of a stored heartbeat from its live leaves (sorted by account, with
    /// the heartbeat each was written at) and the live inner records (by position: version
    /// and stored digest). Every inner node the rebuild produces must match a stored record.
    pub(crate) fn restore(
        leaves: Vec<(AccountId, AccountState, Heartbeat)>,
        heartbeat: Heartbeat,
        inner: impl Fn(&NodePosition) -> Option<(Heartbeat, [u8; 32])>,
    ) -> Result<Self, LedgerError> {
        let mut t = Self::new();
        t.apply(leaves.iter().map(|(a, s, _)| (*a, Update::Set(*s))))
            .map_err(|e| LedgerError::Corrupt(format!("stored accounts rejected: {e}")))?;
        for l in &mut t.leaves {
            let i = leaves
                .binary_search_by(|(a, _, _)| a.as_bytes().cmp(&l.key))
                .map_err(|_| LedgerError::Corrupt("restored leaf not in input".into()))?;
            l.version = leaves[i].2;
        }
        for n in &mut t.inners {
            let pos = NodePosition::from_raw(n.depth, &n.prefix);
            match inner(&pos) {
                Some((version, hash)) if hash == n.hash => n.version = version,
                Some(_) => {
                    return Err(LedgerError::Corrupt(format!(
                        "inner node {pos:?} digest mismatch"
                    )));
                }
                None => return Err(LedgerError::Corrupt(format!("inner node {pos:?} missing"))),
            }
        }
        t.heartbeat = heartbeat;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use crate::ledger::{AccountId, AccountState, SumTree, Update};

    fn id(b: u8) -> AccountId {
        AccountId::from_bytes([b; 20])
    }

    fn set(a: AccountId, balance: u64) -> (AccountId, Update) {
        (a, Update::Set(AccountState::with_balance(balance)))
    }

    #[test]
    fn record_sizes_follow_the_fixed_layout() {
        let mut t = SumTree::new();
        let c = t.apply([set(id(0x00), 1), set(id(0x80), 2)]).unwrap();
        // two leaves: key 1+1+20+8, value 25; the root at depth 0: key 1+1+8, value 41+2×21
        let expect = 2 * (30 + 25) + (10 + 41 + 42);
        assert_eq!(t.live_record_bytes(), expect);
        assert_eq!(t.changeset_record_bytes(&c), expect);
        let c = t.apply([(id(0x80), Update::Remove)]).unwrap();
        assert_eq!(t.changeset_record_bytes(&c), 31 + 11, "two tombstones");
    }
}

//! Node groups (L4, structure only): subtrees cut at 8-level (one byte) boundaries, so that
//! later work can give each group its own bookkeepers.
//!
//! A [`GroupId`] at level `l` is the set of accounts whose first `l` bytes equal its prefix;
//! the root group is level 0. Because tree positions are absolute (see [`super`]), the
//! group's digest and sum are those of the topmost tree node under that prefix, and they can
//! be computed from the group's accounts alone ([`SumTree::from_accounts`]) with the same
//! result: a bookkeeper of a group needs nothing outside it to produce its summary, and the
//! parent group only needs that summary.
//!
//! # The 256-node split (seed §五 "节点分组", §八)
//!
//! A group holds at most 256 tree nodes (inner nodes and leaves). Its nodes are those whose
//! depth is inside its 8 levels, plus the subtrees hanging below those 8 levels ("branches",
//! each identified by the 9th..16th-bit sub-prefix, i.e. the child [`GroupId`] one byte
//! deeper). While a group is over the limit, its largest branch is split off into a child
//! group (recursively split the same way); the nodes inside the 8 levels always stay. So a
//! group can still describe a deep, unbalanced subtree (up to 64 levels in 256 nodes, as the
//! seed notes) as long as it is small, and a dense region becomes a chain of nested groups.
//! [`SumTree::plan_groups`] computes this layout for the current tree.

use super::hash::{KEY_BYTES, bit, common_prefix_len, mask};
use super::tree::NodeRef;
use super::{AccountId, Balance, NodeHash, NodePosition, SumTree};

/// The seed's limit on nodes per group.
pub const MAX_GROUP_NODES: usize = 256;

/// A group: all accounts whose first `level` bytes equal `prefix`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct GroupId {
    level: u8,
    prefix: [u8; KEY_BYTES],
}

impl GroupId {
    /// The root group (every account).
    pub const ROOT: GroupId = GroupId {
        level: 0,
        prefix: [0; KEY_BYTES],
    };

    /// The group at `level` bytes (at most 19) on `account`'s path.
    pub fn of(account: &AccountId, level: u8) -> Self {
        let level = level.min(KEY_BYTES as u8 - 1);
        Self {
            level,
            prefix: mask(account.as_bytes(), level * 8),
        }
    }

    /// Depth in bytes (8-level steps).
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The prefix, zero past `level` bytes.
    pub fn prefix(&self) -> AccountId {
        AccountId::from_bytes(self.prefix)
    }

    /// The child group for next byte `b` (`None` past level 19).
    pub fn child(&self, b: u8) -> Option<GroupId> {
        if self.level as usize + 1 >= KEY_BYTES {
            return None;
        }
        let mut prefix = self.prefix;
        prefix[self.level as usize] = b;
        Some(GroupId {
            level: self.level + 1,
            prefix,
        })
    }

    /// Whether `account` belongs to this group.
    pub fn covers(&self, account: &AccountId) -> bool {
        common_prefix_len(account.as_bytes(), &self.prefix) >= self.bits()
    }

    fn bits(&self) -> u8 {
        self.level * 8
    }
}

/// A group's independent summary: what it reports to the group above.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GroupSummary {
    pub group: GroupId,
    /// Position of the topmost tree node of the group.
    pub top: NodePosition,
    /// That node's digest.
    pub digest: NodeHash,
    /// Sum of the group's balances.
    pub total: Balance,
}

/// One group of a [`SumTree::plan_groups`] layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupPlan {
    pub group: GroupId,
    /// Tree nodes this group keeps (at most the limit unless its own 8 levels exceed it).
    pub nodes: usize,
    /// Groups split off below it.
    pub children: Vec<GroupPlan>,
}

impl SumTree {
    /// The summary of group `g`, or `None` if it holds no account.
    pub fn group(&self, g: &GroupId) -> Option<GroupSummary> {
        let n = self.group_top(g)?;
        let v = self.view(n);
        Some(GroupSummary {
            group: *g,
            top: v.position(),
            digest: v.hash(),
            total: v.sum(),
        })
    }

    /// The layout of groups for the current tree under the 256-node rule (`max_nodes`).
    pub fn plan_groups(&self, max_nodes: usize) -> Option<GroupPlan> {
        let top = self.root_ref()?;
        Some(self.plan(GroupId::ROOT, top, max_nodes))
    }

    fn group_top(&self, g: &GroupId) -> Option<NodeRef> {
        let mut n = self.root_ref()?;
        loop {
            let v = self.view(n);
            let pos = v.position();
            let shared = common_prefix_len(pos.prefix().as_bytes(), &g.prefix);
            if pos.depth() >= g.bits() {
                return (shared >= g.bits()).then_some(n);
            }
            if shared < pos.depth() {
                return None;
            }
            let children = self.children(n)?;
            n = children[bit(&g.prefix, pos.depth()) as usize];
        }
    }

    fn plan(&self, g: GroupId, top: NodeRef, max: usize) -> GroupPlan {
        let limit = g.bits().saturating_add(8);
        let mut own = 0;
        let mut branches: Vec<(usize, NodeRef)> = Vec::new();
        let mut stack = vec![top];
        while let Some(n) = stack.pop() {
            if self.depth_of(n) < limit && !self.view(n).position().is_leaf() {
                own += 1;
                stack.extend(self.children(n).into_iter().flatten());
            } else {
                branches.push((self.count(n), n));
            }
        }
        let mut nodes = own + branches.iter().map(|b| b.0).sum::<usize>();
        branches.sort_by_key(|b| std::cmp::Reverse(b.0));
        let mut children = Vec::new();
        for (count, n) in branches {
            // A lone leaf is not worth a group of its own.
            if nodes <= max || count <= 1 {
                break;
            }
            let path = self.view(n).position().prefix();
            let Some(child) = g.child(path.as_bytes()[g.level as usize]) else {
                break;
            };
            nodes -= count;
            children.push(self.plan(child, n, max));
        }
        GroupPlan {
            group: g,
            nodes,
            children,
        }
    }

    fn count(&self, n: NodeRef) -> usize {
        match self.children(n) {
            None => 1,
            Some([l, r]) => 1 + self.count(l) + self.count(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AccountState, Update};
    use super::*;

    fn account(i: u32) -> AccountId {
        AccountId::from_bytes(
            *blake3::hash(&i.to_le_bytes())
                .as_bytes()
                .first_chunk()
                .unwrap(),
        )
    }

    fn tree(n: u32) -> (SumTree, Vec<(AccountId, AccountState)>) {
        let accounts: Vec<_> = (0..n)
            .map(|i| (account(i), AccountState::with_balance(i as u64 + 1)))
            .collect();
        (
            SumTree::from_accounts(accounts.iter().copied()).unwrap(),
            accounts,
        )
    }

    #[test]
    fn a_group_digest_is_computable_from_its_accounts_alone() {
        let (t, accounts) = tree(3000);
        for level in 0..=2u8 {
            let g = GroupId::of(&accounts[7].0, level);
            let mine: Vec<_> = accounts
                .iter()
                .copied()
                .filter(|(a, _)| g.covers(a))
                .collect();
            let alone = SumTree::from_accounts(mine.iter().copied()).unwrap();
            let s = t.group(&g).unwrap();
            assert_eq!(s.digest, alone.root().digest, "level {level}");
            assert_eq!(s.total, mine.iter().map(|(_, st)| st.balance).sum::<u64>());
        }
        assert_eq!(t.group(&GroupId::ROOT).unwrap().digest, t.root().digest);
        // a prefix nobody has is an empty group
        let mut missing = GroupId::of(&accounts[0].0, 3);
        while accounts.iter().any(|(a, _)| missing.covers(a)) {
            missing = missing.child(0).unwrap();
        }
        assert_eq!(t.group(&missing), None);
    }

    #[test]
    fn plan_splits_until_each_group_fits() {
        let (t, _) = tree(5000);
        let plan = t.plan_groups(MAX_GROUP_NODES).unwrap();
        fn walk(p: &GroupPlan, total: &mut usize) {
            assert!(
                p.nodes <= MAX_GROUP_NODES,
                "{:?} keeps {}",
                p.group,
                p.nodes
            );
            *total += p.nodes;
            for c in &p.children {
                assert_eq!(c.group.level, p.group.level + 1);
                walk(c, total);
            }
        }
        let mut total = 0;
        walk(&plan, &mut total);
        assert_eq!(total, 2 * 5000 - 1, "every node is in exactly one group");
        assert!(!plan.children.is_empty());
        let mut small = SumTree::new();
        small
            .apply([(account(1), Update::Set(AccountState::with_balance(1)))])
            .unwrap();
        assert!(
            small
                .plan_groups(MAX_GROUP_NODES)
                .unwrap()
                .children
                .is_empty()
        );
    }
}

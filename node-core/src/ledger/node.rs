//! Node positions, the public view of a node, and the canonical on-disk records.
//!
//! The store keeps one record per (position, heartbeat it was written). The layout is
//! hand-written and fixed (no serde framing): it is what the issue's sizing figures (L8)
//! measure, and it is smaller than postcard for these shapes because a position stores only
//! the `ceil(depth / 8)` prefix bytes that can be non-zero.
//!
//! ```text
//! key    = 'n' ‖ depth:u8 ‖ prefix[..ceil(depth/8)] ‖ heartbeat:u64 BE
//! leaf   = 0x00 ‖ balance:u64 LE ‖ nonce:u64 LE ‖ frozen:u64 LE                (25 bytes)
//! inner  = 0x01 ‖ hash[32] ‖ sum:u64 LE ‖ left position ‖ right position   (43 + 2 positions)
//! gone   = 0x02                                                            (tombstone)
//! position = depth:u8 ‖ prefix[..ceil(depth/8)]
//! ```
//!
//! The depth leads the key so that all keys of one depth have one length: the versions of a
//! position are then contiguous in key order and "newest at or before h" is one reverse seek.
//! A leaf's hash is not stored: it is recomputed from the 25 bytes (one blake3 block).

use super::hash::{self, KEY_BITS, KEY_BYTES};
use super::{AccountId, AccountState, Balance, Heartbeat, LedgerError, NodeHash};

/// Where a node sits in the 160-bit key space: its depth and the prefix (masked to `depth`
/// bits) that every account below it shares. A leaf's position is its account at depth 160.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodePosition {
    depth: u8,
    prefix: [u8; KEY_BYTES],
}

impl std::fmt::Debug for NodePosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NodePosition({}/{})",
            AccountId::from_bytes(self.prefix),
            self.depth
        )
    }
}

impl NodePosition {
    /// The position at `depth` (at most 160) on the path of `path`.
    pub fn new(depth: u8, path: &AccountId) -> Self {
        Self::from_raw(depth.min(KEY_BITS), path.as_bytes())
    }

    /// The position of an account's leaf.
    pub fn leaf(account: &AccountId) -> Self {
        Self {
            depth: KEY_BITS,
            prefix: *account.as_bytes(),
        }
    }

    pub(crate) fn from_raw(depth: u8, path: &[u8; KEY_BYTES]) -> Self {
        Self {
            depth,
            prefix: hash::mask(path, depth),
        }
    }

    /// The depth in bits (160 for a leaf).
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The prefix, masked to `depth` bits.
    pub fn prefix(&self) -> AccountId {
        AccountId::from_bytes(self.prefix)
    }

    pub(crate) fn prefix_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.prefix
    }

    /// Whether this is a leaf position.
    pub fn is_leaf(&self) -> bool {
        self.depth == KEY_BITS
    }

    /// Whether `account` lies under this position.
    pub fn covers(&self, account: &AccountId) -> bool {
        hash::common_prefix_len(&self.prefix, account.as_bytes()) >= self.depth
    }

    fn prefix_len(depth: u8) -> usize {
        (depth as usize).div_ceil(8)
    }

    /// Append `depth ‖ prefix[..ceil(depth/8)]`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.depth);
        out.extend_from_slice(&self.prefix[..Self::prefix_len(self.depth)]);
    }

    /// Decode a position from the front of `buf`; returns it and the bytes used.
    pub(crate) fn decode(buf: &[u8]) -> Result<(Self, usize), LedgerError> {
        let (&depth, rest) = buf.split_first().ok_or_else(|| corrupt("empty position"))?;
        if depth > KEY_BITS {
            return Err(corrupt("position depth above 160"));
        }
        let n = Self::prefix_len(depth);
        let bytes = rest.get(..n).ok_or_else(|| corrupt("truncated position"))?;
        let mut prefix = [0u8; KEY_BYTES];
        prefix[..n].copy_from_slice(bytes);
        if hash::mask(&prefix, depth) != prefix {
            return Err(corrupt("position prefix has bits below its depth"));
        }
        Ok((Self { depth, prefix }, 1 + n))
    }
}

/// A node as read from the tree or the store, at some heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeView {
    /// An account.
    Leaf {
        account: AccountId,
        state: AccountState,
        hash: NodeHash,
    },
    /// A branch point: the digest and sum of everything below, and where its children sit.
    Inner {
        position: NodePosition,
        hash: NodeHash,
        sum: Balance,
        children: [NodePosition; 2],
    },
}

impl NodeView {
    /// The node's digest.
    pub fn hash(&self) -> NodeHash {
        match self {
            NodeView::Leaf { hash, .. } | NodeView::Inner { hash, .. } => *hash,
        }
    }

    /// The sum of balances under the node.
    pub fn sum(&self) -> Balance {
        match self {
            NodeView::Leaf { state, .. } => state.balance,
            NodeView::Inner { sum, .. } => *sum,
        }
    }

    /// The node's position.
    pub fn position(&self) -> NodePosition {
        match self {
            NodeView::Leaf { account, .. } => NodePosition::leaf(account),
            NodeView::Inner { position, .. } => *position,
        }
    }
}

pub(crate) fn corrupt(what: &str) -> LedgerError {
    LedgerError::Corrupt(what.to_owned())
}

const LEAF: u8 = 0;
const INNER: u8 = 1;
const TOMBSTONE: u8 = 2;
/// First byte of every node key.
pub(crate) const NODE_SPACE: u8 = b'n';

/// A stored record of one position at one heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Leaf(AccountState),
    Inner {
        hash: [u8; 32],
        sum: Balance,
        children: [NodePosition; 2],
    },
    Tombstone,
}

impl Record {
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Record::Leaf(s) => {
                out.push(LEAF);
                out.extend_from_slice(&s.balance.to_le_bytes());
                out.extend_from_slice(&s.nonce.to_le_bytes());
                out.extend_from_slice(&s.frozen.to_le_bytes());
            }
            Record::Inner {
                hash,
                sum,
                children,
            } => {
                out.push(INNER);
                out.extend_from_slice(hash);
                out.extend_from_slice(&sum.to_le_bytes());
                children[0].encode_into(out);
                children[1].encode_into(out);
            }
            Record::Tombstone => out.push(TOMBSTONE),
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        let (&tag, rest) = bytes
            .split_first()
            .ok_or_else(|| corrupt("empty node record"))?;
        match tag {
            LEAF => {
                if rest.len() != 24 {
                    return Err(corrupt("leaf record is not 25 bytes"));
                }
                Ok(Record::Leaf(AccountState {
                    balance: u64_le(&rest[0..8]),
                    nonce: u64_le(&rest[8..16]),
                    frozen: u64_le(&rest[16..24]),
                }))
            }
            INNER => {
                if rest.len() < 40 {
                    return Err(corrupt("truncated inner record"));
                }
                let mut hash = [0u8; 32];
                hash.copy_from_slice(&rest[..32]);
                let sum = u64_le(&rest[32..40]);
                let (left, n) = NodePosition::decode(&rest[40..])?;
                let (right, m) = NodePosition::decode(&rest[40 + n..])?;
                if 40 + n + m != rest.len() {
                    return Err(corrupt("trailing bytes in inner record"));
                }
                Ok(Record::Inner {
                    hash,
                    sum,
                    children: [left, right],
                })
            }
            TOMBSTONE if rest.is_empty() => Ok(Record::Tombstone),
            _ => Err(corrupt("unknown node record tag")),
        }
    }

    /// The public view of this record at `position` (`None` for a tombstone).
    pub(crate) fn view(&self, position: &NodePosition) -> Option<NodeView> {
        match *self {
            Record::Leaf(state) => Some(NodeView::Leaf {
                account: position.prefix(),
                state,
                hash: NodeHash::from_bytes(hash::leaf_hash(position.prefix_bytes(), &state)),
            }),
            Record::Inner {
                hash,
                sum,
                children,
            } => Some(NodeView::Inner {
                position: *position,
                hash: NodeHash::from_bytes(hash),
                sum,
                children,
            }),
            Record::Tombstone => None,
        }
    }
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

/// `'n' ‖ position ‖ heartbeat (BE)`.
pub(crate) fn node_key(position: &NodePosition, heartbeat: Heartbeat) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + KEY_BYTES + 8);
    k.push(NODE_SPACE);
    position.encode_into(&mut k);
    k.extend_from_slice(&heartbeat.to_be_bytes());
    k
}

/// Split a node key into its position and heartbeat.
pub(crate) fn decode_node_key(key: &[u8]) -> Result<(NodePosition, Heartbeat), LedgerError> {
    let rest = match key.split_first() {
        Some((&NODE_SPACE, rest)) => rest,
        _ => return Err(corrupt("not a node key")),
    };
    let (pos, n) = NodePosition::decode(rest)?;
    let hb = rest
        .get(n..)
        .filter(|b| b.len() == 8)
        .ok_or_else(|| corrupt("bad node key"))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(hb);
    Ok((pos, u64::from_be_bytes(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let a = NodePosition::from_raw(13, &[0xab; 20]);
        let b = NodePosition::leaf(&AccountId::from_bytes([7; 20]));
        for r in [
            Record::Leaf(AccountState {
                balance: 1,
                nonce: 2,
                frozen: 3,
            }),
            Record::Inner {
                hash: [5; 32],
                sum: 99,
                children: [a, b],
            },
            Record::Tombstone,
        ] {
            let mut buf = Vec::new();
            r.encode_into(&mut buf);
            assert_eq!(Record::decode(&buf).unwrap(), r);
            for cut in 0..buf.len() {
                assert!(Record::decode(&buf[..cut]).is_err(), "truncated at {cut}");
            }
            buf.push(0);
            assert!(Record::decode(&buf).is_err(), "trailing byte");
        }
        assert!(Record::decode(&[9]).is_err());
        // a prefix with bits below its depth is not canonical
        assert!(NodePosition::decode(&[4, 0xff]).is_err());
        assert!(NodePosition::decode(&[161]).is_err());
    }

    #[test]
    fn node_keys_round_trip_and_versions_of_a_position_are_contiguous() {
        let p = NodePosition::from_raw(16, &[0x12; 20]);
        let k = node_key(&p, 7);
        assert_eq!(k.len(), 1 + 1 + 2 + 8);
        assert_eq!(decode_node_key(&k).unwrap(), (p, 7));
        // a deeper position whose bytes start like p's key must not sort between p's versions
        let q = NodePosition::from_raw(
            24,
            &[
                0x12, 0x12, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        );
        let kq = node_key(&q, 3);
        assert!(!(node_key(&p, 0) < kq && kq < node_key(&p, u64::MAX)));
        assert!(decode_node_key(&k[..k.len() - 1]).is_err());
    }
}

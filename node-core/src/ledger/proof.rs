//! Account proofs (L5): a user shows its account state and a proof; anyone holding only the
//! published [`Root`] (digest and total) checks it.
//!
//! A proof is the path the account's bits take from the root: for each inner node on it, the
//! node's depth and the sibling's digest and sum, and at the end the leaf found there. If the
//! leaf is the account, it is an inclusion proof; if the leaf is another account whose bits
//! agree with the requested one at every branch depth, it is a non-inclusion proof (in a
//! compressed trie the requested account could only have been at that leaf). Because every
//! inner digest commits to both children's sums, recomputing the root also recomputes the
//! total, so a proven balance is consistent with the published total.
//!
//! Encoding (version 1), integers as minimal LEB128 varints unless sized:
//! ```text
//! 0x01 ‖ kind:u8 (0 empty ledger, 1 leaf) ‖ [account:20 ‖ balance ‖ nonce ‖ frozen]
//!      ‖ steps:u8 ‖ steps × (depth:u8 ‖ sibling digest:32 ‖ sibling sum)
//! ```
//! At 1M random accounts a path has about 21 steps, so a proof is about 21 × 37 + 30 bytes.

use super::hash::{self, KEY_BITS, bit};
use super::{AccountId, AccountState, Balance, NodeHash, Root};

const VERSION: u8 = 1;
const KIND_EMPTY: u8 = 0;
const KIND_LEAF: u8 = 1;

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The bytes end before the proof does.
    #[error("proof is truncated")]
    Truncated,
    /// Bytes follow a complete proof.
    #[error("proof has trailing bytes")]
    TrailingBytes,
    /// An encoding this version does not know, or a non-canonical one.
    #[error("proof is malformed: {0}")]
    Malformed(&'static str),
    /// Branch depths must strictly increase from the root and stay below 160.
    #[error("proof branch depths are not strictly increasing below 160")]
    BadDepth,
    /// The leaf shown is not on the requested account's path.
    #[error("proof is for a different account path")]
    WrongPath,
    /// The sums along the path overflow.
    #[error("proof sums overflow")]
    SumOverflow,
    /// Recomputed digest or total differs from the published root.
    #[error("proof does not match the published root digest and total")]
    RootMismatch,
}

/// What a valid proof shows about the requested account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The account exists with this state.
    Included(AccountState),
    /// The account does not exist.
    Absent,
}

/// One inner node on the path: where it branches and what hangs on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProofStep {
    pub(crate) depth: u8,
    pub(crate) sibling_hash: [u8; 32],
    pub(crate) sibling_sum: Balance,
}

/// An inclusion or non-inclusion proof for one account against one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    leaf: Option<(AccountId, AccountState)>,
    /// From the root down.
    steps: Vec<ProofStep>,
}

impl AccountProof {
    pub(crate) fn empty_tree() -> Self {
        Self {
            leaf: None,
            steps: Vec::new(),
        }
    }

    pub(crate) fn new(leaf: AccountId, state: AccountState, steps: Vec<ProofStep>) -> Self {
        Self {
            leaf: Some((leaf, state)),
            steps,
        }
    }

    /// The leaf at the end of the path (the account itself, or its stand-in for absence).
    pub fn leaf(&self) -> Option<(AccountId, AccountState)> {
        self.leaf
    }

    /// Number of inner nodes on the path.
    pub fn path_len(&self) -> usize {
        self.steps.len()
    }

    /// Check the proof for `account` against a published root; needs nothing else.
    pub fn verify(&self, account: &AccountId, root: &Root) -> Result<Verified, ProofError> {
        let Some((leaf, state)) = &self.leaf else {
            if !self.steps.is_empty() {
                return Err(ProofError::Malformed("empty-ledger proof with steps"));
            }
            return if root.digest == NodeHash::EMPTY && root.total == 0 {
                Ok(Verified::Absent)
            } else {
                Err(ProofError::RootMismatch)
            };
        };
        let (k, lk) = (account.as_bytes(), leaf.as_bytes());
        let mut prev: Option<u8> = None;
        for s in &self.steps {
            if s.depth >= KEY_BITS || prev.is_some_and(|p| s.depth <= p) {
                return Err(ProofError::BadDepth);
            }
            if bit(k, s.depth) != bit(lk, s.depth) {
                return Err(ProofError::WrongPath);
            }
            prev = Some(s.depth);
        }
        let mut digest = hash::leaf_hash(lk, state);
        let mut sum = state.balance;
        for s in self.steps.iter().rev() {
            let prefix = hash::mask(lk, s.depth);
            let sib = (&s.sibling_hash, s.sibling_sum);
            let next = sum
                .checked_add(s.sibling_sum)
                .ok_or(ProofError::SumOverflow)?;
            digest = if bit(lk, s.depth) {
                hash::inner_hash(s.depth, &prefix, sib, (&digest, sum))
            } else {
                hash::inner_hash(s.depth, &prefix, (&digest, sum), sib)
            };
            sum = next;
        }
        if digest != *root.digest.as_bytes() || sum != root.total {
            return Err(ProofError::RootMismatch);
        }
        Ok(if lk == k {
            Verified::Included(*state)
        } else {
            Verified::Absent
        })
    }

    /// The compact canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.steps.len() * 38);
        out.push(VERSION);
        match &self.leaf {
            None => out.push(KIND_EMPTY),
            Some((a, s)) => {
                out.push(KIND_LEAF);
                out.extend_from_slice(a.as_bytes());
                put_varint(&mut out, s.balance);
                put_varint(&mut out, s.nonce);
                put_varint(&mut out, s.frozen);
            }
        }
        // at most 160 steps: depths are strictly increasing below 160
        out.push(self.steps.len() as u8);
        for s in &self.steps {
            out.push(s.depth);
            out.extend_from_slice(&s.sibling_hash);
            put_varint(&mut out, s.sibling_sum);
        }
        out
    }

    /// Decode [`AccountProof::encode`]'s output; any other bytes give an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProofError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(ProofError::Malformed("unknown proof version"));
        }
        let leaf = match r.u8()? {
            KIND_EMPTY => None,
            KIND_LEAF => {
                let mut a = [0u8; 20];
                a.copy_from_slice(r.take(20)?);
                let state = AccountState {
                    balance: r.varint()?,
                    nonce: r.varint()?,
                    frozen: r.varint()?,
                };
                Some((AccountId::from_bytes(a), state))
            }
            _ => return Err(ProofError::Malformed("unknown proof kind")),
        };
        let n = r.u8()? as usize;
        if n > KEY_BITS as usize {
            return Err(ProofError::BadDepth);
        }
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            let depth = r.u8()?;
            let mut sibling_hash = [0u8; 32];
            sibling_hash.copy_from_slice(r.take(32)?);
            steps.push(ProofStep {
                depth,
                sibling_hash,
                sibling_sum: r.varint()?,
            });
        }
        if !r.0.is_empty() {
            return Err(ProofError::TrailingBytes);
        }
        Ok(Self { leaf, steps })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProofError> {
        if self.0.len() < n {
            return Err(ProofError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, ProofError> {
        Ok(self.take(1)?[0])
    }

    /// A minimal LEB128 u64: no trailing zero groups, no bits beyond 64.
    fn varint(&mut self) -> Result<u64, ProofError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            let part = (b & 0x7f) as u64;
            if i == 9 && part > 1 {
                return Err(ProofError::Malformed("varint overflows u64"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(ProofError::Malformed("non-minimal varint"));
                }
                return Ok(v);
            }
        }
        Err(ProofError::Malformed("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SumTree, Update};
    use super::*;

    fn id(b: u8) -> AccountId {
        AccountId::from_bytes([b; 20])
    }

    fn tree() -> SumTree {
        let mut t = SumTree::new();
        t.apply((1..=40u8).map(|i| {
            (
                id(i * 3),
                Update::Set(AccountState {
                    balance: i as u64 * 100,
                    nonce: i as u64,
                    frozen: i as u64,
                }),
            )
        }))
        .unwrap();
        t
    }

    #[test]
    fn inclusion_and_absence_verify_and_round_trip() {
        let t = tree();
        let root = t.root();
        let p = t.prove(&id(30));
        assert_eq!(
            p.verify(&id(30), &root).unwrap(),
            Verified::Included(t.get(&id(30)).unwrap())
        );
        let bytes = p.encode();
        assert_eq!(AccountProof::decode(&bytes).unwrap(), p);
        let absent = t.prove(&id(31));
        assert_eq!(absent.verify(&id(31), &root).unwrap(), Verified::Absent);
        assert_eq!(
            SumTree::new()
                .prove(&id(1))
                .verify(&id(1), &SumTree::new().root())
                .unwrap(),
            Verified::Absent
        );
    }

    #[test]
    fn wrong_root_total_or_account_fails() {
        let t = tree();
        let root = t.root();
        let p = t.prove(&id(30));
        let wrong_total = Root {
            total: root.total + 1,
            ..root
        };
        assert_eq!(
            p.verify(&id(30), &wrong_total),
            Err(ProofError::RootMismatch)
        );
        let wrong_digest = Root {
            digest: NodeHash::from_bytes([1; 32]),
            ..root
        };
        assert_eq!(
            p.verify(&id(30), &wrong_digest),
            Err(ProofError::RootMismatch)
        );
        // an inclusion proof of one account is not evidence about an account elsewhere
        assert!(p.verify(&id(3), &root).is_err());
        // the empty-ledger proof does not verify against a non-empty root
        assert_eq!(
            SumTree::new().prove(&id(1)).verify(&id(1), &root),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn every_single_byte_flip_or_truncation_is_rejected() {
        let t = tree();
        let root = t.root();
        let bytes = t.prove(&id(60)).encode();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                if let Ok(p) = AccountProof::decode(&b) {
                    assert!(
                        p.verify(&id(60), &root).is_err(),
                        "flip {flip:#x} at byte {i} verified"
                    );
                }
            }
        }
        for cut in 0..bytes.len() {
            assert!(AccountProof::decode(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(AccountProof::decode(&long), Err(ProofError::TrailingBytes));
    }

    #[test]
    fn varints_are_minimal() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Reader(&b).varint().unwrap(), v);
        }
        assert!(Reader(&[0x80, 0x00]).varint().is_err());
        assert!(Reader(&[0xff; 11]).varint().is_err());
        assert!(
            Reader(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
    }
}

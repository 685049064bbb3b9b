//! The org ledger core: a sparse Merkle **sum** tree over 160-bit account IDs, versioned
//! by heartbeat, with compact proofs (SPEC §8: L1, L2, L5, and the data-structure part of
//! L4 and L8).
//!
//! # What this module owns
//!
//! | file | owns |
//! |---|---|
//! | [`hash`] | node hashing with domain separation; bit arithmetic on account paths |
//! | [`node`] | the canonical fixed layout of node records and their store keys |
//! | [`tree`] | [`SumTree`]: the pure, sans-IO state machine (current state in memory) |
//! | [`proof`] | [`AccountProof`]: compact encoding and a verifier that needs only a [`Root`] |
//! | [`store`] | [`LedgerStore`]: the tree persisted on a caller-supplied `sled::Tree`, history, pruning |
//! | [`group`] | [`GroupId`]: 8-level prefix subtrees, their independent roots, the 256-node split |
//!
//! # The tree (L1)
//!
//! A binary Patricia trie: the path of an account is its 160 ID bits, most significant
//! first. Single-child paths are compressed, so an inner node sits at the bit *depth* where
//! its two subtrees first differ and keeps its *position* (depth + the masked prefix shared
//! by everything below it). Positions are absolute, which gives three useful properties:
//!
//! * the tree for a set of accounts is unique, so the root does not depend on insertion
//!   order or on batch boundaries;
//! * when a subtree collapses (a deletion leaves an inner node with one child) the surviving
//!   child keeps its position and its stored record: only its new parent is rewritten;
//! * any subtree, in particular a node group (L4), can be hashed independently from its own
//!   accounts and gives the same digest it has inside the whole tree.
//!
//! Every node hash commits to the sum of the balances below it (leaf: its balance; inner:
//! both children's hashes *and* sums, plus its own position), so an inclusion proof proves
//! a balance consistent with the published total. Hashing is keyed blake3 with a leaf/inner
//! tag byte ([`hash`]).
//!
//! # Invariants
//!
//! * Balances are `u64` (the seed's 8-byte amount field, §八); the total of all balances
//!   must fit in `u64` too. A batch that would overflow it is rejected whole with
//!   [`LedgerError::SumOverflow`] before anything changes, so no sum below the root can
//!   overflow either (all balances are non-negative).
//! * `frozen <= balance` for every account (frozen funds are part of the balance that
//!   bookkeeping deposits and disputes lock, seed §6.4).
//! * The heartbeat number advances by exactly one per batch that changes the root, and not
//!   at all for a batch that changes nothing (L2). Heartbeat 0 is the empty ledger.
//! * A heartbeat is either completely on disk (its nodes, its root record and its journal
//!   in one atomic sled batch) or absent.
//!
//! # Heartbeat versions (L2)
//!
//! Each node record is stored under `position ‖ heartbeat-it-was-written`, so a snapshot
//! writes only the nodes the batch changed, and reading a node "as of heartbeat h" is a
//! single backwards seek to the newest record of that position at or before h (the seed's
//! "time-space mirror", modelled on leveldb sequence numbers). Removed positions get a
//! tombstone. Each heartbeat also writes a journal of the records it made stale, so pruning
//! old heartbeats deletes exactly those records without scanning the store.

pub mod group;
pub mod hash;
pub mod node;
pub mod proof;
pub mod store;
pub mod tree;

pub use group::{GroupId, GroupPlan, GroupSummary, MAX_GROUP_NODES};
pub use node::{NodePosition, NodeView};
pub use proof::{AccountProof, ProofError, Verified};
pub use store::{Commit, LedgerConfig, LedgerStore, StoreStats};
pub use tree::{Changeset, SumTree};

crate::define_id!(
    /// A ledger account: the 160-bit hash of a member's public key (seed §五, L1).
    AccountId, 20
);

crate::define_id!(
    /// A blake3 digest of a ledger tree node; the root's digest is what gets published.
    NodeHash, 32
);

impl NodeHash {
    /// The digest of the empty ledger (no accounts, total 0).
    pub const EMPTY: NodeHash = NodeHash::from_bytes([0; 32]);
}

/// An amount of the org's token. `u64`, like the seed's 8-byte amount field.
pub type Balance = u64;

/// A heartbeat sequence number: the version of the ledger (L2).
pub type Heartbeat = u64;

/// What the ledger keeps for one account.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AccountState {
    /// Everything the account owns, frozen part included.
    pub balance: Balance,
    /// Count of transfers the account has signed: replay protection for L3.
    pub nonce: u64,
    /// The part of `balance` locked as a deposit or by a dispute (seed §6.4).
    pub frozen: Balance,
}

impl AccountState {
    /// An account holding `balance`, nothing frozen, nonce 0.
    pub const fn with_balance(balance: Balance) -> Self {
        Self {
            balance,
            nonce: 0,
            frozen: 0,
        }
    }
}

/// One change to one account in a heartbeat's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Create the account or replace its state.
    Set(AccountState),
    /// Remove the account from the tree (a no-op if it does not exist).
    Remove,
}

/// The published summary of the ledger at one heartbeat: all a verifier needs (L5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Root {
    /// The heartbeat this root belongs to.
    pub heartbeat: Heartbeat,
    /// The root node's digest ([`NodeHash::EMPTY`] for an empty ledger).
    pub digest: NodeHash,
    /// The sum of every balance in the ledger.
    pub total: Balance,
}

/// What went wrong in the ledger, in the ledger's words.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The batch would make the ledger total exceed `u64::MAX`; nothing was applied.
    #[error("the ledger total would overflow a u64; batch rejected")]
    SumOverflow,
    /// An account state with more frozen than it owns; nothing was applied.
    #[error("account {account}: frozen {frozen} exceeds balance {balance}; batch rejected")]
    FrozenExceedsBalance {
        account: AccountId,
        balance: Balance,
        frozen: Balance,
    },
    /// The heartbeat is older than the retained window.
    #[error("heartbeat {requested} was pruned (oldest kept: {oldest})")]
    Pruned {
        requested: Heartbeat,
        oldest: Heartbeat,
    },
    /// The heartbeat has not happened yet.
    #[error("heartbeat {requested} is in the future (latest: {latest})")]
    FutureHeartbeat {
        requested: Heartbeat,
        latest: Heartbeat,
    },
    /// A record read from disk does not decode or does not match the tree.
    #[error("corrupt ledger record: {0}")]
    Corrupt(String),
    /// A proof that does not decode or does not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The sled store failed.
    #[error("ledger storage: {0}")]
    Storage(#[from] sled::Error),
}

//! # Leither node core
//!
//! Everything a Leither node does lives in this crate; the `leither` binary and the
//! desktop shell are thin front ends over it. The architecture, lowest layer first:
//!
//! | layer | module | owns |
//! |---|---|---|
//! | encoding | [`encoding`] | the one text form of every ID |
//! | storage | `store` | blake3-addressed blocks on sled, refcounts, GC |
//! | ledger | [`ledger`] | org ledger: sparse Merkle sum tree, heartbeat versions, proofs, node groups |
//!
//! Arrows point one way: `api → (social, org, apps, credit, ledger) → (mimei, net) →
//! (store, identity)`. Nothing lower imports anything higher.

pub mod encoding;
pub mod ledger;

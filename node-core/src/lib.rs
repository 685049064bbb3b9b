//! # Leither node core
//!
//! Everything a Leither node does lives in this crate; the `leither` binary and the
//! desktop shell are thin front ends over it. The architecture, lowest layer first:
//!
//! | layer | module | owns |
//! |---|---|---|
//! | encoding | [`encoding`] | the one text form of every ID |
//! | identity | [`identity`] | user and node keys and IDs, recovery phrase, signed envelopes, device certificates, keyring / encrypted key file |
//! | storage | `store` | blake3-addressed blocks on sled, refcounts, GC |
//!
//! Arrows point one way: `api → (social, org, apps, credit, ledger) → (mimei, net) →
//! (store, identity)`. Nothing lower imports anything higher.

pub mod api;
pub mod config;
pub mod encoding;
pub mod fsutil;
pub mod identity;
pub mod mimei;
pub mod node;
pub mod org;
pub mod social;
pub mod store;

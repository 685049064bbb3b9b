//! # Leither node core
//!
//! Everything a Leither node does lives in this crate; the `leither` binary and the
//! desktop shell are thin front ends over it, and both reach it through one API.
//!
//! | layer | module | owns |
//! |---|---|---|
//! | face | [`api`] | HTTP/JSON + WebSocket on loopback, OpenAPI, access checks, error codes |
//! | wiring | [`node`], [`config`], [`run`] | one running node: its parts, its configuration, starting it (CLI and desktop) |
//! | ledger | [`ledger`] | org ledger: sparse Merkle sum tree, heartbeat versions, proofs, node groups |
//! | people | [`people`], [`social`], [`org`] | profile, friends, sealed messages, stream; organizations and their chat; the service that queues their records for the network ([`people::Courier`]) |
//! | network | [`net`] | libp2p swarm actor, signed DHT records, replication, names, messages |
//! | data | [`mimei`] | versioned objects: file tree, database, versions, diff, fork, split, rights |
//! | storage | [`store`] | blake3-addressed blocks on sled + fsynced pack files, refcounts, GC, chunked blobs |
//! | keys | [`identity`] | user/node keys, recovery phrase, signed envelopes, sealed boxes, keyring/key file |
//! | basics | [`encoding`], [`fsutil`] | the one text form of every ID; atomic private file writes |
//!
//! Arrows point one way: `api → people → (social, org) → mimei → (store, identity)`. Nothing
//! lower imports anything higher. The layers above storage are *sans-IO* where they
//! can be: `social` and `org` turn actions and received records into state changes and
//! records to send, and the network (when it is wired) only carries them.
//!
//! Invariants the parts keep together:
//! - a version of a Mimei is either complete on disk or absent, and never changes;
//! - every block read is checked against its digest, every record from elsewhere
//!   against its signature, before anything uses it;
//! - a write is durable when the call that made it returns.

pub mod api;
pub mod apps;
pub mod config;
pub mod encoding;
pub mod fsutil;
pub mod identity;
pub mod ledger;
pub mod mimei;
pub mod net;
pub mod node;
pub mod org;
pub mod people;
pub mod run;
pub mod social;
pub mod store;

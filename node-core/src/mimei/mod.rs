//! Mimei: versioned data objects (SPEC M1–M8).
//!
//! A Mimei has a stable [`MimeiId`] and two spaces of its own: a file tree and a
//! key-value database. Both have a mutable working state, `cur`, and immutable
//! numbered versions made by [`Mimeis::backup`] (`0, 1, 2, …`); `last` names the newest
//! version and `release` the one marked as published (M3).
//!
//! ## How it is stored
//! All state lives in the node's [`Store`]: blocks for content, and metadata keys in
//! the store's shared tree under these prefixes (each followed by the 32-byte ID):
//!
//! | prefix | key rest | value |
//! |---|---|---|
//! | `I` | – | [`MimeiInfo`] |
//! | `H` | – | [`Heads`]: next version number, `last`, `release` |
//! | `V` | version (u64 BE) | [`VersionRecord`] |
//! | `F` | path (names joined by NUL) | entry of the `cur` file tree (file blob or reference) |
//! | `D` | key bytes | value of the `cur` database |
//! | `L` | target ID | reference count to another Mimei (M6) |
//! | `T` | path | stat cache of [`Mimeis::import_dir`]: a hint, checked against `F` |
//!
//! `cur` is an index (like git's): a write changes one key and the reference counts of
//! the blobs involved. A backup turns the index into JSON directory documents hashed
//! Merkle-style (M4) and the database into a content-defined tree of blocks (M5), so a
//! version is two root digests and unchanged parts are shared with earlier versions.
//!
//! ## Invariants
//! - A version is complete on disk or absent: its record, its blocks' reference counts
//!   and the heads change in one atomic, flushed store transaction.
//! - Versions never change once made; only `cur` is written.
//! - Every entry of `cur` and every version holds one reference on what it points at, so
//!   store GC never frees a block that `cur` or any version needs.

mod batch;
mod db;
mod diff;
mod fs;
mod info;
mod owned;
mod path;
mod public;
mod refs;
mod replica;
mod transfer;
mod tree;
mod verify;
mod version;

pub use batch::{BatchOp, MAX_BATCH_OPS};
pub use db::{DbEntry, DbRange, MAX_DB_KEY_LEN, MAX_DB_VALUE_LEN};
pub use diff::{Change, DbChange, Diff, DiffEntry};
pub use fs::{DirEntry, EntryKind, FileStat};
pub use info::{
    MAX_FIELD_LEN, MimeiId, MimeiInfo, MimeiRef, NewMimei, Origin, Perm, Perms, Rights, Role,
};
pub use owned::{DbOps, OwnedDb};
pub use path::MimeiPath;
pub use replica::{BlockKind, block_children, version_digest, version_roots};
pub use transfer::{ExportStats, ImportStats, Progress};
pub use verify::VerifyReport;
pub use version::{Heads, VersionRecord, VersionRef};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::identity::UserId;
use crate::store::{BlobRef, Store, StoreError, WriteTxn};

/// What went wrong with a Mimei operation.
#[derive(Debug, thiserror::Error)]
pub enum MimeiError {
    #[error("no Mimei {0}")]
    NotFound(MimeiId),
    #[error("Mimei {0} already exists (same author, app type, ext and mark)")]
    AlreadyExists(MimeiId),
    #[error("Mimei {id} has no version {version}")]
    NoSuchVersion { id: MimeiId, version: String },
    #[error("version {0} is a backup and cannot be written; write to `cur`")]
    ReadOnlyVersion(String),
    #[error("no file or directory at `{0}`")]
    NoSuchPath(String),
    #[error("`{0}` is a directory")]
    IsADirectory(String),
    #[error("`{0}` is a file, not a directory")]
    NotADirectory(String),
    #[error("`{0}` already exists")]
    PathExists(String),
    #[error("`{0}` is a reference to Mimei {1}, not a file")]
    IsAReference(String, MimeiId),
    #[error("invalid path {path:?}: {why}")]
    InvalidPath { path: String, why: String },
    #[error("invalid {field}: {why}")]
    InvalidField { field: &'static str, why: String },
    #[error("{what} of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        max: usize,
    },
    #[error("permission denied: {perm:?} on Mimei {id}")]
    PermissionDenied { id: MimeiId, perm: Perm },
    #[error("stored Mimei data is malformed: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = MimeiError> = std::result::Result<T, E>;

/// Something that happened to a Mimei, for live updates (WebSocket, UI, sync).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MimeiEvent {
    Created { id: MimeiId },
    FilesChanged { id: MimeiId },
    DbChanged { id: MimeiId },
    Backup { id: MimeiId, version: u64 },
    Released { id: MimeiId, version: u64 },
    RightsChanged { id: MimeiId },
}

/// An entry of the `cur` file index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Entry {
    File(BlobRef),
    /// Part of this Mimei that was split off into another (M6).
    Link(MimeiId),
}

/// Handle to all Mimei of a node. Cheap to clone.
#[derive(Clone)]
pub struct Mimeis {
    store: Store,
    events: broadcast::Sender<MimeiEvent>,
}

pub(crate) mod prefix {
    pub const INFO: u8 = b'I';
    pub const HEADS: u8 = b'H';
    pub const VERSION: u8 = b'V';
    pub const FILE: u8 = b'F';
    pub const DB: u8 = b'D';
    pub const LINK: u8 = b'L';
    /// Stat cache of `import_dir` (path → local file's size, times, inode, blob).
    pub const STAT: u8 = b'T';
}

pub(crate) fn key(prefix: u8, id: &MimeiId, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33 + rest.len());
    k.push(prefix);
    k.extend_from_slice(id.as_bytes());
    k.extend_from_slice(rest);
    k
}

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap_or_default()
}

fn dec<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| MimeiError::Corrupt(format!("{what}: {e}")))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Mimeis {
    pub fn new(store: Store) -> Self {
        let (events, _) = broadcast::channel(1024);
        Mimeis { store, events }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Live events of all Mimei.
    pub fn subscribe(&self) -> broadcast::Receiver<MimeiEvent> {
        self.events.subscribe()
    }

    fn emit(&self, e: MimeiEvent) {
        // No subscribers is fine.
        let _ = self.events.send(e);
    }

    /// Create a Mimei owned by `author` (M1). Its ID follows from the fields, so
    /// creating the same one twice is an error.
    pub fn create(&self, author: &UserId, new: &NewMimei) -> Result<MimeiInfo> {
        let mut txn = self.store.write();
        let info = self.create_in(&mut txn, author, new, None)?;
        txn.commit()?;
        self.emit(MimeiEvent::Created { id: info.id });
        Ok(info)
    }

    fn create_in(
        &self,
        txn: &mut WriteTxn<'_>,
        author: &UserId,
        new: &NewMimei,
        origin: Option<Origin>,
    ) -> Result<MimeiInfo> {
        for (field, value) in [
            ("app_type", &new.app_type),
            ("ext", &new.ext),
            ("mark", &new.mark),
        ] {
            if value.len() > MAX_FIELD_LEN {
                return Err(MimeiError::InvalidField {
                    field,
                    why: format!("longer than {MAX_FIELD_LEN} bytes"),
                });
            }
            if value.chars().any(char::is_control) {
                return Err(MimeiError::InvalidField {
                    field,
                    why: "contains control characters".into(),
                });
            }
        }
        let id = MimeiId::derive(author, &new.app_type, &new.ext, &new.mark);
        if txn.get(&key(prefix::INFO, &id, &[]))?.is_some() {
            return Err(MimeiError::AlreadyExists(id));
        }
        let info = MimeiInfo {
            id,
            author: *author,
            app_type: new.app_type.clone(),
            ext: new.ext.clone(),
            mark: new.mark.clone(),
            created: now_ms(),
            rights: new.rights.unwrap_or_default(),
            members: Default::default(),
            origin,
        };
        txn.insert(key(prefix::INFO, &id, &[]), enc(&info));
        txn.insert(key(prefix::HEADS, &id, &[]), enc(&Heads::default()));
        Ok(info)
    }

    /// The info of a Mimei.
    pub fn info(&self, id: &MimeiId) -> Result<MimeiInfo> {
        let bytes = self
            .store
            .get(&key(prefix::INFO, id, &[]))?
            .ok_or(MimeiError::NotFound(*id))?;
        dec(&bytes, "Mimei info")
    }

    /// Every Mimei on this node.
    pub fn all(&self) -> Result<Vec<MimeiInfo>> {
        self.store
            .scan_prefix(&[prefix::INFO])?
            .iter()
            .map(|(_, v)| dec(v, "Mimei info"))
            .collect()
    }

    /// The info, if `who` may do `perm`.
    pub fn check(&self, who: &UserId, id: &MimeiId, perm: Perm) -> Result<MimeiInfo> {
        let info = self.info(id)?;
        if info.allows(who, perm) {
            Ok(info)
        } else {
            Err(MimeiError::PermissionDenied { id: *id, perm })
        }
    }

    fn check_in(
        &self,
        txn: &WriteTxn<'_>,
        who: &UserId,
        id: &MimeiId,
        perm: Perm,
    ) -> Result<MimeiInfo> {
        let bytes = txn
            .get(&key(prefix::INFO, id, &[]))?
            .ok_or(MimeiError::NotFound(*id))?;
        let info: MimeiInfo = dec(&bytes, "Mimei info")?;
        if info.allows(who, perm) {
            Ok(info)
        } else {
            Err(MimeiError::PermissionDenied { id: *id, perm })
        }
    }

    /// Change what members and guests may do (owner and admins only).
    pub fn set_rights(&self, who: &UserId, id: &MimeiId, rights: Rights) -> Result<MimeiInfo> {
        self.update_info(who, id, |info| info.rights = rights)
    }

    /// Give `user` a role, or remove it with `None` (owner and admins only).
    pub fn set_member(
        &self,
        who: &UserId,
        id: &MimeiId,
        user: &UserId,
        role: Option<Role>,
    ) -> Result<MimeiInfo> {
        if let Some(Role::Owner) = role {
            return Err(MimeiError::InvalidField {
                field: "role",
                why: "the author is the only owner".into(),
            });
        }
        self.update_info(who, id, |info| match role {
            Some(r) => {
                info.members.insert(*user, r);
            }
            None => {
                info.members.remove(user);
            }
        })
    }

    fn update_info(
        &self,
        who: &UserId,
        id: &MimeiId,
        f: impl FnOnce(&mut MimeiInfo),
    ) -> Result<MimeiInfo> {
        let mut txn = self.store.write();
        let mut info = self.check_in(&txn, who, id, Perm::Write)?;
        if !matches!(info.role_of(who), Role::Owner | Role::Admin) {
            return Err(MimeiError::PermissionDenied {
                id: *id,
                perm: Perm::Publish,
            });
        }
        f(&mut info);
        txn.insert(key(prefix::INFO, id, &[]), enc(&info));
        txn.commit()?;
        self.emit(MimeiEvent::RightsChanged { id: *id });
        Ok(info)
    }
}

#[cfg(test)]
mod tests;

//! Versions: `cur`, numbered backups, `last` and `release` (SPEC M3, M5).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{
    Entry, MimeiError, MimeiEvent, MimeiId, MimeiPath, MimeiRef, Mimeis, Perm, Result, db, dec,
    enc, key, now_ms, prefix, tree,
};
use crate::identity::UserId;
use crate::store::BlockHash;

/// Which state of a Mimei to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VersionRef {
    /// The live working state.
    #[default]
    Cur,
    /// The newest backup.
    Last,
    /// The backup marked as published.
    Release,
    /// A numbered backup.
    Number(u64),
}

impl VersionRef {
    /// Writes go to `cur` only.
    pub fn require_cur(&self) -> Result<()> {
        match self {
            VersionRef::Cur => Ok(()),
            other => Err(MimeiError::ReadOnlyVersion(other.to_string())),
        }
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Cur => f.write_str("cur"),
            VersionRef::Last => f.write_str("last"),
            VersionRef::Release => f.write_str("release"),
            VersionRef::Number(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for VersionRef {
    type Err = MimeiError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "cur" => Ok(VersionRef::Cur),
            "last" => Ok(VersionRef::Last),
            "release" => Ok(VersionRef::Release),
            n => n
                .parse()
                .map(VersionRef::Number)
                .map_err(|_| MimeiError::InvalidField {
                    field: "version",
                    why: format!("{n:?} is not cur, last, release or a version number"),
                }),
        }
    }
}

crate::string_schema!(VersionRef, "`cur`, `last`, `release` or a version number");

impl Serialize for VersionRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VersionRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = VersionRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("cur, last, release or a version number")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<VersionRef, E> {
                s.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<VersionRef, E> {
                Ok(VersionRef::Number(n))
            }
        }
        d.deserialize_any(V)
    }
}

/// The named versions of a Mimei.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Heads {
    /// Number the next backup will get.
    pub next: u64,
    pub last: Option<u64>,
    pub release: Option<u64>,
}

/// An immutable backup of a Mimei: the roots of its file tree and database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionRecord {
    pub number: u64,
    /// Root directory document of the file tree.
    pub fs_root: BlockHash,
    /// Root node of the database tree; `None` when the database is empty.
    pub db_root: Option<BlockHash>,
    pub files: u64,
    pub bytes: u64,
    pub db_entries: u64,
    /// References to other Mimei at backup time (M6).
    pub refs: Vec<MimeiRef>,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
    pub author: UserId,
    pub message: String,
}

/// What a [`VersionRef`] resolved to.
pub(crate) enum Resolved {
    Cur,
    Version(VersionRecord),
}

/// Longest backup message, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

impl Mimeis {
    /// The named versions of `id`.
    pub fn heads(&self, id: &MimeiId) -> Result<Heads> {
        let bytes = self
            .store
            .get(&key(prefix::HEADS, id, &[]))?
            .ok_or(MimeiError::NotFound(*id))?;
        dec(&bytes, "heads")
    }

    /// The record of version `n`.
    pub fn version(&self, id: &MimeiId, n: u64) -> Result<VersionRecord> {
        let bytes = self
            .store
            .get(&key(prefix::VERSION, id, &n.to_be_bytes()))?
            .ok_or_else(|| MimeiError::NoSuchVersion {
                id: *id,
                version: n.to_string(),
            })?;
        dec(&bytes, "version record")
    }

    pub(crate) fn resolve(&self, id: &MimeiId, v: VersionRef) -> Result<Resolved> {
        let heads = self.heads(id)?;
        let missing = || MimeiError::NoSuchVersion {
            id: *id,
            version: v.to_string(),
        };
        let n = match v {
            VersionRef::Cur => return Ok(Resolved::Cur),
            VersionRef::Last => heads.last.ok_or_else(missing)?,
            VersionRef::Release => heads.release.ok_or_else(missing)?,
            VersionRef::Number(n) => n,
        };
        self.version(id, n).map(Resolved::Version)
    }

    /// The number a reference names (`None` for `cur`).
    pub fn version_number(&self, id: &MimeiId, v: VersionRef) -> Result<Option<u64>> {
        Ok(match self.resolve(id, v)? {
            Resolved::Cur => None,
            Resolved::Version(r) => Some(r.number),
        })
    }

    /// Every version, oldest first.
    pub fn log(&self, who: &UserId, id: &MimeiId) -> Result<Vec<VersionRecord>> {
        self.check(who, id, Perm::Read)?;
        self.store
            .scan_prefix(&key(prefix::VERSION, id, &[]))?
            .iter()
            .map(|(_, v)| dec(v, "version record"))
            .collect()
    }

    /// Freeze `cur` into the next numbered version, which becomes `last`.
    pub fn backup(&self, who: &UserId, id: &MimeiId, message: &str) -> Result<VersionRecord> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(MimeiError::TooLarge {
                what: "backup message",
                size: message.len(),
                max: MAX_MESSAGE_LEN,
            });
        }
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Backup)?;
        let mut heads: Heads = dec(
            &txn.get(&key(prefix::HEADS, id, &[]))?
                .ok_or(MimeiError::NotFound(*id))?,
            "heads",
        )?;

        let mut files = Vec::new();
        let file_prefix = key(prefix::FILE, id, &[]);
        for (k, v) in txn.scan_prefix(&file_prefix)? {
            files.push((
                MimeiPath::from_key_bytes(&k[file_prefix.len()..])?,
                dec::<Entry>(&v, "file entry")?,
            ));
        }
        let tree = tree::build(&mut txn, &files)?;

        let db_prefix = key(prefix::DB, id, &[]);
        let rows = txn.scan_prefix(&db_prefix)?;
        let db_entries = rows.len() as u64;
        let db_root = db::build(
            &mut txn,
            rows.into_iter()
                .map(|(k, v)| (k[db_prefix.len()..].to_vec(), v)),
        )?;

        txn.incref(&tree.root)?;
        if let Some(r) = &db_root {
            txn.incref(r)?;
        }
        let refs = self.refs_in(&txn, id)?;
        let record = VersionRecord {
            number: heads.next,
            fs_root: tree.root,
            db_root,
            files: tree.files,
            bytes: tree.bytes,
            db_entries,
            refs,
            time: now_ms(),
            author: *who,
            message: message.to_string(),
        };
        txn.insert(
            key(prefix::VERSION, id, &record.number.to_be_bytes()),
            enc(&record),
        );
        heads.last = Some(record.number);
        heads.next += 1;
        txn.insert(key(prefix::HEADS, id, &[]), enc(&heads));
        txn.commit()?;
        self.emit(MimeiEvent::Backup {
            id: *id,
            version: record.number,
        });
        Ok(record)
    }

    /// Mark a backed-up version as the published `release`.
    pub fn release(&self, who: &UserId, id: &MimeiId, v: VersionRef) -> Result<Heads> {
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Publish)?;
        let n = match self.resolve(id, v)? {
            Resolved::Cur => {
                return Err(MimeiError::InvalidField {
                    field: "version",
                    why: "cur cannot be released; back it up first".into(),
                });
            }
            Resolved::Version(r) => r.number,
        };
        let mut heads: Heads = dec(
            &txn.get(&key(prefix::HEADS, id, &[]))?
                .ok_or(MimeiError::NotFound(*id))?,
            "heads",
        )?;
        heads.release = Some(n);
        txn.insert(key(prefix::HEADS, id, &[]), enc(&heads));
        txn.commit()?;
        self.emit(MimeiEvent::Released {
            id: *id,
            version: n,
        });
        Ok(heads)
    }
}

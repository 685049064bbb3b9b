//! Differences between two versions of a Mimei (either may be `cur`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::tree::{self, Node};
use super::version::Resolved;
use super::{Entry, MimeiId, MimeiPath, Mimeis, Perm, Result, VersionRef};
use crate::identity::UserId;
use crate::store::BlockHash;

/// How one path or key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Modified,
}

/// A changed file (or reference entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiffEntry {
    pub path: MimeiPath,
    pub change: Change,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<BlockHash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<BlockHash>,
}

/// A changed database key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DbChange {
    pub key: String,
    pub change: Change,
}

/// Everything that differs from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Diff {
    pub from: VersionRef,
    pub to: VersionRef,
    pub files: Vec<DiffEntry>,
    pub db: Vec<DbChange>,
}

fn entry_hash(e: &Entry) -> Option<BlockHash> {
    match e {
        Entry::File(b) => Some(b.hash),
        Entry::Link(_) => None,
    }
}

fn merge<K: Ord + Clone, V: PartialEq>(
    a: BTreeMap<K, V>,
    mut b: BTreeMap<K, V>,
) -> Vec<(K, Change, Option<V>, Option<V>)> {
    let mut out = Vec::new();
    for (k, va) in a {
        match b.remove(&k) {
            None => out.push((k, Change::Removed, Some(va), None)),
            Some(vb) if vb != va => out.push((k, Change::Modified, Some(va), Some(vb))),
            Some(_) => {}
        }
    }
    out.extend(
        b.into_iter()
            .map(|(k, vb)| (k, Change::Added, None, Some(vb))),
    );
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out
}

impl Mimeis {
    /// What changed from `from` to `to`, in files and in the database.
    pub fn diff(
        &self,
        who: &UserId,
        id: &MimeiId,
        from: VersionRef,
        to: VersionRef,
    ) -> Result<Diff> {
        self.check(who, id, Perm::Read)?;
        let files = merge(self.file_map(id, from)?, self.file_map(id, to)?)
            .into_iter()
            .map(|(path, change, old, new)| DiffEntry {
                path,
                change,
                old: old.as_ref().and_then(entry_hash),
                new: new.as_ref().and_then(entry_hash),
            })
            .collect();
        let db = merge(self.db_map(id, from)?, self.db_map(id, to)?)
            .into_iter()
            .map(|(key, change, _, _)| DbChange { key, change })
            .collect();
        Ok(Diff {
            from,
            to,
            files,
            db,
        })
    }

    /// Every file and reference entry of a version, by path.
    pub(crate) fn file_map(
        &self,
        id: &MimeiId,
        v: VersionRef,
    ) -> Result<BTreeMap<MimeiPath, Entry>> {
        Ok(match self.resolve(id, v)? {
            Resolved::Cur => self
                .cur_entries(id, &MimeiPath::root())?
                .into_iter()
                .collect(),
            Resolved::Version(r) => {
                let mut nodes = Vec::new();
                tree::walk(
                    &self.store,
                    &r.fs_root,
                    &MimeiPath::root(),
                    true,
                    &mut nodes,
                )?;
                nodes
                    .into_iter()
                    .filter_map(|(p, n)| match n {
                        Node::File(b) => Some((p, Entry::File(b))),
                        Node::Link(m) => Some((p, Entry::Link(m))),
                        Node::Dir(_) => None,
                    })
                    .collect()
            }
        })
    }

    fn db_map(&self, id: &MimeiId, v: VersionRef) -> Result<BTreeMap<String, Vec<u8>>> {
        let entries = match self.resolve(id, v)? {
            Resolved::Cur => self.db_cur_all(id)?,
            Resolved::Version(r) => self.db_all_at(r.db_root)?,
        };
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }
}

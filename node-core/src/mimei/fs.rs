//! A Mimei's file space (SPEC M4): write, read, list, move and delete in `cur`; read
//! and list at any version.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::tree::{self, Node};
use super::version::Resolved;
use super::{
    Entry, MimeiError, MimeiEvent, MimeiId, MimeiPath, Mimeis, Perm, Result, VersionRef, dec, enc,
    key, prefix,
};
use crate::identity::UserId;
use crate::store::{BlobReader, BlobRef, BlockHash, WriteTxn};

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    /// A reference to another Mimei left by a split (M6).
    Mimei,
}

/// One entry of a listing, or the answer of `stat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DirEntry {
    pub path: MimeiPath,
    pub kind: EntryKind,
    /// Size in bytes (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Content digest (files; directories in backed-up versions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<BlockHash>,
    /// Target of a reference entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mimei: Option<MimeiId>,
}

/// `stat` result (same shape as a listing entry).
pub type FileStat = DirEntry;

impl DirEntry {
    fn from_entry(path: MimeiPath, e: Entry) -> Self {
        match e {
            Entry::File(b) => DirEntry {
                path,
                kind: EntryKind::File,
                size: Some(b.size),
                hash: Some(b.hash),
                mimei: None,
            },
            Entry::Link(id) => DirEntry {
                path,
                kind: EntryKind::Mimei,
                size: None,
                hash: None,
                mimei: Some(id),
            },
        }
    }

    pub(crate) fn from_node(path: MimeiPath, n: Node) -> Self {
        match n {
            Node::File(b) => Self::from_entry(path, Entry::File(b)),
            Node::Link(id) => Self::from_entry(path, Entry::Link(id)),
            Node::Dir(h) => DirEntry {
                path,
                kind: EntryKind::Dir,
                size: None,
                hash: Some(h),
                mimei: None,
            },
        }
    }

    fn dir(path: MimeiPath) -> Self {
        DirEntry {
            path,
            kind: EntryKind::Dir,
            size: None,
            hash: None,
            mimei: None,
        }
    }
}

pub(super) fn file_key(id: &MimeiId, path: &MimeiPath) -> Vec<u8> {
    key(prefix::FILE, id, &path.key_bytes())
}

/// Key prefix of everything strictly inside directory `dir`.
fn dir_prefix(id: &MimeiId, dir: &MimeiPath) -> Vec<u8> {
    let mut k = key(prefix::FILE, id, &dir.key_bytes());
    if !dir.is_root() {
        k.push(0);
    }
    k
}

impl Mimeis {
    /// Write a file in `cur` from a reader (content is hashed and stored before the
    /// write lock is taken, so large writes do not block other writers).
    pub fn write_file(
        &self,
        who: &UserId,
        id: &MimeiId,
        path: &MimeiPath,
        content: impl Read,
    ) -> Result<DirEntry> {
        self.check(who, id, Perm::Write)?;
        if path.is_root() {
            return Err(MimeiError::IsADirectory("/".into()));
        }
        let mut stage = self.store.stage();
        let blob = BlobRef::put_reader(&mut stage, content)?;
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        check_can_place(&txn, id, path)?;
        self.set_entry(&mut txn, id, path, Some(Entry::File(blob)))?;
        txn.commit()?;
        drop(stage);
        self.emit(MimeiEvent::FilesChanged { id: *id });
        Ok(DirEntry::from_entry(path.clone(), Entry::File(blob)))
    }

    /// Replace (or with `None` remove) the index entry at `path`, keeping refcounts right.
    pub(crate) fn set_entry(
        &self,
        txn: &mut WriteTxn<'_>,
        id: &MimeiId,
        path: &MimeiPath,
        new: Option<Entry>,
    ) -> Result<()> {
        let k = file_key(id, path);
        if let Some(old) = txn.get(&k)?
            && let Entry::File(b) = dec::<Entry>(&old, "file entry")?
        {
            txn.decref(&b.hash)?;
        }
        match new {
            Some(e) => {
                if let Entry::File(b) = e {
                    txn.incref(&b.hash)?;
                }
                txn.insert(k, enc(&e));
            }
            None => txn.remove(k),
        }
        Ok(())
    }

    /// Open a file for reading at any version.
    pub fn read_file(
        &self,
        who: &UserId,
        id: &MimeiId,
        v: VersionRef,
        path: &MimeiPath,
    ) -> Result<BlobReader> {
        let st = self.stat(who, id, v, path)?;
        match (st.kind, st.hash, st.size) {
            (EntryKind::File, Some(hash), Some(size)) => {
                Ok(BlobReader::open(&self.store, BlobRef { hash, size })?)
            }
            (EntryKind::Dir, ..) => Err(MimeiError::IsADirectory(path.to_string())),
            (_, _, _) => match st.mimei {
                Some(m) => Err(MimeiError::IsAReference(path.to_string(), m)),
                None => Err(MimeiError::Corrupt(format!(
                    "entry `{path}` has no content"
                ))),
            },
        }
    }

    /// What `path` is, at any version.
    pub fn stat(
        &self,
        who: &UserId,
        id: &MimeiId,
        v: VersionRef,
        path: &MimeiPath,
    ) -> Result<DirEntry> {
        self.check(who, id, Perm::Read)?;
        let missing = || MimeiError::NoSuchPath(path.to_string());
        match self.resolve(id, v)? {
            Resolved::Version(r) => {
                let node = tree::lookup(&self.store, &r.fs_root, path)?.ok_or_else(missing)?;
                Ok(DirEntry::from_node(path.clone(), node))
            }
            Resolved::Cur => {
                if path.is_root() {
                    return Ok(DirEntry::dir(path.clone()));
                }
                if let Some(bytes) = self.store.get(&file_key(id, path))? {
                    return Ok(DirEntry::from_entry(
                        path.clone(),
                        dec(&bytes, "file entry")?,
                    ));
                }
                let inside = self.store.scan_prefix(&dir_prefix(id, path))?;
                if inside.is_empty() {
                    Err(missing())
                } else {
                    Ok(DirEntry::dir(path.clone()))
                }
            }
        }
    }

    /// The entries of directory `dir` at any version; all descendants if `recursive`.
    pub fn list(
        &self,
        who: &UserId,
        id: &MimeiId,
        v: VersionRef,
        dir: &MimeiPath,
        recursive: bool,
    ) -> Result<Vec<DirEntry>> {
        self.check(who, id, Perm::Read)?;
        match self.resolve(id, v)? {
            Resolved::Version(r) => {
                let start = match tree::lookup(&self.store, &r.fs_root, dir)? {
                    Some(Node::Dir(h)) => h,
                    Some(_) => return Err(MimeiError::NotADirectory(dir.to_string())),
                    None => return Err(MimeiError::NoSuchPath(dir.to_string())),
                };
                let mut out = Vec::new();
                tree::walk(&self.store, &start, dir, recursive, &mut out)?;
                Ok(out
                    .into_iter()
                    .map(|(p, n)| DirEntry::from_node(p, n))
                    .collect())
            }
            Resolved::Cur => {
                let entries = self.cur_entries(id, dir)?;
                if entries.is_empty() && !dir.is_root() {
                    return match self.store.get(&file_key(id, dir))? {
                        Some(_) => Err(MimeiError::NotADirectory(dir.to_string())),
                        None => Err(MimeiError::NoSuchPath(dir.to_string())),
                    };
                }
                let mut out: Vec<DirEntry> = Vec::new();
                for (path, e) in entries {
                    let rel_depth = path.names().len() - dir.names().len();
                    // Directories of cur are implicit: emit each once, before its contents.
                    for d in 1..rel_depth {
                        let sub = path.truncated(dir.names().len() + d);
                        if (recursive || d == 1)
                            && out.last().is_none_or(|l| !l.path.starts_with(&sub))
                        {
                            out.push(DirEntry::dir(sub));
                        }
                    }
                    if recursive || rel_depth == 1 {
                        out.push(DirEntry::from_entry(path, e));
                    }
                }
                Ok(out)
            }
        }
    }

    /// All `cur` index entries strictly inside `dir`, in tree order.
    pub(crate) fn cur_entries(
        &self,
        id: &MimeiId,
        dir: &MimeiPath,
    ) -> Result<Vec<(MimeiPath, Entry)>> {
        let base = key(prefix::FILE, id, &[]);
        self.store
            .scan_prefix(&dir_prefix(id, dir))?
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    MimeiPath::from_key_bytes(&k[base.len()..])?,
                    dec(&v, "file entry")?,
                ))
            })
            .collect()
    }

    /// Delete a file, a reference entry or a whole directory from `cur`.
    /// Returns how many entries were removed.
    pub fn delete(&self, who: &UserId, id: &MimeiId, path: &MimeiPath) -> Result<u64> {
        if path.is_root() {
            return Err(MimeiError::InvalidPath {
                path: "/".into(),
                why: "cannot delete the root".into(),
            });
        }
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        let mut removed = 0;
        if txn.get(&file_key(id, path))?.is_some() {
            self.set_entry(&mut txn, id, path, None)?;
            removed += 1;
        } else {
            for (k, v) in txn.scan_prefix(&dir_prefix(id, path))? {
                if let Entry::File(b) = dec::<Entry>(&v, "file entry")? {
                    txn.decref(&b.hash)?;
                }
                txn.remove(k);
                removed += 1;
            }
        }
        if removed == 0 {
            return Err(MimeiError::NoSuchPath(path.to_string()));
        }
        txn.commit()?;
        self.emit(MimeiEvent::FilesChanged { id: *id });
        Ok(removed)
    }

    /// Move a file or directory within `cur`. The target must not exist.
    pub fn rename(
        &self,
        who: &UserId,
        id: &MimeiId,
        from: &MimeiPath,
        to: &MimeiPath,
    ) -> Result<u64> {
        if from.is_root() || to.is_root() {
            return Err(MimeiError::InvalidPath {
                path: "/".into(),
                why: "cannot move the root".into(),
            });
        }
        if to.starts_with(from) {
            return Err(MimeiError::InvalidPath {
                path: to.to_string(),
                why: "cannot move a directory into itself".into(),
            });
        }
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        if txn.get(&file_key(id, to))?.is_some() || txn.any_with_prefix(&dir_prefix(id, to))? {
            return Err(MimeiError::PathExists(to.to_string()));
        }
        check_can_place(&txn, id, to)?;
        let base = key(prefix::FILE, id, &[]);
        let mut moves = Vec::new();
        if let Some(v) = txn.get(&file_key(id, from))? {
            moves.push((from.clone(), to.clone(), v));
        } else {
            for (k, v) in txn.scan_prefix(&dir_prefix(id, from))? {
                let p = MimeiPath::from_key_bytes(&k[base.len()..])?;
                let rest = p
                    .strip_prefix(from)
                    .ok_or_else(|| MimeiError::Corrupt("index order".into()))?;
                let mut target = to.clone();
                for n in rest.names() {
                    target = target.join(n)?;
                }
                moves.push((p, target, v));
            }
        }
        if moves.is_empty() {
            return Err(MimeiError::NoSuchPath(from.to_string()));
        }
        let n = moves.len() as u64;
        for (src, dst, v) in moves {
            txn.remove(file_key(id, &src));
            txn.insert(file_key(id, &dst), v);
        }
        txn.commit()?;
        self.emit(MimeiEvent::FilesChanged { id: *id });
        Ok(n)
    }
}

/// A file may go at `path` only if no ancestor is a file and `path` is not a directory.
pub(crate) fn check_can_place(txn: &WriteTxn<'_>, id: &MimeiId, path: &MimeiPath) -> Result<()> {
    let mut anc = path.parent();
    while let Some(a) = anc {
        if a.is_root() {
            break;
        }
        if txn.get(&file_key(id, &a))?.is_some() {
            return Err(MimeiError::NotADirectory(a.to_string()));
        }
        anc = a.parent();
    }
    if txn.any_with_prefix(&dir_prefix(id, path))? {
        return Err(MimeiError::IsADirectory(path.to_string()));
    }
    Ok(())
}

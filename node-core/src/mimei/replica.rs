//! Copying versions between nodes (SPEC P2), the storage side: which blocks a version
//! needs and how a fetched version is committed.
//!
//! A version is a DAG of blocks under two roots (file tree, database). Every block's
//! children are read from its own (digest-verified) bytes, so a receiver never takes a
//! sender's word for the links: it asks for a root, checks the digest, parses the block
//! as the kind its parent said it is, and asks for the children. The transport lives in
//! [`crate::net`]; this module knows nothing about peers.
//!
//! A fetched version is committed by [`Mimeis::install_version`] in one transaction:
//! blocks are staged (kept from GC) while they arrive, then the version record, the
//! Mimei info (if new here) and the heads are written together. Until then the
//! version is absent; after, it is complete.

use serde::{Deserialize, Serialize};

use super::tree::{self, DirDocEntry};
use super::{
    Heads, MimeiError, MimeiId, MimeiInfo, Mimeis, Result, VersionRecord, db, key, prefix,
};
use crate::store::{BlobRef, BlockHash, CHUNK_SIZE, decode_list};

/// What a block is, as its parent says. Decides how its children are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockKind {
    /// A directory document.
    Dir,
    /// The root block of a blob of `size` bytes: the content itself, or a chunk list.
    Blob { size: u64 },
    /// One chunk of a chunked blob.
    Chunk,
    /// A node of a database tree.
    DbNode,
}

/// The root blocks of a version.
pub fn version_roots(record: &VersionRecord) -> Vec<(BlockHash, BlockKind)> {
    let mut roots = vec![(record.fs_root, BlockKind::Dir)];
    if let Some(db) = record.db_root {
        roots.push((db, BlockKind::DbNode));
    }
    roots
}

/// The digest that names a version record: blake3 of its canonical (postcard) bytes.
/// Signed routing records carry it, so a version record from any peer can be checked.
pub fn version_digest(record: &VersionRecord) -> BlockHash {
    BlockHash::of(&postcard::to_allocvec(record).unwrap_or_default())
}

/// The children of a block, read from its verified bytes.
pub fn block_children(
    hash: &BlockHash,
    kind: BlockKind,
    data: &[u8],
) -> Result<Vec<(BlockHash, BlockKind)>> {
    Ok(match kind {
        BlockKind::Dir => tree::parse_dir(hash, data)?
            .entries
            .into_iter()
            .filter_map(|e| match e {
                DirDocEntry::File { hash, size, .. } => Some((hash, BlockKind::Blob { size })),
                DirDocEntry::Dir { hash, .. } => Some((hash, BlockKind::Dir)),
                DirDocEntry::Mimei { .. } => None,
            })
            .collect(),
        BlockKind::Blob { size } if size > CHUNK_SIZE as u64 => {
            decode_list(&BlobRef { hash: *hash, size }, data)?
                .into_iter()
                .map(|h| (h, BlockKind::Chunk))
                .collect()
        }
        BlockKind::Blob { size } => {
            if data.len() as u64 != size {
                return Err(MimeiError::Corrupt(format!(
                    "blob {hash} has {} bytes, its parent says {size}",
                    data.len()
                )));
            }
            Vec::new()
        }
        BlockKind::Chunk => Vec::new(),
        BlockKind::DbNode => db::node_children(hash, data)?
            .into_iter()
            .map(|(h, size)| match size {
                Some(size) => (h, BlockKind::Blob { size }),
                None => (h, BlockKind::DbNode),
            })
            .collect(),
    })
}

impl Mimeis {
    /// Every block some version of `id` on this node needs (not `cur`): what this node
    /// may hand to a peer allowed to read `id`. Reads the directory, chunk-list and
    /// database blocks; the leaves are known from their parents.
    pub fn version_blocks(&self, id: &MimeiId) -> Result<std::collections::HashSet<BlockHash>> {
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<(BlockHash, BlockKind)> = Vec::new();
        for (_, v) in self
            .store
            .scan_prefix(&key(prefix::VERSION, id, &[]))?
            .iter()
        {
            let record: VersionRecord = super::dec(v, "version record")?;
            todo.extend(version_roots(&record));
        }
        while let Some((h, kind)) = todo.pop() {
            if !seen.insert(h) {
                continue;
            }
            let leaf = match kind {
                BlockKind::Chunk => true,
                BlockKind::Blob { size } => size <= CHUNK_SIZE as u64,
                BlockKind::Dir | BlockKind::DbNode => false,
            };
            if !leaf {
                let data = self.store.get_block(&h)?;
                todo.extend(block_children(&h, kind, &data)?);
            }
        }
        Ok(seen)
    }

    /// Commit a version whose blocks are all in the store (staged by the caller, who
    /// keeps the stage alive until this returns). Creates the Mimei here if it is new.
    /// Returns `false` if this node already had that version.
    pub fn install_version(&self, info: &MimeiInfo, record: &VersionRecord) -> Result<bool> {
        if MimeiId::derive(&info.author, &info.app_type, &info.ext, &info.mark) != info.id {
            return Err(MimeiError::Corrupt(format!(
                "Mimei info does not derive to its ID {}",
                info.id
            )));
        }
        let id = info.id;
        let mut txn = self.store.write();
        let vkey = key(prefix::VERSION, &id, &record.number.to_be_bytes());
        if txn.get(&vkey)?.is_some() {
            return Ok(false);
        }
        let mut heads: Heads = match txn.get(&key(prefix::HEADS, &id, &[]))? {
            Some(bytes) => super::dec(&bytes, "heads")?,
            None => {
                txn.insert(key(prefix::INFO, &id, &[]), super::enc(info));
                Heads::default()
            }
        };
        for (root, _) in version_roots(record) {
            txn.incref(&root)?;
        }
        txn.insert(vkey, super::enc(record));
        heads.next = heads.next.max(record.number + 1);
        heads.last = Some(heads.last.map_or(record.number, |l| l.max(record.number)));
        txn.insert(key(prefix::HEADS, &id, &[]), super::enc(&heads));
        txn.commit()?;
        self.emit(super::MimeiEvent::Backup {
            id,
            version: record.number,
        });
        Ok(true)
    }

    /// Mark version `n` (installed here) as `id`'s release, as the author's signed
    /// routing record says (replicas only: no permission check; the caller verified
    /// the record). A later release already known here is kept.
    pub fn install_release(&self, id: &MimeiId, n: u64) -> Result<()> {
        let mut txn = self.store.write();
        if txn
            .get(&key(prefix::VERSION, id, &n.to_be_bytes()))?
            .is_none()
        {
            return Err(MimeiError::NotFound(*id));
        }
        let mut heads: Heads = super::dec(
            &txn.get(&key(prefix::HEADS, id, &[]))?
                .ok_or(MimeiError::NotFound(*id))?,
            "heads",
        )?;
        if heads.release.is_some_and(|r| r >= n) {
            return Ok(());
        }
        heads.release = Some(n);
        txn.insert(key(prefix::HEADS, id, &[]), super::enc(&heads));
        txn.commit()?;
        self.emit(super::MimeiEvent::Released {
            id: *id,
            version: n,
        });
        Ok(())
    }

    /// Every version record of `id` (no access check; for serving peers that were
    /// checked by the caller).
    pub fn versions(&self, id: &MimeiId) -> Result<Vec<VersionRecord>> {
        self.store
            .scan_prefix(&key(prefix::VERSION, id, &[]))?
            .iter()
            .map(|(_, v)| super::dec(v, "version record"))
            .collect()
    }
}

impl Mimeis {
    /// Bring a followed peer's database changes into `cur` (SPEC P3, "after each
    /// backup" mode). `theirs` is a version pulled from the peer, `base` the version
    /// merged the time before (`None`: nothing yet).
    ///
    /// Conflict rule: for every key whose value differs between `base` and `theirs`,
    /// `cur` takes `theirs`' value (or loses the key if `theirs` has none) — the peer's
    /// later backup wins a key both sides changed. Keys the peer did not change keep
    /// their local value, so local edits to other keys survive. One atomic write.
    /// Returns how many keys changed in `cur`.
    pub fn merge_db_version(
        &self,
        who: &crate::identity::UserId,
        id: &MimeiId,
        base: Option<u64>,
        theirs: u64,
    ) -> Result<usize> {
        use std::collections::BTreeMap;
        let rows = |n: Option<u64>| -> Result<BTreeMap<String, Vec<u8>>> {
            Ok(match n {
                None => BTreeMap::new(),
                Some(n) => self
                    .db_all_at(self.version(id, n)?.db_root)?
                    .into_iter()
                    .map(|e| (e.key, e.value))
                    .collect(),
            })
        };
        let (old, new) = (rows(base)?, rows(Some(theirs))?);
        let cur: BTreeMap<String, Vec<u8>> = self
            .db_cur_all(id)?
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        let mut ops = Vec::new();
        for k in old.keys().chain(new.keys()) {
            let (o, n) = (old.get(k), new.get(k));
            if o != n && cur.get(k) != n && !ops.iter().any(|(x, _): &(String, _)| x == k) {
                ops.push((k.clone(), n.cloned()));
            }
        }
        if !ops.is_empty() {
            self.db_write(who, id, &ops)?;
        }
        Ok(ops.len())
    }
}

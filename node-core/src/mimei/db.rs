//! A Mimei's key-value database (SPEC M5): frequent writes to `cur`; a backup freezes
//! it into a tree of blocks that can be read at that version later.
//!
//! The frozen form is a content-defined search tree (a "prolly tree"): entries sorted
//! by key are cut into leaves where a key's digest has its low bits zero, and the
//! leaves' first keys are cut the same way into inner nodes, up to one root. Where a
//! cut falls depends only on the keys near it, so a small change rewrites a few nodes
//! and the rest of the tree — and its blocks — is shared with the previous version.

use serde::{Deserialize, Serialize};

use super::version::Resolved;
use super::{MimeiError, MimeiEvent, MimeiId, Mimeis, Perm, Result, VersionRef, key, prefix};
use crate::identity::UserId;
use crate::store::{BlobReader, BlobRef, BlockHash, Store, WriteTxn};

/// Longest key, in bytes.
pub const MAX_DB_KEY_LEN: usize = 1024;
/// Largest value, in bytes.
pub const MAX_DB_VALUE_LEN: usize = 1024 * 1024;
/// Values longer than this are stored as separate blobs in the frozen tree.
const INLINE_MAX: usize = 1024;
/// A node is also cut once it reaches this many bytes.
const NODE_MAX_BYTES: usize = 64 * 1024;
const FORMAT: u8 = 1;

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEntry {
    pub key: String,
    pub value: Vec<u8>,
}

/// Which keys a scan returns: all keys with `prefix` (if set) in `[start, end)`, at
/// most `limit` of them, in key order — or, with `reverse`, the last `limit` of them,
/// in descending key order (the newest page of a log without reading all of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DbRange {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub reverse: bool,
}

impl DbRange {
    fn contains(&self, k: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| k.starts_with(p))
            && self.start.as_deref().is_none_or(|s| k >= s)
            && self.end.as_deref().is_none_or(|e| k < e)
    }

    /// Whether some key `>= k` could still be in range (keys are visited in order).
    fn may_continue(&self, k: &str) -> bool {
        self.end.as_deref().is_none_or(|e| k < e)
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| k.starts_with(p) || k < p)
    }

    /// Every key in range is below this (bytes; no UTF-8 key holds 0xff).
    fn upper_bound(&self) -> Option<Vec<u8>> {
        let after_prefix = self.prefix.as_deref().map(|p| {
            let mut b = p.as_bytes().to_vec();
            b.push(0xff);
            b
        });
        let end = self.end.as_deref().map(|e| e.as_bytes().to_vec());
        match (after_prefix, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn lower_bound(&self) -> &str {
        match (self.prefix.as_deref(), self.start.as_deref()) {
            (Some(p), Some(s)) => p.max(s),
            (Some(p), None) => p,
            (None, Some(s)) => s,
            (None, None) => "",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum DbValue {
    Inline(Vec<u8>),
    Blob(BlobRef),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum DbNode {
    Leaf(Vec<(String, DbValue)>),
    /// Children with the first key each covers.
    Inner(Vec<(String, BlockHash)>),
}

#[derive(Serialize, Deserialize)]
struct NodeDoc {
    format: u8,
    node: DbNode,
}

pub(super) fn check_key(k: &str) -> Result<()> {
    if k.is_empty() {
        return Err(MimeiError::InvalidField {
            field: "key",
            why: "empty".into(),
        });
    }
    if k.len() > MAX_DB_KEY_LEN {
        return Err(MimeiError::TooLarge {
            what: "database key",
            size: k.len(),
            max: MAX_DB_KEY_LEN,
        });
    }
    Ok(())
}

pub(super) fn db_key(id: &MimeiId, k: &str) -> Vec<u8> {
    key(prefix::DB, id, k.as_bytes())
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| MimeiError::Corrupt("database key is not UTF-8".into()))
}

impl Mimeis {
    /// Set `key` to `value` in `cur`.
    pub fn db_put(&self, who: &UserId, id: &MimeiId, k: &str, value: &[u8]) -> Result<()> {
        self.db_write(who, id, &[(k.to_string(), Some(value.to_vec()))])
    }

    /// Remove `key` from `cur`; returns whether it existed.
    pub fn db_delete(&self, who: &UserId, id: &MimeiId, k: &str) -> Result<bool> {
        check_key(k)?;
        let existed = self.store.get(&db_key(id, k))?.is_some();
        self.db_write(who, id, &[(k.to_string(), None)])?;
        Ok(existed)
    }

    /// Apply several puts (`Some`) and deletes (`None`) to `cur` atomically.
    pub fn db_write(
        &self,
        who: &UserId,
        id: &MimeiId,
        ops: &[(String, Option<Vec<u8>>)],
    ) -> Result<()> {
        for (k, v) in ops {
            check_key(k)?;
            if let Some(v) = v
                && v.len() > MAX_DB_VALUE_LEN
            {
                return Err(MimeiError::TooLarge {
                    what: "database value",
                    size: v.len(),
                    max: MAX_DB_VALUE_LEN,
                });
            }
        }
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        for (k, v) in ops {
            match v {
                Some(v) => txn.insert(db_key(id, k), v.clone()),
                None => txn.remove(db_key(id, k)),
            }
        }
        txn.commit()?;
        self.emit(MimeiEvent::DbChanged { id: *id });
        Ok(())
    }

    /// The value of `key` at any version.
    pub fn db_get(
        &self,
        who: &UserId,
        id: &MimeiId,
        v: VersionRef,
        k: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.check(who, id, Perm::Read)?;
        check_key(k)?;
        match self.resolve(id, v)? {
            Resolved::Cur => Ok(self.store.get(&db_key(id, k))?),
            Resolved::Version(r) => match r.db_root {
                None => Ok(None),
                Some(root) => get(&self.store, &root, k),
            },
        }
    }

    /// Entries in `range` at any version, in key order.
    pub fn db_scan(
        &self,
        who: &UserId,
        id: &MimeiId,
        v: VersionRef,
        range: &DbRange,
    ) -> Result<Vec<DbEntry>> {
        self.check(who, id, Perm::Read)?;
        let limit = range.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        match self.resolve(id, v)? {
            Resolved::Cur => {
                let base = key(prefix::DB, id, &[]);
                let from = db_key(id, range.lower_bound());
                let to = match range.upper_bound() {
                    Some(u) => key(prefix::DB, id, &u),
                    None => key(prefix::DB, id, &[0xff]),
                };
                let tree = self.store.tree();
                let entries = tree.range(from..to);
                let entries: Box<dyn Iterator<Item = _>> = if range.reverse {
                    Box::new(entries.rev())
                } else {
                    Box::new(entries)
                };
                for kv in entries {
                    if out.len() >= limit {
                        break;
                    }
                    let (kb, vb) = kv.map_err(crate::store::StoreError::from)?;
                    let k = utf8(&kb[base.len()..])?;
                    if range.contains(&k) {
                        out.push(DbEntry {
                            key: k,
                            value: vb.to_vec(),
                        });
                    }
                }
            }
            Resolved::Version(r) => {
                if let Some(root) = r.db_root {
                    if range.reverse {
                        let upper = range.upper_bound();
                        scan_rev(&self.store, &root, range, upper.as_deref(), limit, &mut out)?;
                    } else {
                        scan(&self.store, &root, range, limit, &mut out)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// All `cur` entries (for forks and diffs).
    pub(crate) fn db_cur_all(&self, id: &MimeiId) -> Result<Vec<DbEntry>> {
        let base = key(prefix::DB, id, &[]);
        self.store
            .scan_prefix(&base)?
            .into_iter()
            .map(|(k, v)| {
                Ok(DbEntry {
                    key: utf8(&k[base.len()..])?,
                    value: v,
                })
            })
            .collect()
    }

    /// All entries of a frozen tree.
    pub(crate) fn db_all_at(&self, root: Option<BlockHash>) -> Result<Vec<DbEntry>> {
        let mut out = Vec::new();
        if let Some(root) = root {
            scan(
                &self.store,
                &root,
                &DbRange::default(),
                usize::MAX,
                &mut out,
            )?;
        }
        Ok(out)
    }
}

fn boundary(k: &str, level: usize) -> bool {
    let h = blake3::hash(k.as_bytes());
    h.as_bytes()[level % 32] & 0x3f == 0
}

fn put_node(txn: &mut WriteTxn<'_>, node: DbNode) -> Result<BlockHash> {
    let links: Vec<BlockHash> = match &node {
        DbNode::Leaf(es) => es
            .iter()
            .filter_map(|(_, v)| match v {
                DbValue::Blob(b) => Some(b.hash),
                DbValue::Inline(_) => None,
            })
            .collect(),
        DbNode::Inner(cs) => cs.iter().map(|(_, h)| *h).collect(),
    };
    let bytes = postcard::to_allocvec(&NodeDoc {
        format: FORMAT,
        node,
    })
    .map_err(|e| MimeiError::Corrupt(format!("encoding database node: {e}")))?;
    Ok(txn.put_block(&bytes, &links)?)
}

/// Freeze sorted `(key, value)` rows into a tree; `None` when there are none.
pub(crate) fn build(
    txn: &mut WriteTxn<'_>,
    rows: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Result<Option<BlockHash>> {
    let mut level: Vec<(String, BlockHash)> = Vec::new();
    let mut leaf: Vec<(String, DbValue)> = Vec::new();
    let mut leaf_bytes = 0;
    for (kb, v) in rows {
        let k = utf8(&kb)?;
        leaf_bytes += k.len() + v.len().min(INLINE_MAX + 40);
        let value = if v.len() > INLINE_MAX {
            DbValue::Blob(BlobRef::put(txn, &v)?)
        } else {
            DbValue::Inline(v)
        };
        let cut = boundary(&k, 0) || leaf_bytes >= NODE_MAX_BYTES;
        leaf.push((k, value));
        if cut {
            let first = leaf[0].0.clone();
            level.push((
                first,
                put_node(txn, DbNode::Leaf(std::mem::take(&mut leaf)))?,
            ));
            leaf_bytes = 0;
        }
    }
    if !leaf.is_empty() {
        let first = leaf[0].0.clone();
        level.push((first, put_node(txn, DbNode::Leaf(leaf))?));
    }
    let mut depth = 1;
    while level.len() > 1 {
        let mut next = Vec::new();
        let mut node = Vec::new();
        let mut bytes = 0;
        for (k, h) in level {
            bytes += k.len() + 32;
            let cut = boundary(&k, depth) || bytes >= NODE_MAX_BYTES;
            node.push((k, h));
            if cut {
                let first = node[0].0.clone();
                next.push((
                    first,
                    put_node(txn, DbNode::Inner(std::mem::take(&mut node)))?,
                ));
                bytes = 0;
            }
        }
        if !node.is_empty() {
            let first = node[0].0.clone();
            next.push((first, put_node(txn, DbNode::Inner(node))?));
        }
        level = next;
        depth += 1;
    }
    Ok(level.pop().map(|(_, h)| h))
}

fn load(store: &Store, hash: &BlockHash) -> Result<DbNode> {
    parse_node(hash, &store.get_block(hash)?)
}

/// The blocks a database node links to: `(hash, is a node (else a value blob) , blob size)`.
pub(crate) fn node_children(
    hash: &BlockHash,
    bytes: &[u8],
) -> Result<Vec<(BlockHash, Option<u64>)>> {
    Ok(match parse_node(hash, bytes)? {
        DbNode::Leaf(es) => es
            .into_iter()
            .filter_map(|(_, v)| match v {
                DbValue::Blob(b) => Some((b.hash, Some(b.size))),
                DbValue::Inline(_) => None,
            })
            .collect(),
        DbNode::Inner(cs) => cs.into_iter().map(|(_, h)| (h, None)).collect(),
    })
}

fn parse_node(hash: &BlockHash, bytes: &[u8]) -> Result<DbNode> {
    let doc: NodeDoc = postcard::from_bytes(bytes)
        .map_err(|e| MimeiError::Corrupt(format!("database node {hash}: {e}")))?;
    if doc.format != FORMAT {
        return Err(MimeiError::Corrupt(format!(
            "database node {hash} has unknown format {}",
            doc.format
        )));
    }
    Ok(doc.node)
}

fn value(store: &Store, v: DbValue) -> Result<Vec<u8>> {
    match v {
        DbValue::Inline(v) => Ok(v),
        DbValue::Blob(b) => Ok(BlobReader::open(store, b)?.read_all()?),
    }
}

fn get(store: &Store, root: &BlockHash, k: &str) -> Result<Option<Vec<u8>>> {
    let mut hash = *root;
    loop {
        match load(store, &hash)? {
            DbNode::Inner(children) => {
                let i = children.partition_point(|(first, _)| first.as_str() <= k);
                if i == 0 {
                    return Ok(None);
                }
                hash = children[i - 1].1;
            }
            DbNode::Leaf(entries) => {
                return match entries.binary_search_by(|(ek, _)| ek.as_str().cmp(k)) {
                    Ok(i) => Ok(Some(value(store, entries[i].1.clone())?)),
                    Err(_) => Ok(None),
                };
            }
        }
    }
}

/// In-order scan of the subtree at `hash`; returns false once no later key can match.
/// [`scan`] backwards, from the last key below `upper`: children that start at or
/// above it are skipped, and the walk stops below the range's lower bound.
fn scan_rev(
    store: &Store,
    hash: &BlockHash,
    range: &DbRange,
    upper: Option<&[u8]>,
    limit: usize,
    out: &mut Vec<DbEntry>,
) -> Result<bool> {
    let lower = range.lower_bound();
    match load(store, hash)? {
        DbNode::Inner(children) => {
            for (first, child) in children.iter().rev() {
                if upper.is_some_and(|u| first.as_bytes() >= u) {
                    continue;
                }
                if !scan_rev(store, child, range, upper, limit, out)? {
                    return Ok(false);
                }
                // Every earlier child holds only keys below this one's first.
                if first.as_str() <= lower {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        DbNode::Leaf(entries) => {
            for (k, v) in entries.into_iter().rev() {
                if out.len() >= limit || k.as_str() < lower {
                    return Ok(false);
                }
                if range.contains(&k) {
                    let value = value(store, v)?;
                    out.push(DbEntry { key: k, value });
                }
            }
            Ok(true)
        }
    }
}

fn scan(
    store: &Store,
    hash: &BlockHash,
    range: &DbRange,
    limit: usize,
    out: &mut Vec<DbEntry>,
) -> Result<bool> {
    match load(store, hash)? {
        DbNode::Inner(children) => {
            let lower = range.lower_bound();
            for (i, (_, child)) in children.iter().enumerate() {
                // Skip children that end before the range starts.
                if children
                    .get(i + 1)
                    .is_some_and(|(next_first, _)| next_first.as_str() <= lower)
                {
                    continue;
                }
                if !scan(store, child, range, limit, out)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        DbNode::Leaf(entries) => {
            for (k, v) in entries {
                if out.len() >= limit || !range.may_continue(&k) {
                    return Ok(false);
                }
                if range.contains(&k) {
                    let value = value(store, v)?;
                    out.push(DbEntry { key: k, value });
                }
            }
            Ok(true)
        }
    }
}

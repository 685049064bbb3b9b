//! Directory documents: a version's file tree as JSON hashed Merkle-style (SPEC M4).
//!
//! Each directory is one block holding a JSON document that lists its entries sorted
//! by name, each with the digest of what it names. The digest of the root document is
//! therefore a digest of the whole tree, and an unchanged subdirectory keeps its
//! digest (and its blocks) from one version to the next.

use serde::{Deserialize, Serialize};

use super::{Entry, MimeiError, MimeiId, MimeiPath, Result};
use crate::store::{BlobRef, BlockHash, Store, WriteTxn};

const DIR_FORMAT: &str = "leither/dir/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DirDoc {
    pub format: String,
    pub entries: Vec<DirDocEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum DirDocEntry {
    File {
        name: String,
        hash: BlockHash,
        size: u64,
    },
    Dir {
        name: String,
        hash: BlockHash,
    },
    Mimei {
        name: String,
        id: MimeiId,
    },
}

impl DirDocEntry {
    fn name(&self) -> &str {
        match self {
            DirDocEntry::File { name, .. }
            | DirDocEntry::Dir { name, .. }
            | DirDocEntry::Mimei { name, .. } => name,
        }
    }
}

/// A node of a version's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Dir(BlockHash),
    File(BlobRef),
    Link(MimeiId),
}

/// The result of building a tree.
pub(crate) struct Built {
    pub root: BlockHash,
    pub files: u64,
    pub bytes: u64,
}

/// Write the directory documents for `files` (sorted by index key, as the `cur` index
/// yields them). The blocks are stored but not referenced.
pub(crate) fn build(txn: &mut WriteTxn<'_>, files: &[(MimeiPath, Entry)]) -> Result<Built> {
    let mut built = Built {
        root: BlockHash::of(b""),
        files: 0,
        bytes: 0,
    };
    built.root = build_dir(txn, files, 0, &mut built)?;
    Ok(built)
}

fn build_dir(
    txn: &mut WriteTxn<'_>,
    items: &[(MimeiPath, Entry)],
    depth: usize,
    built: &mut Built,
) -> Result<BlockHash> {
    let mut entries = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let name = &items[i].0.names()[depth];
        let mut j = i + 1;
        while j < items.len() && items[j].0.names()[depth] == *name {
            j += 1;
        }
        let group = &items[i..j];
        if group.len() == 1 && group[0].0.names().len() == depth + 1 {
            entries.push(match group[0].1 {
                Entry::File(blob) => {
                    built.files += 1;
                    built.bytes += blob.size;
                    DirDocEntry::File {
                        name: name.clone(),
                        hash: blob.hash,
                        size: blob.size,
                    }
                }
                Entry::Link(id) => DirDocEntry::Mimei {
                    name: name.clone(),
                    id,
                },
            });
        } else {
            if group.iter().any(|(p, _)| p.names().len() == depth + 1) {
                return Err(MimeiError::Corrupt(format!(
                    "`{}` is both a file and a directory",
                    group[0].0
                )));
            }
            let hash = build_dir(txn, group, depth + 1, built)?;
            entries.push(DirDocEntry::Dir {
                name: name.clone(),
                hash,
            });
        }
        i = j;
    }
    let links: Vec<BlockHash> = entries
        .iter()
        .filter_map(|e| match e {
            DirDocEntry::File { hash, .. } | DirDocEntry::Dir { hash, .. } => Some(*hash),
            DirDocEntry::Mimei { .. } => None,
        })
        .collect();
    let doc = DirDoc {
        format: DIR_FORMAT.into(),
        entries,
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| MimeiError::Corrupt(e.to_string()))?;
    Ok(txn.put_block(&bytes, &links)?)
}

/// Read and check a directory document.
pub(crate) fn load_dir(store: &Store, hash: &BlockHash) -> Result<DirDoc> {
    parse_dir(hash, &store.get_block(hash)?)
}

/// Parse and check a directory document whose bytes are already verified against `hash`.
pub(crate) fn parse_dir(hash: &BlockHash, bytes: &[u8]) -> Result<DirDoc> {
    let doc: DirDoc = serde_json::from_slice(bytes).map_err(|e| {
        MimeiError::Corrupt(format!("directory {hash} is not a directory document: {e}"))
    })?;
    if doc.format != DIR_FORMAT {
        return Err(MimeiError::Corrupt(format!(
            "directory {hash} has unknown format {:?}",
            doc.format
        )));
    }
    if doc.entries.windows(2).any(|w| w[0].name() >= w[1].name()) {
        return Err(MimeiError::Corrupt(format!(
            "directory {hash} entries are not sorted and unique"
        )));
    }
    for e in &doc.entries {
        MimeiPath::parse(e.name())
            .map_err(|_| MimeiError::Corrupt(format!("directory {hash} has a bad name")))?;
    }
    Ok(doc)
}

fn node_of(e: &DirDocEntry) -> Node {
    match e {
        DirDocEntry::File { hash, size, .. } => Node::File(BlobRef {
            hash: *hash,
            size: *size,
        }),
        DirDocEntry::Dir { hash, .. } => Node::Dir(*hash),
        DirDocEntry::Mimei { id, .. } => Node::Link(*id),
    }
}

/// What is at `path` in the tree rooted at `root`.
pub(crate) fn lookup(store: &Store, root: &BlockHash, path: &MimeiPath) -> Result<Option<Node>> {
    let mut node = Node::Dir(*root);
    for name in path.names() {
        let Node::Dir(dir) = node else {
            return Ok(None);
        };
        let doc = load_dir(store, &dir)?;
        match doc
            .entries
            .binary_search_by(|e| e.name().cmp(name.as_str()))
        {
            Ok(i) => node = node_of(&doc.entries[i]),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(node))
}

/// Entries under the directory `dir` (its path is `base`), depth-first in name order.
pub(crate) fn walk(
    store: &Store,
    dir: &BlockHash,
    base: &MimeiPath,
    recursive: bool,
    out: &mut Vec<(MimeiPath, Node)>,
) -> Result<()> {
    for e in load_dir(store, dir)?.entries {
        let path = base.join(e.name())?;
        let node = node_of(&e);
        out.push((path.clone(), node));
        if let (true, Node::Dir(h)) = (recursive, node) {
            walk(store, &h, &path, true, out)?;
        }
    }
    Ok(())
}

//! Digest-addressed block store on sled (SPEC M2).
//!
//! A *block* is a byte string named by its blake3 digest ([`BlockHash`]). Identical
//! content is stored once. Blocks form a DAG: a block may *link* to other blocks
//! (a directory to its files, a chunk list to its chunks); the links are given when the
//! block is written and kept beside it, so the store can count references without
//! knowing the formats of the layers above.
//!
//! ## Reference counting and GC
//! `rc(b)` = number of *roots* (version records, `cur` index entries, pins) that point
//! at `b` + number of *live* blocks that link to `b`. A block is live while `rc > 0`.
//! When a block becomes live its links are counted (`held = true`); when it dies
//! nothing happens at once — [`Store::gc`] later deletes dead blocks and only then
//! releases their links. Because a dead block keeps holding its links until GC, a
//! block revived before GC does not count its links twice.
//!
//! ## Atomicity and durability
//! Every change of metadata (refcounts and the keys of the layers above, which share
//! this one sled tree) is applied by [`WriteTxn::commit`] as one sled batch, then
//! flushed: a change is either wholly on disk or absent, and it is durable once
//! `commit` returns. Blocks up to [`INLINE_MAX`] bytes are values in sled; larger ones
//! are appended to pack files that every commit fsyncs first (sled does not fsync its
//! own files for large values; see `pack.rs` for the rules that make packs crash-safe). Block *bytes* may be written before the commit (so a large import
//! does not hold everything in memory); until the commit links them, they are
//! unreferenced and protected from GC only by the in-memory [`Stage`] that wrote them.
//! After a crash such blocks are plain garbage for GC: no version can point at them.
//!
//! Writers are serialised by one lock (held by a [`WriteTxn`]); readers never wait.
//! Every block read is verified against its digest: a corrupted block is reported as
//! [`StoreError::Corrupt`] and never served.

mod blob;
mod pack;
mod txn;

pub(crate) use blob::decode_list;
pub use blob::{BlobReader, BlobRef, CHUNK_SIZE};
pub use pack::{INLINE_MAX, PACKS_DIR};
pub use txn::WriteTxn;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

crate::define_id!(
    /// The blake3 digest of a block's bytes: its address.
    BlockHash,
    32
);

impl BlockHash {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self::from_bytes(*blake3::hash(data).as_bytes())
    }
}

/// Largest block the store accepts (raw chunks are at most [`CHUNK_SIZE`]; directory
/// documents and database nodes may be larger). Applies to blocks from peers too.
pub const MAX_BLOCK_SIZE: usize = 8 * 1024 * 1024;

/// What went wrong in the block store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("block {0} not found")]
    Missing(BlockHash),
    #[error("block {hash} is corrupted on disk (digest mismatch); it was not served")]
    Corrupt { hash: BlockHash },
    #[error("block of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("stored metadata is malformed: {0}")]
    Malformed(String),
    #[error("storage engine: {0}")]
    Sled(#[from] sled::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Key prefixes of the shared sled tree. Each layer owns its letters; the store owns
/// `B` (bytes of small blocks), `P` (pack locations of large blocks), `Q` (durable pack
/// lengths) and `R` (reference records).
pub mod prefix {
    pub const BLOCK: u8 = b'B';
    pub const PACKED: u8 = b'P';
    pub const PACK_LEN: u8 = b'Q';
    pub const REFS: u8 = b'R';

    /// Whether a key belongs to the store itself (upper layers may not write it).
    pub fn is_store_key(key: &[u8]) -> bool {
        matches!(key.first(), Some(&(BLOCK | PACKED | PACK_LEN | REFS)))
    }
}

/// Tuning of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// sled page cache in bytes (bounds memory use, N1).
    pub cache_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Reference record of a block, kept under `R<hash>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct RefRecord {
    /// Roots + live parents pointing here.
    pub rc: u64,
    /// Whether this block currently counts as a parent of its links.
    pub held: bool,
    /// Blocks this block links to.
    pub links: Vec<BlockHash>,
}

/// A cheap, cloneable handle to the store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    packs: pack::Packs,
    writer: Mutex<()>,
    /// Stages write under the read side; GC holds the write side for a whole pass, so
    /// a block cannot be freed between a stage checking it exists and protecting it.
    gc_fence: RwLock<()>,
    /// Blocks written by live [`Stage`]s and not yet committed: GC leaves them alone.
    staged: Mutex<HashMap<BlockHash, usize>>,
}

/// Counts from one GC pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GcStats {
    pub blocks_freed: u64,
    pub bytes_freed: u64,
}

/// Size of what the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreStats {
    pub blocks: u64,
    pub block_bytes: u64,
    pub disk_bytes: u64,
}

impl Store {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path, config: &StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        let sled_config = sled::Config::new()
            .path(dir)
            .cache_capacity(config.cache_bytes)
            .mode(sled::Mode::HighThroughput);
        // sled's background threads release the file lock a moment after the last
        // handle of a previous open in this process is dropped; wait for that briefly.
        // A lock held by another process still fails, after ~2 s.
        let mut tries = 0;
        let db = loop {
            match sled_config.open() {
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::Other
                        && tries < 40
                        && e.to_string().contains("lock") =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };

        let packs = pack::Packs::open(dir, &db)?;
        Ok(Store {
            inner: Arc::new(Inner {
                packs,
                db,
                writer: Mutex::new(()),
                gc_fence: RwLock::new(()),
                staged: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.inner.db
    }

    /// Start a write transaction (waits for other writers).
    pub fn write(&self) -> WriteTxn<'_> {
        WriteTxn::new(self, lock(&self.inner.writer))
    }

    /// A staging area for block bytes written before a transaction links them.
    pub fn stage(&self) -> Stage {
        Stage {
            store: self.clone(),
            hashes: Vec::new(),
            new_blocks: 0,
            new_bytes: 0,
        }
    }

    /// Read a block, verifying its digest.
    pub fn get_block(&self, hash: &BlockHash) -> Result<Vec<u8>> {
        let data = self.get_block_unverified(hash)?;
        if BlockHash::of(&data) != *hash {
            tracing::error!(%hash, "corrupted block detected on read");
            return Err(StoreError::Corrupt { hash: *hash });
        }
        Ok(data)
    }

    /// The stored bytes of `hash` without checking them against the digest: only for
    /// handing blocks to a peer, which verifies every block it receives (a corrupted
    /// block then costs this node the peer's trust, not anyone's data).
    pub(crate) fn get_block_unverified(&self, hash: &BlockHash) -> Result<Vec<u8>> {
        Ok(match self.inner.db.get(block_key(hash))? {
            Some(v) => v.to_vec(),
            None => {
                let loc = self.location(hash)?.ok_or(StoreError::Missing(*hash))?;
                match self.inner.packs.read(&loc) {
                    Ok(d) => d,
                    Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        tracing::error!(%hash, "block's pack file is shorter than its location");
                        return Err(StoreError::Corrupt { hash: *hash });
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// Where a packed block's bytes are, if it has a valid location.
    fn location(&self, hash: &BlockHash) -> Result<Option<pack::Location>> {
        match self.inner.db.get(pack_key(hash))? {
            Some(v) => {
                let loc = pack::Location::decode(&v)?;
                Ok(self.inner.packs.valid(&loc).then_some(loc))
            }
            None => Ok(None),
        }
    }

    /// Whether the block's bytes are present (not verified).
    pub fn has_block(&self, hash: &BlockHash) -> Result<bool> {
        Ok(self.inner.db.contains_key(block_key(hash))? || self.location(hash)?.is_some())
    }

    /// Current reference count of a block (0 if unknown).
    pub fn refcount(&self, hash: &BlockHash) -> Result<u64> {
        Ok(self.ref_record(hash)?.map(|r| r.rc).unwrap_or(0))
    }

    pub(crate) fn ref_record(&self, hash: &BlockHash) -> Result<Option<RefRecord>> {
        match self.inner.db.get(ref_key(hash))? {
            Some(v) => decode(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Read a metadata key of an upper layer (committed state).
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.db.get(key)?.map(|v| v.to_vec()))
    }

    /// All committed metadata keys with this prefix, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for kv in self.inner.db.scan_prefix(prefix) {
            let (k, v) = kv?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Make everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        let mut batch = sled::Batch::default();
        self.sync_packs(&mut batch)?;
        self.inner.db.apply_batch(batch)?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// Fsync the pack files and add the durable lengths to `batch`: a commit whose
    /// batch references packed blocks must call this before applying it.
    pub(crate) fn sync_packs(&self, batch: &mut sled::Batch) -> Result<()> {
        for (k, v) in self.inner.packs.sync()? {
            batch.insert(&k, &v);
        }
        Ok(())
    }

    /// Delete every block that no root or live block references, releasing its links,
    /// until nothing more can be freed. Never touches a block a version still needs:
    /// such a block has `rc > 0` by construction.
    pub fn gc(&self) -> Result<GcStats> {
        let _writer = lock(&self.inner.writer);
        let _fence = self
            .inner
            .gc_fence
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut stats = GcStats::default();
        loop {
            let mut batch = sled::Batch::default();
            let mut changed: HashMap<BlockHash, Option<RefRecord>> = HashMap::new();
            let mut freed_now = 0u64;
            let blocks = self.inner.db.scan_prefix([prefix::BLOCK]);
            let packed = self.inner.db.scan_prefix([prefix::PACKED]);
            for kv in blocks.chain(packed) {
                let (k, v) = kv?;
                let hash = BlockHash::from_slice(&k[1..])
                    .map_err(|e| StoreError::Malformed(format!("block key: {e}")))?;
                if lock(&self.inner.staged).contains_key(&hash) {
                    continue;
                }
                let rec = match changed.get(&hash) {
                    Some(r) => r.clone(),
                    None => self.ref_record(&hash)?,
                };
                if rec.as_ref().is_some_and(|r| r.rc > 0) {
                    continue;
                }
                // Dead: free it and release what it held.
                if let Some(r) = rec.as_ref().filter(|r| r.held) {
                    for link in &r.links {
                        let mut lr = match changed.get(link) {
                            Some(Some(r)) => r.clone(),
                            Some(None) => continue,
                            None => match self.ref_record(link)? {
                                Some(r) => r,
                                None => continue,
                            },
                        };
                        lr.rc = lr.rc.saturating_sub(1);
                        changed.insert(*link, Some(lr));
                    }
                }
                changed.insert(hash, None);
                stats.blocks_freed += 1;
                stats.bytes_freed += stored_len(&k, &v)?;
                batch.remove(k);
                freed_now += 1;
            }
            for (hash, rec) in &changed {
                match rec {
                    Some(r) => batch.insert(ref_key(hash).to_vec(), encode(r)),
                    None => batch.remove(ref_key(hash).to_vec()),
                }
            }
            self.inner.db.apply_batch(batch)?;
            if freed_now == 0 {
                break;
            }
        }
        // Reference records of blocks whose bytes are gone and that nothing references.
        let mut batch = sled::Batch::default();
        for kv in self.inner.db.scan_prefix([prefix::REFS]) {
            let (k, v) = kv?;
            let rec: RefRecord = decode(&v)?;
            let hash = BlockHash::from_slice(&k[1..])
                .map_err(|e| StoreError::Malformed(format!("ref key: {e}")))?;
            if rec.rc == 0 && !self.has_block(&hash)? {
                batch.remove(k);
            }
        }
        // Locations of earlier runs that point past a pack's durable end name nothing.
        for kv in self.inner.db.scan_prefix([prefix::PACKED]) {
            let (k, v) = kv?;
            if !self.inner.packs.valid(&pack::Location::decode(&v)?) {
                batch.remove(k);
            }
        }
        self.inner.db.apply_batch(batch)?;
        // Pack files no location points into any more.
        let mut live = std::collections::HashSet::new();
        for kv in self.inner.db.scan_prefix([prefix::PACKED]) {
            let (_, v) = kv?;
            live.insert(pack::Location::decode(&v)?.pack);
        }
        let mut batch = sled::Batch::default();
        for k in self.inner.packs.remove_unused(&live)? {
            batch.remove(&k);
        }
        self.inner.db.apply_batch(batch)?;
        self.inner.db.flush()?;
        Ok(stats)
    }

    /// Counts of blocks and bytes held.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut s = StoreStats::default();
        let blocks = self.inner.db.scan_prefix([prefix::BLOCK]);
        let packed = self.inner.db.scan_prefix([prefix::PACKED]);
        for kv in blocks.chain(packed) {
            let (k, v) = kv?;
            s.blocks += 1;
            s.block_bytes += stored_len(&k, &v)?;
        }
        s.disk_bytes = self.inner.db.size_on_disk()? + self.inner.packs.disk_bytes();
        Ok(s)
    }

    fn unstage(&self, hashes: &[BlockHash]) {
        let mut staged = lock(&self.inner.staged);
        for h in hashes {
            if let Some(n) = staged.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    staged.remove(h);
                }
            }
        }
    }

    /// Write block bytes and an empty reference record, each only if absent.
    /// Returns whether the bytes were new. Safe outside a transaction: a block with
    /// `rc == 0` changes nothing any version sees.
    fn write_block(&self, hash: &BlockHash, data: &[u8], links: &[BlockHash]) -> Result<bool> {
        if data.len() > MAX_BLOCK_SIZE {
            return Err(StoreError::TooLarge {
                size: data.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        let db = &self.inner.db;
        let rkey = ref_key(hash);
        if !db.contains_key(rkey)? {
            let rec = RefRecord {
                rc: 0,
                held: false,
                links: links.to_vec(),
            };
            // Lost race = someone wrote the same record for the same content: fine.
            let _ = db.compare_and_swap(rkey, None as Option<&[u8]>, Some(encode(&rec)))?;
        }
        if data.len() > INLINE_MAX {
            let key = pack_key(hash);
            let old = db.get(key)?;
            if let Some(v) = &old
                && self.inner.packs.valid(&pack::Location::decode(v)?)
            {
                return Ok(false);
            }
            let loc = self.inner.packs.append(data)?;
            // Set-if-unchanged, so concurrent writers of the same block agree on who
            // added it (the loser's appended copy is never referenced).
            return Ok(db
                .compare_and_swap(key, old, Some(&loc.encode()[..]))?
                .is_ok());
        }
        let key = block_key(hash);
        if db.contains_key(key)? {
            return Ok(false);
        }
        // Insert-if-absent, so concurrent writers of the same block agree on who added it.
        Ok(db
            .compare_and_swap(key, None as Option<&[u8]>, Some(data))?
            .is_ok())
    }
}

/// Block bytes written ahead of a transaction and protected from GC until dropped.
///
/// Keep the stage alive until the transaction that references its blocks has
/// committed; dropping it earlier lets GC free them.
pub struct Stage {
    store: Store,
    hashes: Vec<BlockHash>,
    new_blocks: u64,
    new_bytes: u64,
}

impl Stage {
    /// Store `data` (if new) with its links and protect it until this stage is dropped.
    /// Returns the digest and whether the bytes were new.
    pub fn put(&mut self, data: &[u8], links: &[BlockHash]) -> Result<(BlockHash, bool)> {
        self.put_hashed(BlockHash::of(data), data, links)
    }

    /// [`Stage::put`] for bytes whose digest the caller has just computed and checked
    /// (a pull verifies every block as it arrives): saves hashing them a second time.
    pub(crate) fn put_hashed(
        &mut self,
        hash: BlockHash,
        data: &[u8],
        links: &[BlockHash],
    ) -> Result<(BlockHash, bool)> {
        debug_assert_eq!(hash, BlockHash::of(data));
        let _fence = self
            .store
            .inner
            .gc_fence
            .read()
            .unwrap_or_else(|p| p.into_inner());
        *lock(&self.store.inner.staged).entry(hash).or_insert(0) += 1;
        self.hashes.push(hash);
        let new = self.store.write_block(&hash, data, links)?;
        if new {
            self.new_blocks += 1;
            self.new_bytes += data.len() as u64;
        }
        Ok((hash, new))
    }

    /// Blocks this stage wrote that were not stored before, and their bytes.
    pub fn new_data(&self) -> (u64, u64) {
        (self.new_blocks, self.new_bytes)
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.store.unstage(&self.hashes);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the guarded data inconsistent
    // (it is either `()` or a set that is only added to / removed from atomically).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn block_key(hash: &BlockHash) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = prefix::BLOCK;
    k[1..].copy_from_slice(hash.as_bytes());
    k
}

pub(crate) fn pack_key(hash: &BlockHash) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = prefix::PACKED;
    k[1..].copy_from_slice(hash.as_bytes());
    k
}

/// Bytes of the block stored under key `k` with value `v` (inline or packed).
fn stored_len(k: &[u8], v: &[u8]) -> Result<u64> {
    if k.first() == Some(&prefix::PACKED) {
        Ok(pack::Location::decode(v)?.len as u64)
    } else {
        Ok(v.len() as u64)
    }
}

pub(crate) fn ref_key(hash: &BlockHash) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = prefix::REFS;
    k[1..].copy_from_slice(hash.as_bytes());
    k
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // postcard cannot fail for our plain data types; an empty vec would be detected
    // on decode, never silently accepted.
    postcard::to_allocvec(v).unwrap_or_default()
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests;

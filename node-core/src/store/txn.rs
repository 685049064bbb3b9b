//! Write transactions: one sled batch, applied atomically and flushed on commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;

use super::{BlockHash, RefRecord, Result, Store, StoreError, encode, prefix, ref_key};

/// An open write transaction. Holds the store's writer lock until committed or dropped;
/// dropping it without [`commit`](WriteTxn::commit) changes no metadata (block bytes it
/// wrote stay unreferenced, and GC frees them).
pub struct WriteTxn<'s> {
    store: &'s Store,
    _writer: MutexGuard<'s, ()>,
    /// Metadata writes of upper layers: `None` = delete.
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Reference records touched by this transaction.
    refs: HashMap<BlockHash, RefRecord>,
}

impl<'s> WriteTxn<'s> {
    pub(super) fn new(store: &'s Store, writer: MutexGuard<'s, ()>) -> Self {
        Self {
            store,
            _writer: writer,
            overlay: BTreeMap::new(),
            refs: HashMap::new(),
        }
    }

    /// The store this transaction writes to.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Store a block (if new) with the blocks it links to. Does not reference it: call
    /// [`incref`](Self::incref) from whatever root or parent points at it.
    pub fn put_block(&mut self, data: &[u8], links: &[BlockHash]) -> Result<BlockHash> {
        let hash = BlockHash::of(data);
        self.store.write_block(&hash, data, links)?;
        Ok(hash)
    }

    /// Add one reference to `hash`. If the block becomes live, its links are counted.
    pub fn incref(&mut self, hash: &BlockHash) -> Result<()> {
        let mut todo = vec![*hash];
        while let Some(h) = todo.pop() {
            let rec = self.record_mut(&h)?;
            rec.rc += 1;
            if !rec.held {
                rec.held = true;
                todo.extend(rec.links.iter().copied());
            }
        }
        Ok(())
    }

    /// Remove one reference from `hash`. A block that drops to zero is freed by GC.
    pub fn decref(&mut self, hash: &BlockHash) -> Result<()> {
        let rec = self.record_mut(hash)?;
        if rec.rc == 0 {
            return Err(StoreError::Malformed(format!(
                "reference count of {hash} would go below zero"
            )));
        }
        rec.rc -= 1;
        Ok(())
    }

    fn record_mut(&mut self, hash: &BlockHash) -> Result<&mut RefRecord> {
        if !self.refs.contains_key(hash) {
            let rec = self
                .store
                .ref_record(hash)?
                .ok_or(StoreError::Missing(*hash))?;
            self.refs.insert(*hash, rec);
        }
        self.refs.get_mut(hash).ok_or(StoreError::Missing(*hash))
    }

    /// Read a metadata key, seeing this transaction's own writes.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.store.get(key),
        }
    }

    /// Set a metadata key. Keys starting with the store's own prefixes are refused.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        debug_assert!(!prefix::is_store_key(&key));
        self.overlay.insert(key, Some(value));
    }

    /// Delete a metadata key.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.overlay.insert(key, None);
    }

    /// Metadata keys with `prefix`, in order, seeing this transaction's own writes.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.store.scan_prefix(prefix)?.into_iter().collect();
        for (k, v) in self
            .overlay
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Whether any metadata key with `prefix` exists, seeing this transaction's writes.
    pub fn any_with_prefix(&self, prefix: &[u8]) -> Result<bool> {
        let overlay = self
            .overlay
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix));
        let mut removed = std::collections::HashSet::new();
        for (k, v) in overlay {
            if v.is_some() {
                return Ok(true);
            }
            removed.insert(k.clone());
        }
        for kv in self.store.tree().scan_prefix(prefix) {
            let (k, _) = kv?;
            if !removed.contains(k.as_ref()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Apply everything atomically and make it durable before returning.
    pub fn commit(self) -> Result<()> {
        self.commit_inner(true)
    }

    /// Apply atomically without waiting for the disk (for bulk work that flushes once).
    pub fn commit_unflushed(self) -> Result<()> {
        self.commit_inner(false)
    }

    fn commit_inner(self, flush: bool) -> Result<()> {
        let mut batch = sled::Batch::default();
        // Bytes of packed blocks this commit may reference become durable first.
        self.store.sync_packs(&mut batch)?;
        for (k, v) in self.overlay {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        for (h, rec) in &self.refs {
            batch.insert(ref_key(h).to_vec(), encode(rec));
        }
        self.store.tree().apply_batch(batch)?;
        if flush {
            self.store.flush()?;
        }
        Ok(())
    }
}

//! Blobs: byte strings of any size, split into chunks so each part can be fetched and
//! verified alone (the verified-streaming idea of blake3/bao, at chunk granularity).
//!
//! A blob of at most [`CHUNK_SIZE`] bytes is one raw block. A larger blob is a *chunk
//! list* block — magic, total size, then the digest of every chunk in order — linking
//! to its chunks; every chunk but the last is exactly `CHUNK_SIZE` bytes. A [`BlobRef`]
//! (digest + size) therefore says which form it names, and a reader can check every
//! block it receives against the digest it expected before using a byte of it.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::{BlockHash, Result, Stage, Store, StoreError, WriteTxn};

/// Size of one chunk (a power of two, so chunk boundaries align with blake3's tree).
pub const CHUNK_SIZE: usize = 256 * 1024;

const LIST_MAGIC: &[u8; 4] = b"LCL1";

/// A stored byte string: the digest of its root block and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlobRef {
    pub hash: BlockHash,
    pub size: u64,
}

impl BlobRef {
    /// Whether the root block is a chunk list rather than the content itself.
    pub fn is_chunked(&self) -> bool {
        self.size > CHUNK_SIZE as u64
    }

    /// Store `data` as a blob.
    pub fn put(sink: &mut impl BlockSink, data: &[u8]) -> Result<BlobRef> {
        Self::put_reader(sink, data)
    }

    /// Store everything `reader` yields as a blob, one chunk in memory at a time.
    pub fn put_reader(sink: &mut impl BlockSink, mut reader: impl Read) -> Result<BlobRef> {
        let mut chunks = Vec::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            let n = read_full(&mut reader, &mut buf)?;
            if n == 0 && !chunks.is_empty() {
                break;
            }
            chunks.push(sink.put_block(&buf[..n], &[])?);
            size += n as u64;
            if n < CHUNK_SIZE {
                break;
            }
        }
        if chunks.len() == 1 {
            return Ok(BlobRef {
                hash: chunks[0],
                size,
            });
        }
        let list = encode_list(size, &chunks);
        let hash = sink.put_block(&list, &chunks)?;
        Ok(BlobRef { hash, size })
    }

    /// Digests of the blocks that make up this blob (the list first, if any).
    pub fn blocks(&self, store: &Store) -> Result<Vec<BlockHash>> {
        let mut out = vec![self.hash];
        if self.is_chunked() {
            out.extend(decode_list(self, &store.get_block(&self.hash)?)?);
        }
        Ok(out)
    }
}

/// Anything blocks can be written to: a transaction or a stage.
pub trait BlockSink {
    fn put_block(&mut self, data: &[u8], links: &[BlockHash]) -> Result<BlockHash>;
}

impl BlockSink for WriteTxn<'_> {
    fn put_block(&mut self, data: &[u8], links: &[BlockHash]) -> Result<BlockHash> {
        WriteTxn::put_block(self, data, links)
    }
}

impl BlockSink for Stage {
    fn put_block(&mut self, data: &[u8], links: &[BlockHash]) -> Result<BlockHash> {
        Ok(self.put(data, links)?.0)
    }
}

/// Reads a blob, verifying every block.
#[derive(Clone)]
pub struct BlobReader {
    store: Store,
    blob: BlobRef,
    chunks: Vec<BlockHash>,
}

impl BlobReader {
    pub fn open(store: &Store, blob: BlobRef) -> Result<BlobReader> {
        let chunks = if blob.is_chunked() {
            decode_list(&blob, &store.get_block(&blob.hash)?)?
        } else {
            vec![blob.hash]
        };
        Ok(BlobReader {
            store: store.clone(),
            blob,
            chunks,
        })
    }

    pub fn size(&self) -> u64 {
        self.blob.size
    }

    /// The whole content.
    pub fn read_all(&self) -> Result<Vec<u8>> {
        self.read_range(0, self.blob.size)
    }

    /// `len` bytes from `offset` (clamped to the end).
    pub fn read_range(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let end = offset.saturating_add(len).min(self.blob.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut pos = offset;
        while pos < end {
            let idx = (pos / CHUNK_SIZE as u64) as usize;
            let chunk = self.chunk(idx)?;
            let start = (pos % CHUNK_SIZE as u64) as usize;
            let take = ((end - pos) as usize).min(chunk.len().saturating_sub(start));
            if take == 0 {
                return Err(StoreError::Malformed(format!(
                    "blob {} is shorter than its size",
                    self.blob.hash
                )));
            }
            out.extend_from_slice(&chunk[start..start + take]);
            pos += take as u64;
        }
        Ok(out)
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Chunk `idx`, verified, with its length checked against the blob's layout.
    pub fn chunk(&self, idx: usize) -> Result<Vec<u8>> {
        let hash = self
            .chunks
            .get(idx)
            .ok_or_else(|| StoreError::Malformed(format!("chunk {idx} out of range")))?;
        let data = self.store.get_block(hash)?;
        let expected = expected_chunk_len(self.blob.size, idx);
        if data.len() as u64 != expected {
            return Err(StoreError::Malformed(format!(
                "chunk {idx} of blob {} has {} bytes, expected {expected}",
                self.blob.hash,
                data.len()
            )));
        }
        Ok(data)
    }
}

fn expected_chunk_len(size: u64, idx: usize) -> u64 {
    let start = idx as u64 * CHUNK_SIZE as u64;
    size.saturating_sub(start).min(CHUNK_SIZE as u64)
}

fn encode_list(size: u64, chunks: &[BlockHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + chunks.len() * 32);
    out.extend_from_slice(LIST_MAGIC);
    out.extend_from_slice(&size.to_le_bytes());
    for c in chunks {
        out.extend_from_slice(c.as_bytes());
    }
    out
}

/// Parse a chunk list and check it agrees with the blob it is supposed to describe.
pub(crate) fn decode_list(blob: &BlobRef, bytes: &[u8]) -> Result<Vec<BlockHash>> {
    let bad = |why: &str| StoreError::Malformed(format!("chunk list {}: {why}", blob.hash));
    if bytes.len() < 12 || &bytes[..4] != LIST_MAGIC || !(bytes.len() - 12).is_multiple_of(32) {
        return Err(bad("bad header"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&bytes[4..12]);
    if u64::from_le_bytes(size) != blob.size {
        return Err(bad("size does not match"));
    }
    let n = (bytes.len() - 12) / 32;
    if n as u64 != blob.size.div_ceil(CHUNK_SIZE as u64) {
        return Err(bad("chunk count does not match size"));
    }
    bytes[12..]
        .chunks_exact(32)
        .map(|c| BlockHash::from_slice(c).map_err(|e| bad(&e.to_string())))
        .collect()
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

//! Pack files: the bytes of blocks larger than [`INLINE_MAX`], appended to files in
//! `<store>/packs/` and fsynced by the commit that first references them.
//!
//! Why not keep them in sled: sled 0.34 stores large values in separate blob files that
//! its flush does not fsync (spacejam/sled#1077), so an acknowledged large block could be
//! lost on power failure. Small blocks stay inline in sled, whose log *is* fsynced.
//!
//! ## Rules that keep it crash-safe
//! - A block's location (pack id, offset, length) goes into the sled tree under
//!   `P<hash>` when it is written; its bytes may not be durable yet.
//! - Every commit first fsyncs the pack being written (and the `packs` directory when a
//!   file was created) and then records, in the same sled batch as its metadata, how
//!   many bytes of that pack are durable (`Q<pack id>`). A committed version therefore
//!   only points at bytes below a recorded durable length.
//! - A process never appends to a pack of an earlier run: after a crash the torn tail of
//!   a pack is never written again, and a location from an earlier run beyond its pack's
//!   recorded durable length (sled may have flushed the location, not the bytes) counts
//!   as absent: reads report the block missing, writes store it again.
//! - Pack ids come from a counter in sled that is made durable before the file is
//!   created, so a new pack never reuses the id of one an earlier run lost.
//! - Every read is verified against the digest by the caller (`Store::get_block`).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::{Result, StoreError, lock, prefix};

/// Blocks larger than this go to pack files; smaller ones stay in sled.
pub const INLINE_MAX: usize = 4096;

/// A pack is closed and a new one started beyond this size.
const PACK_MAX: u64 = 1 << 30;

/// Folder of the pack files inside the store directory.
pub const PACKS_DIR: &str = "packs";

/// Where a packed block's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub pack: u32,
    pub offset: u64,
    pub len: u32,
}

impl Location {
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.pack.to_le_bytes());
        b[4..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Location> {
        if b.len() != 16 {
            return Err(StoreError::Malformed(format!(
                "pack location of {} bytes",
                b.len()
            )));
        }
        let mut p = [0u8; 4];
        let mut o = [0u8; 8];
        let mut l = [0u8; 4];
        p.copy_from_slice(&b[..4]);
        o.copy_from_slice(&b[4..12]);
        l.copy_from_slice(&b[12..]);
        Ok(Location {
            pack: u32::from_le_bytes(p),
            offset: u64::from_le_bytes(o),
            len: u32::from_le_bytes(l),
        })
    }

    fn end(&self) -> u64 {
        self.offset.saturating_add(self.len as u64)
    }
}

/// Key of the durable length of pack `id`.
pub(crate) fn len_key(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = prefix::PACK_LEN;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Key of the next-pack-id counter.
const NEXT_KEY: [u8; 1] = [prefix::PACK_LEN];

struct Writer {
    /// Pack being appended to (created on the first write of this run).
    current: Option<(u32, File)>,
    len: u64,
    synced: u64,
    /// Whether a pack file was created since the directory was last fsynced.
    dir_dirty: bool,
    /// Durable lengths fsynced but not yet recorded in sled.
    unrecorded: Vec<(u32, u64)>,
}

pub(crate) struct Packs {
    dir: PathBuf,
    db: sled::Db,
    writer: Mutex<Writer>,
    readers: RwLock<HashMap<u32, Arc<File>>>,
    /// Durable lengths of packs written by earlier runs (fixed at open).
    earlier: HashMap<u32, u64>,
    /// Packs with ids from here on were created by this run.
    first_of_run: u32,
}

impl Packs {
    pub fn open(store_dir: &Path, db: &sled::Db) -> Result<Packs> {
        let mut earlier = HashMap::new();
        let mut next = 0u32;
        for kv in db.scan_prefix([prefix::PACK_LEN]) {
            let (k, v) = kv?;
            if k.len() == 1 {
                next = next.max(u32_of(&v)?);
            } else if k.len() == 5 {
                let id = u32::from_be_bytes([k[1], k[2], k[3], k[4]]);
                let len = u64::from_le_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Malformed("pack length record".into()))?,
                );
                earlier.insert(id, len);
                next = next.max(id.saturating_add(1));
            }
        }
        Ok(Packs {
            dir: store_dir.join(PACKS_DIR),
            db: db.clone(),
            writer: Mutex::new(Writer {
                current: None,
                len: 0,
                synced: 0,
                dir_dirty: false,
                unrecorded: Vec::new(),
            }),
            readers: RwLock::new(HashMap::new()),
            earlier,
            first_of_run: next,
        })
    }

    fn path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("pack-{id:08}"))
    }

    /// Whether `loc` names bytes that exist: always for packs of this run; for packs of
    /// earlier runs only below the length recorded as durable.
    pub fn valid(&self, loc: &Location) -> bool {
        loc.pack >= self.first_of_run
            || self
                .earlier
                .get(&loc.pack)
                .is_some_and(|&durable| loc.end() <= durable)
    }

    /// Append `data` to the current pack (not yet durable; see [`Packs::sync`]).
    pub fn append(&self, data: &[u8]) -> Result<Location> {
        let mut w = lock(&self.writer);
        let full = w.len.saturating_add(data.len() as u64) > PACK_MAX;
        if w.current.is_none() || full {
            self.rotate(&mut w)?;
        }
        let offset = w.len;
        let Some((id, file)) = w.current.as_mut() else {
            return Err(StoreError::Malformed("no pack open".into()));
        };
        let id = *id;
        if let Err(e) = file.write_all(data) {
            // A partial append leaves garbage nothing points at; start a fresh pack so
            // offsets stay right.
            w.current = None;
            return Err(e.into());
        }
        w.len += data.len() as u64;
        Ok(Location {
            pack: id,
            offset,
            len: data.len() as u32,
        })
    }

    /// Close the current pack (durably) and start the next.
    fn rotate(&self, w: &mut Writer) -> Result<()> {
        if let Some((id, file)) = w.current.take() {
            if w.len > w.synced {
                file.sync_data()?;
            }
            w.unrecorded.push((id, w.len));
        }
        if !self.dir.exists() {
            std::fs::create_dir_all(&self.dir)?;
            sync_dir(self.dir.parent().unwrap_or(Path::new(".")))?;
        }
        // Reserve the id durably before the file exists (see the module docs).
        let id = match self.db.get(NEXT_KEY)? {
            Some(v) => u32_of(&v)?.max(self.first_of_run),
            None => self.first_of_run,
        };
        self.db
            .insert(NEXT_KEY, &id.saturating_add(1).to_le_bytes())?;
        self.db.flush()?;
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.path(id))?;
        w.current = Some((id, file));
        w.len = 0;
        w.synced = 0;
        w.dir_dirty = true;
        Ok(())
    }

    /// Make every appended byte durable. Returns the durable lengths to record (as
    /// `(key, value)` pairs) in the batch of the commit that relies on them.
    pub fn sync(&self) -> Result<Vec<([u8; 5], [u8; 8])>> {
        let mut w = lock(&self.writer);
        if let Some((id, file)) = &w.current
            && w.len > w.synced
        {
            let id = *id;
            file.sync_data()?;
            let len = w.len;
            w.synced = len;
            w.unrecorded.push((id, len));
        }
        if w.dir_dirty {
            sync_dir(&self.dir)?;
            w.dir_dirty = false;
        }
        Ok(w.unrecorded
            .drain(..)
            .map(|(id, len)| (len_key(id), len.to_le_bytes()))
            .collect())
    }

    /// Read the bytes at `loc` (unverified; the caller checks the digest).
    pub fn read(&self, loc: &Location) -> Result<Vec<u8>> {
        let file = self.reader(loc.pack)?;
        let mut buf = vec![0u8; loc.len as usize];
        read_exact_at(&file, &mut buf, loc.offset)?;
        Ok(buf)
    }

    fn reader(&self, id: u32) -> Result<Arc<File>> {
        if let Some(f) = self
            .readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(self.path(id))?);
        self.readers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, f.clone());
        Ok(f)
    }

    /// Delete every pack not in `live` except the one being written; returns the
    /// `Q` keys to remove. Call with no writer able to add locations (GC holds the
    /// store's writer lock and the GC fence).
    pub fn remove_unused(&self, live: &std::collections::HashSet<u32>) -> Result<Vec<[u8; 5]>> {
        let current = lock(&self.writer).current.as_ref().map(|(id, _)| *id);
        let mut removed = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(removed);
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix("pack-"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if Some(id) == current || live.contains(&id) {
                continue;
            }
            self.readers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            std::fs::remove_file(e.path())?;
            removed.push(len_key(id));
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Bytes of all pack files on disk.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

fn u32_of(v: &[u8]) -> Result<u32> {
    Ok(u32::from_le_bytes(v.try_into().map_err(|_| {
        StoreError::Malformed("pack id counter".into())
    })?))
}

/// Make a directory's entries (created or removed files) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Windows cannot open a directory as a file; NTFS journals its metadata.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

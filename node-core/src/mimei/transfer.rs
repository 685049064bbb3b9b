//! Import a directory of the local file system into a Mimei's `cur`, and export a
//! version back out.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::fs::EntryKind;
use super::{
    Entry, MimeiError, MimeiEvent, MimeiId, MimeiPath, Mimeis, Perm, Result, VersionRef, enc, key,
    prefix,
};
use crate::identity::UserId;
use crate::store::{BlobRef, Stage};

/// How far a long operation has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportStats {
    pub files: u64,
    pub bytes: u64,
    /// Files whose content differs from what `cur` had (including new files).
    pub changed: u64,
    /// Files of `cur` under the target that the directory no longer has.
    pub removed: u64,
    /// Symlinks and special files, which are not imported.
    pub skipped: u64,
    /// Blocks and bytes that were not in the store before (deduplication shows here).
    pub new_blocks: u64,
    pub new_bytes: u64,
    /// Files not read at all: same size, times and inode as when `cur` last took them
    /// from the same local path (the stat cache; like git's index).
    #[serde(default)]
    pub cached: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportStats {
    pub files: u64,
    pub bytes: u64,
    /// Reference entries (split-off Mimei), which have no content here.
    pub skipped: u64,
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MimeiError {
    let context = context.into();
    move |source| MimeiError::Io { context, source }
}

struct Found {
    path: MimeiPath,
    local: PathBuf,
    size: u64,
    stamp: Option<Stamp>,
}

/// What identifies a local file's content without reading it (as git's index does):
/// if all of it is unchanged, so is the content. `ctime` changes on every write and
/// cannot be set by tools like `touch`, so a restored mtime does not fool it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    local: Vec<u8>,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

/// A stat-cache entry: the stamp of the local file `cur`'s entry was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StatEntry {
    stamp: Stamp,
    blob: BlobRef,
}

/// Files changed this close to the import's start are not cached: a write in the same
/// timestamp tick as our read would leave the stamp unchanged ("racily clean" in git).
const RACY_NS: i128 = 2_000_000_000;

#[cfg(unix)]
fn stamp(local: &Path, meta: &std::fs::Metadata) -> Option<Stamp> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    Some(Stamp {
        local: local.as_os_str().as_bytes().to_vec(),
        size: meta.len(),
        mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        ino: meta.ino(),
        dev: meta.dev(),
    })
}

/// Without inode and ctime a stamp is not trustworthy: no stat cache.
#[cfg(not(unix))]
fn stamp(_local: &Path, _meta: &std::fs::Metadata) -> Option<Stamp> {
    None
}

fn stat_key(id: &MimeiId, path: &MimeiPath) -> Vec<u8> {
    key(prefix::STAT, id, &path.key_bytes())
}

fn walk(dir: &Path, base: &MimeiPath, out: &mut Vec<Found>, skipped: &mut u64) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(format!("reading {}", dir.display())))?
        .collect::<std::io::Result<_>>()
        .map_err(io(format!("reading {}", dir.display())))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let local = e.path();
        let name = e.file_name();
        let name = name.to_str().ok_or_else(|| MimeiError::InvalidPath {
            path: local.display().to_string(),
            why: "file name is not UTF-8".into(),
        })?;
        let path = base.join(name).map_err(|err| match err {
            MimeiError::InvalidPath { why, .. } => MimeiError::InvalidPath {
                path: local.display().to_string(),
                why,
            },
            other => other,
        })?;
        let meta = std::fs::symlink_metadata(&local)
            .map_err(io(format!("reading {}", local.display())))?;
        if meta.is_dir() {
            walk(&local, &path, out, skipped)?;
        } else if meta.is_file() {
            out.push(Found {
                stamp: stamp(&local, &meta),
                path,
                local,
                size: meta.len(),
            });
        } else {
            *skipped += 1;
        }
    }
    Ok(())
}

impl Mimeis {
    /// Make the directory `into` of `cur` mirror the local directory `src`: new and
    /// changed files are stored, files no longer in `src` are removed. Content is hashed
    /// and stored on all cores before one short transaction switches `cur` over, so the
    /// import is all-or-nothing.
    pub fn import_dir(
        &self,
        who: &UserId,
        id: &MimeiId,
        src: &Path,
        into: &MimeiPath,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<ImportStats> {
        self.check(who, id, Perm::Write)?;
        let start_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let mut found = Vec::new();
        let mut stats = ImportStats::default();
        // Walk the canonical path, so the local paths in stamps are canonical too.
        let src = &std::fs::canonicalize(src).map_err(io(format!("reading {}", src.display())))?;
        walk(src, into, &mut found, &mut stats.skipped)?;
        // What `cur` has now, and the stamps of the local files it came from: a file
        // whose stamp is unchanged and whose entry is still that blob is not read.
        let before: BTreeMap<MimeiPath, Entry> = self.cur_entries(id, into)?.into_iter().collect();
        let mut cache: BTreeMap<MimeiPath, StatEntry> = BTreeMap::new();
        let stat_base = key(prefix::STAT, id, &[]);
        let mut stat_dir = key(prefix::STAT, id, &into.key_bytes());
        if !into.is_root() {
            stat_dir.push(0);
        }
        for (k, v) in self.store.scan_prefix(&stat_dir)? {
            // A malformed hint is only a miss.
            if let (Ok(p), Ok(e)) = (
                MimeiPath::from_key_bytes(&k[stat_base.len()..]),
                postcard::from_bytes::<StatEntry>(&v),
            ) {
                cache.insert(p, e);
            }
        }
        let cached_blob = |f: &Found| -> Option<BlobRef> {
            let c = cache.get(&f.path)?;
            (f.stamp.as_ref() == Some(&c.stamp)
                && before.get(&f.path) == Some(&Entry::File(c.blob)))
            .then_some(c.blob)
        };
        let total = Progress {
            files_total: found.len() as u64,
            bytes_total: found.iter().map(|f| f.size).sum(),
            ..Progress::default()
        };
        progress(total);

        let next = AtomicUsize::new(0);
        let files_done = AtomicU64::new(0);
        let bytes_done = AtomicU64::new(0);
        // Each file's blob, and whether it came from the stat cache.
        let blobs: Mutex<Vec<Option<(BlobRef, bool)>>> = Mutex::new(vec![None; found.len()]);
        let cached = AtomicU64::new(0);
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .min(8);
        let stages: Vec<Stage> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| -> Result<Stage> {
                        let mut stage = self.store.stage();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(f) = found.get(i) else { break };
                            if let Some(blob) = cached_blob(f) {
                                cached.fetch_add(1, Ordering::Relaxed);
                                if let Ok(mut b) = blobs.lock() {
                                    b[i] = Some((blob, true));
                                }
                                bytes_done.fetch_add(blob.size, Ordering::Relaxed);
                                files_done.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            let file = std::fs::File::open(&f.local)
                                .map_err(io(format!("opening {}", f.local.display())))?;
                            let blob = BlobRef::put_reader(
                                &mut stage,
                                BufReader::with_capacity(256 * 1024, file),
                            )
                            .map_err(|e| match e {
                                crate::store::StoreError::Io(source) => MimeiError::Io {
                                    context: format!("reading {}", f.local.display()),
                                    source,
                                },
                                other => other.into(),
                            })?;
                            if let Ok(mut b) = blobs.lock() {
                                b[i] = Some((blob, false));
                            }
                            let p = Progress {
                                files_done: files_done.fetch_add(1, Ordering::Relaxed) + 1,
                                bytes_done: bytes_done.fetch_add(blob.size, Ordering::Relaxed)
                                    + blob.size,
                                ..total
                            };
                            progress(p);
                        }
                        Ok(stage)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(MimeiError::Corrupt("import worker panicked".into()))
                    })
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for st in &stages {
            let (b, n) = st.new_data();
            stats.new_blocks += b;
            stats.new_bytes += n;
        }
        stats.cached = cached.into_inner();
        let blobs = blobs
            .into_inner()
            .map_err(|_| MimeiError::Corrupt("import state poisoned".into()))?;

        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        let mut anc = Some(into.clone());
        while let Some(a) = anc {
            if a.is_root() {
                break;
            }
            if txn.get(&key(prefix::FILE, id, &a.key_bytes()))?.is_some() {
                return Err(MimeiError::NotADirectory(a.to_string()));
            }
            anc = a.parent();
        }
        let mut existing: BTreeMap<MimeiPath, Entry> =
            self.cur_entries(id, into)?.into_iter().collect();
        for (f, blob) in found.iter().zip(blobs) {
            let (mut blob, from_cache) =
                blob.ok_or_else(|| MimeiError::Corrupt("import lost a file".into()))?;
            let now = existing.remove(&f.path);
            if from_cache && now != Some(Entry::File(blob)) {
                // Taken from the stat cache, but `cur` changed meanwhile, so nothing
                // holds the blob any more: read the file again under the lock (GC
                // waits for it), so every block this entry points at exists.
                let file = std::fs::File::open(&f.local)
                    .map_err(io(format!("opening {}", f.local.display())))?;
                blob = BlobRef::put_reader(&mut txn, BufReader::with_capacity(256 * 1024, file))?;
            }
            stats.files += 1;
            stats.bytes += blob.size;
            if now != Some(Entry::File(blob)) {
                stats.changed += 1;
                self.set_entry(&mut txn, id, &f.path, Some(Entry::File(blob)))?;
            }
            // Remember the stamp (unless the file changed too recently to trust it).
            let entry = f
                .stamp
                .as_ref()
                .filter(|s| s.mtime_ns < start_ns - RACY_NS && s.ctime_ns < start_ns - RACY_NS);
            let old = cache.remove(&f.path);
            match entry {
                Some(s) => {
                    let e = StatEntry {
                        stamp: s.clone(),
                        blob,
                    };
                    if old.as_ref() != Some(&e) {
                        txn.insert(stat_key(id, &f.path), enc(&e));
                    }
                }
                None if old.is_some() => txn.remove(stat_key(id, &f.path)),
                None => {}
            }
        }
        for path in existing.into_keys() {
            stats.removed += 1;
            self.set_entry(&mut txn, id, &path, None)?;
        }
        for path in cache.into_keys() {
            txn.remove(stat_key(id, &path));
        }
        txn.commit()?;
        drop(stages);
        self.emit(MimeiEvent::FilesChanged { id: *id });
        Ok(stats)
    }

    /// Write the files under `from` at version `v` into the local directory `dest`,
    /// which must not exist or be empty (an export never overwrites anything).
    pub fn export_dir(
        &self,
        who: &UserId,
        id: &MimeiId,
        v: VersionRef,
        from: &MimeiPath,
        dest: &Path,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<ExportStats> {
        let entries = self.list(who, id, v, from, true)?;
        if dest.exists() {
            let mut rd =
                std::fs::read_dir(dest).map_err(io(format!("reading {}", dest.display())))?;
            if rd.next().is_some() {
                return Err(MimeiError::PathExists(dest.display().to_string()));
            }
        }
        std::fs::create_dir_all(dest).map_err(io(format!("creating {}", dest.display())))?;
        let mut p = Progress {
            files_total: entries.iter().filter(|e| e.kind == EntryKind::File).count() as u64,
            bytes_total: entries.iter().filter_map(|e| e.size).sum(),
            ..Progress::default()
        };
        progress(p);
        let mut stats = ExportStats::default();
        for e in entries {
            let rel = e
                .path
                .strip_prefix(from)
                .ok_or_else(|| MimeiError::Corrupt("listing order".into()))?;
            let mut local = dest.to_path_buf();
            for n in rel.names() {
                local.push(n);
            }
            match e.kind {
                EntryKind::Dir => {
                    std::fs::create_dir_all(&local)
                        .map_err(io(format!("creating {}", local.display())))?;
                }
                EntryKind::Mimei => stats.skipped += 1,
                EntryKind::File => {
                    let reader = self.read_file(who, id, v, &e.path)?;
                    let tmp = local.with_file_name(format!(
                        ".{}.leither-part",
                        rel.file_name().unwrap_or("file")
                    ));
                    {
                        use std::io::Write;
                        let mut out = std::fs::File::create(&tmp)
                            .map_err(io(format!("creating {}", tmp.display())))?;
                        for i in 0..reader.chunk_count() {
                            out.write_all(&reader.chunk(i)?)
                                .map_err(io(format!("writing {}", tmp.display())))?;
                        }
                        out.sync_all()
                            .map_err(io(format!("writing {}", tmp.display())))?;
                    }
                    std::fs::rename(&tmp, &local)
                        .map_err(io(format!("writing {}", local.display())))?;
                    stats.files += 1;
                    stats.bytes += reader.size();
                    p.files_done += 1;
                    p.bytes_done += reader.size();
                    progress(p);
                }
            }
        }
        Ok(stats)
    }
}

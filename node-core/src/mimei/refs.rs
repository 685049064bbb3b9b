//! Links between Mimei: references (SPEC M6), split (§5.1) and fork (M8).

use super::version::Resolved;
use super::{
    Entry, MimeiError, MimeiEvent, MimeiId, MimeiInfo, MimeiPath, MimeiRef, Mimeis, NewMimei,
    Origin, Perm, Result, VersionRef, dec, enc, key, prefix,
};
use crate::identity::UserId;
use crate::store::WriteTxn;

impl Mimeis {
    /// References from `id` to other Mimei, with their counts.
    pub fn refs(&self, who: &UserId, id: &MimeiId) -> Result<Vec<MimeiRef>> {
        self.check(who, id, Perm::Read)?;
        let base = key(prefix::LINK, id, &[]);
        self.store
            .scan_prefix(&base)?
            .iter()
            .map(|(k, v)| parse_ref(&k[base.len()..], v))
            .collect()
    }

    pub(crate) fn refs_in(&self, txn: &WriteTxn<'_>, id: &MimeiId) -> Result<Vec<MimeiRef>> {
        let base = key(prefix::LINK, id, &[]);
        txn.scan_prefix(&base)?
            .iter()
            .map(|(k, v)| parse_ref(&k[base.len()..], v))
            .collect()
    }

    /// Change the reference count from `id` to `target` by `delta`; returns the new count.
    pub fn add_ref(&self, who: &UserId, id: &MimeiId, target: &MimeiId, delta: i64) -> Result<u64> {
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        let n = Self::add_ref_in(&mut txn, id, target, delta)?;
        txn.commit()?;
        self.emit(MimeiEvent::FilesChanged { id: *id });
        Ok(n)
    }

    fn add_ref_in(
        txn: &mut WriteTxn<'_>,
        id: &MimeiId,
        target: &MimeiId,
        delta: i64,
    ) -> Result<u64> {
        let k = key(prefix::LINK, id, target.as_bytes());
        let cur = match txn.get(&k)? {
            Some(v) => dec::<u64>(&v, "reference count")?,
            None => 0,
        };
        let n = cur
            .checked_add_signed(delta)
            .ok_or_else(|| MimeiError::InvalidField {
                field: "delta",
                why: format!("reference count {cur} cannot change by {delta}"),
            })?;
        if n == 0 {
            txn.remove(k)
        } else {
            txn.insert(k, enc(&n))
        }
        Ok(n)
    }

    /// Move the directory `path` of `id` into a new Mimei (marked `mark`, owned by `who`)
    /// and leave a reference entry in its place (§5.1).
    pub fn split(
        &self,
        who: &UserId,
        id: &MimeiId,
        path: &MimeiPath,
        mark: &str,
    ) -> Result<MimeiInfo> {
        let mut txn = self.store.write();
        let src = self.check_in(&txn, who, id, Perm::Write)?;
        if path.is_root() {
            return Err(MimeiError::InvalidPath {
                path: "/".into(),
                why: "cannot split off the root".into(),
            });
        }
        if txn
            .get(&key(prefix::FILE, id, &path.key_bytes()))?
            .is_some()
        {
            return Err(MimeiError::NotADirectory(path.to_string()));
        }
        let new = NewMimei {
            app_type: src.app_type.clone(),
            ext: src.ext.clone(),
            mark: mark.to_string(),
            rights: Some(src.rights),
        };
        let info = self.create_in(&mut txn, who, &new, None)?;
        let base = key(prefix::FILE, id, &[]);
        let mut inside = key(prefix::FILE, id, &path.key_bytes());
        inside.push(0);
        let moved = txn.scan_prefix(&inside)?;
        if moved.is_empty() {
            return Err(MimeiError::NoSuchPath(path.to_string()));
        }
        for (k, v) in moved {
            let p = MimeiPath::from_key_bytes(&k[base.len()..])?;
            let rel = p
                .strip_prefix(path)
                .ok_or_else(|| MimeiError::Corrupt("index order".into()))?;
            txn.remove(k);
            // Same blobs, same number of holders: reference counts do not change.
            txn.insert(key(prefix::FILE, &info.id, &rel.key_bytes()), v);
        }
        txn.insert(
            key(prefix::FILE, id, &path.key_bytes()),
            enc(&Entry::Link(info.id)),
        );
        Self::add_ref_in(&mut txn, id, &info.id, 1)?;
        txn.commit()?;
        self.emit(MimeiEvent::Created { id: info.id });
        self.emit(MimeiEvent::FilesChanged { id: *id });
        Ok(info)
    }

    /// Fork version `v` (a backup; `cur` is refused) of `id` into a new Mimei owned by
    /// `who`, marked `mark`, that records where it came from (M8).
    pub fn fork(&self, who: &UserId, id: &MimeiId, v: VersionRef, mark: &str) -> Result<MimeiInfo> {
        let src = self.check(who, id, Perm::Read)?;
        let record = match self.resolve(id, v)? {
            Resolved::Cur => {
                return Err(MimeiError::InvalidField {
                    field: "version",
                    why: "fork a backed-up version, not cur".into(),
                });
            }
            Resolved::Version(r) => r,
        };
        let files = self.file_map(id, VersionRef::Number(record.number))?;
        let rows = self.db_all_at(record.db_root)?;
        let mut txn = self.store.write();
        let new = NewMimei {
            app_type: src.app_type.clone(),
            ext: src.ext.clone(),
            mark: mark.to_string(),
            rights: None,
        };
        let origin = Origin {
            mimei: *id,
            version: record.number,
        };
        let info = self.create_in(&mut txn, who, &new, Some(origin))?;
        for (path, entry) in files {
            self.set_entry(&mut txn, &info.id, &path, Some(entry))?;
        }
        for row in rows {
            txn.insert(key(prefix::DB, &info.id, row.key.as_bytes()), row.value);
        }
        for r in &record.refs {
            txn.insert(
                key(prefix::LINK, &info.id, r.mimei.as_bytes()),
                enc(&r.count),
            );
        }
        txn.commit()?;
        self.emit(MimeiEvent::Created { id: info.id });
        Ok(info)
    }
}

fn parse_ref(target: &[u8], count: &[u8]) -> Result<MimeiRef> {
    let id = MimeiId::from_slice(target)
        .map_err(|e| MimeiError::Corrupt(format!("reference key: {e}")))?;
    Ok(MimeiRef {
        mimei: id,
        count: dec(count, "reference count")?,
    })
}

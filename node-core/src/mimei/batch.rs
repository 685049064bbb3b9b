//! Several file and database changes to one Mimei's `cur`, applied together (SPEC A4):
//! either every operation takes effect, durably, or none does.

use serde::{Deserialize, Serialize};

use super::fs::{check_can_place, file_key};
use super::{Entry, MimeiError, MimeiEvent, MimeiId, MimeiPath, Mimeis, Perm, Result, db};
use crate::identity::UserId;
use crate::store::BlobRef;

/// Most operations in one batch.
pub const MAX_BATCH_OPS: usize = 1000;

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchOp {
    DbPut { key: String, value: Vec<u8> },
    DbDelete { key: String },
    FilePut { path: MimeiPath, content: Vec<u8> },
    FileDelete { path: MimeiPath },
}

impl Mimeis {
    /// Apply `ops` to `cur` in one transaction. Nothing is written if any operation
    /// fails (an invalid key, a missing file to delete, a directory in the way, …).
    pub fn apply_batch(&self, who: &UserId, id: &MimeiId, ops: &[BatchOp]) -> Result<()> {
        if ops.len() > MAX_BATCH_OPS {
            return Err(MimeiError::TooLarge {
                what: "batch (operations)",
                size: ops.len(),
                max: MAX_BATCH_OPS,
            });
        }
        self.check(who, id, Perm::Write)?;
        for op in ops {
            match op {
                BatchOp::DbPut { key, value } => {
                    db::check_key(key)?;
                    if value.len() > db::MAX_DB_VALUE_LEN {
                        return Err(MimeiError::TooLarge {
                            what: "database value",
                            size: value.len(),
                            max: db::MAX_DB_VALUE_LEN,
                        });
                    }
                }
                BatchOp::DbDelete { key } => db::check_key(key)?,
                BatchOp::FilePut { path, .. } | BatchOp::FileDelete { path } => {
                    if path.is_root() {
                        return Err(MimeiError::IsADirectory("/".into()));
                    }
                }
            }
        }
        // File contents are stored as blocks first; they stay unreferenced (and GC
        // frees them) unless the transaction below commits.
        let mut stage = self.store.stage();
        let mut blobs = Vec::new();
        for op in ops {
            if let BatchOp::FilePut { content, .. } = op {
                blobs.push(BlobRef::put(&mut stage, content)?);
            }
        }
        let mut blobs = blobs.into_iter();
        let mut txn = self.store.write();
        self.check_in(&txn, who, id, Perm::Write)?;
        let (mut files, mut dbs) = (false, false);
        for op in ops {
            match op {
                BatchOp::DbPut { key, value } => {
                    txn.insert(db::db_key(id, key), value.clone());
                    dbs = true;
                }
                BatchOp::DbDelete { key } => {
                    txn.remove(db::db_key(id, key));
                    dbs = true;
                }
                BatchOp::FilePut { path, .. } => {
                    let blob = blobs
                        .next()
                        .ok_or_else(|| MimeiError::Corrupt("batch blob count".into()))?;
                    check_can_place(&txn, id, path)?;
                    self.set_entry(&mut txn, id, path, Some(Entry::File(blob)))?;
                    files = true;
                }
                BatchOp::FileDelete { path } => {
                    if txn.get(&file_key(id, path))?.is_none() {
                        return Err(MimeiError::NoSuchPath(path.to_string()));
                    }
                    self.set_entry(&mut txn, id, path, None)?;
                    files = true;
                }
            }
        }
        txn.commit()?;
        drop(stage);
        if files {
            self.emit(MimeiEvent::FilesChanged { id: *id });
        }
        if dbs {
            self.emit(MimeiEvent::DbChanged { id: *id });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mimei::{NewMimei, VersionRef};
    use crate::store::{Store, StoreConfig};

    fn setup() -> (tempfile::TempDir, Mimeis, UserId, MimeiId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let m = Mimeis::new(store);
        let u = UserId::from_bytes([7; 32]);
        let id = m
            .create(
                &u,
                &NewMimei {
                    mark: "b".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .id;
        (dir, m, u, id)
    }

    #[test]
    fn all_or_nothing() {
        let (_d, m, u, id) = setup();
        let p = MimeiPath::parse("a/x.txt").unwrap();
        m.apply_batch(
            &u,
            &id,
            &[
                BatchOp::DbPut {
                    key: "k".into(),
                    value: b"v".to_vec(),
                },
                BatchOp::FilePut {
                    path: p.clone(),
                    content: b"hello".to_vec(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            m.db_get(&u, &id, VersionRef::Cur, "k").unwrap().unwrap(),
            b"v"
        );
        let r = m.read_file(&u, &id, VersionRef::Cur, &p).unwrap();
        assert_eq!(r.read_all().unwrap(), b"hello");

        // The last op fails (no such file), so the put before it must not happen.
        let err = m
            .apply_batch(
                &u,
                &id,
                &[
                    BatchOp::DbPut {
                        key: "k2".into(),
                        value: b"v2".to_vec(),
                    },
                    BatchOp::FileDelete { path: p.clone() },
                    BatchOp::DbDelete { key: "k".into() },
                    BatchOp::FileDelete {
                        path: MimeiPath::parse("missing").unwrap(),
                    },
                ],
            )
            .unwrap_err();
        assert!(matches!(err, MimeiError::NoSuchPath(_)), "{err}");
        assert!(m.db_get(&u, &id, VersionRef::Cur, "k2").unwrap().is_none());
        assert!(m.db_get(&u, &id, VersionRef::Cur, "k").unwrap().is_some());
        assert!(m.read_file(&u, &id, VersionRef::Cur, &p).is_ok());

        // A file where a directory is: refused, nothing written.
        let err = m
            .apply_batch(
                &u,
                &id,
                &[
                    BatchOp::DbPut {
                        key: "k3".into(),
                        value: b"v".to_vec(),
                    },
                    BatchOp::FilePut {
                        path: MimeiPath::parse("a").unwrap(),
                        content: b"x".to_vec(),
                    },
                ],
            )
            .unwrap_err();
        assert!(matches!(err, MimeiError::IsADirectory(_)), "{err}");
        assert!(m.db_get(&u, &id, VersionRef::Cur, "k3").unwrap().is_none());

        // Someone without write rights changes nothing.
        let stranger = UserId::from_bytes([9; 32]);
        assert!(matches!(
            m.apply_batch(&stranger, &id, &[BatchOp::DbDelete { key: "k".into() }]),
            Err(MimeiError::PermissionDenied { .. })
        ));
    }
}

//! A Mimei's database used by its owner as a private key-value space: how other
//! modules (social, orgs, apps) keep the user's own data as Mimei — versioned,
//! replicable, and found again after recovery because the ID derives from the user.

use super::{DbRange, MimeiError, MimeiId, Mimeis, NewMimei, Result, Rights, VersionRef};
use crate::identity::UserId;

/// Puts (`Some`) and deletes (`None`) applied together.
pub type DbOps = Vec<(String, Option<Vec<u8>>)>;

/// The `cur` database of one Mimei, read and written by its owner.
#[derive(Clone)]
pub struct OwnedDb {
    mimeis: Mimeis,
    owner: UserId,
    id: MimeiId,
}

impl Mimeis {
    /// Create the Mimei if it does not exist yet; its ID either way.
    pub fn ensure(&self, owner: &UserId, new: &NewMimei) -> Result<MimeiId> {
        match self.create(owner, new) {
            Ok(info) => Ok(info.id),
            Err(MimeiError::AlreadyExists(id)) => Ok(id),
            Err(e) => Err(e),
        }
    }
}

impl OwnedDb {
    /// The database of `owner`'s Mimei (`app_type`, mark), created private if needed.
    pub fn open(
        mimeis: &Mimeis,
        owner: &UserId,
        app_type: &str,
        mark: &str,
        rights: Option<Rights>,
    ) -> Result<OwnedDb> {
        let new = NewMimei {
            app_type: app_type.into(),
            ext: String::new(),
            mark: mark.into(),
            rights,
        };
        let id = mimeis.ensure(owner, &new)?;
        Ok(OwnedDb {
            mimeis: mimeis.clone(),
            owner: *owner,
            id,
        })
    }

    pub fn id(&self) -> MimeiId {
        self.id
    }

    pub fn mimeis(&self) -> &Mimeis {
        &self.mimeis
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.mimeis
            .db_get(&self.owner, &self.id, VersionRef::Cur, key)
    }

    /// Entries whose key starts with `prefix`, in key order, at most `limit`.
    pub fn scan(&self, prefix: &str, limit: Option<usize>) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan_range(&DbRange {
            prefix: Some(prefix.to_string()),
            limit,
            ..Default::default()
        })
    }

    pub fn scan_range(&self, range: &DbRange) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .mimeis
            .db_scan(&self.owner, &self.id, VersionRef::Cur, range)?
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect())
    }

    /// Apply all puts and deletes atomically (and durably).
    pub fn write(&self, ops: &[(String, Option<Vec<u8>>)]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.mimeis.db_write(&self.owner, &self.id, ops)
    }
}

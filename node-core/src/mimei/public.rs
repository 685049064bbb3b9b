//! What anyone may read without an account: the `release` of a Mimei whose rights let
//! guests read (SPEC P6, served by the HTTP bridge).

use super::tree::{self, Node};
use super::{DirEntry, MimeiId, MimeiPath, Mimeis, Perm, Result, VersionRecord};

impl Mimeis {
    /// The published version of `id` if the public may read it: `Ok(None)` when the
    /// Mimei's guests lack read rights or nothing is released. `NotFound` if the Mimei
    /// is not on this node.
    pub fn public_release(&self, id: &MimeiId) -> Result<Option<VersionRecord>> {
        let info = self.info(id)?;
        if !info.rights.guest.allows(Perm::Read) {
            return Ok(None);
        }
        match self.heads(id)?.release {
            Some(n) => self.version(id, n).map(Some),
            None => Ok(None),
        }
    }

    /// What `path` is in the backed-up version `v` (no permission check: the caller
    /// got `v` from [`Mimeis::public_release`] or checked rights itself).
    pub fn stat_in_version(&self, v: &VersionRecord, path: &MimeiPath) -> Result<Option<DirEntry>> {
        Ok(tree::lookup(&self.store, &v.fs_root, path)?
            .map(|n: Node| DirEntry::from_node(path.clone(), n)))
    }
}

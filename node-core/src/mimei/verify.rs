//! Checking a Mimei end to end, like `git fsck`: every block of `cur` and of every
//! version is read and checked against its digest and its format.

use serde::{Deserialize, Serialize};

use super::tree::{self, Node};
use super::{Entry, MimeiId, MimeiPath, Mimeis, Perm, Result};
use crate::identity::UserId;
use std::collections::HashSet;

use crate::store::{BlobReader, BlobRef, BlockHash};

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub versions: u64,
    pub files: u64,
    pub bytes: u64,
    /// One line per problem; empty when everything is intact.
    pub problems: Vec<String>,
}

impl Mimeis {
    /// Read and check every block `cur` and every version of `id` need.
    pub fn verify(&self, who: &UserId, id: &MimeiId) -> Result<VerifyReport> {
        self.check(who, id, Perm::Read)?;
        let mut r = VerifyReport::default();
        // Versions share most blocks: read each one once.
        let mut seen = HashSet::new();
        let heads = self.heads(id)?;
        let log = self.log(who, id)?;
        for (i, v) in log.iter().enumerate() {
            if v.number != i as u64 {
                r.problems.push(format!(
                    "version numbers are not contiguous at {}",
                    v.number
                ));
            }
        }
        if heads.last != log.last().map(|v| v.number) || heads.next != log.len() as u64 {
            r.problems.push(format!(
                "heads {heads:?} do not match the {} versions",
                log.len()
            ));
        }
        if heads.release.is_some_and(|n| n >= heads.next) {
            r.problems
                .push(format!("release {:?} is not a version", heads.release));
        }
        for v in &log {
            r.versions += 1;
            let mut nodes = Vec::new();
            let at = format!("version {}", v.number);
            if let Err(e) = tree::walk(
                &self.store,
                &v.fs_root,
                &MimeiPath::root(),
                true,
                &mut nodes,
            ) {
                r.problems.push(format!("{at}: file tree: {e}"));
            }
            let (mut files, mut bytes) = (0, 0);
            for (path, node) in nodes {
                if let Node::File(b) = node {
                    files += 1;
                    bytes += b.size;
                    self.check_blob(&mut r, &mut seen, &format!("{at}: {path}"), b);
                }
            }
            if (files, bytes) != (v.files, v.bytes) {
                r.problems.push(format!(
                    "{at}: has {files} files / {bytes} bytes, record says {} / {}",
                    v.files, v.bytes
                ));
            }
            if let Err(e) = self
                .db_all_at(v.db_root)
                .map(|rows| rows.len() as u64)
                .and_then(|n| {
                    (n == v.db_entries).then_some(()).ok_or_else(|| {
                        super::MimeiError::Corrupt(format!(
                            "{n} database entries, record says {}",
                            v.db_entries
                        ))
                    })
                })
            {
                r.problems.push(format!("{at}: database: {e}"));
            }
        }
        for (path, e) in self.cur_entries(id, &MimeiPath::root())? {
            if let Entry::File(b) = e {
                self.check_blob(&mut r, &mut seen, &format!("cur: {path}"), b);
            }
        }
        Ok(r)
    }

    fn check_blob(
        &self,
        r: &mut VerifyReport,
        seen: &mut HashSet<BlockHash>,
        at: &str,
        b: BlobRef,
    ) {
        let res = BlobReader::open(&self.store, b).and_then(|reader| {
            for (i, hash) in b
                .blocks(&self.store)?
                .into_iter()
                .skip(usize::from(b.is_chunked()))
                .enumerate()
            {
                if seen.insert(hash) {
                    reader.chunk(i)?;
                }
            }
            Ok(())
        });
        match res {
            Ok(()) => {
                r.files += 1;
                r.bytes += b.size;
            }
            Err(e) => r.problems.push(format!("{at}: {e}")),
        }
    }
}

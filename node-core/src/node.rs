//! `Node` wires the parts of a running node together. It holds handles, not logic:
//! each capability lives in its own module and the API calls it through these handles.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::identity::UserId;
use crate::mimei::Mimeis;
use crate::store::{Store, StoreConfig, StoreError};

/// Folder of the block store inside the data directory.
pub const STORE_DIR: &str = "store";

/// A running node: cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    config: Config,
    user: UserId,
    store: Store,
    mimeis: Mimeis,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("opening the store in {dir}: {source}")]
    Store { dir: PathBuf, source: StoreError },
}

impl Node {
    /// Open the node whose data lives in `data_dir`, acting for `user`.
    pub fn open(data_dir: &Path, config: Config, user: UserId) -> Result<Node, NodeError> {
        let dir = data_dir.join(STORE_DIR);
        let store = Store::open(
            &dir,
            &StoreConfig {
                cache_bytes: config.store.cache_mib * 1024 * 1024,
            },
        )
        .map_err(|source| NodeError::Store { dir, source })?;
        let mimeis = Mimeis::new(store.clone());
        Ok(Node {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                config,
                user,
                store,
                mimeis,
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The user this node acts for.
    pub fn user(&self) -> &UserId {
        &self.inner.user
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn mimeis(&self) -> &Mimeis {
        &self.inner.mimeis
    }
}

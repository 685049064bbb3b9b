//! `Node` wires the parts of a running node together. It holds handles, not logic:
//! each capability lives in its own module and the API calls it through these handles.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::apps::Apps;
use crate::config::Config;
use crate::identity::{Identity, PublicIdentity, UserId};
use crate::mimei::Mimeis;
use crate::people::{People, PeopleError};
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
    identity: PublicIdentity,
    store: Store,
    mimeis: Mimeis,
    /// Friends, messages and orgs: there once the user's keys are unlocked.
    people: std::sync::OnceLock<People>,
    apps: Apps,
    net: Mutex<Option<crate::net::NetHandle>>,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("opening the store in {dir}: {source}")]
    Store { dir: PathBuf, source: StoreError },
}

impl Node {
    /// Open the node whose data lives in `data_dir`, acting for the user of `identity`.
    /// Local storage needs only the public identity; the secret keys are unlocked by
    /// what needs to sign (the network), so local commands never ask for a passphrase.
    pub fn open(
        data_dir: &Path,
        config: Config,
        identity: PublicIdentity,
    ) -> Result<Node, NodeError> {
        let dir = data_dir.join(STORE_DIR);
        let store = Store::open(
            &dir,
            &StoreConfig {
                cache_bytes: config.limits().store_cache_mib * 1024 * 1024,
            },
        )
        .map_err(|source| NodeError::Store { dir, source })?;
        let mimeis = Mimeis::new(store.clone());
        let apps = Apps::new(mimeis.clone(), identity.user);
        Ok(Node {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_path_buf(),
                config,
                identity,
                store,
                mimeis,
                people: std::sync::OnceLock::new(),
                apps,
                net: Mutex::new(None),
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
        &self.inner.identity.user
    }

    /// Who this node and its user are (public part only).
    pub fn identity(&self) -> &PublicIdentity {
        &self.inner.identity
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn mimeis(&self) -> &Mimeis {
        &self.inner.mimeis
    }

    /// Installed Mimei apps, their sessions and background tasks.
    pub fn apps(&self) -> &Apps {
        &self.inner.apps
    }
}

impl Node {
    /// Start the people service (friends, messages, orgs) with the unlocked keys of
    /// this node's user. Once per node; later calls return the running service.
    pub fn start_people(&self, keys: Arc<Identity>) -> Result<People, PeopleError> {
        if let Some(p) = self.inner.people.get() {
            return Ok(p.clone());
        }
        if keys.user_id() != *self.user() {
            return Err(PeopleError::Invalid(
                "these keys belong to another user".into(),
            ));
        }
        let p = People::open(self.inner.mimeis.clone(), keys)?;
        Ok(self.inner.people.get_or_init(|| p).clone())
    }

    /// The people service, if the keys are unlocked (`leither run` unlocks them).
    pub fn people(&self) -> Option<&People> {
        self.inner.people.get()
    }

    /// The network, once started ([`crate::net::start`]); `None` for a local-only node.
    pub fn net(&self) -> Option<crate::net::NetHandle> {
        self.net_slot().clone()
    }

    /// Attach the started network.
    pub fn set_net(&self, net: crate::net::NetHandle) {
        *self.net_slot() = Some(net);
    }

    /// Stop the network (the node keeps working locally).
    pub async fn stop_net(&self) {
        let net = self.net_slot().take();
        if let Some(net) = net {
            net.shutdown().await;
        }
    }

    fn net_slot(&self) -> std::sync::MutexGuard<'_, Option<crate::net::NetHandle>> {
        self.inner.net.lock().unwrap_or_else(|p| p.into_inner())
    }
}

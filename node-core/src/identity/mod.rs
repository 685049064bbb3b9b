//! Who this node is and whom it belongs to (SPEC N2, N3).
//!
//! A **user** is an ed25519 key derived from a 24-word recovery phrase ([`RecoveryPhrase`]);
//! a **node** (one device) has its own random ed25519 key; a **device certificate**
//! ([`DeviceCert`], signed by the user) binds the node to the user. IDs are the public
//! keys ([`UserId`], [`NodeId`]); ledger accounts are `blake3(public key)[..20]`
//! ([`AccountId`]). Everything signed travels in one envelope, [`Signed<T>`], with a
//! domain tag per record kind.
//!
//! What this module owns in a data directory:
//!
//! | file | contents | secret? |
//! |---|---|---|
//! | `identity.json` | user, node and account IDs, the device certificate, which backend holds the secrets | no |
//! | `keys.enc` | only with the file backend: the two secrets, Argon2id + XChaCha20-Poly1305 | encrypted |
//!
//! With the keyring backend the secrets are in the OS keyring (service `leither`).
//!
//! Invariants:
//! - The user secret never leaves the key store except as the recovery phrase, shown on
//!   request ([`Identity::recovery_phrase`]); other code signs with it through
//!   [`Identity::user_keypair`] but cannot read it. The node secret leaves only towards
//!   the transport ([`Identity::node_secret_key_bytes`]), so PeerId and NodeId are one key.
//! - No secret is ever written in plaintext, logged, or put in an error message.
//! - `identity.json` exists only once the secrets are stored: it is written last, and a
//!   create that fails before that removes what it stored. Nothing here overwrites an
//!   existing identity.
//! - A loaded identity is consistent: the stored secrets produce exactly the IDs in
//!   `identity.json`, and the device certificate verifies for that user and node.
//! - The same recovery phrase gives the same [`UserId`] on any machine; recovering on a
//!   new machine makes a new node key and certificate (a new device of the same user).

mod device;
mod error;
mod ids;
mod keyfile;
mod keys;
mod keystore;
mod phrase;
mod seal;
mod signed;

pub use device::{DeviceCert, MAX_DEVICE_NAME_BYTES, default_device_name};
pub use error::{IdentityError, PhraseError};
pub use ids::{AccountId, AsPublicKey, NodeId, PublicKey, Signature, UserId};
pub use keyfile::{KEY_FILE_NAME, KdfParams};
pub use keys::{Keypair, verify};
pub use keystore::{BackendKind, KEYRING_SERVICE, KeyBackend, Passphrase, PassphrasePurpose};
pub use phrase::{PHRASE_WORDS, RecoveryPhrase, USER_KEY_CONTEXT};
pub use seal::{
    ENCRYPTION_KEY_CONTEXT, EncryptionKey, EncryptionPublicKey, decrypt, encrypt, seal,
};
pub use signed::{
    Domain, ENVELOPE_VERSION, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, MAX_TAG_BYTES, Signed,
    SignedRecord,
};

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use keyfile::StoredSecrets;
use keystore::{SecretLocation, SecretStore};

/// File name of the public identity record inside the data directory.
pub const IDENTITY_FILE_NAME: &str = "identity.json";

const IDENTITY_FILE_FORMAT: u32 = 1;

/// Choices for creating or recovering an identity.
#[derive(Debug, Clone)]
pub struct IdentityOptions {
    /// Where the secrets go.
    pub backend: KeyBackend,
    /// The name in the device certificate.
    pub device_name: String,
    /// Argon2id cost, if the secrets end up in the key file.
    pub kdf: KdfParams,
}

impl IdentityOptions {
    /// `backend`, this machine's host name, recommended KDF costs.
    pub fn new(backend: KeyBackend) -> IdentityOptions {
        IdentityOptions {
            backend,
            device_name: default_device_name(),
            kdf: KdfParams::RECOMMENDED,
        }
    }
}

impl Default for IdentityOptions {
    fn default() -> Self {
        IdentityOptions::new(KeyBackend::Auto)
    }
}

/// What anyone may know about this node's identity; readable without unlocking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    pub user: UserId,
    pub node: NodeId,
    pub account: AccountId,
    pub device_cert: Signed<DeviceCert>,
    pub backend: BackendKind,
}

/// `identity.json`.
#[derive(Serialize, Deserialize)]
struct IdentityFile {
    format: u32,
    user: UserId,
    node: NodeId,
    account: AccountId,
    device_cert: Signed<DeviceCert>,
    secrets: SecretLocation,
}

impl IdentityFile {
    fn read(data_dir: &Path) -> Result<IdentityFile, IdentityError> {
        let path = data_dir.join(IDENTITY_FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IdentityError::NoIdentity {
                    data_dir: data_dir.to_owned(),
                });
            }
            Err(e) => return Err(IdentityError::io("cannot read", &path, e)),
        };
        let corrupt = |reason: String| IdentityError::IdentityFileCorrupt {
            path: path.clone(),
            reason,
        };
        let file: IdentityFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.format != IDENTITY_FILE_FORMAT {
            return Err(corrupt(format!("unknown format {}", file.format)));
        }
        if file.account != AccountId::of(&file.user) {
            return Err(corrupt("the account ID does not belong to the user".into()));
        }
        file.device_cert
            .verify_for(&file.user, &file.node)
            .map_err(|e| corrupt(format!("device certificate: {e}")))?;
        Ok(file)
    }

    fn public(&self) -> PublicIdentity {
        PublicIdentity {
            user: self.user,
            node: self.node,
            account: self.account,
            device_cert: self.device_cert.clone(),
            backend: self.secrets.kind(),
        }
    }
}

/// This node's identity, unlocked: the user key, the node key and the device certificate.
pub struct Identity {
    phrase: RecoveryPhrase,
    user: Keypair,
    node: Keypair,
    user_id: UserId,
    node_id: NodeId,
    device_cert: Signed<DeviceCert>,
    backend: BackendKind,
    data_dir: PathBuf,
}

impl Identity {
    /// Make a new user and this node as its first device in `data_dir` (created if
    /// missing). Returns the recovery phrase, which the caller must show to the user
    /// once. `passphrase` is called only if the secrets go to the key file.
    pub fn create(
        data_dir: &Path,
        options: &IdentityOptions,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<(Identity, RecoveryPhrase), IdentityError> {
        let phrase = RecoveryPhrase::generate()?;
        let identity = Identity::install(data_dir, phrase.clone(), options, passphrase)?;
        Ok((identity, phrase))
    }

    /// Make this node a new device of the user behind `phrase`: same [`UserId`], new
    /// node key, new device certificate.
    pub fn recover(
        data_dir: &Path,
        phrase: &RecoveryPhrase,
        options: &IdentityOptions,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<Identity, IdentityError> {
        Identity::install(data_dir, phrase.clone(), options, passphrase)
    }

    fn install(
        data_dir: &Path,
        phrase: RecoveryPhrase,
        options: &IdentityOptions,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<Identity, IdentityError> {
        device::valid_device_name(&options.device_name)?;
        create_data_dir(data_dir)?;
        for name in [IDENTITY_FILE_NAME, KEY_FILE_NAME] {
            let path = data_dir.join(name);
            if path.exists() {
                return Err(IdentityError::AlreadyExists { path });
            }
        }

        let user = phrase.user_keypair();
        let node = Keypair::generate()?;
        let user_id = UserId::from_public_key(user.public_key());
        let node_id = NodeId::from_public_key(node.public_key());
        let device_cert = DeviceCert::issue(&user, node_id, &options.device_name)?;

        let store = SecretStore::choose(data_dir, options.backend, options.kdf, passphrase)?;
        store.save(&StoredSecrets {
            user_entropy: Zeroizing::new(*phrase.entropy()),
            node_secret: node.secret_bytes(),
        })?;

        let file = IdentityFile {
            format: IDENTITY_FILE_FORMAT,
            user: user_id,
            node: node_id,
            account: AccountId::of(&user_id),
            device_cert: device_cert.clone(),
            secrets: store.location().clone(),
        };
        let written = serde_json::to_vec_pretty(&file)
            .map_err(|e| IdentityError::Encode(e.to_string()))
            .and_then(|json| keyfile::atomic_write(&data_dir.join(IDENTITY_FILE_NAME), &json));
        if let Err(e) = written {
            // Without identity.json nobody could use these secrets: remove them.
            let _ = store.delete();
            return Err(e);
        }
        tracing::info!(user = %user_id, node = %node_id, backend = %store.location().kind(), "identity stored");

        Ok(Identity {
            phrase,
            user,
            node,
            user_id,
            node_id,
            device_cert,
            backend: store.location().kind(),
            data_dir: data_dir.to_owned(),
        })
    }

    /// Unlock the identity in `data_dir`. `passphrase` is called only if the secrets
    /// are in the key file.
    pub fn load(
        data_dir: &Path,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<Identity, IdentityError> {
        let file = IdentityFile::read(data_dir)?;
        let store = SecretStore::open(data_dir, file.secrets.clone(), passphrase)?;
        let secrets = store.load()?;
        let phrase = RecoveryPhrase::from_entropy(secrets.user_entropy);
        let user = phrase.user_keypair();
        let node = Keypair::from_secret(&secrets.node_secret);
        if UserId::from_public_key(user.public_key()) != file.user
            || NodeId::from_public_key(node.public_key()) != file.node
        {
            return Err(IdentityError::SecretsMismatch {
                path: data_dir.join(IDENTITY_FILE_NAME),
            });
        }
        Ok(Identity {
            phrase,
            user,
            node,
            user_id: file.user,
            node_id: file.node,
            device_cert: file.device_cert,
            backend: file.secrets.kind(),
            data_dir: data_dir.to_owned(),
        })
    }

    /// Whether `data_dir` holds an identity (it may still fail to load).
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(IDENTITY_FILE_NAME).exists()
    }

    /// Who the node in `data_dir` is, without unlocking any secret. The device
    /// certificate is verified.
    pub fn read_public(data_dir: &Path) -> Result<PublicIdentity, IdentityError> {
        Ok(IdentityFile::read(data_dir)?.public())
    }

    /// The public side: IDs, account, device certificate, backend.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            user: self.user_id,
            node: self.node_id,
            account: AccountId::of(&self.user_id),
            device_cert: self.device_cert.clone(),
            backend: self.backend,
        }
    }

    /// The recovery phrase, to show or export again. It is the user's whole identity.
    pub fn recovery_phrase(&self) -> RecoveryPhrase {
        self.phrase.clone()
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    pub fn account_id(&self) -> AccountId {
        AccountId::of(&self.user_id)
    }

    /// The key of an organization this user created with `nonce` (O1).
    pub fn org_keypair(&self, nonce: &[u8; 16]) -> Keypair {
        self.phrase.org_keypair(nonce)
    }

    /// The user's encryption key (private messages are sealed to its public half).
    pub fn encryption_key(&self) -> EncryptionKey {
        self.phrase.encryption_key()
    }

    /// The user key, to sign user records (friendship, credit letters, transfers).
    pub fn user_keypair(&self) -> &Keypair {
        &self.user
    }

    /// The node key, to sign node records (DHT routing records).
    pub fn node_keypair(&self) -> &Keypair {
        &self.node
    }

    /// The node's 32-byte ed25519 secret, for building the libp2p identity so that
    /// the PeerId is this NodeId. Nothing else should need it.
    pub fn node_secret_key_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.node.secret_bytes()
    }

    /// This node's certificate.
    pub fn device_cert(&self) -> &Signed<DeviceCert> {
        &self.device_cert
    }

    /// Vouch for another device of this user (pairing a new phone, say).
    pub fn issue_device_cert(
        &self,
        node: NodeId,
        name: &str,
    ) -> Result<Signed<DeviceCert>, IdentityError> {
        DeviceCert::issue(&self.user, node, name)
    }

    /// Which backend holds the secrets.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The data directory this identity lives in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("user", &self.user_id)
            .field("node", &self.node_id)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Create the data directory; on Unix a new one is private to the user (0700).
fn create_data_dir(data_dir: &Path) -> Result<(), IdentityError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(data_dir)
        .map_err(|e| IdentityError::io("cannot create", data_dir, e))
}

#[cfg(test)]
mod tests;

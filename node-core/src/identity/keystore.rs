//! Where the node's two secrets live (SPEC N2): the OS keyring where one works, else the
//! encrypted file `keys.enc` (see [`keyfile`](super::keyfile)).
//!
//! The secrets are the user's 32 bytes of recovery-phrase entropy and the node's 32-byte
//! secret key. They are never written to disk in plaintext.
//!
//! Keyring layout: service `"leither"`, accounts `"<scope>/user"` and `"<scope>/node"`,
//! where `<scope>` is a short hash of the data directory's canonical path at creation
//! time. Two nodes on one machine (two data directories) therefore never share entries.
//! The scope is recorded in `identity.json`, so moving the data directory later does
//! not lose the keys.
//!
//! Backend choice: [`KeyBackend::Auto`] *probes* the keyring (writes, reads back and
//! deletes a random entry, with a timeout) instead of trusting that a keyring library
//! loaded: on headless machines the library loads fine and then fails or blocks on
//! first use. Anything short of a clean round trip falls back to the file.
//!
//! Keyring calls block (D-Bus round trips, maybe a desktop unlock prompt): async code
//! should call into this module through `spawn_blocking`.
//!
//! The platform store (`keyring` 4's `v1` feature: Secret Service over zbus on Linux and
//! the BSDs, Keychain on macOS, Credential Manager on Windows; none on Android/iOS,
//! where `Auto` uses the file) is set up once per process. A keyring that was missing
//! when the process first looked stays missing until the process restarts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::IdentityError;
use super::keyfile::{self, KEY_FILE_NAME, KdfParams, StoredSecrets};

/// Keyring service name for all Leither entries.
pub const KEYRING_SERVICE: &str = "leither";

/// How long the keyring probe may take before the keyring counts as unavailable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which backend the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyBackend {
    /// The OS keyring if it works right now, else the encrypted file.
    #[default]
    Auto,
    /// The OS keyring, or fail.
    Keyring,
    /// The encrypted file, even if a keyring exists.
    File,
}

impl std::str::FromStr for KeyBackend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(KeyBackend::Auto),
            "keyring" => Ok(KeyBackend::Keyring),
            "file" => Ok(KeyBackend::File),
            other => Err(format!(
                "unknown key backend {other:?} (auto, keyring or file)"
            )),
        }
    }
}

/// Which backend actually holds an identity's secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// `keys.enc` in the data directory, encrypted with a passphrase.
    File,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Keyring => "OS keyring",
            BackendKind::File => "encrypted key file",
        })
    }
}

/// Why a passphrase is being asked for, so a front end can word its prompt (and ask
/// twice for a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassphrasePurpose {
    /// Choose a passphrase for a new key file.
    New,
    /// Unlock the existing key file.
    Unlock,
}

/// A passphrase, wiped from memory on drop and never printed.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wrap a passphrase (from a prompt, `LEITHER_PASSPHRASE`, or a file).
    pub fn new(text: impl Into<String>) -> Passphrase {
        Passphrase(Zeroizing::new(text.into()))
    }

    /// The text, for the key derivation.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Passphrase {
    fn from(text: &str) -> Self {
        Passphrase::new(text)
    }
}

impl From<String> for Passphrase {
    fn from(text: String) -> Self {
        Passphrase::new(text)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<hidden>)")
    }
}

/// Where the secrets of one identity are, as recorded in `identity.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub(crate) enum SecretLocation {
    Keyring { scope: String },
    File,
}

impl SecretLocation {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            SecretLocation::Keyring { .. } => BackendKind::Keyring,
            SecretLocation::File => BackendKind::File,
        }
    }
}

/// An opened secret store: a location plus what is needed to use it.
pub(crate) struct SecretStore {
    data_dir: PathBuf,
    location: SecretLocation,
    passphrase: Option<Passphrase>,
    kdf: KdfParams,
}

impl SecretStore {
    /// Pick the store for a new identity in `data_dir` (which must exist).
    pub(crate) fn choose(
        data_dir: &Path,
        backend: KeyBackend,
        kdf: KdfParams,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<SecretStore, IdentityError> {
        let keyring = || -> Result<SecretStore, IdentityError> {
            let scope = keyring_scope(data_dir)?;
            probe_keyring(&scope)?;
            Ok(SecretStore {
                data_dir: data_dir.to_owned(),
                location: SecretLocation::Keyring { scope },
                passphrase: None,
                kdf,
            })
        };
        match backend {
            KeyBackend::Keyring => keyring(),
            KeyBackend::File => Self::file(data_dir, kdf, passphrase),
            KeyBackend::Auto => match keyring() {
                Ok(store) => Ok(store),
                Err(IdentityError::KeyringUnavailable(reason)) => {
                    tracing::info!(%reason, "OS keyring unavailable, keeping keys in the encrypted key file");
                    Self::file(data_dir, kdf, passphrase)
                }
                Err(e) => Err(e),
            },
        }
    }

    fn file(
        data_dir: &Path,
        kdf: KdfParams,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<SecretStore, IdentityError> {
        let pass = passphrase(PassphrasePurpose::New)?;
        if pass.expose().is_empty() {
            return Err(IdentityError::EmptyPassphrase);
        }
        Ok(SecretStore {
            data_dir: data_dir.to_owned(),
            location: SecretLocation::File,
            passphrase: Some(pass),
            kdf,
        })
    }

    /// Open the store an existing identity recorded. The passphrase is asked for only
    /// when the secrets are in the file.
    pub(crate) fn open(
        data_dir: &Path,
        location: SecretLocation,
        passphrase: impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError>,
    ) -> Result<SecretStore, IdentityError> {
        let passphrase = match location {
            SecretLocation::File => Some(passphrase(PassphrasePurpose::Unlock)?),
            SecretLocation::Keyring { .. } => None,
        };
        Ok(SecretStore {
            data_dir: data_dir.to_owned(),
            location,
            passphrase,
            kdf: KdfParams::RECOMMENDED,
        })
    }

    pub(crate) fn location(&self) -> &SecretLocation {
        &self.location
    }

    fn key_file(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE_NAME)
    }

    fn passphrase(&self) -> Result<&str, IdentityError> {
        self.passphrase
            .as_ref()
            .map(Passphrase::expose)
            .ok_or_else(|| IdentityError::PassphraseUnavailable("no passphrase was given".into()))
    }

    /// Store both secrets (replacing what this store held).
    pub(crate) fn save(&self, secrets: &StoredSecrets) -> Result<(), IdentityError> {
        match &self.location {
            SecretLocation::File => {
                let bytes = keyfile::seal(secrets, self.passphrase()?, &self.kdf)?;
                keyfile::atomic_write(&self.key_file(), &bytes)
            }
            SecretLocation::Keyring { scope } => {
                keyring_set(scope, "node", secrets.node_secret.as_ref())?;
                if let Err(e) = keyring_set(scope, "user", secrets.user_entropy.as_ref()) {
                    let _ = keyring_delete(scope, "node");
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    /// Read both secrets.
    pub(crate) fn load(&self) -> Result<StoredSecrets, IdentityError> {
        match &self.location {
            SecretLocation::File => {
                let path = self.key_file();
                let bytes =
                    std::fs::read(&path).map_err(|e| IdentityError::io("cannot read", &path, e))?;
                keyfile::open(&bytes, self.passphrase()?, &path)
            }
            SecretLocation::Keyring { scope } => Ok(StoredSecrets {
                user_entropy: keyring_get(scope, "user")?,
                node_secret: keyring_get(scope, "node")?,
            }),
        }
    }

    /// Remove the secrets (used to undo a half-finished create).
    pub(crate) fn delete(&self) -> Result<(), IdentityError> {
        match &self.location {
            SecretLocation::File => {
                let path = self.key_file();
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(IdentityError::io("cannot remove", &path, e)),
                }
            }
            SecretLocation::Keyring { scope } => {
                let a = keyring_delete(scope, "user");
                let b = keyring_delete(scope, "node");
                a.and(b)
            }
        }
    }
}

/// The keyring scope of a data directory: 16 base32hex characters of
/// `blake3(canonical path)`.
pub(crate) fn keyring_scope(data_dir: &Path) -> Result<String, IdentityError> {
    let canonical = data_dir
        .canonicalize()
        .map_err(|e| IdentityError::io("cannot resolve", data_dir, e))?;
    let digest = blake3::hash(canonical.as_os_str().as_encoded_bytes());
    Ok(crate::encoding::encode(&digest.as_bytes()[..10]))
}

fn account(scope: &str, name: &str) -> String {
    format!("{scope}/{name}")
}

/// Describe a keyring error without any secret bytes it may carry.
fn describe(err: keyring::Error) -> String {
    match err {
        keyring::Error::BadEncoding(mut data) => {
            data.zeroize();
            "the entry is not in the expected encoding".into()
        }
        keyring::Error::BadDataFormat(mut data, _) => {
            data.zeroize();
            "the entry data is malformed".into()
        }
        other => other.to_string(),
    }
}

/// Errors that mean "there is no usable keyring here" rather than "this entry failed".
fn is_unavailable(err: &keyring::Error) -> bool {
    matches!(
        err,
        keyring::Error::NoDefaultStore
            | keyring::Error::NoStorageAccess(_)
            | keyring::Error::PlatformFailure(_)
            | keyring::Error::NotSupportedByStore(_)
    )
}

fn entry(scope: &str, name: &str) -> Result<keyring::Entry, IdentityError> {
    keyring::Entry::new(KEYRING_SERVICE, &account(scope, name)).map_err(|e| {
        if let (keyring::Error::NoDefaultStore, Err(cause)) = (&e, keyring::Entry::store_status()) {
            // The platform store failed to start (e.g. no D-Bus session): say why.
            IdentityError::KeyringUnavailable(cause.to_string())
        } else if is_unavailable(&e) {
            IdentityError::KeyringUnavailable(describe(e))
        } else {
            IdentityError::Keyring {
                account: account(scope, name),
                reason: describe(e),
            }
        }
    })
}

fn keyring_error(scope: &str, name: &str, err: keyring::Error) -> IdentityError {
    let account = account(scope, name);
    match err {
        keyring::Error::NoEntry => IdentityError::KeyringEntryMissing { account },
        e if is_unavailable(&e) => IdentityError::KeyringUnavailable(describe(e)),
        e => IdentityError::Keyring {
            account,
            reason: describe(e),
        },
    }
}

fn keyring_set(scope: &str, name: &str, secret: &[u8]) -> Result<(), IdentityError> {
    entry(scope, name)?
        .set_secret(secret)
        .map_err(|e| keyring_error(scope, name, e))
}

fn keyring_get(scope: &str, name: &str) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    let mut raw = Zeroizing::new(
        entry(scope, name)?
            .get_secret()
            .map_err(|e| keyring_error(scope, name, e))?,
    );
    if raw.len() != 32 {
        raw.zeroize();
        return Err(IdentityError::KeyringEntryCorrupt {
            account: account(scope, name),
        });
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&raw);
    Ok(out)
}

fn keyring_delete(scope: &str, name: &str) -> Result<(), IdentityError> {
    match entry(scope, name)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(keyring_error(scope, name, e)),
    }
}

/// Check that the keyring really works now: set, get and delete a random probe entry.
/// Runs on its own thread so a keyring that blocks (say, waiting for an unlock prompt
/// nobody will answer on a headless box) counts as unavailable after a timeout.
fn probe_keyring(scope: &str) -> Result<(), IdentityError> {
    let scope = scope.to_owned();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("leither-keyring-probe".into())
        .spawn(move || {
            let result = (|| -> Result<(), IdentityError> {
                let mut token = [0u8; 16];
                getrandom::fill(&mut token)
                    .map_err(|e| IdentityError::Randomness(e.to_string()))?;
                keyring_set(&scope, "probe", &token)?;
                let back = entry(&scope, "probe")?
                    .get_secret()
                    .map_err(|e| keyring_error(&scope, "probe", e));
                let deleted = keyring_delete(&scope, "probe");
                if back? != token {
                    return Err(IdentityError::KeyringUnavailable(
                        "the keyring returned a different value than was stored".into(),
                    ));
                }
                deleted
            })();
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(IdentityError::KeyringUnavailable(format!(
            "cannot start the probe: {e}"
        )));
    }
    match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(IdentityError::KeyringUnavailable(r))) => Err(IdentityError::KeyringUnavailable(r)),
        Ok(Err(other)) => Err(IdentityError::KeyringUnavailable(other.to_string())),
        Err(_) => Err(IdentityError::KeyringUnavailable(format!(
            "no answer within {} s (locked keyring waiting for a prompt?)",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_and_serialize() {
        assert_eq!("Auto".parse::<KeyBackend>().unwrap(), KeyBackend::Auto);
        assert_eq!(
            "keyring".parse::<KeyBackend>().unwrap(),
            KeyBackend::Keyring
        );
        assert_eq!(" file ".parse::<KeyBackend>().unwrap(), KeyBackend::File);
        assert!("vault".parse::<KeyBackend>().is_err());
        assert_eq!(
            serde_json::to_string(&BackendKind::Keyring).unwrap(),
            "\"keyring\""
        );
        let loc = SecretLocation::Keyring {
            scope: "abc".into(),
        };
        let json = serde_json::to_string(&loc).unwrap();
        assert_eq!(json, r#"{"backend":"keyring","scope":"abc"}"#);
        assert_eq!(serde_json::from_str::<SecretLocation>(&json).unwrap(), loc);
        assert_eq!(
            serde_json::from_str::<SecretLocation>(r#"{"backend":"file"}"#).unwrap(),
            SecretLocation::File
        );
    }

    #[test]
    fn scope_differs_per_data_dir_and_is_stable() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = keyring_scope(a.path()).unwrap();
        assert_eq!(sa.len(), 16);
        assert_eq!(sa, keyring_scope(&a.path().join(".")).unwrap());
        assert_ne!(sa, keyring_scope(b.path()).unwrap());
    }

    #[test]
    fn passphrase_is_not_printed() {
        let p = Passphrase::from("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn file_store_refuses_an_empty_passphrase_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let fast = KdfParams::INSECURE_FAST_FOR_TESTS;
        let err = SecretStore::choose(dir.path(), KeyBackend::File, fast, |_| Ok("".into()))
            .err()
            .unwrap();
        assert!(matches!(err, IdentityError::EmptyPassphrase));

        let store = SecretStore::choose(dir.path(), KeyBackend::File, fast, |purpose| {
            assert_eq!(purpose, PassphrasePurpose::New);
            Ok("pw".into())
        })
        .unwrap();
        let secrets = StoredSecrets {
            user_entropy: Zeroizing::new([3; 32]),
            node_secret: Zeroizing::new([4; 32]),
        };
        store.save(&secrets).unwrap();
        let opened = SecretStore::open(dir.path(), SecretLocation::File, |purpose| {
            assert_eq!(purpose, PassphrasePurpose::Unlock);
            Ok("pw".into())
        })
        .unwrap();
        let back = opened.load().unwrap();
        assert_eq!(*back.user_entropy, [3; 32]);
        assert_eq!(*back.node_secret, [4; 32]);
        opened.delete().unwrap();
        assert!(!dir.path().join(KEY_FILE_NAME).exists());
    }
}

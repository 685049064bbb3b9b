//! What can go wrong with identities, in the words of the domain.
//!
//! Invariant: no variant carries secret material. Keyring and crypto library errors
//! are turned into text here on purpose (their own `Debug` may hold secret bytes), and
//! recovery-phrase errors name a word's position, never the word.

use std::path::PathBuf;

use super::ids::PublicKey;

/// Why a recovery phrase was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhraseError {
    #[error("a recovery phrase has {expected} words, this one has {got}")]
    WordCount { expected: usize, got: usize },
    #[error("word {position} of the recovery phrase is not in the BIP39 English word list")]
    UnknownWord {
        /// 1-based position of the offending word.
        position: usize,
    },
    #[error(
        "the recovery phrase checksum does not match: a word is wrong or two words are swapped"
    )]
    Checksum,
}

/// Errors of the identity module.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    // --- recovery phrase ---
    #[error("invalid recovery phrase: {0}")]
    Phrase(#[from] PhraseError),

    // --- keys and signatures ---
    #[error("{0} is not a valid ed25519 public key")]
    InvalidPublicKey(PublicKey),
    #[error("sealed box: {0}")]
    Sealed(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(String),

    // --- signed envelopes ---
    #[error(
        "signed envelope version {found} is not supported (this node reads version {supported})"
    )]
    UnsupportedEnvelopeVersion { found: u8, supported: u8 },
    #[error("signed record is a {found:?}, expected a {expected:?}")]
    WrongDomain {
        expected: &'static str,
        found: String,
    },
    #[error("signed by {found}, expected a signature of {expected}")]
    WrongSigner {
        expected: PublicKey,
        found: PublicKey,
    },
    #[error("signed envelope is {size} bytes, the limit is {max}")]
    EnvelopeTooLarge { size: usize, max: usize },
    #[error("malformed signed envelope: {0}")]
    MalformedEnvelope(String),
    #[error("signed payload does not decode as a {domain:?}: {reason}")]
    MalformedPayload {
        domain: &'static str,
        reason: String,
    },
    #[error("signed payload of {domain:?} is not in canonical encoding")]
    NonCanonicalPayload { domain: &'static str },
    #[error("record cannot be encoded: {0}")]
    Encode(String),

    // --- devices ---
    #[error("invalid device name: {0}")]
    InvalidDeviceName(&'static str),
    #[error("device certificate is for node {found}, not {expected}")]
    DeviceCertWrongNode {
        expected: super::NodeId,
        found: super::NodeId,
    },

    // --- data directory and identity.json ---
    #[error("an identity already exists in {path} (refusing to overwrite it)")]
    AlreadyExists { path: PathBuf },
    #[error("no identity in {data_dir} (create one or recover it from its recovery phrase)")]
    NoIdentity { data_dir: PathBuf },
    #[error("identity file {path} is damaged: {reason}")]
    IdentityFileCorrupt { path: PathBuf, reason: String },
    #[error("the stored secret keys do not belong to the identity recorded in {path}")]
    SecretsMismatch { path: PathBuf },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    // --- encrypted key file ---
    #[error("a passphrase is needed to protect the key file and none was given: {0}")]
    PassphraseUnavailable(String),
    #[error("the passphrase for the key file must not be empty")]
    EmptyPassphrase,
    #[error("wrong passphrase for the key file {path}")]
    WrongPassphrase { path: PathBuf },
    #[error("key file {path} is damaged: {reason}")]
    KeyFileCorrupt { path: PathBuf, reason: &'static str },
    #[error(
        "key file {path} was altered: its contents fail authentication (restore it from a backup or recover from the recovery phrase)"
    )]
    KeyFileTampered { path: PathBuf },
    #[error("key file {path} has format version {version}, which this node does not read")]
    KeyFileUnsupportedVersion { path: PathBuf, version: u8 },
    #[error("key derivation (Argon2id) failed: {0}")]
    Kdf(String),

    // --- OS keyring ---
    #[error(
        "the OS keyring is not available: {0} (on a headless machine choose the encrypted-file backend)"
    )]
    KeyringUnavailable(String),
    #[error("the OS keyring has no entry {account:?} for service \"leither\"")]
    KeyringEntryMissing { account: String },
    #[error("the OS keyring entry {account:?} does not hold a Leither key")]
    KeyringEntryCorrupt { account: String },
    #[error("the OS keyring failed on {account:?}: {reason}")]
    Keyring { account: String, reason: String },
}

impl IdentityError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        IdentityError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

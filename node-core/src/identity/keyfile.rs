//! The encrypted key file `keys.enc`: where secrets live when there is no OS keyring (N2).
//!
//! Layout (all integers little-endian), 174 bytes:
//!
//! ```text
//! off  len  field
//!   0    8  magic "LEITHKEY"
//!   8    1  format version = 1
//!   9    1  KDF id = 1 (Argon2id, version 0x13)
//!  10    4  Argon2 memory, KiB
//!  14    4  Argon2 iterations
//!  18    4  Argon2 parallelism (lanes)
//!  22   16  salt (random per write)
//!  38   24  XChaCha20-Poly1305 nonce (random per write)
//!  62   16  passphrase check
//!  78   80  ciphertext of user entropy (32) || node secret key (32), + 16-byte tag
//! 158   16  blake3(bytes 0..158), first 16 bytes
//! ```
//!
//! The 32-byte Argon2id output is split with `blake3::derive_key` into the cipher key
//! and the passphrase check, and bytes 0..78 are the AEAD's associated data, so the
//! parameters, salt and check are authenticated too. The check lets us tell a wrong
//! passphrase from an altered file; it gives a guesser nothing the ciphertext does not
//! (each guess still costs one Argon2id run). The trailing blake3 sum catches accidental
//! damage (a truncated copy, a flipped bit) before any key derivation.
//!
//! Invariants: the plaintext never touches the disk; a write is atomic (temp file, fsync,
//! rename), so a failed write leaves the previous file intact; the file is mode 0600 on
//! Unix.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::IdentityError;

/// File name of the encrypted key file inside the data directory.
pub const KEY_FILE_NAME: &str = "keys.enc";

const MAGIC: &[u8; 8] = b"LEITHKEY";
const FORMAT_VERSION: u8 = 1;
const KDF_ARGON2ID_V13: u8 = 1;
const HEADER_LEN: usize = 62;
const CHECK_LEN: usize = 16;
const AAD_LEN: usize = HEADER_LEN + CHECK_LEN;
const PLAINTEXT_LEN: usize = 64;
const CIPHERTEXT_LEN: usize = PLAINTEXT_LEN + 16;
const SUM_LEN: usize = 16;
const FILE_LEN: usize = AAD_LEN + CIPHERTEXT_LEN + SUM_LEN;

const CIPHER_KEY_CONTEXT: &str = "Leither 2026-11-24 keys.enc XChaCha20-Poly1305 key";
const CHECK_CONTEXT: &str = "Leither 2026-11-24 keys.enc passphrase check";

/// Argon2id cost parameters, stored in each file so they can be raised later without
/// breaking old files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// What new key files use: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended
    /// option, with one lane because we do not run lanes in parallel). Paid once per
    /// unlock: measured 0.1 s in a release build on the 2-core x86 dev machine (1.4 s
    /// unoptimised), so expect around a second on a Raspberry Pi or an old phone; 64 MiB
    /// still fits the small devices a node runs on (N1).
    pub const RECOMMENDED: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Tiny costs that make tests fast. **Not for real keys**: a guesser could try
    /// passphrases at full speed.
    pub const INSECURE_FAST_FOR_TESTS: KdfParams = KdfParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    /// Reading a file never allocates more than 1 GiB or runs more than 64 passes,
    /// whatever its header claims (a damaged header must not exhaust the machine).
    const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    const MAX_ITERATIONS: u32 = 64;
    const MAX_PARALLELISM: u32 = 16;

    fn argon2(&self) -> Result<Argon2<'static>, IdentityError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(IdentityError::Kdf(
                "parameters above this node's limits".into(),
            ));
        }
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| IdentityError::Kdf(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::RECOMMENDED
    }
}

/// The two secrets a node keeps: the user's phrase entropy and the node's secret key.
pub(crate) struct StoredSecrets {
    pub user_entropy: Zeroizing<[u8; 32]>,
    pub node_secret: Zeroizing<[u8; 32]>,
}

struct Keys {
    cipher: Zeroizing<[u8; 32]>,
    check: [u8; CHECK_LEN],
}

fn derive_keys(passphrase: &str, salt: &[u8], params: &KdfParams) -> Result<Keys, IdentityError> {
    let mut master = Zeroizing::new([0u8; 32]);
    params
        .argon2()?
        .hash_password_into(passphrase.as_bytes(), salt, master.as_mut())
        .map_err(|e| IdentityError::Kdf(e.to_string()))?;
    let cipher = Zeroizing::new(blake3::derive_key(CIPHER_KEY_CONTEXT, master.as_ref()));
    let full_check = blake3::derive_key(CHECK_CONTEXT, master.as_ref());
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&full_check[..CHECK_LEN]);
    Ok(Keys { cipher, check })
}

/// Encrypt the secrets into the bytes of a key file.
pub(crate) fn seal(
    secrets: &StoredSecrets,
    passphrase: &str,
    params: &KdfParams,
) -> Result<Vec<u8>, IdentityError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut salt).map_err(|e| IdentityError::Randomness(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| IdentityError::Randomness(e.to_string()))?;
    let keys = derive_keys(passphrase, &salt, params)?;

    let mut out = Vec::with_capacity(FILE_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(KDF_ARGON2ID_V13);
    out.extend_from_slice(&params.memory_kib.to_le_bytes());
    out.extend_from_slice(&params.iterations.to_le_bytes());
    out.extend_from_slice(&params.parallelism.to_le_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&keys.check);

    let mut plaintext = Zeroizing::new([0u8; PLAINTEXT_LEN]);
    plaintext[..32].copy_from_slice(secrets.user_entropy.as_ref());
    plaintext[32..].copy_from_slice(secrets.node_secret.as_ref());
    let cipher = XChaCha20Poly1305::new(&(*keys.cipher).into());
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext.as_ref(),
                aad: &out,
            },
        )
        .map_err(|_| IdentityError::Kdf("encryption failed".into()))?;
    out.extend_from_slice(&ciphertext);
    let sum = blake3::hash(&out);
    out.extend_from_slice(&sum.as_bytes()[..SUM_LEN]);
    debug_assert_eq!(out.len(), FILE_LEN);
    Ok(out)
}

/// Decrypt the bytes of a key file read from `path` (used in error messages only).
pub(crate) fn open(
    bytes: &[u8],
    passphrase: &str,
    path: &Path,
) -> Result<StoredSecrets, IdentityError> {
    let corrupt = |reason| IdentityError::KeyFileCorrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() < MAGIC.len() + 2 {
        return Err(corrupt("the file is truncated"));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("not a Leither key file"));
    }
    if bytes[8] != FORMAT_VERSION {
        return Err(IdentityError::KeyFileUnsupportedVersion {
            path: path.to_owned(),
            version: bytes[8],
        });
    }
    if bytes.len() < FILE_LEN {
        return Err(corrupt("the file is truncated"));
    }
    if bytes.len() > FILE_LEN {
        return Err(corrupt("the file has unexpected extra bytes"));
    }
    let (body, sum) = bytes.split_at(FILE_LEN - SUM_LEN);
    if blake3::hash(body).as_bytes()[..SUM_LEN] != *sum {
        return Err(corrupt(
            "its checksum does not match (damaged copy or disk error)",
        ));
    }
    if bytes[9] != KDF_ARGON2ID_V13 {
        return Err(corrupt("unknown key-derivation function"));
    }
    let u32_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(b)
    };
    let params = KdfParams {
        memory_kib: u32_at(10),
        iterations: u32_at(14),
        parallelism: u32_at(18),
    };
    let salt = &bytes[22..38];
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&bytes[38..62]);
    let stored_check = &bytes[62..78];

    let keys = match derive_keys(passphrase, salt, &params) {
        Ok(k) => k,
        Err(IdentityError::Kdf(_)) => {
            return Err(corrupt("its key-derivation parameters are invalid"));
        }
        Err(e) => return Err(e),
    };
    if !constant_time_eq(&keys.check, stored_check) {
        return Err(IdentityError::WrongPassphrase {
            path: path.to_owned(),
        });
    }
    let cipher = XChaCha20Poly1305::new(&(*keys.cipher).into());
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &bytes[AAD_LEN..AAD_LEN + CIPHERTEXT_LEN],
                    aad: &bytes[..AAD_LEN],
                },
            )
            .map_err(|_| IdentityError::KeyFileTampered {
                path: path.to_owned(),
            })?,
    );
    let mut user_entropy = Zeroizing::new([0u8; 32]);
    let mut node_secret = Zeroizing::new([0u8; 32]);
    user_entropy.copy_from_slice(&plaintext[..32]);
    node_secret.copy_from_slice(&plaintext[32..PLAINTEXT_LEN]);
    Ok(StoredSecrets {
        user_entropy,
        node_secret,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Replace `path` with `bytes` atomically and privately (0600 on Unix): if anything
/// fails, `path` still holds its old contents. One implementation for the whole node:
/// [`crate::fsutil::write_private_atomic`].
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    crate::fsutil::write_private_atomic(path, bytes)
        .map_err(|e| IdentityError::io("cannot write", path, e))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::fs;

    const FAST: KdfParams = KdfParams::INSECURE_FAST_FOR_TESTS;

    fn secrets() -> StoredSecrets {
        StoredSecrets {
            user_entropy: Zeroizing::new([0x11; 32]),
            node_secret: Zeroizing::new([0x22; 32]),
        }
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn seal_open_round_trip_without_plaintext_in_the_file() {
        let bytes = seal(&secrets(), "correct horse", &FAST).unwrap();
        assert_eq!(bytes.len(), FILE_LEN);
        assert!(!contains(&bytes, &[0x11; 32]) && !contains(&bytes, &[0x22; 32]));
        let s = open(&bytes, "correct horse", Path::new("k")).unwrap();
        assert_eq!(*s.user_entropy, [0x11; 32]);
        assert_eq!(*s.node_secret, [0x22; 32]);
        // Fresh salt and nonce each time.
        assert_ne!(seal(&secrets(), "correct horse", &FAST).unwrap(), bytes);
    }

    #[test]
    fn wrong_passphrase_is_named_as_such() {
        let bytes = seal(&secrets(), "correct horse", &FAST).unwrap();
        let err = open(&bytes, "correct hors", Path::new("k")).err().unwrap();
        assert!(
            matches!(err, IdentityError::WrongPassphrase { .. }),
            "{err}"
        );
        assert!(!err.to_string().contains("correct"));
    }

    #[test]
    fn damaged_truncated_and_altered_files_are_told_apart() {
        let bytes = seal(&secrets(), "pw", &FAST).unwrap();
        let path = Path::new("keys.enc");
        // Truncated copy.
        for cut in [0, 5, 60, FILE_LEN - 1] {
            assert!(
                matches!(
                    open(&bytes[..cut], "pw", path),
                    Err(IdentityError::KeyFileCorrupt { .. })
                ),
                "cut {cut}"
            );
        }
        // A bit flipped anywhere: the checksum catches it.
        for at in [0, 9, 12, 30, 50, 70, 100, 170] {
            let mut b = bytes.clone();
            b[at] ^= 0x01;
            assert!(
                matches!(
                    open(&b, "pw", path),
                    Err(IdentityError::KeyFileCorrupt { .. })
                ),
                "flip {at}"
            );
        }
        // Deliberate alteration of the ciphertext with a recomputed checksum: the AEAD
        // catches it.
        let mut b = bytes.clone();
        b[100] ^= 0x01;
        let sum = blake3::hash(&b[..FILE_LEN - SUM_LEN]);
        b[FILE_LEN - SUM_LEN..].copy_from_slice(&sum.as_bytes()[..SUM_LEN]);
        assert!(matches!(
            open(&b, "pw", path),
            Err(IdentityError::KeyFileTampered { .. })
        ));
        // A header that demands absurd work is refused before any is done.
        let mut b = bytes.clone();
        b[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        let sum = blake3::hash(&b[..FILE_LEN - SUM_LEN]);
        b[FILE_LEN - SUM_LEN..].copy_from_slice(&sum.as_bytes()[..SUM_LEN]);
        assert!(matches!(
            open(&b, "pw", path),
            Err(IdentityError::KeyFileCorrupt { .. })
        ));
        // Another format version.
        let mut b = bytes.clone();
        b[8] = 9;
        assert!(matches!(
            open(&b, "pw", path),
            Err(IdentityError::KeyFileUnsupportedVersion { version: 9, .. })
        ));
    }

    /// The temp file `fsutil::write_private_atomic` uses for `name` in this process.
    pub(crate) fn temp_name(name: &str) -> String {
        format!(".{name}.tmp-{}", std::process::id())
    }

    #[test]
    fn atomic_write_replaces_or_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        atomic_write(&path, b"old").unwrap();
        atomic_write(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Make the temp file impossible to create (a directory sits at its name): the
        // write fails and the old file is untouched.
        fs::create_dir(dir.path().join(temp_name(KEY_FILE_NAME))).unwrap();
        let err = atomic_write(&path, b"newer").unwrap_err();
        assert!(matches!(err, IdentityError::Io { .. }));
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn recommended_params_are_accepted_by_argon2() {
        assert!(KdfParams::RECOMMENDED.argon2().is_ok());
        assert!(FAST.argon2().is_ok());
    }
}

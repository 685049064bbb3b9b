//! The user's encryption key and sealed boxes (SPEC S4: private messages).
//!
//! Each user has an X25519 key derived from the recovery-phrase entropy with its own
//! fixed context ([`ENCRYPTION_KEY_CONTEXT`]), so a recovered identity can read the
//! messages sent to it and no separate secret needs backing up. Its public half is
//! published in signed records (friend requests, the profile), where the user's ed25519
//! signature vouches for it.
//!
//! A sealed box is `ephemeral X25519 public key ‖ 24-byte nonce ‖ XChaCha20-Poly1305
//! ciphertext`; the key is `blake3::derive_key(SEAL_CONTEXT, eph_pub ‖ recipient_pub ‖
//! shared)`. Only the recipient can open it; who sent it is proven by the signed
//! envelope around it, not by the box.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::Zeroizing;

use super::error::IdentityError;
use super::keys::random_32;

/// Context turning phrase entropy into the user's X25519 secret. Fixed forever.
pub const ENCRYPTION_KEY_CONTEXT: &str =
    "Leither 2026-11-24 user x25519 encryption key from recovery phrase entropy v1";

const SEAL_CONTEXT: &str = "Leither 2026-11-24 sealed box key v1";
const OVERHEAD: usize = 32 + 24 + 16;

crate::define_id!(
    /// A user's public X25519 encryption key.
    EncryptionPublicKey,
    32
);

/// A user's X25519 secret (wiped on drop).
pub struct EncryptionKey {
    secret: StaticSecret,
}

impl EncryptionKey {
    pub(crate) fn from_entropy(entropy: &[u8; 32]) -> EncryptionKey {
        let bytes = Zeroizing::new(blake3::derive_key(ENCRYPTION_KEY_CONTEXT, entropy));
        EncryptionKey {
            secret: StaticSecret::from(*bytes),
        }
    }

    pub fn public(&self) -> EncryptionPublicKey {
        EncryptionPublicKey::from_bytes(XPublic::from(&self.secret).to_bytes())
    }

    /// Open a box sealed to this key; `aad` must be what the sealer bound to it.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, IdentityError> {
        if sealed.len() < OVERHEAD {
            return Err(IdentityError::Sealed("sealed box is too short".into()));
        }
        let mut eph = [0u8; 32];
        eph.copy_from_slice(&sealed[..32]);
        let eph = XPublic::from(eph);
        let shared = self.secret.diffie_hellman(&eph);
        if !shared.was_contributory() {
            return Err(IdentityError::Sealed("degenerate ephemeral key".into()));
        }
        let key = box_key(eph.as_bytes(), &self.public(), shared.as_bytes());
        decrypt(&key, &sealed[32..], aad)
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({})", self.public())
    }
}

fn box_key(
    eph: &[u8; 32],
    recipient: &EncryptionPublicKey,
    shared: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    let mut h = blake3::Hasher::new_derive_key(SEAL_CONTEXT);
    h.update(eph);
    h.update(recipient.as_bytes());
    h.update(shared);
    Zeroizing::new(*h.finalize().as_bytes())
}

/// Seal `plaintext` so only the holder of `to`'s secret can read it.
pub fn seal(
    to: &EncryptionPublicKey,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, IdentityError> {
    let eph_secret = StaticSecret::from(*random_32()?);
    let eph = XPublic::from(&eph_secret);
    let shared = eph_secret.diffie_hellman(&XPublic::from(*to.as_bytes()));
    if !shared.was_contributory() {
        return Err(IdentityError::Sealed("recipient key is degenerate".into()));
    }
    let key = box_key(eph.as_bytes(), to, shared.as_bytes());
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(eph.as_bytes());
    out.extend_from_slice(&encrypt(&key, plaintext, aad)?);
    Ok(out)
}

/// Encrypt under a shared secret key (an org's chat key): `24-byte random nonce ‖
/// XChaCha20-Poly1305 ciphertext`, bound to `aad`.
pub fn encrypt(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, IdentityError> {
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&random_32()?[..24]);
    let ct = XChaCha20Poly1305::new(&(*key).into())
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| IdentityError::Sealed("encryption failed".into()))?;
    let mut out = Vec::with_capacity(24 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open what [`encrypt`] made with the same key and `aad`.
pub fn decrypt(key: &[u8; 32], boxed: &[u8], aad: &[u8]) -> Result<Vec<u8>, IdentityError> {
    if boxed.len() < 24 + 16 {
        return Err(IdentityError::Sealed("ciphertext is too short".into()));
    }
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&boxed[..24]);
    XChaCha20Poly1305::new(&(*key).into())
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &boxed[24..],
                aad,
            },
        )
        .map_err(|_| IdentityError::Sealed("cannot open: not for this key, or altered".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens_and_nothing_altered_opens() {
        let bob = EncryptionKey::from_entropy(&[1; 32]);
        let eve = EncryptionKey::from_entropy(&[2; 32]);
        let boxed = seal(&bob.public(), b"hello bob", b"alice->bob").unwrap();
        assert_eq!(bob.open(&boxed, b"alice->bob").unwrap(), b"hello bob");
        assert!(eve.open(&boxed, b"alice->bob").is_err(), "wrong key");
        assert!(bob.open(&boxed, b"mallory->bob").is_err(), "wrong binding");
        let mut flipped = boxed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(bob.open(&flipped, b"alice->bob").is_err(), "altered");
        assert!(bob.open(&boxed[..40], b"alice->bob").is_err(), "truncated");
        assert_ne!(
            seal(&bob.public(), b"hello bob", b"").unwrap(),
            seal(&bob.public(), b"hello bob", b"").unwrap()
        );
    }

    #[test]
    fn key_is_fixed_by_the_entropy() {
        assert_eq!(
            EncryptionKey::from_entropy(&[9; 32]).public(),
            EncryptionKey::from_entropy(&[9; 32]).public()
        );
        assert_ne!(
            EncryptionKey::from_entropy(&[9; 32]).public(),
            EncryptionKey::from_entropy(&[8; 32]).public()
        );
    }
}

//! Key pairs: the one place that holds an ed25519 secret key in memory.
//!
//! Invariants: a [`Keypair`]'s secret is wiped from memory when it is dropped (it wraps
//! `ed25519_dalek::SigningKey`, which zeroizes on drop); it is never printed (`Debug`
//! and `Display` show only the public key); and it leaves this module only as
//! [`Zeroizing`] bytes, towards the key store or, for the node key, libp2p.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::IdentityError;
use super::ids::{AsPublicKey, PublicKey, Signature};

/// An ed25519 key pair (user, node or organization).
pub struct Keypair {
    signing: SigningKey,
}

// `SigningKey` zeroizes itself on drop; the wrapper adds no other secret state.
impl ZeroizeOnDrop for Keypair {}

impl Keypair {
    /// A fresh key pair from the operating system's random number generator.
    pub fn generate() -> Result<Keypair, IdentityError> {
        let secret = random_32()?;
        Ok(Keypair::from_secret(&secret))
    }

    /// Rebuild a key pair from its 32-byte secret (a stored node key, or a user key
    /// derived from the recovery phrase).
    pub(crate) fn from_secret(secret: &[u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret, for the key store (and, for the node key, for libp2p).
    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(self.signing.verifying_key().to_bytes())
    }

    /// Sign a message. Prefer [`Signed`](super::Signed) for anything that is stored or
    /// sent: it adds the domain tag that keeps one kind of record from passing as another.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature::from_bytes(self.signing.sign(message).to_bytes())
    }
}

impl AsPublicKey for Keypair {
    fn public_key(&self) -> PublicKey {
        Keypair::public_key(self)
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.public_key())
    }
}

impl fmt::Display for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.public_key(), f)
    }
}

/// Check `signature` over `message` by `signer`.
///
/// Uses ed25519 *strict* verification (rejects small-order keys and non-canonical
/// signatures), so a signature cannot be tweaked into a second valid one.
pub fn verify(
    signer: &impl AsPublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), IdentityError> {
    let key = signer.public_key().verifying_key()?;
    let sig = ed25519_dalek::Signature::from_bytes(signature.as_bytes());
    key.verify_strict(message, &sig)
        .map_err(|_| IdentityError::BadSignature)
}

/// 32 bytes from the operating system's random number generator.
pub(crate) fn random_32() -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| IdentityError::Randomness(e.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_reject_changes() {
        let kp = Keypair::generate().unwrap();
        let sig = kp.sign(b"hello");
        verify(&kp.public_key(), b"hello", &sig).unwrap();
        assert!(matches!(
            verify(&kp.public_key(), b"hellO", &sig),
            Err(IdentityError::BadSignature)
        ));
        let other = Keypair::generate().unwrap();
        assert!(verify(&other.public_key(), b"hello", &sig).is_err());
        let mut bent = *sig.as_bytes();
        bent[3] ^= 1;
        assert!(verify(&kp.public_key(), b"hello", &Signature::from_bytes(bent)).is_err());
    }

    #[test]
    fn secret_round_trips_and_is_never_printed() {
        let kp = Keypair::generate().unwrap();
        let secret = kp.secret_bytes();
        let again = Keypair::from_secret(&secret);
        assert_eq!(again.public_key(), kp.public_key());

        let shown = format!("{kp:?} {kp} {kp:#?}");
        assert!(shown.contains(&kp.public_key().to_string()));
        for needle in [
            crate::encoding::encode(secret.as_ref()),
            format!("{:?}", &secret[..]),
        ] {
            assert!(!shown.contains(&needle), "secret leaked into {shown}");
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = Keypair::generate().unwrap();
        let b = Keypair::generate().unwrap();
        assert_ne!(a.public_key(), b.public_key());
    }
}

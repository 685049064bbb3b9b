//! Public identifiers derived from keys (SPEC N2).
//!
//! A user, a node (device) and later an organization are each an ed25519 key pair, and
//! the ID *is* the 32-byte public key: anyone holding an ID can check a signature
//! without a lookup. [`UserId`] and [`NodeId`] are distinct types so a node cannot be
//! passed where a user is meant, although both are keys; [`PublicKey`] is the untyped
//! signer of a [`Signed`](super::Signed) envelope.
//!
//! Ledger accounts ([`AccountId`]) are 160-bit: the first 20 bytes of
//! `blake3(public key)` (§五: the ledger's sparse Merkle tree is keyed by 160-bit IDs).

use ed25519_dalek::VerifyingKey;

use super::IdentityError;
use crate::define_id;

define_id!(
    /// An ed25519 public key of any signer (user, node, organization).
    PublicKey, 32
);

define_id!(
    /// A user: the ed25519 public key derived from the user's recovery phrase.
    ///
    /// The same phrase gives the same `UserId` on every device, forever.
    UserId, 32
);

define_id!(
    /// A node (device): the ed25519 public key of one installation. A user has several.
    NodeId, 32
);

define_id!(
    /// A ledger account: the first 20 bytes of `blake3(public key)`.
    AccountId, 20
);

define_id!(
    /// An ed25519 signature.
    Signature, 64
);

/// Anything whose ID is an ed25519 public key.
pub trait AsPublicKey {
    /// The public key this ID stands for.
    fn public_key(&self) -> PublicKey;
}

impl AsPublicKey for PublicKey {
    fn public_key(&self) -> PublicKey {
        *self
    }
}

impl PublicKey {
    /// The key as a point on the curve; fails for 32 bytes that are not a valid key
    /// (an ID parsed from text is only checked for length).
    pub fn verifying_key(&self) -> Result<VerifyingKey, IdentityError> {
        VerifyingKey::from_bytes(self.as_bytes())
            .map_err(|_| IdentityError::InvalidPublicKey(*self))
    }
}

macro_rules! key_id {
    ($name:ident) => {
        impl $name {
            /// Name a public key as this kind of ID.
            pub const fn from_public_key(key: PublicKey) -> Self {
                Self::from_bytes(*key.as_bytes())
            }

            /// The key as a point on the curve (see [`PublicKey::verifying_key`]).
            pub fn verifying_key(&self) -> Result<VerifyingKey, IdentityError> {
                self.public_key().verifying_key()
            }
        }

        impl AsPublicKey for $name {
            fn public_key(&self) -> PublicKey {
                PublicKey::from_bytes(*self.as_bytes())
            }
        }

        impl From<$name> for PublicKey {
            fn from(id: $name) -> PublicKey {
                id.public_key()
            }
        }
    };
}

key_id!(UserId);
key_id!(NodeId);

impl AccountId {
    /// The ledger account of a key: `blake3(public key)[..20]`.
    pub fn of(key: &impl AsPublicKey) -> AccountId {
        let digest = blake3::hash(key.public_key().as_bytes());
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&digest.as_bytes()[..20]);
        AccountId::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;

    #[test]
    fn ids_round_trip_through_text_json_and_postcard() {
        let kp = Keypair::generate().unwrap();
        let user = UserId::from_public_key(kp.public_key());
        let text = user.to_string();
        assert_eq!(text.len(), 52);
        assert_eq!(text.parse::<UserId>().unwrap(), user);
        let json = serde_json::to_string(&user).unwrap();
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), user);
        let wire = postcard::to_allocvec(&user).unwrap();
        assert_eq!(postcard::from_bytes::<UserId>(&wire).unwrap(), user);

        let account = AccountId::of(&user);
        let text = account.to_string();
        assert_eq!(text.len(), 32, "20 bytes are 32 base32hex characters");
        assert_eq!(text.parse::<AccountId>().unwrap(), account);
        assert!("".parse::<AccountId>().is_err());
        assert!(
            user.to_string().parse::<AccountId>().is_err(),
            "a user ID is not an account ID"
        );
    }

    #[test]
    fn account_id_is_blake3_of_public_key_truncated_to_20_bytes() {
        let kp = Keypair::generate().unwrap();
        let key = kp.public_key();
        let digest = blake3::hash(key.as_bytes());
        assert_eq!(
            AccountId::of(&key).as_bytes().as_slice(),
            &digest.as_bytes()[..20]
        );
        // The account of a user is the account of its key, whatever the ID's type.
        assert_eq!(
            AccountId::of(&UserId::from_public_key(key)),
            AccountId::of(&key)
        );
        assert_eq!(
            AccountId::of(&NodeId::from_public_key(key)),
            AccountId::of(&key)
        );
    }

    #[test]
    fn verifying_key_matches_and_rejects_non_points() {
        let kp = Keypair::generate().unwrap();
        let node = NodeId::from_public_key(kp.public_key());
        assert_eq!(node.verifying_key().unwrap().to_bytes(), *node.as_bytes());
        // y = 2 is not on the curve: 32 bytes of the right length can still be no key.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        let bad = UserId::from_bytes(not_a_point);
        assert!(matches!(
            bad.verifying_key(),
            Err(IdentityError::InvalidPublicKey(_))
        ));
    }
}

//! Identities (placeholder until the identity module lands).
crate::define_id!(
    /// A user: the ed25519 public key of the user's identity.
    UserId,
    32
);

//! What users send each other: signed records (friend requests and answers, sealed
//! direct messages). Every record is a [`Signed`] envelope of the sender's user key,
//! checked before anything else looks at it.

use serde::{Deserialize, Serialize};

use crate::identity::{Domain, EncryptionPublicKey, Signed, SignedRecord, UserId};

crate::define_id!(
    /// A message's ID: 16 random bytes chosen by its sender.
    MessageId,
    16
);

/// Longest display name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest text of a message or a friend request note, in bytes.
pub const MAX_TEXT_LEN: usize = 16 * 1024;

/// "Let us be friends" (S2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    pub from: UserId,
    pub to: UserId,
    /// The sender's display name, as they present themselves.
    pub name: String,
    /// Where to seal messages to the sender.
    pub enc: EncryptionPublicKey,
    pub note: String,
    pub time: u64,
}

impl SignedRecord for FriendRequest {
    const DOMAIN: Domain = Domain::new("leither/friend-request/v1");
}

/// The answer to a friend request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendAnswer {
    pub from: UserId,
    pub to: UserId,
    pub accept: bool,
    pub name: String,
    pub enc: EncryptionPublicKey,
    pub time: u64,
}

impl SignedRecord for FriendAnswer {
    const DOMAIN: Domain = Domain::new("leither/friend-answer/v1");
}

/// A direct message: the content is sealed to the recipient (S4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    pub from: UserId,
    pub to: UserId,
    pub id: MessageId,
    /// Sender's clock, milliseconds since the Unix epoch; orders a conversation.
    pub time: u64,
    /// `seal(recipient, postcard(Content), aad = from ‖ to ‖ id ‖ time)`.
    pub sealed: Vec<u8>,
}

impl SignedRecord for DirectMessage {
    const DOMAIN: Domain = Domain::new("leither/direct-message/v1");
}

impl DirectMessage {
    /// The data the sealed box is bound to, so a box cannot be moved to another message.
    pub fn aad(from: &UserId, to: &UserId, id: &MessageId, time: u64) -> Vec<u8> {
        let mut a = Vec::with_capacity(32 + 32 + 16 + 8);
        a.extend_from_slice(from.as_bytes());
        a.extend_from_slice(to.as_bytes());
        a.extend_from_slice(id.as_bytes());
        a.extend_from_slice(&time.to_le_bytes());
        a
    }
}

/// What a direct message carries, once opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    Text(String),
    /// "I stored your messages up to and including this one" (delivery) or
    /// "I read them" (read receipt).
    Receipt {
        of: MessageId,
        read: bool,
    },
}

/// Any envelope one user sends another.
#[derive(Serialize, Deserialize)]
pub enum Envelope {
    FriendRequest(Signed<FriendRequest>),
    FriendAnswer(Signed<FriendAnswer>),
    Direct(Signed<DirectMessage>),
}

impl Envelope {
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, super::SocialError> {
        if bytes.len() > crate::identity::MAX_ENVELOPE_BYTES + 16 {
            return Err(super::SocialError::Invalid("envelope too large".into()));
        }
        postcard::from_bytes(bytes)
            .map_err(|e| super::SocialError::Invalid(format!("malformed envelope: {e}")))
    }

    /// Who it is addressed to (not yet verified).
    pub fn recipient(&self) -> Option<UserId> {
        let peek = |bytes: &[u8]| {
            postcard::take_from_bytes::<(UserId, UserId)>(bytes)
                .ok()
                .map(|((_, to), _)| to)
        };
        match self {
            Envelope::FriendRequest(s) => peek(s.payload_bytes()),
            Envelope::FriendAnswer(s) => peek(s.payload_bytes()),
            Envelope::Direct(s) => peek(s.payload_bytes()),
        }
    }
}

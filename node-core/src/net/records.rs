//! Signed DHT records (SPEC P1, P5) and the rules every node applies to them.
//!
//! Each record is a [`Signed`] envelope stored under a key that says its kind:
//!
//! | key | value | signed by | owner (who may replace it) |
//! |---|---|---|---|
//! | `/leither/node/<node id>` | [`NodeRecord`]: addresses, user + device cert, light/full | the node key | that node |
//! | `/leither/mimei/<mimei id>` | [`MimeiRecord`]: holder, newest versions and their digests | a node of the author (device cert inside) | the author |
//! | `/leither/name/<name>` | [`NameRecord`]: name → Mimei or node | the user key | the first claimer |
//! | `/leither/profile/<user id>` | [`ProfileRecord`]: display name, bio, encryption key | the user key | that user |
//! | `/leither/org/<org id>` | [`OrgRecord`]: the org's charter, public info and member list, each signed as the org's rules say | (parts: org key, admins) | the org |
//!
//! [`check`] validates a record by itself (size, key ↔ content, signature, certificate,
//! expiry); [`supersedes`] decides whether a valid record may replace the one already
//! stored (same owner and a higher sequence number; a name belongs to its first owner
//! until that owner's record expires). Both run on every put a node receives and on
//! every record a get returns, so a forged, unsigned, stale or oversized record is
//! neither stored nor used.

use serde::{Deserialize, Serialize};

use crate::identity::{
    DeviceCert, Domain, IdentityError, Keypair, NodeId, PublicKey, Signed, SignedRecord, UserId,
};
use crate::mimei::MimeiId;
use crate::org::wire::{self, Charter, Members, OrgId, OrgInfo, RuleError};
use crate::store::BlockHash;

/// Largest record value accepted (the envelope bytes).
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
/// Longest lifetime a record may claim.
pub const MAX_TTL_MS: u64 = 7 * 24 * 3600 * 1000;
/// Lifetime given to records this node signs; they are re-signed and re-published
/// every [`REPUBLISH_MS`], well before they expire.
pub const RECORD_TTL_MS: u64 = 48 * 3600 * 1000;
pub const REPUBLISH_MS: u64 = 12 * 3600 * 1000;
/// Most addresses in a node record, versions in a Mimei record.
pub const MAX_ADDRS: usize = 16;
pub const MAX_VERSIONS: usize = 32;
/// Names: 1–64 bytes of lowercase ASCII letters, digits, `-`, `_` and `.`.
pub const MAX_NAME_LEN: usize = 64;

const NODE_PREFIX: &[u8] = b"/leither/node/";
const MIMEI_PREFIX: &[u8] = b"/leither/mimei/";
const PROFILE_PREFIX: &[u8] = b"/leither/profile/";
const NAME_PREFIX: &[u8] = b"/leither/name/";
const ORG_PREFIX: &[u8] = b"/leither/org/";

/// Where a node can be reached and whose device it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub node: NodeId,
    pub addrs: Vec<String>,
    pub cert: Signed<DeviceCert>,
    /// A light node (phone) does not serve the DHT or store others' data.
    pub light: bool,
    pub seq: u64,
    pub expires: u64,
}

impl SignedRecord for NodeRecord {
    const DOMAIN: Domain = Domain::new("leither/net/node/v1");
}

/// Where a Mimei is held and what its newest versions are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MimeiRecord {
    pub id: MimeiId,
    /// The fields the ID derives from, so the author is provable.
    pub author: UserId,
    pub app_type: String,
    pub ext: String,
    pub mark: String,
    /// The node that signed this record and holds these versions.
    pub holder: NodeId,
    pub cert: Signed<DeviceCert>,
    /// `(version number, digest of its version record)`, oldest first; the last is
    /// the newest version.
    pub versions: Vec<(u64, BlockHash)>,
    /// The version the author marked as the public release, if listed above.
    pub release: Option<u64>,
    pub seq: u64,
    pub expires: u64,
}

impl SignedRecord for MimeiRecord {
    const DOMAIN: Domain = Domain::new("leither/net/mimei/v1");
}

impl MimeiRecord {
    /// The newest version and its digest.
    pub fn newest(&self) -> Option<(u64, BlockHash)> {
        self.versions.last().copied()
    }

    /// The digest of version `n`, if this record lists it.
    pub fn digest_of(&self, n: u64) -> Option<BlockHash> {
        self.versions.iter().find(|(v, _)| *v == n).map(|(_, d)| *d)
    }
}

/// What a name points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameTarget {
    Mimei(MimeiId),
    Node(NodeId),
}

/// A human-readable name owned by a user (P5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRecord {
    pub name: String,
    pub target: NameTarget,
    pub owner: UserId,
    pub seq: u64,
    pub expires: u64,
}

impl SignedRecord for NameRecord {
    const DOMAIN: Domain = Domain::new("leither/net/name/v1");
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record of {size} bytes exceeds {max}")]
    TooLarge { size: usize, max: usize },
    #[error("unknown record key")]
    UnknownKey,
    #[error("bad signature or envelope: {0}")]
    BadSignature(String),
    #[error("record does not match its key")]
    KeyMismatch,
    #[error("record is expired or claims too long a lifetime")]
    BadExpiry,
    #[error("invalid record: {0}")]
    Invalid(String),
    #[error("sequence {new} is not newer than the stored {old}")]
    Stale { old: u64, new: u64 },
    #[error("name `{0}` is taken by another user")]
    NameTaken(String),
    #[error("owned by someone else")]
    WrongOwner,
}

impl From<IdentityError> for RecordError {
    fn from(e: IdentityError) -> Self {
        RecordError::BadSignature(e.to_string())
    }
}

/// An org's public records on the DHT (O2): what anyone may know of it, published by
/// any member's node. Not signed as a whole: each part carries its own signature
/// (charter by the org key, info and members by an admin the charter names), so a
/// node storing it can replay an older one but not alter one. `members` is empty when
/// the list is too long for a record ([`org_record`]): the org is still found by its
/// ID and applied to through its admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub charter: Vec<u8>,
    pub info: Vec<u8>,
    pub members: Vec<u8>,
    pub expires: u64,
}

/// The bytes of an org's record: with its member list if the whole fits in
/// [`MAX_ORG_RECORD_BYTES`], else without it.
pub fn org_record(
    charter: Vec<u8>,
    info: Vec<u8>,
    members: Vec<u8>,
    expires: u64,
) -> Result<Vec<u8>, RecordError> {
    let mut r = OrgRecord {
        charter,
        info,
        members,
        expires,
    };
    let encode = |r: &OrgRecord| {
        postcard::to_allocvec(r).map_err(|e| RecordError::Invalid(format!("org record: {e}")))
    };
    let full = encode(&r)?;
    if full.len() <= MAX_ORG_RECORD_BYTES {
        return Ok(full);
    }
    r.members.clear();
    encode(&r)
}

/// An [`OrgRecord`] whose parts passed the org's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPublic {
    pub org: OrgId,
    pub charter: Charter,
    pub info: OrgInfo,
    /// `None` when the list was too long to publish.
    pub members: Option<Members>,
    pub record: OrgRecord,
}

/// A user's public profile (S1): what anyone may read, and what a search by display
/// name finds (every node of the user is also a DHT provider of [`people_key`] of the
/// name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileRecord {
    pub user: UserId,
    pub name: String,
    pub bio: String,
    /// Where to seal messages to this user.
    pub enc: crate::identity::EncryptionPublicKey,
    pub seq: u64,
    pub expires: u64,
}

impl SignedRecord for ProfileRecord {
    const DOMAIN: Domain = Domain::new("leither/net/profile/v1");
}

/// Longest bio in a profile record (the full bio is in the profile Mimei).
pub const MAX_PROFILE_BIO: usize = 2048;

/// Largest org record (an org with many members has a long list).
pub const MAX_ORG_RECORD_BYTES: usize = 48 * 1024;

/// A record that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Valid {
    Node(NodeRecord),
    Mimei(MimeiRecord),
    Name(NameRecord),
    Org(Box<OrgPublic>),
    Profile(ProfileRecord),
}

impl Valid {
    /// Who may replace it.
    pub fn owner(&self) -> PublicKey {
        match self {
            Valid::Node(r) => r.node.into(),
            Valid::Mimei(r) => r.author.into(),
            Valid::Name(r) => r.owner.into(),
            Valid::Org(o) => PublicKey::from_bytes(*o.org.as_bytes()),
            Valid::Profile(r) => r.user.into(),
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Valid::Node(r) => r.seq,
            Valid::Mimei(r) => r.seq,
            Valid::Name(r) => r.seq,
            // For display; org records are ordered part by part (see `supersedes`).
            Valid::Org(o) => o.charter.seq + o.info.seq + o.members.as_ref().map_or(0, |m| m.seq),
            Valid::Profile(r) => r.seq,
        }
    }

    pub fn expires(&self) -> u64 {
        match self {
            Valid::Node(r) => r.expires,
            Valid::Mimei(r) => r.expires,
            Valid::Name(r) => r.expires,
            Valid::Org(o) => o.record.expires,
            Valid::Profile(r) => r.expires,
        }
    }
}

pub fn node_key(node: &NodeId) -> Vec<u8> {
    [NODE_PREFIX, node.as_bytes()].concat()
}

pub fn mimei_key(id: &MimeiId) -> Vec<u8> {
    [MIMEI_PREFIX, id.as_bytes()].concat()
}

pub fn profile_key(user: &UserId) -> Vec<u8> {
    [PROFILE_PREFIX, user.as_bytes()].concat()
}

/// How a display name is compared in a search: trimmed, lower case.
pub fn normal_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Provider key of everyone whose display name is `name` (after [`normal_name`]).
pub fn people_key(name: &str) -> Vec<u8> {
    [
        b"/leither/people/".as_slice(),
        blake3::hash(normal_name(name).as_bytes()).as_bytes(),
    ]
    .concat()
}

pub fn org_key(org: &OrgId) -> Vec<u8> {
    [ORG_PREFIX, org.as_bytes()].concat()
}

pub fn name_key(name: &str) -> Vec<u8> {
    [NAME_PREFIX, name.as_bytes()].concat()
}

/// Key under which holders of a Mimei announce themselves as DHT providers.
pub fn holder_key(id: &MimeiId) -> Vec<u8> {
    [b"/leither/holders/".as_slice(), id.as_bytes()].concat()
}

/// Key under which every node of a user announces itself (provider record), so a
/// message for a user can find that user's devices.
pub fn user_nodes_key(user: &UserId) -> Vec<u8> {
    [b"/leither/user-nodes/".as_slice(), user.as_bytes()].concat()
}

/// Whether `name` is a valid name.
pub fn valid_name(name: &str) -> Result<(), RecordError> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
    {
        return Err(RecordError::Invalid(format!(
            "`{name}` is not a valid name (1-{MAX_NAME_LEN} of a-z 0-9 - _ .)"
        )));
    }
    Ok(())
}

fn check_expiry(expires: u64, now: u64) -> Result<(), RecordError> {
    if expires <= now || expires > now.saturating_add(MAX_TTL_MS) {
        return Err(RecordError::BadExpiry);
    }
    Ok(())
}

fn cert_user(cert: &Signed<DeviceCert>, node: &NodeId) -> Result<UserId, RecordError> {
    let user = cert.user();
    cert.verify_for(&user, node)?;
    Ok(user)
}

/// Validate a record by itself: size, key, signature, certificate, expiry.
pub fn check(key: &[u8], value: &[u8], now: u64) -> Result<Valid, RecordError> {
    let max = if key.starts_with(ORG_PREFIX) {
        MAX_ORG_RECORD_BYTES
    } else {
        MAX_RECORD_BYTES
    };
    if value.len() > max {
        return Err(RecordError::TooLarge {
            size: value.len(),
            max,
        });
    }
    if let Some(rest) = key.strip_prefix(NODE_PREFIX) {
        let signed = Signed::<NodeRecord>::from_bytes(value)?;
        let r = signed.verify()?;
        if rest != r.node.as_bytes() || signed.signer() != r.node.into() {
            return Err(RecordError::KeyMismatch);
        }
        cert_user(&r.cert, &r.node)?;
        if r.addrs.len() > MAX_ADDRS || r.addrs.iter().any(|a| a.len() > 256) {
            return Err(RecordError::Invalid(
                "too many or too long addresses".into(),
            ));
        }
        check_expiry(r.expires, now)?;
        Ok(Valid::Node(r))
    } else if let Some(rest) = key.strip_prefix(MIMEI_PREFIX) {
        let signed = Signed::<MimeiRecord>::from_bytes(value)?;
        let r = signed.verify()?;
        if rest != r.id.as_bytes() || signed.signer() != r.holder.into() {
            return Err(RecordError::KeyMismatch);
        }
        if MimeiId::derive(&r.author, &r.app_type, &r.ext, &r.mark) != r.id {
            return Err(RecordError::Invalid(
                "the ID does not derive from the author and fields".into(),
            ));
        }
        if cert_user(&r.cert, &r.holder)? != r.author {
            return Err(RecordError::WrongOwner);
        }
        if r.versions.len() > MAX_VERSIONS || r.versions.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(RecordError::Invalid(
                "versions must be ascending, at most 32".into(),
            ));
        }
        check_expiry(r.expires, now)?;
        Ok(Valid::Mimei(r))
    } else if let Some(rest) = key.strip_prefix(NAME_PREFIX) {
        let signed = Signed::<NameRecord>::from_bytes(value)?;
        let r = signed.verify()?;
        if rest != r.name.as_bytes() || signed.signer() != r.owner.into() {
            return Err(RecordError::KeyMismatch);
        }
        valid_name(&r.name)?;
        check_expiry(r.expires, now)?;
        Ok(Valid::Name(r))
    } else if let Some(rest) = key.strip_prefix(PROFILE_PREFIX) {
        let signed = Signed::<ProfileRecord>::from_bytes(value)?;
        let r = signed.verify()?;
        if rest != r.user.as_bytes() || signed.signer() != r.user.into() {
            return Err(RecordError::KeyMismatch);
        }
        if r.name.len() > crate::social::MAX_NAME_LEN || r.bio.len() > MAX_PROFILE_BIO {
            return Err(RecordError::Invalid("name or bio too long".into()));
        }
        check_expiry(r.expires, now)?;
        Ok(Valid::Profile(r))
    } else if let Some(rest) = key.strip_prefix(ORG_PREFIX) {
        let bad = |e: RuleError| RecordError::Invalid(format!("org record: {e}"));
        let record: OrgRecord = postcard::from_bytes(value)
            .map_err(|e| RecordError::Invalid(format!("org record: {e}")))?;
        let org = OrgId::from_bytes(rest.try_into().map_err(|_| RecordError::KeyMismatch)?);
        let charter = wire::check_charter(&org, &Signed::from_bytes(&record.charter)?, None)
            .map_err(|e| match e {
                RuleError::WrongOrg => RecordError::KeyMismatch,
                e => bad(e),
            })?;
        let info =
            wire::check_info(&Signed::from_bytes(&record.info)?, &charter, None).map_err(bad)?;
        let members = if record.members.is_empty() {
            None
        } else {
            Some(
                wire::check_members(&Signed::from_bytes(&record.members)?, &charter, None)
                    .map_err(bad)?,
            )
        };
        if info.org != org || members.as_ref().is_some_and(|m| m.org != org) {
            return Err(RecordError::KeyMismatch);
        }
        check_expiry(record.expires, now)?;
        Ok(Valid::Org(Box::new(OrgPublic {
            org,
            charter,
            info,
            members,
            record,
        })))
    } else {
        Err(RecordError::UnknownKey)
    }
}

/// Org records are ordered part by part (each part's sequence only grows): `new` may
/// replace `old` when no part is older and one is newer, or the same parts come again
/// (the periodic re-publish, a later expiry). A member list may come or go (an org
/// outgrowing the record leaves it out).
fn org_supersedes(old: &OrgPublic, new: &OrgPublic) -> Result<(), RecordError> {
    let parts = |r: &OrgRecord| [r.charter.clone(), r.info.clone(), r.members.clone()];
    if parts(&old.record) == parts(&new.record) {
        return Ok(());
    }
    let members = |o: &OrgPublic| o.members.as_ref().map(|m| m.seq);
    let pairs = [
        (old.charter.seq, new.charter.seq),
        (old.info.seq, new.info.seq),
        match (members(old), members(new)) {
            (Some(a), Some(b)) => (a, b),
            _ => (0, 0),
        },
    ];
    let newer =
        pairs.iter().any(|(a, b)| b > a) || members(old).is_some() != members(new).is_some();
    if pairs.iter().any(|(a, b)| b < a) || !newer {
        return Err(RecordError::Stale {
            old: old.charter.seq + old.info.seq + members(old).unwrap_or(0),
            new: new.charter.seq + new.info.seq + members(new).unwrap_or(0),
        });
    }
    Ok(())
}

/// Whether `new` may replace `old` (both valid, same key). Re-storing the same record
/// is fine (`old == new`, or an org record with the same signed parts and a later
/// expiry: its periodic re-publish); otherwise the owner must match and the sequence
/// grow. An expired `old` no longer binds anyone.
pub fn supersedes(old: &Valid, new: &Valid, now: u64) -> Result<(), RecordError> {
    if old.expires() <= now || old == new {
        return Ok(());
    }
    if let (Valid::Org(o), Valid::Org(n)) = (old, new) {
        return org_supersedes(o, n);
    }
    if old.owner() != new.owner() {
        return Err(match new {
            Valid::Name(r) => RecordError::NameTaken(r.name.clone()),
            _ => RecordError::WrongOwner,
        });
    }
    if new.seq() <= old.seq() {
        return Err(RecordError::Stale {
            old: old.seq(),
            new: new.seq(),
        });
    }
    Ok(())
}

/// Of several valid records returned for one key, the one to use: the owner most
/// peers agree on (ties: the earliest record of an owner, by lowest sequence), then
/// that owner's highest sequence.
pub fn choose(records: Vec<Valid>) -> Option<Valid> {
    use std::collections::HashMap;
    let mut by_owner: HashMap<PublicKey, (usize, u64)> = HashMap::new();
    for r in &records {
        let e = by_owner.entry(r.owner()).or_insert((0, u64::MAX));
        e.0 += 1;
        e.1 = e.1.min(r.seq());
    }
    let owner = by_owner
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))?
        .0;
    records
        .into_iter()
        .filter(|r| r.owner() == owner)
        .max_by_key(|r| r.seq())
}

/// Sign a record (helper for the three kinds).
pub fn sign<T: SignedRecord>(key: &Keypair, record: &T) -> Result<Vec<u8>, RecordError> {
    Ok(Signed::sign(key, record)?.to_bytes())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dev {
        user: Keypair,
        node: Keypair,
        cert: Signed<DeviceCert>,
    }

    fn dev() -> Dev {
        let user = Keypair::generate().unwrap();
        let node = Keypair::generate().unwrap();
        let cert =
            DeviceCert::issue(&user, NodeId::from_public_key(node.public_key()), "t").unwrap();
        Dev { user, node, cert }
    }

    impl Dev {
        fn user_id(&self) -> UserId {
            UserId::from_public_key(self.user.public_key())
        }
        fn node_id(&self) -> NodeId {
            NodeId::from_public_key(self.node.public_key())
        }
        fn name(&self, name: &str, seq: u64, now: u64) -> (Vec<u8>, Vec<u8>) {
            let r = NameRecord {
                name: name.into(),
                target: NameTarget::Node(self.node_id()),
                owner: self.user_id(),
                seq,
                expires: now + RECORD_TTL_MS,
            };
            (name_key(name), sign(&self.user, &r).unwrap())
        }
        fn mimei(&self, author: UserId, seq: u64, now: u64) -> (Vec<u8>, MimeiRecord) {
            let id = MimeiId::derive(&author, "app", "", "m");
            let r = MimeiRecord {
                id,
                author,
                app_type: "app".into(),
                ext: "".into(),
                mark: "m".into(),
                holder: self.node_id(),
                cert: self.cert.clone(),
                versions: vec![(0, BlockHash::of(b"v0"))],
                release: None,
                seq,
                expires: now + RECORD_TTL_MS,
            };
            (mimei_key(&id), r)
        }
    }

    #[test]
    fn node_record_valid_and_forgeries_rejected() {
        let now = now_ms();
        let d = dev();
        let r = NodeRecord {
            node: d.node_id(),
            addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            cert: d.cert.clone(),
            light: false,
            seq: 1,
            expires: now + RECORD_TTL_MS,
        };
        let key = node_key(&d.node_id());
        let good = sign(&d.node, &r).unwrap();
        assert!(matches!(check(&key, &good, now), Ok(Valid::Node(_))));
        // Signed by someone else (e.g. the user key, or another node).
        let other = dev();
        assert!(check(&key, &sign(&other.node, &r).unwrap(), now).is_err());
        // Stored under another node's key.
        assert_eq!(
            check(&node_key(&other.node_id()), &good, now),
            Err(RecordError::KeyMismatch)
        );
        // A certificate of another node.
        let r2 = NodeRecord {
            cert: other.cert.clone(),
            ..r.clone()
        };
        assert!(check(&key, &sign(&d.node, &r2).unwrap(), now).is_err());
        // Flipped byte in the signature / payload.
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(check(&key, &bad, now).is_err());
        // Unsigned garbage and oversized values.
        assert!(check(&key, b"hello", now).is_err());
        assert!(matches!(
            check(&key, &vec![0u8; MAX_RECORD_BYTES + 1], now),
            Err(RecordError::TooLarge { .. })
        ));
        // Expired, or claiming a lifetime beyond the limit.
        let old = NodeRecord {
            expires: now - 1,
            ..r.clone()
        };
        assert_eq!(
            check(&key, &sign(&d.node, &old).unwrap(), now),
            Err(RecordError::BadExpiry)
        );
        let forever = NodeRecord {
            expires: now + MAX_TTL_MS + 1000,
            ..r
        };
        assert_eq!(
            check(&key, &sign(&d.node, &forever).unwrap(), now),
            Err(RecordError::BadExpiry)
        );
        assert_eq!(check(b"/other/x", &good, now), Err(RecordError::UnknownKey));
    }

    #[test]
    fn mimei_record_needs_a_device_of_the_author() {
        let now = now_ms();
        let d = dev();
        let (key, r) = d.mimei(d.user_id(), 5, now);
        let v = check(&key, &sign(&d.node, &r).unwrap(), now).unwrap();
        assert_eq!(v.owner(), d.user_id().into());
        // Someone else's node claims to hold a newer version of d's Mimei.
        let mallory = dev();
        let (_, mut forged) = mallory.mimei(d.user_id(), 6, now);
        assert_eq!(
            check(&key, &sign(&mallory.node, &forged).unwrap(), now),
            Err(RecordError::WrongOwner)
        );
        // …or swaps in its own author but keeps d's ID.
        forged.author = mallory.user_id();
        assert!(check(&key, &sign(&mallory.node, &forged).unwrap(), now).is_err());
        // Versions out of order.
        let mut r2 = r.clone();
        r2.versions = vec![(3, BlockHash::of(b"a")), (1, BlockHash::of(b"b"))];
        assert!(check(&key, &sign(&d.node, &r2).unwrap(), now).is_err());
    }

    #[test]
    fn names_first_claim_wins_owner_repoints_with_higher_seq() {
        let now = now_ms();
        let (alice, bob) = (dev(), dev());
        let (k, a1) = alice.name("home", 1, now);
        let a1 = check(&k, &a1, now).unwrap();
        let (_, b1) = bob.name("home", 9, now);
        let b1 = check(&k, &b1, now).unwrap();
        assert_eq!(
            supersedes(&a1, &b1, now),
            Err(RecordError::NameTaken("home".into()))
        );
        let (_, a2) = alice.name("home", 2, now);
        let a2 = check(&k, &a2, now).unwrap();
        assert_eq!(supersedes(&a1, &a2, now), Ok(()));
        assert_eq!(
            supersedes(&a2, &a1, now),
            Err(RecordError::Stale { old: 2, new: 1 })
        );
        assert_eq!(supersedes(&a2, &a2, now), Ok(()));
        // Once alice's record has expired, the name is free again.
        assert_eq!(supersedes(&a1, &b1, a1.expires()), Ok(()));
        // Bad names.
        for bad in ["", "Home", "a b", &"x".repeat(65)] {
            assert!(valid_name(bad).is_err());
        }
        let (k2, bad) = alice.name("Bad Name", 1, now);
        assert!(check(&k2, &bad, now).is_err());
        // The most agreed owner wins, then its highest seq.
        assert_eq!(
            choose(vec![b1.clone(), a1.clone(), a2.clone()]),
            Some(a2.clone())
        );
        assert_eq!(choose(vec![b1.clone()]), Some(b1));
    }

    #[test]
    fn org_records_verify_each_part_against_the_org_key() {
        let okey = Keypair::generate().unwrap();
        let admin = dev();
        let org = OrgId::from_bytes(*okey.public_key().as_bytes());
        let charter = sign(
            &okey,
            &Charter {
                org,
                name: "Club".into(),
                creator: admin.user_id(),
                admins: vec![admin.user_id()],
                seq: 1,
                time: 0,
            },
        )
        .unwrap();
        let info = |by: &Keypair| {
            sign(
                by,
                &OrgInfo {
                    org,
                    about: "hi".into(),
                    apps: vec![],
                    seq: 1,
                    time: 0,
                },
            )
            .unwrap()
        };
        let members = sign(
            &admin.user,
            &Members {
                org,
                members: vec![],
                seq: 1,
                time: 0,
            },
        )
        .unwrap();
        let now = now_ms();
        let rec_until = |info: Vec<u8>, expires: u64| {
            postcard::to_allocvec(&OrgRecord {
                charter: charter.clone(),
                info,
                members: members.clone(),
                expires,
            })
            .unwrap()
        };
        let rec = |info: Vec<u8>| rec_until(info, now + 1000);
        let good = rec(info(&admin.user));
        // Re-publishing the same parts later only moves the expiry: stored again.
        let later = rec_until(info(&admin.user), now + 5000);
        let (a, b) = (
            check(&org_key(&org), &good, now).unwrap(),
            check(&org_key(&org), &later, now).unwrap(),
        );
        assert_eq!(supersedes(&a, &b, now), Ok(()));
        let Valid::Org(o) = check(&org_key(&org), &good, now).unwrap() else {
            panic!("not an org record")
        };
        assert_eq!(o.charter.name, "Club");
        assert_eq!(Valid::Org(o.clone()).owner(), okey.public_key());
        // Under another org's key; info signed by a non-admin.
        let other = OrgId::from_bytes(*Keypair::generate().unwrap().public_key().as_bytes());
        assert_eq!(
            check(&org_key(&other), &good, now),
            Err(RecordError::KeyMismatch)
        );
        let outsider = dev();
        assert!(check(&org_key(&org), &rec(info(&outsider.user)), now).is_err());
        assert!(check(&org_key(&org), b"garbage", now).is_err());
    }

    #[test]
    fn org_records_order_part_by_part_and_may_leave_the_member_list_out() {
        let okey = Keypair::generate().unwrap();
        let admin = dev();
        let org = OrgId::from_bytes(*okey.public_key().as_bytes());
        let charter = sign(
            &okey,
            &Charter {
                org,
                name: "Big club".into(),
                creator: admin.user_id(),
                admins: vec![admin.user_id()],
                seq: 1,
                time: 0,
            },
        )
        .unwrap();
        let info = |seq| {
            let about = String::new();
            sign(
                &admin.user,
                &OrgInfo {
                    org,
                    about,
                    apps: vec![],
                    seq,
                    time: 0,
                },
            )
            .unwrap()
        };
        let members = |seq, n: usize| {
            let members = (0..n as u64)
                .map(|i| {
                    let mut user = [0u8; 32];
                    user[..8].copy_from_slice(&i.to_le_bytes());
                    crate::org::Member {
                        user: UserId::from_bytes(user),
                        name: "x".repeat(20),
                        role: crate::org::OrgRole::Member,
                        enc: crate::identity::EncryptionPublicKey::from_bytes([1; 32]),
                    }
                })
                .collect();
            sign(
                &admin.user,
                &Members {
                    org,
                    members,
                    seq,
                    time: 0,
                },
            )
            .unwrap()
        };
        let now = now_ms();
        let valid = |info: Vec<u8>, members: Vec<u8>| {
            let bytes = org_record(charter.clone(), info, members, now + 1000).unwrap();
            assert!(bytes.len() <= MAX_ORG_RECORD_BYTES);
            check(&org_key(&org), &bytes, now).unwrap()
        };
        let members_of = |v: &Valid| match v {
            Valid::Org(o) => o.members.as_ref().map(|m| m.members.len()),
            _ => panic!("not an org record"),
        };
        // A list too long for a record is left out; the rest still verifies.
        let small = valid(info(1), members(1, 2));
        assert_eq!(members_of(&small), Some(2));
        // (A signed list holds at most 60 KiB: ~700 members with names this short.)
        let big = valid(info(2), members(2, 600));
        assert_eq!(members_of(&big), None, "600 members do not fit in 48 KiB");
        // Part by part: a newer info without the list replaces the older full record,
        // not the other way round; the list may come back with a newer one.
        assert_eq!(supersedes(&small, &big, now), Ok(()));
        assert!(matches!(
            supersedes(&big, &small, now),
            Err(RecordError::Stale { .. })
        ));
        let back = valid(info(2), members(3, 2));
        assert_eq!(supersedes(&big, &back, now), Ok(()));
        // Parts mixed from different times: one newer and one older part is refused.
        let mixed = valid(info(1), members(4, 2));
        assert!(matches!(
            supersedes(&back, &mixed, now),
            Err(RecordError::Stale { .. })
        ));
        assert!(matches!(supersedes(&back, &back.clone(), now), Ok(())));
    }
}

//! An organization's signed records and the rules that say who may sign what (O1–O4).
//! Pure functions: no storage, no network, unit-tested on their own.
//!
//! - [`Charter`], signed by the **org key**: the org's name, creator and admins. Only the
//!   creator holds the org key (re-derivable from the creator's recovery phrase).
//! - [`OrgInfo`], signed by an **admin**: public description and published apps (O4).
//! - [`Members`], signed by an **admin**: the whole membership list with roles (O2).
//! - [`JoinRequest`], signed by the **applicant** (O2).
//! - [`ChatMessage`], signed by a **member** (O3).
//!
//! Lists carry a sequence number: a record replaces the one held only if its `seq` is
//! higher, so old records replayed by a peer cannot undo changes.

use serde::{Deserialize, Serialize};

use crate::identity::{Domain, EncryptionPublicKey, IdentityError, Signed, SignedRecord, UserId};

use crate::mimei::MimeiId;
use crate::social::MessageId;

crate::define_id!(
    /// An organization: its ed25519 public key (O1).
    OrgId,
    32
);

/// A role in an org (O1); admins may approve, promote and remove.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Guest,
    Member,
    Admin,
}

/// Longest org name, in bytes.
pub const MAX_ORG_NAME: usize = 128;
/// Longest description, note or chat message, in bytes.
pub const MAX_ORG_TEXT: usize = 8 * 1024;
/// Most members one list may hold (keeps a list within one signed envelope).
pub const MAX_MEMBERS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charter {
    pub org: OrgId,
    pub name: String,
    pub creator: UserId,
    pub admins: Vec<UserId>,
    pub seq: u64,
    pub time: u64,
}

impl SignedRecord for Charter {
    const DOMAIN: Domain = Domain::new("leither/org-charter/v1");
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    pub org: OrgId,
    pub about: String,
    pub apps: Vec<MimeiId>,
    pub seq: u64,
    pub time: u64,
}

impl SignedRecord for OrgInfo {
    const DOMAIN: Domain = Domain::new("leither/org-info/v1");
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub user: UserId,
    pub role: OrgRole,
    pub name: String,
    /// Where admins seal the org's chat key to this member.
    pub enc: EncryptionPublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub org: OrgId,
    pub members: Vec<Member>,
    pub seq: u64,
    pub time: u64,
}

impl SignedRecord for Members {
    const DOMAIN: Domain = Domain::new("leither/org-members/v1");
}

impl Members {
    pub fn role_of(&self, user: &UserId) -> Option<OrgRole> {
        self.members
            .iter()
            .find(|m| m.user == *user)
            .map(|m| m.role)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub org: OrgId,
    pub user: UserId,
    pub name: String,
    pub note: String,
    pub time: u64,
    /// The applicant's encryption key: the chat key is sealed to it on approval.
    pub enc: EncryptionPublicKey,
}

impl SignedRecord for JoinRequest {
    const DOMAIN: Domain = Domain::new("leither/org-join/v1");
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub org: OrgId,
    pub author: UserId,
    pub id: MessageId,
    pub time: u64,
    pub text: String,
}

impl SignedRecord for ChatMessage {
    const DOMAIN: Domain = Domain::new("leither/org-chat/v1");
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("signature: {0}")]
    Signature(String),
    #[error("record is for another org")]
    WrongOrg,
    #[error("{0} may not sign this")]
    NotAllowed(UserId),
    #[error("stale: sequence {got} is not newer than {have}")]
    Stale { got: u64, have: u64 },
    #[error("invalid: {0}")]
    Invalid(String),
}

impl From<IdentityError> for RuleError {
    fn from(e: IdentityError) -> Self {
        RuleError::Signature(e.to_string())
    }
}

fn text(s: &str, max: usize, what: &str) -> Result<(), RuleError> {
    if s.len() > max || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(RuleError::Invalid(format!(
            "{what}: at most {max} bytes, no control characters"
        )));
    }
    Ok(())
}

/// A charter is valid if the org key itself signed it and it is newer than `have`.
pub fn check_charter(
    org: &OrgId,
    s: &Signed<Charter>,
    have: Option<&Charter>,
) -> Result<Charter, RuleError> {
    let c = s.verify()?;
    if c.org != *org || s.signer().as_bytes() != org.as_bytes() {
        return Err(RuleError::WrongOrg);
    }
    text(&c.name, MAX_ORG_NAME, "name")?;
    if c.admins.is_empty() {
        return Err(RuleError::Invalid("an org needs an admin".into()));
    }
    if let Some(h) = have
        && c.seq <= h.seq
    {
        return Err(RuleError::Stale {
            got: c.seq,
            have: h.seq,
        });
    }
    Ok(c)
}

/// Records an admin signs (members, info) are valid if the signer is an admin of the
/// charter, the org matches and the sequence is newer.
fn check_admin_signed<T: SignedRecord>(
    s: &Signed<T>,
    charter: &Charter,
    org_of: impl Fn(&T) -> (OrgId, u64),
    have_seq: Option<u64>,
) -> Result<T, RuleError> {
    let r = s.verify()?;
    let (org, seq) = org_of(&r);
    if org != charter.org {
        return Err(RuleError::WrongOrg);
    }
    let signer = UserId::from_public_key(s.signer());
    if !charter.admins.contains(&signer) {
        return Err(RuleError::NotAllowed(signer));
    }
    if let Some(h) = have_seq
        && seq <= h
    {
        return Err(RuleError::Stale { got: seq, have: h });
    }
    Ok(r)
}

pub fn check_members(
    s: &Signed<Members>,
    charter: &Charter,
    have: Option<&Members>,
) -> Result<Members, RuleError> {
    let m = check_admin_signed(s, charter, |m| (m.org, m.seq), have.map(|h| h.seq))?;
    if m.members.len() > MAX_MEMBERS {
        return Err(RuleError::Invalid(format!(
            "more than {MAX_MEMBERS} members"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for mem in &m.members {
        text(&mem.name, MAX_ORG_NAME, "member name")?;
        if !seen.insert(mem.user) {
            return Err(RuleError::Invalid("a member is listed twice".into()));
        }
    }
    Ok(m)
}

pub fn check_info(
    s: &Signed<OrgInfo>,
    charter: &Charter,
    have: Option<&OrgInfo>,
) -> Result<OrgInfo, RuleError> {
    let i = check_admin_signed(s, charter, |i| (i.org, i.seq), have.map(|h| h.seq))?;
    text(&i.about, MAX_ORG_TEXT, "about")?;
    Ok(i)
}

pub fn check_join(org: &OrgId, s: &Signed<JoinRequest>) -> Result<JoinRequest, RuleError> {
    let j = s.verify()?;
    if j.org != *org {
        return Err(RuleError::WrongOrg);
    }
    if UserId::from_public_key(s.signer()) != j.user {
        return Err(RuleError::NotAllowed(UserId::from_public_key(s.signer())));
    }
    text(&j.name, MAX_ORG_NAME, "name")?;
    text(&j.note, MAX_ORG_TEXT, "note")?;
    Ok(j)
}

/// A chat message is valid if its author signed it and is a member (or admin).
pub fn check_chat(s: &Signed<ChatMessage>, members: &Members) -> Result<ChatMessage, RuleError> {
    let c = s.verify()?;
    if c.org != members.org {
        return Err(RuleError::WrongOrg);
    }
    if UserId::from_public_key(s.signer()) != c.author {
        return Err(RuleError::NotAllowed(UserId::from_public_key(s.signer())));
    }
    match members.role_of(&c.author) {
        Some(OrgRole::Member | OrgRole::Admin) => {}
        _ => return Err(RuleError::NotAllowed(c.author)),
    }
    text(&c.text, MAX_ORG_TEXT, "message")?;
    Ok(c)
}

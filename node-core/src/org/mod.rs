//! Organizations (SPEC O1–O4): create, apply, approve, roles, published apps, group chat.
//!
//! An org is a key pair; its public key is the [`OrgId`]. The creator holds the org key
//! (re-derivable from the creator's recovery phrase and the org's nonce) and signs the
//! [`Charter`] naming the admins; admins sign the membership list and the public info;
//! members sign chat messages. [`wire`] has the records and the rules.
//!
//! [`Orgs`] is sans-IO like the social layer: it validates and stores what it receives
//! and returns [`OrgEffect`]s — records to publish, messages to send to a user or to
//! broadcast to the org — which the network carries (DHT for public records, gossip
//! for chat, direct sends for applications).
//!
//! Each user keeps the orgs they belong to in a private Mimei of theirs
//! (`app_type = "leither/orgs"`); its database holds, per org (`org/<id>/…`): the
//! current `charter`, `info` and `members` (signed bytes), the creator's `nonce`,
//! pending `join/<user>` applications (admins) and the chat history
//! `chat/<time>/<id>` — so every member's node keeps the history (O3).
//!
//! **Chat key.** Everything on the org's topic is encrypted with a secret key every
//! member holds (`key/<epoch>`, see `People`), so a node that merely subscribes to the
//! topic reads nothing. The creator makes epoch 1; an admin approving a member seals
//! the current key to the member's encryption key (from the application, then in the
//! signed member list) and sends it as [`OrgMessage::Key`]; removing a member makes a
//! new epoch, sealed to each remaining member, so the removed one cannot read on.

pub mod wire;

pub use wire::{
    Charter, ChatMessage, JoinRequest, Member, Members, OrgId, OrgInfo, OrgRole, RuleError,
};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::identity::{Identity, IdentityError, Signed, UserId};
use crate::mimei::{DbRange, MimeiError, MimeiId, Mimeis, OwnedDb};
use crate::social::MessageId;

/// What went wrong with an org operation.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("unknown organization {0}")]
    Unknown(OrgId),
    #[error("only admins of {0} may do that")]
    NotAdmin(OrgId),
    #[error("only members of {0} may do that")]
    NotMember(OrgId),
    #[error("only the creator of {0} holds its key")]
    NotCreator(OrgId),
    #[error("no application from {0}")]
    NoApplication(UserId),
    #[error("refused: {0}")]
    Rejected(#[from] RuleError),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Mimei(#[from] MimeiError),
}

pub type Result<T, E = OrgError> = std::result::Result<T, E>;

/// How many of its newest chat messages a member names when it asks to catch up
/// (16 bytes each on the topic).
pub const CATCH_UP_HAVE: usize = 1000;
/// How many members one catch-up request asks: only they answer, so a returning member
/// gets a few copies of what it missed, not one from every member (the requester asks
/// others if none of them answers).
pub const ASK_PER_REQUEST: usize = 3;

/// Sign a member list; one too long for a signed record means the org is full.
fn sign_members(key: &crate::identity::Keypair, m: &Members) -> Result<Signed<Members>> {
    Signed::sign(key, m).map_err(|e| match e {
        IdentityError::EnvelopeTooLarge { max, .. } => OrgError::Invalid(format!(
            "the org is full: its member list ({} members) would pass {} KiB",
            m.members.len(),
            max / 1024
        )),
        e => e.into(),
    })
}

/// Time and ID of a chat entry from its key `org/<org>/chat/<time>/<id>`.
fn chat_key_parts(k: &str) -> Option<(u64, MessageId)> {
    let mut p = k.split('/');
    Some((p.nth(3)?.parse().ok()?, p.next()?.parse().ok()?))
}

/// A stored chat key: `org/<org>/key/<epoch>` → 32 bytes.
fn key_entry(k: &str, v: &[u8]) -> Result<(u32, [u8; 32])> {
    let epoch = k.rsplit('/').next().and_then(|e| e.parse().ok());
    match (epoch, <[u8; 32]>::try_from(v)) {
        (Some(e), Ok(key)) => Ok((e, key)),
        _ => Err(OrgError::Mimei(MimeiError::Corrupt(format!(
            "chat key {k}"
        )))),
    }
}

/// What travels between members' nodes.
#[derive(Serialize, Deserialize)]
pub enum OrgMessage {
    Charter(Signed<Charter>),
    Info(Signed<OrgInfo>),
    Members(Signed<Members>),
    Join(Signed<JoinRequest>),
    Chat(Signed<ChatMessage>),
    /// "Send me the chat history after this time, but for these messages I hold"
    /// (a member catching up; see [`Orgs::catch_up_request`]). Only the members in `ask`
    /// answer.
    HistoryRequest {
        org: OrgId,
        after: u64,
        have: Vec<MessageId>,
        ask: Vec<UserId>,
    },
    History {
        org: OrgId,
        messages: Vec<Signed<ChatMessage>>,
    },
    /// The org's chat key of `epoch`, sealed by an admin to the recipient
    /// ([`key_aad`] binds org, epoch and recipient).
    Key {
        org: OrgId,
        epoch: u32,
        sealed: Vec<u8>,
    },
}

/// What a sealed chat key is bound to.
pub fn key_aad(org: &OrgId, epoch: u32, to: &UserId) -> Vec<u8> {
    let mut a = b"leither/org-key/v1".to_vec();
    a.extend_from_slice(org.as_bytes());
    a.extend_from_slice(&epoch.to_be_bytes());
    a.extend_from_slice(to.as_bytes());
    a
}

impl OrgMessage {
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decode with a size limit (history replies may carry many messages).
    pub fn from_bytes(bytes: &[u8]) -> Result<OrgMessage> {
        if bytes.len() > 4 * 1024 * 1024 {
            return Err(OrgError::Invalid("org message too large".into()));
        }
        postcard::from_bytes(bytes)
            .map_err(|e| OrgError::Invalid(format!("malformed org message: {e}")))
    }

    /// The org it concerns (unverified).
    pub fn org(&self) -> Option<OrgId> {
        fn peek(b: &[u8]) -> Option<OrgId> {
            postcard::take_from_bytes::<OrgId>(b).ok().map(|(o, _)| o)
        }
        match self {
            OrgMessage::Charter(s) => peek(s.payload_bytes()),
            OrgMessage::Info(s) => peek(s.payload_bytes()),
            OrgMessage::Members(s) => peek(s.payload_bytes()),
            OrgMessage::Join(s) => peek(s.payload_bytes()),
            OrgMessage::Chat(s) => peek(s.payload_bytes()),
            OrgMessage::HistoryRequest { org, .. }
            | OrgMessage::History { org, .. }
            | OrgMessage::Key { org, .. } => Some(*org),
        }
    }
}

/// Something for the network (or the stream) to do.
pub enum OrgEffect {
    /// Send to every member's node (gossip on the org's topic) and keep public.
    Broadcast(OrgId, OrgMessage),
    /// Send to one user's nodes.
    SendTo(UserId, OrgMessage),
    /// Put in the user's stream.
    Notify {
        org: OrgId,
        from: Option<UserId>,
        text: String,
    },
}

/// An application waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Application {
    pub user: UserId,
    pub name: String,
    pub note: String,
    pub time: u64,
}

/// One chat message as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatView {
    pub id: MessageId,
    pub author: UserId,
    pub time: u64,
    pub text: String,
}

/// An org as this user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgView {
    pub org: OrgId,
    pub name: String,
    pub about: String,
    pub apps: Vec<MimeiId>,
    pub creator: UserId,
    pub admins: Vec<UserId>,
    pub members: Vec<Member>,
    /// This user's role; `None` while an application is pending.
    pub my_role: Option<OrgRole>,
    /// Applications waiting (shown to admins).
    pub applications: Vec<Application>,
}

/// `app_type` of the Mimei where a user keeps their orgs.
pub const ORGS_APP_TYPE: &str = "leither/orgs";

/// The orgs of one user on one node. Cheap to clone.
#[derive(Clone)]
pub struct Orgs {
    keys: Arc<Identity>,
    me: UserId,
    db: OwnedDb,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| OrgError::Identity(IdentityError::Randomness(e.to_string())))?;
    Ok(b)
}

fn signed_from<T: crate::identity::SignedRecord>(bytes: &[u8]) -> Result<Signed<T>> {
    Signed::from_bytes(bytes)
        .map_err(|e| OrgError::Mimei(MimeiError::Corrupt(format!("stored org record: {e}"))))
}

type Ops = crate::mimei::DbOps;

impl Orgs {
    /// The orgs of `keys`' user, creating their Mimei on first use.
    pub fn open(mimeis: Mimeis, keys: Arc<Identity>) -> Result<Orgs> {
        let me = keys.user_id();
        let db = OwnedDb::open(&mimeis, &me, ORGS_APP_TYPE, "orgs", None)?;
        Ok(Orgs { keys, me, db })
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?)
    }

    fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self.db.scan(prefix, None)?)
    }

    fn write(&self, ops: Ops) -> Result<()> {
        Ok(self.db.write(&ops)?)
    }

    fn charter(&self, org: &OrgId) -> Result<Option<(Signed<Charter>, Charter)>> {
        let Some(b) = self.get(&format!("org/{org}/charter"))? else {
            return Ok(None);
        };
        let s: Signed<Charter> = signed_from(&b)?;
        let c = s.verify()?;
        Ok(Some((s, c)))
    }

    fn members(&self, org: &OrgId) -> Result<Option<(Signed<Members>, Members)>> {
        let Some(b) = self.get(&format!("org/{org}/members"))? else {
            return Ok(None);
        };
        let s: Signed<Members> = signed_from(&b)?;
        let m = s.verify()?;
        Ok(Some((s, m)))
    }

    fn info(&self, org: &OrgId) -> Result<Option<(Signed<OrgInfo>, OrgInfo)>> {
        let Some(b) = self.get(&format!("org/{org}/info"))? else {
            return Ok(None);
        };
        let s: Signed<OrgInfo> = signed_from(&b)?;
        let i = s.verify()?;
        Ok(Some((s, i)))
    }

    fn my_role(&self, org: &OrgId) -> Result<Option<OrgRole>> {
        Ok(self.members(org)?.and_then(|(_, m)| m.role_of(&self.me)))
    }

    fn require_admin(&self, org: &OrgId) -> Result<Charter> {
        let (_, c) = self.charter(org)?.ok_or(OrgError::Unknown(*org))?;
        if !c.admins.contains(&self.me) {
            return Err(OrgError::NotAdmin(*org));
        }
        Ok(c)
    }

    /// Create an org with this user as creator and admin (O1).
    pub fn create(&self, name: &str, about: &str) -> Result<(OrgId, Vec<OrgEffect>)> {
        let nonce: [u8; 16] = random()?;
        let key = self.keys.org_keypair(&nonce);
        let org = OrgId::from_bytes(*key.public_key().as_bytes());
        let time = now_ms();
        let charter = Charter {
            org,
            name: name.to_string(),
            creator: self.me,
            admins: vec![self.me],
            seq: 1,
            time,
        };
        let charter = Signed::sign(&key, &charter)?;
        wire::check_charter(&org, &charter, None)?;
        let me = Member {
            user: self.me,
            role: OrgRole::Admin,
            name: String::new(),
            enc: self.keys.encryption_key().public(),
        };
        let members = Signed::sign(
            self.keys.user_keypair(),
            &Members {
                org,
                members: vec![me],
                seq: 1,
                time,
            },
        )?;
        let info = Signed::sign(
            self.keys.user_keypair(),
            &OrgInfo {
                org,
                about: about.to_string(),
                apps: Vec::new(),
                seq: 1,
                time,
            },
        )?;
        wire::check_info(&info, &charter.verify()?, None)?;
        self.write(vec![
            (
                format!("org/{org}/key/{:010}", 1),
                Some(random::<32>()?.to_vec()),
            ),
            (format!("org/{org}/nonce"), Some(nonce.to_vec())),
            (format!("org/{org}/charter"), Some(charter.to_bytes())),
            (format!("org/{org}/members"), Some(members.to_bytes())),
            (format!("org/{org}/info"), Some(info.to_bytes())),
        ])?;
        Ok((
            org,
            vec![
                OrgEffect::Broadcast(org, OrgMessage::Charter(charter)),
                OrgEffect::Broadcast(org, OrgMessage::Info(info)),
                OrgEffect::Broadcast(org, OrgMessage::Members(members)),
            ],
        ))
    }

    /// Every org this user belongs to or applied to.
    pub fn list(&self) -> Result<Vec<OrgView>> {
        let mut out = Vec::new();
        for (k, _) in self.scan("org/")? {
            if let Some(id) = k
                .strip_suffix("/charter")
                .and_then(|r| r.strip_prefix("org/"))
            {
                let org: OrgId = id
                    .parse()
                    .map_err(|_| OrgError::Mimei(MimeiError::Corrupt(format!("org key {k}"))))?;
                out.push(self.view(&org)?);
            }
        }
        Ok(out)
    }

    /// One org as this user sees it.
    pub fn view(&self, org: &OrgId) -> Result<OrgView> {
        let (_, c) = self.charter(org)?.ok_or(OrgError::Unknown(*org))?;
        let members = self.members(org)?.map(|(_, m)| m);
        let info = self.info(org)?.map(|(_, i)| i);
        let applications = if c.admins.contains(&self.me) {
            self.scan(&format!("org/{org}/join/"))?
                .iter()
                .map(|(_, v)| {
                    let j = signed_from::<JoinRequest>(v)?.verify()?;
                    Ok(Application {
                        user: j.user,
                        name: j.name,
                        note: j.note,
                        time: j.time,
                    })
                })
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        Ok(OrgView {
            org: *org,
            name: c.name,
            about: info.as_ref().map(|i| i.about.clone()).unwrap_or_default(),
            apps: info.map(|i| i.apps).unwrap_or_default(),
            creator: c.creator,
            admins: c.admins,
            my_role: members.as_ref().and_then(|m| m.role_of(&self.me)),
            members: members.map(|m| m.members).unwrap_or_default(),
            applications,
        })
    }

    /// Apply to join `org`, whose charter was found on the network. The application
    /// goes to any member, who forwards it to the admins (O2).
    pub fn apply(
        &self,
        charter: Signed<Charter>,
        name: &str,
        note: &str,
    ) -> Result<(OrgId, Signed<JoinRequest>)> {
        let org = OrgId::from_bytes(*charter.signer().as_bytes());
        let have = self.charter(&org)?.map(|(_, c)| c);
        match wire::check_charter(&org, &charter, have.as_ref()) {
            Ok(_) => self.write(vec![(
                format!("org/{org}/charter"),
                Some(charter.to_bytes()),
            )])?,
            Err(RuleError::Stale { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let join = JoinRequest {
            org,
            user: self.me,
            name: name.to_string(),
            note: note.to_string(),
            time: now_ms(),
            enc: self.keys.encryption_key().public(),
        };
        let signed = Signed::sign(self.keys.user_keypair(), &join)?;
        wire::check_join(&org, &signed)?;
        Ok((org, signed))
    }

    /// Approve an application (or change a member's role) — admins only.
    pub fn set_member(
        &self,
        org: &OrgId,
        user: &UserId,
        role: Option<OrgRole>,
    ) -> Result<Vec<OrgEffect>> {
        let c = self.require_admin(org)?;
        let (_, mut m) = self.members(org)?.ok_or(OrgError::Unknown(*org))?;
        let app = self
            .get(&format!("org/{org}/join/{user}"))?
            .map(|b| signed_from::<JoinRequest>(&b))
            .transpose()?;
        let was = m.members.iter().find(|x| x.user == *user).cloned();
        let (name, enc) = match (app.as_ref().and_then(|a| a.verify().ok()), &was) {
            (Some(j), _) => (j.name, j.enc),
            (None, Some(w)) => (w.name.clone(), w.enc),
            (None, None) => return Err(OrgError::NoApplication(*user)),
        };
        m.members.retain(|x| x.user != *user);
        if let Some(role) = role {
            m.members.push(Member {
                user: *user,
                role,
                name,
                enc,
            });
        }
        m.seq += 1;
        m.time = now_ms();
        let signed = sign_members(self.keys.user_keypair(), &m)?;
        wire::check_members(&signed, &c, None)?;
        self.write(vec![
            (format!("org/{org}/members"), Some(signed.to_bytes())),
            (format!("org/{org}/join/{user}"), None),
        ])?;
        let mut effects = Vec::new();
        if role.is_none() && was.is_some() {
            // Removed: a new chat key for everyone else, each sent the new list too
            // (the topic copy is under the new key, which may arrive after it).
            let (epoch, key) = self.new_chat_key(org)?;
            // The removed member learns it directly (it cannot read the topic now).
            effects.push(OrgEffect::SendTo(
                *user,
                OrgMessage::Members(Signed::from_bytes(&signed.to_bytes())?),
            ));
            for x in m.members.iter().filter(|x| x.user != self.me) {
                effects.push(OrgEffect::SendTo(
                    x.user,
                    self.seal_key(org, epoch, &key, x)?,
                ));
                effects.push(OrgEffect::SendTo(
                    x.user,
                    OrgMessage::Members(Signed::from_bytes(&signed.to_bytes())?),
                ));
            }
        }
        effects.push(OrgEffect::Broadcast(
            *org,
            OrgMessage::Members(Signed::from_bytes(&signed.to_bytes())?),
        ));
        if let (Some(role), None) = (role, &was) {
            // The new member gets the records it needs to take part, and the chat key.
            let (charter, _) = self.charter(org)?.ok_or(OrgError::Unknown(*org))?;
            effects.push(OrgEffect::SendTo(*user, OrgMessage::Charter(charter)));
            if let Some((info, _)) = self.info(org)? {
                effects.push(OrgEffect::SendTo(*user, OrgMessage::Info(info)));
            }
            let (epoch, key) = self.chat_key(org)?.ok_or(OrgError::Unknown(*org))?;
            let new = Member {
                user: *user,
                role,
                name: String::new(),
                enc,
            };
            effects.push(OrgEffect::SendTo(
                *user,
                self.seal_key(org, epoch, &key, &new)?,
            ));
            effects.push(OrgEffect::SendTo(*user, OrgMessage::Members(signed)));
        }
        Ok(effects)
    }

    /// The signed charter, info and member list bytes of `org` as held here: what a
    /// member publishes on the DHT for anyone to find the org by its ID.
    pub fn public_records(&self, org: &OrgId) -> Result<Option<[Vec<u8>; 3]>> {
        let get = |part: &str| self.get(&format!("org/{org}/{part}"));
        Ok(match (get("charter")?, get("info")?, get("members")?) {
            (Some(c), Some(i), Some(m)) => Some([c, i, m]),
            _ => None,
        })
    }

    /// The newest chat key of `org` this node holds, with its epoch.
    pub fn chat_key(&self, org: &OrgId) -> Result<Option<(u32, [u8; 32])>> {
        let last = self
            .scan(&format!("org/{org}/key/"))?
            .into_iter()
            .next_back();
        last.map(|(k, v)| key_entry(&k, &v)).transpose()
    }

    /// The chat key of `org` for `epoch`, if this node holds it.
    pub fn chat_key_of(&self, org: &OrgId, epoch: u32) -> Result<Option<[u8; 32]>> {
        let k = format!("org/{org}/key/{epoch:010}");
        self.get(&k)?
            .map(|v| key_entry(&k, &v).map(|(_, key)| key))
            .transpose()
    }

    fn new_chat_key(&self, org: &OrgId) -> Result<(u32, [u8; 32])> {
        let epoch = self.chat_key(org)?.map_or(1, |(e, _)| e + 1);
        let key: [u8; 32] = random()?;
        self.write(vec![(
            format!("org/{org}/key/{epoch:010}"),
            Some(key.to_vec()),
        )])?;
        Ok((epoch, key))
    }

    fn seal_key(&self, org: &OrgId, epoch: u32, key: &[u8; 32], to: &Member) -> Result<OrgMessage> {
        let sealed = crate::identity::seal(&to.enc, key, &key_aad(org, epoch, &to.user))?;
        Ok(OrgMessage::Key {
            org: *org,
            epoch,
            sealed,
        })
    }

    /// Turn an application down — admins only.
    pub fn reject(&self, org: &OrgId, user: &UserId) -> Result<()> {
        self.require_admin(org)?;
        if self.get(&format!("org/{org}/join/{user}"))?.is_none() {
            return Err(OrgError::NoApplication(*user));
        }
        self.write(vec![(format!("org/{org}/join/{user}"), None)])
    }

    /// Change the description or the published apps (O4) — admins only.
    pub fn set_info(
        &self,
        org: &OrgId,
        about: Option<&str>,
        apps: Option<Vec<MimeiId>>,
    ) -> Result<Vec<OrgEffect>> {
        let c = self.require_admin(org)?;
        let mut i = self.info(org)?.map(|(_, i)| i).unwrap_or(OrgInfo {
            org: *org,
            about: String::new(),
            apps: Vec::new(),
            seq: 0,
            time: 0,
        });
        if let Some(a) = about {
            i.about = a.to_string();
        }
        if let Some(apps) = apps {
            i.apps = apps;
        }
        i.seq += 1;
        i.time = now_ms();
        let signed = Signed::sign(self.keys.user_keypair(), &i)?;
        wire::check_info(&signed, &c, None)?;
        self.write(vec![(format!("org/{org}/info"), Some(signed.to_bytes()))])?;
        Ok(vec![OrgEffect::Broadcast(*org, OrgMessage::Info(signed))])
    }

    /// Make `admins` the org's admins — the creator only (it holds the org key).
    pub fn set_admins(&self, org: &OrgId, admins: Vec<UserId>) -> Result<Vec<OrgEffect>> {
        let Some(nonce) = self.get(&format!("org/{org}/nonce"))? else {
            return Err(OrgError::NotCreator(*org));
        };
        let nonce: [u8; 16] = nonce
            .try_into()
            .map_err(|_| OrgError::Mimei(MimeiError::Corrupt("org nonce".into())))?;
        let key = self.keys.org_keypair(&nonce);
        let (_, mut c) = self.charter(org)?.ok_or(OrgError::Unknown(*org))?;
        if admins.is_empty() {
            return Err(OrgError::Invalid("an org needs an admin".into()));
        }
        c.admins = admins;
        c.seq += 1;
        c.time = now_ms();
        let signed = Signed::sign(&key, &c)?;
        self.write(vec![(
            format!("org/{org}/charter"),
            Some(signed.to_bytes()),
        )])?;
        Ok(vec![OrgEffect::Broadcast(
            *org,
            OrgMessage::Charter(signed),
        )])
    }

    /// Post to the org's chat (O3) — members only.
    pub fn chat(&self, org: &OrgId, text: &str) -> Result<(ChatView, Vec<OrgEffect>)> {
        let (_, m) = self.members(org)?.ok_or(OrgError::Unknown(*org))?;
        let msg = ChatMessage {
            org: *org,
            author: self.me,
            id: MessageId::from_bytes(random()?),
            time: now_ms(),
            text: text.to_string(),
        };
        let signed = Signed::sign(self.keys.user_keypair(), &msg)?;
        let c = wire::check_chat(&signed, &m).map_err(|e| match e {
            RuleError::NotAllowed(_) => OrgError::NotMember(*org),
            other => other.into(),
        })?;
        self.store_chat(&signed, &c)?;
        Ok((
            ChatView {
                id: c.id,
                author: c.author,
                time: c.time,
                text: c.text,
            },
            vec![OrgEffect::Broadcast(*org, OrgMessage::Chat(signed))],
        ))
    }

    fn store_chat(&self, s: &Signed<ChatMessage>, c: &ChatMessage) -> Result<bool> {
        let key = format!("org/{}/chat/{:013}/{}", c.org, c.time, c.id);
        if self.get(&key)?.is_some() {
            return Ok(false);
        }
        self.write(vec![(key, Some(s.to_bytes()))])?;
        Ok(true)
    }

    /// The signed messages after `after` (ms), oldest first, but for those in `except`.
    fn history_signed(
        &self,
        org: &OrgId,
        after: u64,
        except: &HashSet<MessageId>,
    ) -> Result<Vec<Signed<ChatMessage>>> {
        let prefix = format!("org/{org}/chat/");
        let range = DbRange {
            prefix: Some(prefix.clone()),
            start: Some(format!("{prefix}{:013}", after.saturating_add(1))),
            ..Default::default()
        };
        self.db
            .scan_range(&range)?
            .iter()
            .filter(|(k, _)| chat_key_parts(k).is_none_or(|(_, id)| !except.contains(&id)))
            .map(|(_, v)| signed_from(v))
            .collect()
    }

    /// Chat history, oldest first: the newest `limit` messages before `before` (ms;
    /// `None` = up to now). Page backwards by passing the oldest `time` seen.
    pub fn history(&self, org: &OrgId, before: Option<u64>, limit: usize) -> Result<Vec<ChatView>> {
        let prefix = format!("org/{org}/chat/");
        let range = DbRange {
            prefix: Some(prefix.clone()),
            end: before.map(|b| format!("{prefix}{b:013}")),
            limit: Some(limit),
            reverse: true,
            ..Default::default()
        };
        Ok(self
            .db
            .scan_range(&range)?
            .iter()
            .rev()
            .filter_map(|(_, v)| signed_from::<ChatMessage>(v).ok()?.verify().ok())
            .map(|c| ChatView {
                id: c.id,
                author: c.author,
                time: c.time,
                text: c.text,
            })
            .collect())
    }

    /// The org's current charter as signed by the org key (for invites).
    pub fn charter_record(&self, org: &OrgId) -> Result<Option<Signed<Charter>>> {
        Ok(self.charter(org)?.map(|(s, _)| s))
    }

    /// A request to send to members when this node comes back, to catch up (O3). It
    /// names the newest [`CATCH_UP_HAVE`] messages held and asks for everything since
    /// the oldest of them that it does not name (everything, if it holds fewer): a gap
    /// before this node's own later posts (it posted while cut off) is filled too.
    /// It asks up to [`ASK_PER_REQUEST`] members but for those in `asked` (already
    /// asked, without an answer): the ones `heard` from last (when, in ms: likely
    /// online) first, the rest at random; `None` when nobody is left to ask.
    pub fn catch_up_request(
        &self,
        org: &OrgId,
        asked: &HashSet<UserId>,
        heard: &HashMap<UserId, u64>,
    ) -> Result<Option<OrgMessage>> {
        let Some((_, m)) = self.members(org)? else {
            return Ok(None);
        };
        let nonce: [u8; 32] = random()?;
        let mut ask: Vec<UserId> = m
            .members
            .iter()
            .filter(|x| matches!(x.role, OrgRole::Member | OrgRole::Admin))
            .map(|x| x.user)
            .filter(|u| *u != self.me && !asked.contains(u))
            .collect();
        if ask.is_empty() {
            return Ok(None);
        }
        ask.sort_by_cached_key(|u| {
            let last = heard.get(u).copied().unwrap_or(0);
            (
                std::cmp::Reverse(last),
                *blake3::keyed_hash(&nonce, u.as_bytes()).as_bytes(),
            )
        });
        ask.truncate(ASK_PER_REQUEST);
        let mut newest = self.db.scan_range(&DbRange {
            prefix: Some(format!("org/{org}/chat/")),
            limit: Some(CATCH_UP_HAVE + 1),
            reverse: true,
            ..Default::default()
        })?;
        let more = newest.len() > CATCH_UP_HAVE;
        newest.truncate(CATCH_UP_HAVE);
        let parts: Vec<(u64, MessageId)> = newest
            .iter()
            .rev()
            .filter_map(|(k, _)| chat_key_parts(k))
            .collect();
        let after = match parts.first() {
            Some((t, _)) if more => t.saturating_sub(1),
            _ => 0,
        };
        Ok(Some(OrgMessage::HistoryRequest {
            org: *org,
            after,
            have: parts.into_iter().map(|(_, id)| id).collect(),
            ask,
        }))
    }

    /// Handle a message from the network; `from` is the sending user, when known.
    /// A record that is not newer than the one held (peers re-send the current ones)
    /// changes nothing and is not an error.
    pub fn receive(&self, msg: OrgMessage, from: Option<UserId>) -> Result<Vec<OrgEffect>> {
        match self.receive_inner(msg, from) {
            Err(OrgError::Rejected(RuleError::Stale { .. })) => Ok(Vec::new()),
            other => other,
        }
    }

    fn receive_inner(&self, msg: OrgMessage, from: Option<UserId>) -> Result<Vec<OrgEffect>> {
        let org = msg
            .org()
            .ok_or_else(|| OrgError::Invalid("no org".into()))?;
        match msg {
            OrgMessage::Charter(s) => {
                let have = self.charter(&org)?.map(|(_, c)| c);
                // Only orgs this user is in (or applied to) are kept.
                if have.is_none() {
                    return Ok(Vec::new());
                }
                wire::check_charter(&org, &s, have.as_ref())?;
                self.write(vec![(format!("org/{org}/charter"), Some(s.to_bytes()))])?;
                Ok(Vec::new())
            }
            OrgMessage::Info(s) => {
                let Some((_, c)) = self.charter(&org)? else {
                    return Ok(Vec::new());
                };
                let have = self.info(&org)?.map(|(_, i)| i);
                wire::check_info(&s, &c, have.as_ref())?;
                self.write(vec![(format!("org/{org}/info"), Some(s.to_bytes()))])?;
                Ok(Vec::new())
            }
            OrgMessage::Members(s) => {
                let Some((_, c)) = self.charter(&org)? else {
                    return Ok(Vec::new());
                };
                let have = self.members(&org)?.map(|(_, m)| m);
                let before = have.as_ref().and_then(|m| m.role_of(&self.me));
                let m = wire::check_members(&s, &c, have.as_ref())?;
                self.write(vec![(format!("org/{org}/members"), Some(s.to_bytes()))])?;
                let mut effects = Vec::new();
                if before.is_none() && m.role_of(&self.me).is_some() {
                    effects.push(OrgEffect::Notify {
                        org,
                        from,
                        text: format!("You joined {}", c.name),
                    });
                    // Catch up on the history the members keep.
                    if let Some(req) =
                        self.catch_up_request(&org, &HashSet::new(), &HashMap::new())?
                    {
                        effects.push(OrgEffect::Broadcast(org, req));
                    }
                }
                Ok(effects)
            }
            OrgMessage::Join(s) => {
                let j = wire::check_join(&org, &s)?;
                let Some((_, c)) = self.charter(&org)? else {
                    return Ok(Vec::new());
                };
                if c.admins.contains(&self.me) {
                    if self.my_role(&org)?.is_some()
                        && self
                            .members(&org)?
                            .is_some_and(|(_, m)| m.role_of(&j.user).is_some())
                    {
                        return Ok(Vec::new());
                    }
                    self.write(vec![(
                        format!("org/{org}/join/{}", j.user),
                        Some(s.to_bytes()),
                    )])?;
                    return Ok(vec![OrgEffect::Notify {
                        org,
                        from: Some(j.user),
                        text: format!("{} applied to join {}: {}", j.name, c.name, j.note),
                    }]);
                }
                if self.my_role(&org)?.is_some() {
                    // A member passes it on to the admins.
                    let bytes = s.to_bytes();
                    return c
                        .admins
                        .iter()
                        .map(|a| {
                            Ok(OrgEffect::SendTo(
                                *a,
                                OrgMessage::Join(Signed::from_bytes(&bytes)?),
                            ))
                        })
                        .collect();
                }
                Ok(Vec::new())
            }
            OrgMessage::Chat(s) => {
                let Some((_, m)) = self.members(&org)? else {
                    return Ok(Vec::new());
                };
                let c = wire::check_chat(&s, &m)?;
                self.store_chat(&s, &c)?;
                Ok(Vec::new())
            }
            OrgMessage::HistoryRequest {
                after, have, ask, ..
            } => {
                let Some(from) = from else {
                    return Ok(Vec::new());
                };
                if !ask.contains(&self.me) {
                    return Ok(Vec::new());
                }
                let Some((_, m)) = self.members(&org)? else {
                    return Ok(Vec::new());
                };
                // History is the members' business: guests and outsiders get nothing.
                if !matches!(m.role_of(&from), Some(OrgRole::Member | OrgRole::Admin))
                    || from == self.me
                {
                    return Ok(Vec::new());
                }
                let have: HashSet<MessageId> = have.into_iter().collect();
                let messages = self.history_signed(&org, after, &have)?;
                Ok(vec![OrgEffect::SendTo(
                    from,
                    OrgMessage::History { org, messages },
                )])
            }
            OrgMessage::Key { epoch, sealed, .. } => {
                let (Some(from), Some((_, c))) = (from, self.charter(&org)?) else {
                    return Ok(Vec::new());
                };
                if !c.admins.contains(&from) {
                    return Err(OrgError::Rejected(RuleError::NotAllowed(from)));
                }
                if self.chat_key_of(&org, epoch)?.is_some() {
                    return Ok(Vec::new());
                }
                let key = self
                    .keys
                    .encryption_key()
                    .open(&sealed, &key_aad(&org, epoch, &self.me))
                    .map_err(|e| OrgError::Invalid(format!("chat key: {e}")))?;
                if key.len() != 32 {
                    return Err(OrgError::Invalid("chat key of the wrong size".into()));
                }
                self.write(vec![(format!("org/{org}/key/{epoch:010}"), Some(key))])?;
                // With the key, ask for what could not be read without it.
                if self.my_role(&org)?.is_some()
                    && let Some(req) =
                        self.catch_up_request(&org, &HashSet::new(), &HashMap::new())?
                {
                    return Ok(vec![OrgEffect::Broadcast(org, req)]);
                }
                Ok(Vec::new())
            }
            OrgMessage::History { messages, .. } => {
                let Some((_, m)) = self.members(&org)? else {
                    return Ok(Vec::new());
                };
                for s in messages {
                    // Each message stands on its own signature; bad ones are skipped.
                    if let Ok(c) = wire::check_chat(&s, &m) {
                        self.store_chat(&s, &c)?;
                    }
                }
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests;

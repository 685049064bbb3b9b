//! The social model (SPEC S1–S4): profile, friends, private messages, the stream.
//!
//! Everything here is the user's own data, kept in two Mimei of the user's:
//! - the **profile** Mimei (`app_type = "leither/profile"`), readable by anyone, with
//!   `profile.json` and the avatar file, so friends can fetch it (S1);
//! - the **social** Mimei (`app_type = "leither/social"`), private, whose database holds
//!   friends, conversations, the outbox and the stream. Because it is a Mimei, it is
//!   versioned and can be backed up and replicated like any other data, and it
//!   survives a reinstall through the recovery phrase (its ID derives from the user).
//!
//! [`Social`] is sans-IO: it turns user actions and received [`Envelope`]s into state
//! changes and *envelopes to deliver*; moving envelopes between nodes is the network's
//! job (`net`), which calls [`Social::receive`] and reads [`Social::outbox`].
//!
//! ## Database layout of the social Mimei
//! | key | value |
//! |---|---|
//! | `friend/<user>` | [`Friend`] (JSON) |
//! | `msg/<peer>/<time>/<id>` | [`StoredMessage`] (JSON); time = sender's clock, 13 digits |
//! | `msgid/<id>` | the `msg/…` key of that message |
//! | `seen/<from>/<id>` | empty: a received message, so a resend is not stored twice |
//! | `out/<to>/<id>` | an envelope waiting for the recipient's receipt |
//! | `stream/<time>/<id>` | [`StreamItem`] (JSON) |
//!
//! ## Invariants
//! - Nothing from another user is acted on before its signature is verified and its
//!   sender is the signer; direct messages are accepted only from friends.
//! - A received message is stored exactly once (its ID is remembered), in the order of
//!   the sender's clock; an outgoing message stays in the outbox until the recipient's
//!   receipt arrives, so resending after any failure is always safe.

pub mod profile;
mod wire;

pub use profile::Profile;
pub use wire::{
    Content, DirectMessage, Envelope, FriendAnswer, FriendRequest, MAX_NAME_LEN, MAX_TEXT_LEN,
    MessageId,
};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::identity::{EncryptionPublicKey, Identity, IdentityError, Signed, UserId};
use crate::mimei::{DbRange, MimeiError, MimeiId, Mimeis, OwnedDb};

/// What went wrong in the social layer.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("{0} is not a friend")]
    NotAFriend(UserId),
    #[error("{0} is blocked")]
    Blocked(UserId),
    #[error("no friend request from {0}")]
    NoRequest(UserId),
    #[error("that is you")]
    Yourself,
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("rejected: {0}")]
    Rejected(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Mimei(#[from] MimeiError),
}

pub type Result<T, E = SocialError> = std::result::Result<T, E>;

/// Where a friendship stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FriendState {
    /// We asked; no answer yet.
    Outgoing,
    /// They asked; we have not answered.
    Incoming,
    Friend,
    Blocked,
}

/// A person in the relationship chain (S2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Friend {
    pub user: UserId,
    pub name: String,
    pub state: FriendState,
    /// Where to seal messages to them (known once they sent a signed request/answer).
    pub enc: Option<EncryptionPublicKey>,
    /// The note of their request.
    pub note: String,
    /// Last change, ms since the epoch.
    pub updated: u64,
}

/// Delivery state of a message.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Ours, not yet confirmed by the recipient.
    Sent,
    /// Ours, stored by the recipient's node.
    Delivered,
    /// Ours, read by the recipient.
    Read,
    /// Theirs, not yet read here.
    Unread,
    /// Theirs, read here.
    Seen,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredMessage {
    pub id: MessageId,
    pub peer: UserId,
    pub outgoing: bool,
    pub time: u64,
    pub text: String,
    pub status: MessageStatus,
}

/// What an entry of the stream is about (S4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Message,
    FriendRequest,
    FriendAccepted,
    FriendDeclined,
    /// Organization events (applications, approvals, chat mentions).
    Org,
    /// Notifications from apps.
    App,
}

/// One entry of the stream: everything addressed to the user, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamItem {
    pub id: MessageId,
    pub time: u64,
    pub kind: StreamKind,
    pub from: Option<UserId>,
    pub text: String,
    pub read: bool,
}

/// Unread counts for badges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unread {
    pub stream: u64,
    /// Unread messages per conversation.
    pub conversations: Vec<(UserId, u64)>,
}

/// A change, for live updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SocialEvent {
    FriendChanged {
        user: UserId,
    },
    Message {
        peer: UserId,
        id: MessageId,
    },
    Receipt {
        peer: UserId,
        id: MessageId,
        status: MessageStatus,
    },
    Stream,
}

/// An envelope to hand to the network for delivery to `to`.
#[derive(Serialize, Deserialize)]
pub struct Outgoing {
    pub to: UserId,
    pub envelope: Envelope,
}

/// The social layer of one user on one node. Cheap to clone.
#[derive(Clone)]
pub struct Social {
    keys: Arc<Identity>,
    me: UserId,
    db: OwnedDb,
    events: broadcast::Sender<SocialEvent>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn new_id() -> Result<MessageId> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| SocialError::Identity(IdentityError::Randomness(e.to_string())))?;
    Ok(MessageId::from_bytes(b))
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn from_json<T: for<'a> Deserialize<'a>>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| SocialError::Mimei(MimeiError::Corrupt(format!("{what}: {e}"))))
}

fn check_text(text: &str, max: usize, what: &str) -> Result<()> {
    if text.len() > max {
        return Err(SocialError::Invalid(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    Ok(())
}

/// `app_type` of the user's social Mimei.
pub const SOCIAL_APP_TYPE: &str = "leither/social";

type Ops = crate::mimei::DbOps;

impl Social {
    /// The social layer of `keys`' user, creating its Mimei on first use.
    pub fn open(mimeis: Mimeis, keys: Arc<Identity>) -> Result<Social> {
        let me = keys.user_id();
        let db = OwnedDb::open(&mimeis, &me, SOCIAL_APP_TYPE, "social", None)?;
        profile::ensure(&mimeis, &me)?;
        // This device is listed in the profile, vouched for by the user key (N3).
        let mut p = profile::read(&mimeis, &me)?;
        let cert = keys.device_cert().clone();
        if !p.devices.iter().any(|d| d.to_bytes() == cert.to_bytes()) {
            p.devices.push(cert);
            profile::write(&mimeis, &me, &p)?;
        }
        let (events, _) = broadcast::channel(256);
        Ok(Social {
            keys,
            me,
            db,
            events,
        })
    }

    /// This user's profile.
    pub fn profile(&self) -> Result<Profile> {
        profile::read(self.db.mimeis(), &self.me)
    }

    /// Change name and bio (devices and avatar are kept).
    pub fn set_profile(&self, name: &str, bio: &str) -> Result<Profile> {
        let mut p = self.profile()?;
        p.name = name.to_string();
        p.bio = bio.to_string();
        profile::write(self.db.mimeis(), &self.me, &p)?;
        Ok(p)
    }

    /// Store an avatar image (`ext`: png, jpg, webp, gif or svg).
    pub fn set_avatar(&self, ext: &str, image: &[u8]) -> Result<Profile> {
        profile::set_avatar(self.db.mimeis(), &self.me, ext, image)
    }

    pub fn me(&self) -> UserId {
        self.me
    }

    /// The Mimei holding this user's social data.
    pub fn mimei(&self) -> MimeiId {
        self.db.id()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SocialEvent> {
        self.events.subscribe()
    }

    fn emit(&self, e: SocialEvent) {
        let _ = self.events.send(e);
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(key)?)
    }

    fn scan(&self, prefix: &str, limit: Option<usize>) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self.db.scan(prefix, limit)?)
    }

    fn write(&self, ops: Ops) -> Result<()> {
        Ok(self.db.write(&ops)?)
    }

    fn my_name(&self) -> String {
        profile::read(self.db.mimeis(), &self.me)
            .map(|p| p.name)
            .unwrap_or_default()
    }

    // ---- friends (S2) ----

    /// One person's record, if any.
    pub fn friend(&self, user: &UserId) -> Result<Option<Friend>> {
        self.get(&format!("friend/{user}"))?
            .map(|b| from_json(&b, "friend"))
            .transpose()
    }

    /// Everyone in the relationship chain.
    pub fn friends(&self) -> Result<Vec<Friend>> {
        self.scan("friend/", None)?
            .iter()
            .map(|(_, v)| from_json(v, "friend"))
            .collect()
    }

    fn put_friend(ops: &mut Ops, f: &Friend) {
        ops.push((format!("friend/{}", f.user), Some(json(f))));
    }

    fn stream_op(ops: &mut Ops, kind: StreamKind, from: Option<UserId>, text: &str) -> Result<()> {
        let item = StreamItem {
            id: new_id()?,
            time: now_ms(),
            kind,
            from,
            text: text.to_string(),
            read: false,
        };
        ops.push((
            format!("stream/{:013}/{}", item.time, item.id),
            Some(json(&item)),
        ));
        Ok(())
    }

    /// Ask `to` to be friends. If they already asked us, this accepts.
    pub fn request_friend(&self, to: &UserId, note: &str) -> Result<Outgoing> {
        if *to == self.me {
            return Err(SocialError::Yourself);
        }
        check_text(note, MAX_TEXT_LEN, "note")?;
        match self.friend(to)? {
            Some(f) if f.state == FriendState::Incoming => return self.answer(to, true),
            Some(f) if f.state == FriendState::Blocked => return Err(SocialError::Blocked(*to)),
            _ => {}
        }
        let req = FriendRequest {
            from: self.me,
            to: *to,
            name: self.my_name(),
            enc: self.keys.encryption_key().public(),
            note: note.to_string(),
            time: now_ms(),
        };
        let signed = Signed::sign(self.keys.user_keypair(), &req)?;
        let existing = self.friend(to)?;
        let f = Friend {
            user: *to,
            name: existing
                .as_ref()
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            state: if existing
                .as_ref()
                .is_some_and(|f| f.state == FriendState::Friend)
            {
                FriendState::Friend
            } else {
                FriendState::Outgoing
            },
            enc: existing.and_then(|f| f.enc),
            note: String::new(),
            updated: now_ms(),
        };
        let mut ops = Vec::new();
        Self::put_friend(&mut ops, &f);
        self.write(ops)?;
        self.emit(SocialEvent::FriendChanged { user: *to });
        Ok(Outgoing {
            to: *to,
            envelope: Envelope::FriendRequest(signed),
        })
    }

    /// Accept or decline `user`'s request.
    pub fn answer(&self, user: &UserId, accept: bool) -> Result<Outgoing> {
        let mut f = self.friend(user)?.ok_or(SocialError::NoRequest(*user))?;
        if !matches!(f.state, FriendState::Incoming | FriendState::Friend) {
            return Err(SocialError::NoRequest(*user));
        }
        let ans = FriendAnswer {
            from: self.me,
            to: *user,
            accept,
            name: self.my_name(),
            enc: self.keys.encryption_key().public(),
            time: now_ms(),
        };
        let signed = Signed::sign(self.keys.user_keypair(), &ans)?;
        let mut ops = Vec::new();
        if accept {
            f.state = FriendState::Friend;
            f.updated = now_ms();
            Self::put_friend(&mut ops, &f);
        } else {
            ops.push((format!("friend/{user}"), None));
        }
        self.write(ops)?;
        self.emit(SocialEvent::FriendChanged { user: *user });
        Ok(Outgoing {
            to: *user,
            envelope: Envelope::FriendAnswer(signed),
        })
    }

    /// Forget `user` (friend or pending request). Their messages stay in history.
    pub fn remove_friend(&self, user: &UserId) -> Result<()> {
        self.write(vec![(format!("friend/{user}"), None)])?;
        self.emit(SocialEvent::FriendChanged { user: *user });
        Ok(())
    }

    /// Block `user`: their requests and messages are dropped from now on.
    pub fn block(&self, user: &UserId) -> Result<()> {
        if *user == self.me {
            return Err(SocialError::Yourself);
        }
        let mut f = self.friend(user)?.unwrap_or(Friend {
            user: *user,
            name: String::new(),
            state: FriendState::Blocked,
            enc: None,
            note: String::new(),
            updated: 0,
        });
        f.state = FriendState::Blocked;
        f.updated = now_ms();
        let mut ops = Vec::new();
        Self::put_friend(&mut ops, &f);
        for (k, _) in self.scan(&format!("out/{user}/"), None)? {
            ops.push((k, None));
        }
        self.write(ops)?;
        self.emit(SocialEvent::FriendChanged { user: *user });
        Ok(())
    }

    /// Undo a block (the person is forgotten, not re-friended).
    pub fn unblock(&self, user: &UserId) -> Result<()> {
        if self
            .friend(user)?
            .is_some_and(|f| f.state == FriendState::Blocked)
        {
            self.remove_friend(user)?;
        }
        Ok(())
    }

    // ---- messages (S4) ----

    /// Send `text` to friend `to`: stored in the conversation and the outbox.
    pub fn send(&self, to: &UserId, text: &str) -> Result<(StoredMessage, Outgoing)> {
        check_text(text, MAX_TEXT_LEN, "message")?;
        let f = self
            .friend(to)?
            .filter(|f| f.state == FriendState::Friend)
            .ok_or(SocialError::NotAFriend(*to))?;
        let enc = f.enc.ok_or(SocialError::NotAFriend(*to))?;
        let (id, time) = (new_id()?, now_ms());
        let signed = self.seal(to, &enc, id, time, &Content::Text(text.to_string()))?;
        let msg = StoredMessage {
            id,
            peer: *to,
            outgoing: true,
            time,
            text: text.to_string(),
            status: MessageStatus::Sent,
        };
        let envelope = Envelope::Direct(signed);
        let key = format!("msg/{to}/{time:013}/{id}");
        self.write(vec![
            (key.clone(), Some(json(&msg))),
            (format!("msgid/{id}"), Some(key.into_bytes())),
            (format!("out/{to}/{id}"), Some(envelope.to_bytes())),
        ])?;
        self.emit(SocialEvent::Message { peer: *to, id });
        Ok((msg, Outgoing { to: *to, envelope }))
    }

    fn seal(
        &self,
        to: &UserId,
        enc: &EncryptionPublicKey,
        id: MessageId,
        time: u64,
        c: &Content,
    ) -> Result<Signed<DirectMessage>> {
        let plain = postcard::to_allocvec(c).map_err(|e| SocialError::Invalid(e.to_string()))?;
        let sealed =
            crate::identity::seal(enc, &plain, &DirectMessage::aad(&self.me, to, &id, time))?;
        let dm = DirectMessage {
            from: self.me,
            to: *to,
            id,
            time,
            sealed,
        };
        Ok(Signed::sign(self.keys.user_keypair(), &dm)?)
    }

    /// A conversation, oldest first: at most `limit` messages before `before` (a time
    /// in ms; `None` = the newest).
    pub fn conversation(
        &self,
        peer: &UserId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let prefix = format!("msg/{peer}/");
        let end = before.map(|b| format!("{prefix}{b:013}"));
        let range = DbRange {
            prefix: Some(prefix),
            end,
            limit: Some(limit),
            reverse: true,
            ..Default::default()
        };
        let mut page = self.db.scan_range(&range)?;
        page.reverse();
        page.iter().map(|(_, v)| from_json(v, "message")).collect()
    }

    /// Mark everything from `peer` read here; returns a read receipt to send them.
    pub fn mark_read(&self, peer: &UserId) -> Result<Option<Outgoing>> {
        let mut ops = Vec::new();
        let mut last = None;
        for (k, v) in self.scan(&format!("msg/{peer}/"), None)? {
            let mut m: StoredMessage = from_json(&v, "message")?;
            if !m.outgoing && m.status == MessageStatus::Unread {
                m.status = MessageStatus::Seen;
                last = Some(m.id);
                ops.push((k, Some(json(&m))));
            }
        }
        for (k, v) in self.scan("stream/", None)? {
            let mut item: StreamItem = from_json(&v, "stream item")?;
            if item.kind == StreamKind::Message && item.from == Some(*peer) && !item.read {
                item.read = true;
                ops.push((k, Some(json(&item))));
            }
        }
        let Some(last) = last else { return Ok(None) };
        let receipt = self.receipt_to(peer, last, true)?;
        self.write(ops)?;
        self.emit(SocialEvent::Stream);
        Ok(receipt)
    }

    fn receipt_to(&self, peer: &UserId, of: MessageId, read: bool) -> Result<Option<Outgoing>> {
        let Some(enc) = self.friend(peer)?.and_then(|f| f.enc) else {
            return Ok(None);
        };
        let signed = self.seal(
            peer,
            &enc,
            new_id()?,
            now_ms(),
            &Content::Receipt { of, read },
        )?;
        Ok(Some(Outgoing {
            to: *peer,
            envelope: Envelope::Direct(signed),
        }))
    }

    /// Envelopes still waiting for their recipient's receipt (for the network to retry).
    pub fn outbox(&self) -> Result<Vec<Outgoing>> {
        let mut out = Vec::new();
        for (k, v) in self.scan("out/", None)? {
            let to: UserId = k
                .split('/')
                .nth(1)
                .and_then(|u| u.parse().ok())
                .ok_or_else(|| {
                    SocialError::Mimei(MimeiError::Corrupt(format!("outbox key {k}")))
                })?;
            out.push(Outgoing {
                to,
                envelope: Envelope::from_bytes(&v)?,
            });
        }
        Ok(out)
    }

    // ---- the stream (S3, S4) ----

    /// The newest `limit` stream items, newest first.
    pub fn stream(&self, limit: usize) -> Result<Vec<StreamItem>> {
        let mut items: Vec<StreamItem> = self
            .scan("stream/", None)?
            .iter()
            .map(|(_, v)| from_json(v, "stream item"))
            .collect::<Result<_>>()?;
        items.reverse();
        items.truncate(limit);
        Ok(items)
    }

    /// Add a notification to the stream (org events, apps).
    pub fn notify(&self, kind: StreamKind, from: Option<UserId>, text: &str) -> Result<()> {
        check_text(text, MAX_TEXT_LEN, "notification")?;
        let mut ops = Vec::new();
        Self::stream_op(&mut ops, kind, from, text)?;
        self.write(ops)?;
        self.emit(SocialEvent::Stream);
        Ok(())
    }

    /// Mark stream items read (all if `ids` is empty).
    pub fn mark_stream_read(&self, ids: &[MessageId]) -> Result<()> {
        let mut ops = Vec::new();
        for (k, v) in self.scan("stream/", None)? {
            let mut item: StreamItem = from_json(&v, "stream item")?;
            if !item.read && (ids.is_empty() || ids.contains(&item.id)) {
                item.read = true;
                ops.push((k, Some(json(&item))));
            }
        }
        self.write(ops)?;
        self.emit(SocialEvent::Stream);
        Ok(())
    }

    /// Unread counts of the stream and of each conversation.
    pub fn unread(&self) -> Result<Unread> {
        let mut u = Unread::default();
        for (_, v) in self.scan("stream/", None)? {
            let item: StreamItem = from_json(&v, "stream item")?;
            u.stream += u64::from(!item.read);
        }
        let mut per: std::collections::BTreeMap<UserId, u64> = Default::default();
        for (_, v) in self.scan("msg/", None)? {
            let m: StoredMessage = from_json(&v, "message")?;
            if m.status == MessageStatus::Unread {
                *per.entry(m.peer).or_default() += 1;
            }
        }
        u.conversations = per.into_iter().collect();
        Ok(u)
    }

    // ---- receiving ----

    /// Handle an envelope from the network. Returns envelopes to send back (answers,
    /// receipts). Anything not valid for this user is refused with a reason.
    pub fn receive(&self, envelope: Envelope) -> Result<Vec<Outgoing>> {
        match envelope {
            Envelope::FriendRequest(s) => self.on_request(s),
            Envelope::FriendAnswer(s) => self.on_answer(s),
            Envelope::Direct(s) => self.on_direct(s),
        }
    }

    /// Verify an envelope: signature, sender = signer, addressed to us.
    fn open_signed<T: crate::identity::SignedRecord>(
        &self,
        s: &Signed<T>,
        from: impl Fn(&T) -> (UserId, UserId),
    ) -> Result<T> {
        let record = s
            .verify()
            .map_err(|e| SocialError::Rejected(format!("bad signature: {e}")))?;
        let (sender, to) = from(&record);
        if UserId::from_public_key(s.signer()) != sender {
            return Err(SocialError::Rejected(
                "signed by someone other than the sender".into(),
            ));
        }
        if to != self.me {
            return Err(SocialError::Rejected("addressed to another user".into()));
        }
        if sender == self.me {
            return Err(SocialError::Yourself);
        }
        Ok(record)
    }

    fn on_request(&self, s: Signed<FriendRequest>) -> Result<Vec<Outgoing>> {
        let req = self.open_signed(&s, |r| (r.from, r.to))?;
        check_text(&req.name, MAX_NAME_LEN, "name")?;
        check_text(&req.note, MAX_TEXT_LEN, "note")?;
        match self.friend(&req.from)? {
            Some(f) if f.state == FriendState::Blocked => return Ok(Vec::new()),
            Some(mut f) if matches!(f.state, FriendState::Friend | FriendState::Outgoing) => {
                // They asked too (or again, e.g. after a reinstall): we are friends.
                f.state = FriendState::Friend;
                f.enc = Some(req.enc);
                f.name = req.name.clone();
                f.updated = now_ms();
                let mut ops = Vec::new();
                Self::put_friend(&mut ops, &f);
                self.write(ops)?;
                self.emit(SocialEvent::FriendChanged { user: req.from });
                return Ok(vec![self.answer(&req.from, true)?]);
            }
            _ => {}
        }
        let f = Friend {
            user: req.from,
            name: req.name.clone(),
            state: FriendState::Incoming,
            enc: Some(req.enc),
            note: req.note.clone(),
            updated: now_ms(),
        };
        let mut ops = Vec::new();
        Self::put_friend(&mut ops, &f);
        Self::stream_op(
            &mut ops,
            StreamKind::FriendRequest,
            Some(req.from),
            &format!(
                "{} wants to be friends: {}",
                display(&req.name, &req.from),
                req.note
            ),
        )?;
        self.write(ops)?;
        self.emit(SocialEvent::FriendChanged { user: req.from });
        self.emit(SocialEvent::Stream);
        Ok(Vec::new())
    }

    fn on_answer(&self, s: Signed<FriendAnswer>) -> Result<Vec<Outgoing>> {
        let ans = self.open_signed(&s, |r| (r.from, r.to))?;
        check_text(&ans.name, MAX_NAME_LEN, "name")?;
        let Some(mut f) = self.friend(&ans.from)? else {
            return Err(SocialError::Rejected(
                "an answer to a request we did not make".into(),
            ));
        };
        let mut ops = Vec::new();
        match (f.state, ans.accept) {
            (FriendState::Blocked, _) => return Ok(Vec::new()),
            (FriendState::Outgoing | FriendState::Friend, true) => {
                let was_friend = f.state == FriendState::Friend;
                f.state = FriendState::Friend;
                f.enc = Some(ans.enc);
                f.name = ans.name.clone();
                f.updated = now_ms();
                Self::put_friend(&mut ops, &f);
                if !was_friend {
                    Self::stream_op(
                        &mut ops,
                        StreamKind::FriendAccepted,
                        Some(ans.from),
                        &format!(
                            "{} accepted your friend request",
                            display(&ans.name, &ans.from)
                        ),
                    )?;
                }
            }
            (FriendState::Outgoing, false) => {
                ops.push((format!("friend/{}", ans.from), None));
                Self::stream_op(
                    &mut ops,
                    StreamKind::FriendDeclined,
                    Some(ans.from),
                    &format!(
                        "{} declined your friend request",
                        display(&ans.name, &ans.from)
                    ),
                )?;
            }
            _ => {
                return Err(SocialError::Rejected(
                    "an answer to a request we did not make".into(),
                ));
            }
        }
        self.write(ops)?;
        self.emit(SocialEvent::FriendChanged { user: ans.from });
        self.emit(SocialEvent::Stream);
        Ok(Vec::new())
    }

    fn on_direct(&self, s: Signed<DirectMessage>) -> Result<Vec<Outgoing>> {
        let dm = self.open_signed(&s, |r| (r.from, r.to))?;
        let f = self.friend(&dm.from)?;
        match f.as_ref().map(|f| f.state) {
            Some(FriendState::Friend) => {}
            Some(FriendState::Blocked) => return Ok(Vec::new()),
            _ => {
                return Err(SocialError::Rejected(format!(
                    "{} is not a friend",
                    dm.from
                )));
            }
        }
        let plain = self.keys.encryption_key().open(
            &dm.sealed,
            &DirectMessage::aad(&dm.from, &dm.to, &dm.id, dm.time),
        )?;
        let content: Content = postcard::from_bytes(&plain)
            .map_err(|e| SocialError::Rejected(format!("message content: {e}")))?;
        match content {
            Content::Text(text) => {
                check_text(&text, MAX_TEXT_LEN, "message")?;
                let seen = format!("seen/{}/{}", dm.from, dm.id);
                let receipt = self.receipt_to(&dm.from, dm.id, false)?;
                if self.get(&seen)?.is_some() {
                    // A resend (our receipt was lost): confirm again, store nothing.
                    return Ok(receipt.into_iter().collect());
                }
                let msg = StoredMessage {
                    id: dm.id,
                    peer: dm.from,
                    outgoing: false,
                    time: dm.time,
                    text: text.clone(),
                    status: MessageStatus::Unread,
                };
                let key = format!("msg/{}/{:013}/{}", dm.from, dm.time, dm.id);
                let name = f.map(|f| f.name).unwrap_or_default();
                let mut ops: Ops = vec![
                    (key.clone(), Some(json(&msg))),
                    (format!("msgid/{}", dm.id), Some(key.into_bytes())),
                    (seen, Some(Vec::new())),
                ];
                let preview: String = text.chars().take(140).collect();
                let item = StreamItem {
                    id: dm.id,
                    time: dm.time,
                    kind: StreamKind::Message,
                    from: Some(dm.from),
                    text: format!("{}: {preview}", display(&name, &dm.from)),
                    read: false,
                };
                ops.push((
                    format!("stream/{:013}/{}", item.time, item.id),
                    Some(json(&item)),
                ));
                self.write(ops)?;
                self.emit(SocialEvent::Message {
                    peer: dm.from,
                    id: dm.id,
                });
                self.emit(SocialEvent::Stream);
                Ok(receipt.into_iter().collect())
            }
            Content::Receipt { of, read } => {
                self.on_receipt(&dm.from, of, read)?;
                Ok(Vec::new())
            }
        }
    }

    /// The peer confirmed our message `of` (and, for a read receipt, everything
    /// before it): update statuses and drop them from the outbox.
    fn on_receipt(&self, peer: &UserId, of: MessageId, read: bool) -> Result<()> {
        let Some(key) = self.get(&format!("msgid/{of}"))? else {
            return Ok(());
        };
        let key = String::from_utf8(key)
            .map_err(|_| SocialError::Mimei(MimeiError::Corrupt("msgid".into())))?;
        let Some(target) = self.get(&key)? else {
            return Ok(());
        };
        let target: StoredMessage = from_json(&target, "message")?;
        if target.peer != *peer || !target.outgoing {
            return Err(SocialError::Rejected(
                "receipt for a message not sent to this peer".into(),
            ));
        }
        let new_status = if read {
            MessageStatus::Read
        } else {
            MessageStatus::Delivered
        };
        let mut ops = Vec::new();
        // A delivery receipt covers that message (one key: receipts for a long queue
        // stay linear); a read receipt all before it too.
        let covered: Vec<(String, Vec<u8>)> = if read {
            let prefix = format!("msg/{peer}/");
            self.db.scan_range(&DbRange {
                prefix: Some(prefix),
                end: Some(format!("{key}\u{10ffff}")),
                ..Default::default()
            })?
        } else {
            vec![(key.clone(), json(&target))]
        };
        for (k, v) in covered {
            let mut m: StoredMessage = from_json(&v, "message")?;
            if m.outgoing && m.status < new_status {
                m.status = new_status;
                ops.push((k, Some(json(&m))));
            }
        }
        ops.push((format!("out/{peer}/{of}"), None));
        self.write(ops)?;
        self.emit(SocialEvent::Receipt {
            peer: *peer,
            id: of,
            status: new_status,
        });
        Ok(())
    }
}

fn display(name: &str, user: &UserId) -> String {
    if name.is_empty() {
        user.to_string()[..12].to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests;

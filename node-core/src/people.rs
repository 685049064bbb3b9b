//! The people service of a running node: the user's social layer ([`Social`]) and
//! organizations ([`Orgs`]) together, with the seam to the network ([`Courier`]).
//!
//! `social` and `org` are sans-IO: actions and received records become state changes
//! plus records to deliver. [`People`] is the one owner of both on a node. It wraps
//! every record it sends in a [`Parcel`] — a header signed by the user key (sender,
//! target, time, blake3 of the body) and the body — so the receiver knows who sent it
//! without trusting the transport, and it queues the parcels for the network:
//!
//! - **to a user** (friend requests and answers, org records for one member): kept in a
//!   private Mimei of the user's (`app_type = "leither/courier"`) until a node of the
//!   recipient has taken the parcel, retried after [`FIRST_RETRY`] and then backing off
//!   to every [`RETRY_EVERY`], so they survive a restart;
//! - **direct messages and receipts**: the persistent copy is the social outbox (a
//!   message stays there until the recipient's receipt arrives); the retry tick sends
//!   the outbox again, and the recipient stores each message exactly once;
//! - **to an org's topic** (chat, membership and info updates): best effort; a member
//!   who missed some catches up by asking the others for the history
//!   ([`People::catch_up`], done when the pump starts and when a member joins).
//!
//! The network implements [`Courier`] and runs [`pump`]; whatever arrives for this
//! user goes to [`People::receive`]. Tests use two `People` in one process and hand one's
//! [`People::take_outgoing`] to the other's `receive` — the same sans-IO style as the
//! module tests, not a network test.
//!
//! Architecture: `api → people → (social, org) → mimei → (store, identity)`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};

use crate::identity::{Domain, Identity, IdentityError, Signed, SignedRecord, UserId};
use crate::mimei::{MimeiError, Mimeis, OwnedDb};
use crate::org::{
    Charter, ChatView, OrgEffect, OrgError, OrgId, OrgMessage, OrgRole, OrgView, Orgs,
};
use crate::social::{
    Envelope, Friend, FriendState, MAX_TEXT_LEN, Outgoing, Social, SocialError, StoredMessage,
    StreamKind,
};

/// How often undelivered parcels are tried again, at most (see [`FIRST_RETRY`]).
pub const RETRY_EVERY: Duration = Duration::from_secs(30);
/// The first retry of an undelivered parcel; later ones back off up to [`RETRY_EVERY`].
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Largest parcel [`People::receive`] accepts (a history reply may be large).
pub const MAX_PARCEL_BYTES: usize = 4 * 1024 * 1024 + 64 * 1024;
/// Largest part of a chat history reply, in bytes of signed messages.
pub const HISTORY_PART_BYTES: usize = 256 * 1024;
/// Most best-effort parcels kept waiting for the network; older ones are dropped.
pub const MAX_PENDING: usize = 10_000;
/// `app_type` of the Mimei holding parcels not yet taken by their recipient.
pub const COURIER_APP_TYPE: &str = "leither/courier";
/// Most parcels this node keeps for one offline friend of a friend (see [`People::keep`]).
pub const MAX_KEPT_PER_USER: usize = 1000;
/// Largest parcel a node keeps for somebody else (a DM, request or org record fits).
pub const MAX_KEPT_BYTES: usize = 256 * 1024;

/// To how many friends an undelivered parcel is handed over for keeping.
pub const MAX_KEEPERS: usize = 3;
/// At most this many of this node's org parcels wait per org for its chat key (a new
/// member may post before the key reached it).
pub const MAX_WAITING_FOR_KEY: usize = 1000;
/// A catch-up request none of whose members answered within this goes to others.
pub const ASK_WAIT: Duration = Duration::from_secs(10);

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error(transparent)]
    Social(#[from] SocialError),
    #[error(transparent)]
    Org(#[from] OrgError),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("{what} is {len} bytes; at most {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("refused: {0}")]
    Rejected(String),
    #[error("no such user: {0}")]
    UnknownUser(UserId),
    /// An org parcel under a chat key this node does not hold (yet): not the sender's
    /// fault, so not held against it.
    #[error("no chat key of epoch {epoch} for org {org}")]
    NoKey { org: OrgId, epoch: u32 },
    #[error(transparent)]
    Mimei(#[from] MimeiError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
}

pub type Result<T, E = PeopleError> = std::result::Result<T, E>;

/// Where a parcel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Any node of this user.
    User(UserId),
    /// Every member node listening on the org's topic.
    Org(OrgId),
}

/// What a parcel carries.
#[derive(Serialize, Deserialize)]
pub enum Record {
    Social(Envelope),
    Org(OrgMessage),
}

/// The signed part of a parcel: who sends what to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelHeader {
    pub from: UserId,
    pub to: Target,
    /// Sender's clock, ms since the epoch.
    pub time: u64,
    /// blake3 of the body.
    pub body: [u8; 32],
}

impl SignedRecord for ParcelHeader {
    const DOMAIN: Domain = Domain::new("leither/parcel/v1");
}

/// The unit the network carries: a signed header and the body it names.
#[derive(Serialize, Deserialize)]
struct Parcel {
    header: Vec<u8>,
    body: Vec<u8>,
}

/// The body of a parcel on an org's topic: the record encrypted with the org's chat
/// key of `epoch` ([`crate::org`]), bound to the org and epoch.
#[derive(Serialize, Deserialize)]
struct OrgBox {
    epoch: u32,
    sealed: Vec<u8>,
}

fn org_box_aad(org: &OrgId, epoch: u32) -> Vec<u8> {
    let mut a = b"leither/org-topic/v1".to_vec();
    a.extend_from_slice(org.as_bytes());
    a.extend_from_slice(&epoch.to_be_bytes());
    a
}

/// A parcel waiting for the network.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub to: Target,
    pub parcel: Vec<u8>,
    /// Key in the courier Mimei while it waits for its recipient (sends to a user).
    queued: Option<String>,
    /// Another user's parcel this node keeps for its recipient ([`People::keep`]):
    /// sent on, never handed to further keepers.
    relayed: bool,
}

/// How a recipient node answered a parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Its `People::receive` took it.
    Accepted,
    /// It refused it for good (bad signature, not a friend…): do not send again.
    Refused(String),
}

/// Why a parcel could not be handed over now (it will be tried again).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

pub type CourierFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The seam to the network. The network implements it; [`pump`] drives it.
pub trait Courier: Send + Sync {
    /// Deliver `parcel` to a node of `to` (any of the user's devices, or a node that
    /// keeps parcels for them) and resolve with that node's answer: what its
    /// [`People::receive`] said. `Err` if no such node answered in time (a timeout of
    /// at most ~10 s); the parcel is kept and sent again later.
    fn send(&self, to: UserId, parcel: Vec<u8>)
    -> CourierFuture<'_, Result<Delivery, Unreachable>>;
    /// Hand `parcel` (this user's, for a user found unreachable) to a node of `keeper`,
    /// a friend, whose [`People::keep`] holds it and sends it on; resolve with that
    /// node's answer.
    fn hand_over(
        &self,
        keeper: UserId,
        parcel: Vec<u8>,
    ) -> CourierFuture<'_, Result<Delivery, Unreachable>>;
    /// Publish `parcel` on the org's topic (best effort).
    fn publish(&self, org: OrgId, parcel: Vec<u8>) -> CourierFuture<'_, Result<(), Unreachable>>;
    /// Listen on the org's topic from now on (idempotent); what arrives goes to
    /// [`People::receive`].
    fn subscribe(&self, org: OrgId);
    /// Stop listening on the org's topic (this user left it or was removed).
    fn unsubscribe(&self, org: OrgId);
}

/// Something changed in an org (for the UI, over WebSocket as
/// `{"kind":"org","org":"…","change":"chat"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgEvent {
    /// Always `org`.
    pub kind: String,
    pub org: OrgId,
    pub change: OrgChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgChange {
    Created,
    Joined,
    Chat,
    Members,
    Info,
    Application,
}

/// A friend invite: "this is me", signed, to paste or show as a QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub user: UserId,
    pub name: String,
    pub time: u64,
}

impl SignedRecord for Invite {
    const DOMAIN: Domain = Domain::new("leither/invite/v1");
}

/// Prefix of friend invite strings.
pub const INVITE_PREFIX: &str = "leither:friend:";
/// Prefix of org invite strings (the org's charter and a member to apply through).
pub const ORG_INVITE_PREFIX: &str = "leither:org:";

/// The social and org state of the running node. Cheap to clone.
#[derive(Clone)]
pub struct People {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Arc<Identity>,
    me: UserId,
    social: Social,
    orgs: Orgs,
    queue: OwnedDb,
    pending: Mutex<VecDeque<Outbound>>,
    /// Time part of the last courier queue key: strictly increasing, so parcels to one
    /// user go out in the order they were queued, also after a restart's rescan.
    last_key_ms: Mutex<u64>,
    wake: Notify,
    events: broadcast::Sender<OrgEvent>,
    /// Orgs with a catch-up request out and no answer yet.
    asking: Mutex<HashMap<OrgId, Asking>>,
    /// When each member was last heard from on an org's topic (or answered a catch-up),
    /// in ms: a catch-up asks those first.
    heard: Mutex<HashMap<OrgId, HashMap<UserId, u64>>>,
}

/// A catch-up request waiting for an answer: when it went out, and whom all the
/// requests of this round asked.
struct Asking {
    since: u64,
    asked: HashSet<UserId>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random16() -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| IdentityError::Randomness(e.to_string()))?;
    Ok(b)
}

fn check_len(what: &'static str, text: &str, max: usize) -> Result<()> {
    if text.len() > max {
        return Err(PeopleError::TooLarge {
            what,
            len: text.len(),
            max,
        });
    }
    Ok(())
}

impl People {
    /// The people service of `keys`' user, on this node's Mimei.
    pub fn open(mimeis: Mimeis, keys: Arc<Identity>) -> Result<People> {
        let me = keys.user_id();
        let social = Social::open(mimeis.clone(), keys.clone())?;
        let orgs = Orgs::open(mimeis.clone(), keys.clone())?;
        let queue = OwnedDb::open(&mimeis, &me, COURIER_APP_TYPE, "queue", None)?;
        let (events, _) = broadcast::channel(256);
        Ok(People {
            inner: Arc::new(Inner {
                keys,
                me,
                social,
                orgs,
                queue,
                pending: Mutex::new(VecDeque::new()),
                last_key_ms: Mutex::new(0),
                wake: Notify::new(),
                events,
                asking: Mutex::new(HashMap::new()),
                heard: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn me(&self) -> UserId {
        self.inner.me
    }

    /// This user's public encryption key (published with the profile).
    pub fn encryption_key(&self) -> crate::identity::EncryptionPublicKey {
        self.inner.keys.encryption_key().public()
    }

    /// The social layer (profile, friends, conversations, stream) for reading.
    pub fn social(&self) -> &Social {
        &self.inner.social
    }

    /// The orgs of this user, for reading.
    pub fn orgs(&self) -> &Orgs {
        &self.inner.orgs
    }

    /// Live org changes (social changes: [`Social::subscribe`]).
    pub fn subscribe(&self) -> broadcast::Receiver<OrgEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, org: OrgId, change: OrgChange) {
        let _ = self.inner.events.send(OrgEvent {
            kind: "org".into(),
            org,
            change,
        });
    }

    // ---- parcels and the queue ----

    /// Sign and wrap `record` for `to`; `None` for an org whose chat key this node does
    /// not hold yet (nothing can go on its topic).
    fn parcel(&self, to: Target, record: &Record) -> Result<Option<Vec<u8>>> {
        let mut body =
            postcard::to_allocvec(record).map_err(|e| PeopleError::Invalid(e.to_string()))?;
        if let Target::Org(org) = to {
            let Some((epoch, key)) = self.inner.orgs.chat_key(&org)? else {
                return Ok(None);
            };
            let sealed = crate::identity::encrypt(&key, &body, &org_box_aad(&org, epoch))?;
            body = postcard::to_allocvec(&OrgBox { epoch, sealed })
                .map_err(|e| PeopleError::Invalid(e.to_string()))?;
        }
        let header = ParcelHeader {
            from: self.inner.me,
            to,
            time: now_ms(),
            body: *blake3::hash(&body).as_bytes(),
        };
        let header = Signed::sign(self.inner.keys.user_keypair(), &header)?.to_bytes();
        postcard::to_allocvec(&Parcel { header, body })
            .map(Some)
            .map_err(|e| PeopleError::Invalid(e.to_string()))
    }

    /// A new courier queue key under `prefix` (`q/` own parcels, `k/` kept for others,
    /// `w/` org records waiting for the org's chat key).
    fn queue_key(&self, prefix: &str, to: &dyn std::fmt::Display) -> Result<String> {
        let ms = {
            let mut last = self
                .inner
                .last_key_ms
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *last = now_ms().max(*last + 1);
            *last
        };
        Ok(format!(
            "{prefix}{to}/{ms:013}/{}",
            BASE64URL_NOPAD.encode(&random16()?)
        ))
    }

    /// Queue `record` for `to`. `keep`: persist until a node of the recipient took it.
    /// A record for an org whose chat key this node does not hold yet waits for it
    /// ([`People::release_waiting`]).
    fn enqueue(&self, to: Target, record: &Record, keep: bool) -> Result<()> {
        let Some(parcel) = self.parcel(to, record)? else {
            let Target::Org(org) = to else {
                return Ok(());
            };
            let prefix = format!("w/{org}/");
            if self
                .inner
                .queue
                .scan(&prefix, Some(MAX_WAITING_FOR_KEY))?
                .len()
                >= MAX_WAITING_FOR_KEY
            {
                return Err(PeopleError::NoKey { org, epoch: 0 });
            }
            let bytes =
                postcard::to_allocvec(record).map_err(|e| PeopleError::Invalid(e.to_string()))?;
            let key = self.queue_key("w/", &org)?;
            self.inner.queue.write(&[(key, Some(bytes))])?;
            tracing::debug!(%org, "people: no chat key yet; the parcel waits for it");
            return Ok(());
        };
        let queued = match (keep, to) {
            (true, Target::User(u)) => {
                let key = self.queue_key("q/", &u)?;
                self.inner
                    .queue
                    .write(&[(key.clone(), Some(parcel.clone()))])?;
                Some(key)
            }
            _ => None,
        };
        self.push(Outbound {
            to,
            parcel,
            queued,
            relayed: false,
        });
        Ok(())
    }

    fn push(&self, o: Outbound) {
        if let Ok(mut p) = self.inner.pending.lock() {
            if p.len() >= MAX_PENDING {
                // Persisted ones are still in the courier Mimei; DMs in the outbox.
                p.pop_front();
            }
            p.push_back(o);
        }
        self.inner.wake.notify_one();
    }

    fn send_social(&self, o: Outgoing) -> Result<()> {
        // Direct messages live in the social outbox until their receipt; requests and
        // answers are kept in the courier queue until taken.
        let keep = !matches!(o.envelope, Envelope::Direct(_));
        self.enqueue(Target::User(o.to), &Record::Social(o.envelope), keep)
    }

    fn apply_effects(&self, effects: Vec<OrgEffect>) -> Result<()> {
        for e in effects {
            match e {
                OrgEffect::Broadcast(org, m) => {
                    if let OrgMessage::HistoryRequest { ask, .. } = &m {
                        let mut asking = self.asking()?;
                        let a = asking.entry(org).or_insert_with(|| Asking {
                            since: 0,
                            asked: HashSet::new(),
                        });
                        a.since = now_ms();
                        a.asked.extend(ask.iter().copied());
                    }
                    self.enqueue(Target::Org(org), &Record::Org(m), false)?
                }
                OrgEffect::SendTo(user, _) if user == self.inner.me => {}
                OrgEffect::SendTo(user, OrgMessage::History { org, messages }) => {
                    // A reply to a catch-up request: made again on the next request,
                    // so not kept; sent in parts of at most HISTORY_PART_BYTES.
                    let mut part = Vec::new();
                    let mut size = 0;
                    for m in messages {
                        let len = m.to_bytes().len();
                        if size + len > HISTORY_PART_BYTES && !part.is_empty() {
                            let messages = std::mem::take(&mut part);
                            let h = OrgMessage::History { org, messages };
                            self.enqueue(Target::User(user), &Record::Org(h), false)?;
                            size = 0;
                        }
                        size += len;
                        part.push(m);
                    }
                    let h = OrgMessage::History {
                        org,
                        messages: part,
                    };
                    self.enqueue(Target::User(user), &Record::Org(h), false)?;
                }
                OrgEffect::SendTo(user, m) => {
                    self.enqueue(Target::User(user), &Record::Org(m), true)?
                }
                OrgEffect::Notify { org, from, text } => {
                    let text: String = text.chars().take(1024).collect();
                    self.inner.social.notify(StreamKind::Org, from, &text)?;
                    self.emit(org, OrgChange::Application);
                }
            }
        }
        Ok(())
    }

    /// Everything waiting for its first attempt (the pump's input; tests hand these
    /// to the other side's [`People::receive`]).
    pub fn take_outgoing(&self) -> Vec<Outbound> {
        self.inner
            .pending
            .lock()
            .map(|mut p| p.drain(..).collect())
            .unwrap_or_default()
    }

    /// A node of the recipient took `o` (or refused it for good): stop keeping it.
    pub fn delivered(&self, o: &Outbound) -> Result<()> {
        if let Some(k) = &o.queued {
            let mut ops = vec![(k.clone(), None)];
            if o.relayed
                && let (Target::User(to), Ok(digest)) = (o.to, Self::body_digest(&o.parcel))
            {
                ops.push((format!("m/{to}/{}", BASE64URL_NOPAD.encode(&digest)), None));
            }
            self.inner.queue.write(&ops)?;
        }
        Ok(())
    }

    /// The body digest a parcel's verified header names: the same for every resend of
    /// one direct message.
    pub fn body_digest(parcel: &[u8]) -> Result<[u8; 32]> {
        Ok(Self::open_parcel(parcel)?.0.body)
    }

    /// Send the org records that waited for `org`'s chat key, now that it is here.
    fn release_waiting(&self, org: &OrgId) -> Result<()> {
        if self.inner.orgs.chat_key(org)?.is_none() {
            return Ok(());
        }
        for (k, v) in self.inner.queue.scan(&format!("w/{org}/"), None)? {
            match postcard::from_bytes::<Record>(&v) {
                Ok(record) => self.enqueue(Target::Org(*org), &record, false)?,
                Err(e) => tracing::warn!(%org, "people: a waiting org record is unreadable: {e}"),
            }
            self.inner.queue.write(&[(k, None)])?;
        }
        Ok(())
    }

    /// Queue again everything not yet taken: this user's parcels, the parcels kept for
    /// offline friends, the social outbox, and org records whose key is here by now.
    pub fn requeue(&self) -> Result<usize> {
        let mut n = 0;
        for prefix in ["q/", "k/"] {
            for (k, v) in self.inner.queue.scan(prefix, None)? {
                let to: UserId = k
                    .split('/')
                    .nth(1)
                    .and_then(|u| u.parse().ok())
                    .ok_or_else(|| MimeiError::Corrupt(format!("courier key {k}")))?;
                self.push(Outbound {
                    to: Target::User(to),
                    parcel: v,
                    queued: Some(k),
                    relayed: prefix == "k/",
                });
                n += 1;
            }
        }

        for org in self.topics()? {
            self.release_waiting(&org)?;
        }
        for o in self.inner.social.outbox()? {
            self.send_social(o)?;
            n += 1;
        }
        Ok(n)
    }

    /// Orgs whose topic this node should listen on.
    pub fn topics(&self) -> Result<Vec<OrgId>> {
        Ok(self
            .inner
            .orgs
            .list()?
            .into_iter()
            .filter(|v| v.my_role.is_some())
            .map(|v| v.org)
            .collect())
    }

    /// Ask some other members of every org for the chat this node missed (a new round,
    /// unless a request went out less than [`ASK_WAIT`] ago).
    pub fn catch_up(&self) -> Result<()> {
        let now = now_ms();
        for org in self.topics()? {
            let recent = self
                .asking()?
                .get(&org)
                .is_some_and(|a| now.saturating_sub(a.since) < ASK_WAIT.as_millis() as u64);
            if recent {
                continue;
            }
            self.asking()?.remove(&org);
            let heard = self.heard(&org);
            if let Some(req) = self
                .inner
                .orgs
                .catch_up_request(&org, &HashSet::new(), &heard)?
            {
                self.apply_effects(vec![OrgEffect::Broadcast(org, req)])?;
            }
        }
        Ok(())
    }

    /// Catch-up requests nobody answered within [`ASK_WAIT`] go to members not asked
    /// yet; once all were asked, the round ends (the next start or return asks again).
    /// Whether a request is still waiting for an answer.
    pub fn ask_again(&self) -> Result<bool> {
        self.ask_again_at(now_ms())
    }

    fn ask_again_at(&self, now: u64) -> Result<bool> {
        let stale: Vec<(OrgId, HashSet<UserId>)> = self
            .asking()?
            .iter()
            .filter(|(_, a)| now.saturating_sub(a.since) >= ASK_WAIT.as_millis() as u64)
            .map(|(org, a)| (*org, a.asked.clone()))
            .collect();
        for (org, asked) in stale {
            match self
                .inner
                .orgs
                .catch_up_request(&org, &asked, &self.heard(&org))?
            {
                Some(req) => self.apply_effects(vec![OrgEffect::Broadcast(org, req)])?,
                None => {
                    self.asking()?.remove(&org);
                }
            }
        }
        Ok(!self.asking()?.is_empty())
    }

    /// When each member of `org` was last heard from (see [`Inner::heard`]).
    fn heard(&self, org: &OrgId) -> HashMap<UserId, u64> {
        self.inner
            .heard
            .lock()
            .ok()
            .and_then(|h| h.get(org).cloned())
            .unwrap_or_default()
    }

    fn asking(&self) -> Result<std::sync::MutexGuard<'_, HashMap<OrgId, Asking>>> {
        self.inner
            .asking
            .lock()
            .map_err(|_| PeopleError::Invalid("catch-up state poisoned".into()))
    }

    /// Handle a parcel from the network: verify the header signature and body digest,
    /// check it is for this user (or an org topic), then hand the record to the social
    /// or org layer, which verify it again on its own terms. Replies are queued.
    pub fn receive(&self, bytes: &[u8]) -> Result<()> {
        let (h, body) = Self::open_parcel(bytes)?;
        if h.from == self.inner.me {
            return Ok(()); // our own, echoed back by a topic
        }
        let body = match h.to {
            Target::Org(org) => self.open_org_box(&org, &body)?,
            Target::User(_) => body,
        };
        let record: Record = postcard::from_bytes(&body)
            .map_err(|e| PeopleError::Rejected(format!("malformed record: {e}")))?;
        self.take(h, record)
    }

    fn open_org_box(&self, org: &OrgId, body: &[u8]) -> Result<Vec<u8>> {
        let b: OrgBox = postcard::from_bytes(body)
            .map_err(|e| PeopleError::Rejected(format!("malformed org parcel: {e}")))?;
        let key = self
            .inner
            .orgs
            .chat_key_of(org, b.epoch)?
            .ok_or(PeopleError::NoKey {
                org: *org,
                epoch: b.epoch,
            })?;
        crate::identity::decrypt(&key, &b.sealed, &org_box_aad(org, b.epoch))
            .map_err(|e| PeopleError::Rejected(format!("org parcel: {e}")))
    }

    /// Size, signature (by the sender named in it) and body digest of a parcel.
    fn open_parcel(bytes: &[u8]) -> Result<(ParcelHeader, Vec<u8>)> {
        if bytes.len() > MAX_PARCEL_BYTES {
            return Err(PeopleError::TooLarge {
                what: "parcel",
                len: bytes.len(),
                max: MAX_PARCEL_BYTES,
            });
        }
        let p: Parcel = postcard::from_bytes(bytes)
            .map_err(|e| PeopleError::Rejected(format!("malformed parcel: {e}")))?;
        let signed: Signed<ParcelHeader> = Signed::from_bytes(&p.header)
            .map_err(|e| PeopleError::Rejected(format!("parcel header: {e}")))?;
        let h = signed
            .verify()
            .map_err(|e| PeopleError::Rejected(format!("parcel signature: {e}")))?;
        if UserId::from_public_key(signed.signer()) != h.from {
            return Err(PeopleError::Rejected(
                "parcel signed by someone other than its sender".into(),
            ));
        }
        if *blake3::hash(&p.body).as_bytes() != h.body {
            return Err(PeopleError::Rejected(
                "parcel body does not match its header".into(),
            ));
        }
        Ok((h, p.body))
    }

    fn is_friend(&self, user: &UserId) -> Result<bool> {
        Ok(self
            .inner
            .social
            .friend(user)?
            .is_some_and(|f| f.state == FriendState::Friend))
    }

    /// Keep a parcel for an offline friend (store-and-forward through mutual friends):
    /// a friend of this user who could not reach another friend of this user hands the
    /// parcel over, and this node sends it on, from its own courier queue (`k/…`), until
    /// a node of the recipient took it. The parcel stays signed by its sender end to
    /// end (a direct message inside stays sealed to its recipient), so the keeper can
    /// neither read a DM nor alter anything. Refused unless sender and recipient are
    /// both friends of this user; the same body is kept once; at most
    /// [`MAX_KEPT_PER_USER`] parcels per recipient.
    pub fn keep(&self, bytes: &[u8]) -> Result<()> {
        let (h, _) = Self::open_parcel(bytes)?;
        let Target::User(to) = h.to else {
            return Err(PeopleError::Rejected(
                "only parcels to a user are kept".into(),
            ));
        };
        if to == self.inner.me {
            return self.receive(bytes);
        }
        if h.from == self.inner.me || !self.is_friend(&h.from)? || !self.is_friend(&to)? {
            return Err(PeopleError::Rejected(
                "parcels are kept only between two friends of this user".into(),
            ));
        }
        let mark = format!("m/{to}/{}", BASE64URL_NOPAD.encode(&h.body));
        if self.inner.queue.get(&mark)?.is_some() {
            return Ok(());
        }
        if bytes.len() > MAX_KEPT_BYTES {
            return Err(PeopleError::TooLarge {
                what: "parcel to keep",
                len: bytes.len(),
                max: MAX_KEPT_BYTES,
            });
        }
        // One mark per parcel held (removed when delivered): counting them is cheap.
        let held = self
            .inner
            .queue
            .scan(&format!("m/{to}/"), Some(MAX_KEPT_PER_USER))?
            .len();
        if held >= MAX_KEPT_PER_USER {
            return Err(PeopleError::Rejected(format!(
                "already keeping {held} parcels for {to}"
            )));
        }
        let key = self.queue_key("k/", &to)?;
        self.inner.queue.write(&[
            (key.clone(), Some(bytes.to_vec())),
            (mark, Some(now_ms().to_be_bytes().to_vec())),
        ])?;
        self.push(Outbound {
            to: Target::User(to),
            parcel: bytes.to_vec(),
            queued: Some(key),
            relayed: true,
        });
        Ok(())
    }

    /// How many parcels this node keeps for offline friends.
    pub fn kept(&self) -> Result<usize> {
        Ok(self.inner.queue.scan("m/", None)?.len())
    }

    /// Friends who may keep a parcel for `to` while `to` is unreachable (they accept it
    /// only if `to` is their friend too).
    pub fn keepers(&self, to: &UserId) -> Result<Vec<UserId>> {
        Ok(self
            .inner
            .social
            .friends()?
            .into_iter()
            .filter(|f| f.state == FriendState::Friend && f.user != *to)
            .map(|f| f.user)
            .take(MAX_KEEPERS)
            .collect())
    }

    /// Hand the record of an opened parcel to the social or org layer.
    fn take(&self, h: ParcelHeader, record: Record) -> Result<()> {
        match (h.to, record) {
            (Target::User(u), _) if u != self.inner.me => Err(PeopleError::Rejected(
                "parcel addressed to another user".into(),
            )),
            (Target::User(_), Record::Social(env)) => {
                for o in self.inner.social.receive(env)? {
                    self.send_social(o)?;
                }
                Ok(())
            }
            (Target::Org(_), Record::Social(_)) => Err(PeopleError::Rejected(
                "a private envelope on an org topic".into(),
            )),
            (to, Record::Org(m)) => {
                let org = m
                    .org()
                    .ok_or_else(|| PeopleError::Rejected("org message without org".into()))?;
                if matches!(to, Target::Org(o) if o != org) {
                    return Err(PeopleError::Rejected(
                        "org message on another org's topic".into(),
                    ));
                }
                let got_key = matches!(m, OrgMessage::Key { .. });
                let answer = matches!(m, OrgMessage::History { .. });
                let change = match &m {
                    OrgMessage::Chat(_) | OrgMessage::History { .. } => Some(OrgChange::Chat),
                    OrgMessage::Members(_) => Some(OrgChange::Members),
                    OrgMessage::Info(_) | OrgMessage::Charter(_) => Some(OrgChange::Info),
                    _ => None,
                };
                let effects = self.inner.orgs.receive(m, Some(h.from))?;
                self.apply_effects(effects)?;
                // An answer from a member this node asked ends the wait.
                let asked = answer && {
                    let mut asking = self.asking()?;
                    let asked = asking.get(&org).is_some_and(|a| a.asked.contains(&h.from));
                    if asked {
                        asking.remove(&org);
                    }
                    asked
                };
                // Only key holders can post on the topic, only members are asked: the
                // map stays as small as the org.
                if (matches!(to, Target::Org(_)) || asked)
                    && let Ok(mut heard) = self.inner.heard.lock()
                {
                    heard.entry(org).or_default().insert(h.from, now_ms());
                }
                if got_key {
                    self.release_waiting(&org)?;
                }
                if let Some(c) = change {
                    self.emit(org, c);
                }
                Ok(())
            }
        }
    }

    // ---- friends and messages ----

    /// A signed invite string (`leither:friend:…`) to share as a link or QR code.
    pub fn invite(&self) -> Result<String> {
        let name = self.inner.social.profile()?.name;
        let inv = Invite {
            user: self.inner.me,
            name,
            time: now_ms(),
        };
        let s = Signed::sign(self.inner.keys.user_keypair(), &inv)?;
        Ok(format!(
            "{INVITE_PREFIX}{}",
            BASE64URL_NOPAD.encode(&s.to_bytes())
        ))
    }

    /// Read and verify an invite string.
    pub fn parse_invite(text: &str) -> Result<Invite> {
        let bad = |why: &str| PeopleError::Invalid(format!("not a friend invite: {why}"));
        let b64 = text
            .trim()
            .strip_prefix(INVITE_PREFIX)
            .ok_or_else(|| bad("it does not start with leither:friend:"))?;
        let bytes = BASE64URL_NOPAD
            .decode(b64.as_bytes())
            .map_err(|_| bad("bad encoding"))?;
        let s: Signed<Invite> = Signed::from_bytes(&bytes).map_err(|e| bad(&e.to_string()))?;
        let inv = s.verify().map_err(|e| bad(&e.to_string()))?;
        if UserId::from_public_key(s.signer()) != inv.user {
            return Err(bad("signed by someone else"));
        }
        Ok(inv)
    }

    pub fn request_friend(&self, to: &UserId, note: &str) -> Result<Friend> {
        check_len("note", note, MAX_TEXT_LEN)?;
        let o = self.inner.social.request_friend(to, note)?;
        self.send_social(o)?;
        self.friend(to)
    }

    fn friend(&self, user: &UserId) -> Result<Friend> {
        self.inner
            .social
            .friend(user)?
            .ok_or(PeopleError::UnknownUser(*user))
    }

    pub fn answer(&self, user: &UserId, accept: bool) -> Result<Option<Friend>> {
        let o = self.inner.social.answer(user, accept)?;
        self.send_social(o)?;
        Ok(self.inner.social.friend(user)?)
    }

    pub fn remove_friend(&self, user: &UserId) -> Result<()> {
        if self.inner.social.friend(user)?.is_none() {
            return Err(PeopleError::UnknownUser(*user));
        }
        Ok(self.inner.social.remove_friend(user)?)
    }

    pub fn block(&self, user: &UserId) -> Result<Friend> {
        self.inner.social.block(user)?;
        self.friend(user)
    }

    pub fn unblock(&self, user: &UserId) -> Result<()> {
        Ok(self.inner.social.unblock(user)?)
    }

    /// Send a direct message to a friend (sealed to them, kept in the outbox until
    /// their receipt arrives).
    pub fn send_message(&self, to: &UserId, text: &str) -> Result<StoredMessage> {
        check_len("message", text, MAX_TEXT_LEN)?;
        if text.is_empty() {
            return Err(PeopleError::Invalid("empty message".into()));
        }
        let (msg, o) = self.inner.social.send(to, text)?;
        self.send_social(o)?;
        Ok(msg)
    }

    /// A conversation page; an unknown user (no friend record, no messages) is an error.
    pub fn conversation(
        &self,
        peer: &UserId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let msgs = self.inner.social.conversation(peer, before, limit)?;
        if msgs.is_empty() && self.inner.social.friend(peer)?.is_none() {
            return Err(PeopleError::UnknownUser(*peer));
        }
        Ok(msgs)
    }

    /// Mark a conversation read here and tell the sender (read receipt).
    pub fn mark_read(&self, peer: &UserId) -> Result<()> {
        if let Some(o) = self.inner.social.mark_read(peer)? {
            self.send_social(o)?;
        }
        Ok(())
    }

    /// Friends (and pending requests, blocked users) with the people we talk to.
    pub fn conversations(&self) -> Result<Vec<ConversationView>> {
        let unread = self.inner.social.unread()?;
        let mut users: BTreeSet<UserId> = self
            .inner
            .social
            .friends()?
            .into_iter()
            .filter(|f| f.state == FriendState::Friend)
            .map(|f| f.user)
            .collect();
        users.extend(unread.conversations.iter().map(|(u, _)| *u));
        let mut out = Vec::new();
        for u in users {
            let last = self.inner.social.conversation(&u, None, 1)?.pop();
            let friend = self.inner.social.friend(&u)?;
            out.push(ConversationView {
                user: u,
                name: friend.map(|f| f.name).unwrap_or_default(),
                unread: unread
                    .conversations
                    .iter()
                    .find(|(x, _)| *x == u)
                    .map(|(_, n)| *n)
                    .unwrap_or(0),
                last,
            });
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.last.as_ref().map(|m| m.time).unwrap_or(0)));
        Ok(out)
    }

    // ---- organizations ----

    /// Create an org; this user is its creator and admin.
    pub fn create_org(&self, name: &str, about: &str) -> Result<OrgView> {
        if name.trim().is_empty() {
            return Err(PeopleError::Invalid("an org needs a name".into()));
        }
        check_len("name", name, crate::org::wire::MAX_ORG_NAME)?;
        check_len("about", about, crate::org::wire::MAX_ORG_TEXT)?;
        let (org, fx) = self.inner.orgs.create(name, about)?;
        self.apply_effects(fx)?;
        self.emit(org, OrgChange::Created);
        Ok(self.inner.orgs.view(&org)?)
    }

    /// An org invite (`leither:org:…`): the org's charter and this member to apply
    /// through, so someone can apply without finding the org on the network.
    pub fn org_invite(&self, org: &OrgId) -> Result<String> {
        let v = self.require_member(org)?;
        let _ = v;
        let charter = self
            .inner
            .orgs
            .charter_record(org)?
            .ok_or(OrgError::Unknown(*org))?;
        let bytes = postcard::to_allocvec(&(charter.to_bytes(), self.inner.me))
            .map_err(|e| PeopleError::Invalid(e.to_string()))?;
        Ok(format!(
            "{ORG_INVITE_PREFIX}{}",
            BASE64URL_NOPAD.encode(&bytes)
        ))
    }

    /// Read an org invite: the charter (verified: signed by the org key) and the member.
    pub fn parse_org_invite(text: &str) -> Result<(Signed<Charter>, UserId)> {
        let bad = |why: &str| PeopleError::Invalid(format!("not an org invite: {why}"));
        let b64 = text
            .trim()
            .strip_prefix(ORG_INVITE_PREFIX)
            .ok_or_else(|| bad("it does not start with leither:org:"))?;
        let bytes = BASE64URL_NOPAD
            .decode(b64.as_bytes())
            .map_err(|_| bad("bad encoding"))?;
        let (charter, via): (Vec<u8>, UserId) =
            postcard::from_bytes(&bytes).map_err(|e| bad(&e.to_string()))?;
        let charter: Signed<Charter> =
            Signed::from_bytes(&charter).map_err(|e| bad(&e.to_string()))?;
        let org = OrgId::from_bytes(*charter.signer().as_bytes());
        crate::org::wire::check_charter(&org, &charter, None).map_err(|e| bad(&e.to_string()))?;
        Ok((charter, via))
    }

    /// Apply to join: the application goes to `via` (any member), who passes it to
    /// the admins. With an invite the charter comes from it; else it must be known here.
    pub fn apply(
        &self,
        invite: Option<&str>,
        org: Option<OrgId>,
        via: Option<UserId>,
        note: &str,
    ) -> Result<OrgId> {
        check_len("note", note, crate::org::wire::MAX_ORG_TEXT)?;
        let (charter, via) = match invite {
            Some(text) => {
                let (c, v) = Self::parse_org_invite(text)?;
                (c, via.unwrap_or(v))
            }
            None => {
                let org = org.ok_or_else(|| {
                    PeopleError::Invalid("give an org invite, or an org ID and a member".into())
                })?;
                let via = via.ok_or_else(|| {
                    PeopleError::Invalid("give the member to apply through (via)".into())
                })?;
                let c = self
                    .inner
                    .orgs
                    .charter_record(&org)?
                    .ok_or_else(|| PeopleError::Org(OrgError::Unknown(org)))?;
                (c, via)
            }
        };
        if via == self.inner.me {
            return Err(PeopleError::Invalid("apply through another member".into()));
        }
        self.apply_to(charter, &[via], note)
    }

    /// Apply to join an org found on the network by its ID alone
    /// ([`crate::net::NetHandle::find_org`]): the application goes straight to its
    /// admins (the charter names them; it is verified against the org ID here).
    pub fn apply_found(&self, org: &OrgId, charter: &[u8], note: &str) -> Result<OrgId> {
        check_len("note", note, crate::org::wire::MAX_ORG_TEXT)?;
        let charter: Signed<Charter> = Signed::from_bytes(charter)?;
        let c = crate::org::wire::check_charter(org, &charter, None)
            .map_err(|e| PeopleError::Invalid(format!("org charter: {e}")))?;
        let admins: Vec<UserId> = c
            .admins
            .into_iter()
            .filter(|a| *a != self.inner.me)
            .collect();
        if admins.is_empty() {
            return Err(PeopleError::Invalid("the org has no other admin".into()));
        }
        self.apply_to(charter, &admins, note)
    }

    fn apply_to(&self, charter: Signed<Charter>, vias: &[UserId], note: &str) -> Result<OrgId> {
        let name = self.inner.social.profile()?.name;
        let (org, join) = self.inner.orgs.apply(charter, &name, note)?;
        let bytes = join.to_bytes();
        let mut fx = Vec::new();
        for via in vias {
            fx.push(OrgEffect::SendTo(
                *via,
                OrgMessage::Join(Signed::from_bytes(&bytes)?),
            ));
        }
        self.apply_effects(fx)?;
        Ok(org)
    }

    fn require_member(&self, org: &OrgId) -> Result<OrgView> {
        let v = self.inner.orgs.view(org)?;
        if !matches!(v.my_role, Some(OrgRole::Member | OrgRole::Admin)) {
            return Err(OrgError::NotMember(*org).into());
        }
        Ok(v)
    }

    /// Approve an application, change a role, or (`None`) remove a member — admins.
    /// Making someone admin (or not) also changes the charter, which only the
    /// creator can sign.
    pub fn set_member(&self, org: &OrgId, user: &UserId, role: Option<OrgRole>) -> Result<OrgView> {
        let before = self.inner.orgs.view(org)?;
        if !before.admins.contains(&self.inner.me) {
            return Err(OrgError::NotAdmin(*org).into());
        }
        let known = before.members.iter().any(|m| m.user == *user)
            || before.applications.iter().any(|a| a.user == *user);
        if !known {
            return Err(PeopleError::UnknownUser(*user));
        }
        let admin_now = before.admins.contains(user);
        let admin_next = role == Some(OrgRole::Admin);
        if admin_now != admin_next {
            if before.creator != self.inner.me {
                return Err(OrgError::NotCreator(*org).into());
            }
            if *user == before.creator {
                return Err(PeopleError::Invalid(
                    "the creator stays an admin of the org".into(),
                ));
            }
        }
        let fx = self.inner.orgs.set_member(org, user, role)?;
        self.apply_effects(fx)?;
        if admin_now != admin_next {
            let mut admins = before.admins.clone();
            admins.retain(|a| a != user);
            if admin_next {
                admins.push(*user);
            }
            let fx = self.inner.orgs.set_admins(org, admins)?;
            self.apply_effects(fx)?;
        }
        self.emit(*org, OrgChange::Members);
        Ok(self.inner.orgs.view(org)?)
    }

    pub fn reject(&self, org: &OrgId, user: &UserId) -> Result<()> {
        self.inner.orgs.reject(org, user)?;
        self.emit(*org, OrgChange::Application);
        Ok(())
    }

    /// Post to the org chat — members and admins.
    pub fn chat(&self, org: &OrgId, text: &str) -> Result<ChatView> {
        check_len("message", text, crate::org::wire::MAX_ORG_TEXT)?;
        if text.is_empty() {
            return Err(PeopleError::Invalid("empty message".into()));
        }
        self.require_member(org)?;
        let (view, fx) = self.inner.orgs.chat(org, text)?;
        self.apply_effects(fx)?;
        self.emit(*org, OrgChange::Chat);
        Ok(view)
    }

    /// Chat history, oldest first: at most `limit` messages before `before` (ms).
    pub fn history(&self, org: &OrgId, before: Option<u64>, limit: usize) -> Result<Vec<ChatView>> {
        self.require_member(org)?;
        Ok(self.inner.orgs.history(org, before, limit)?)
    }

    /// Replace the published apps list (O4) — admins.
    pub fn set_apps(&self, org: &OrgId, apps: Vec<crate::mimei::MimeiId>) -> Result<OrgView> {
        let fx = self.inner.orgs.set_info(org, None, Some(apps))?;
        self.apply_effects(fx)?;
        self.emit(*org, OrgChange::Info);
        Ok(self.inner.orgs.view(org)?)
    }
}

/// One conversation in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub user: UserId,
    pub name: String,
    pub unread: u64,
    pub last: Option<StoredMessage>,
}

/// Carry this node's parcels with `courier` until the process ends: subscribe to the
/// org topics, ask for missed chat, send new parcels as they are queued, and try the
/// undelivered ones again, from [`FIRST_RETRY`] backing off to [`RETRY_EVERY`].
pub async fn pump(people: People, courier: Arc<dyn Courier>) {
    pump_every(people, courier, RETRY_EVERY).await
}

/// Store-and-forward: give a parcel `to` could not take to up to [`MAX_KEEPERS`]
/// friends (each keeps it only if `to` is their friend too), once per parcel and
/// keeper. The sender keeps its own copy and goes on retrying; the recipient stores a
/// message once however many copies reach it.
async fn hand_over(
    people: &People,
    courier: &dyn Courier,
    to: UserId,
    parcel: &[u8],
    handed: &mut HashSet<([u8; 32], UserId)>,
) {
    let Ok(digest) = People::body_digest(parcel) else {
        return;
    };
    let p = people.clone();
    let Ok(Ok(keepers)) = tokio::task::spawn_blocking(move || p.keepers(&to)).await else {
        return;
    };
    if handed.len() > 100_000 {
        handed.clear();
    }
    for k in keepers {
        if !handed.insert((digest, k)) {
            continue;
        }
        match courier.hand_over(k, parcel.to_vec()).await {
            Ok(Delivery::Accepted) => tracing::debug!(%to, keeper = %k, "people: parcel kept"),
            Ok(Delivery::Refused(why)) => {
                tracing::debug!(%to, keeper = %k, "people: keeper refused: {why}")
            }
            Err(_) => {
                handed.remove(&(digest, k));
            }
        }
    }
}

/// [`pump`] with another retry period.
pub async fn pump_every(people: People, courier: Arc<dyn Courier>, retry_every: Duration) {
    let mut subscribed = BTreeSet::new();
    let p = people.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || p.requeue().and(p.catch_up()))
        .await
        .unwrap_or(Ok(()))
    {
        tracing::warn!("people: requeue at start failed: {e}");
    }
    // Undelivered parcels are tried again after FIRST_RETRY, then twice as long each time
    // up to `retry_every`: a friend whose node was not found a moment ago (fresh start,
    // DHT not yet filled) gets the message in seconds, an offline one costs little.
    let first = retry_every.min(FIRST_RETRY);
    let mut backoff = first;
    let mut next_retry = tokio::time::Instant::now() + retry_every;
    // (body digest, keeper) pairs already handed over by this process.
    let mut handed = HashSet::new();
    // Org parcels the courier could not take (sync paused): tried again each round.
    let mut unpublished: VecDeque<Outbound> = VecDeque::new();
    // While a catch-up request waits for an answer: when to look again.
    let mut next_ask: Option<tokio::time::Instant> = None;
    loop {
        let tick = tokio::select! {
            _ = people.inner.wake.notified() => false,
            _ = tokio::time::sleep_until(next_retry) => true,
            _ = tokio::time::sleep_until(next_ask.unwrap_or(next_retry)), if next_ask.is_some() => false,
        };
        let p = people.clone();
        let waiting = match tokio::task::spawn_blocking(move || p.ask_again()).await {
            Ok(Ok(w)) => w,
            Ok(Err(e)) => {
                tracing::warn!("people: asking again for missed chat failed: {e}");
                false
            }
            Err(_) => false,
        };
        next_ask = waiting.then(|| tokio::time::Instant::now() + ASK_WAIT / 2);
        for o in unpublished.drain(..) {
            people.push(o);
        }
        if tick {
            let p = people.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || p.requeue()).await {
                tracing::warn!("people: requeue failed: {e}");
            }
        }
        let p = people.clone();
        if let Ok(Ok(topics)) = tokio::task::spawn_blocking(move || p.topics()).await {
            for t in &topics {
                if subscribed.insert(*t) {
                    courier.subscribe(*t);
                }
            }
            subscribed.retain(|t| {
                let keep = topics.contains(t);
                if !keep {
                    courier.unsubscribe(*t);
                }
                keep
            });
        }
        let mut undelivered = false;
        for o in people.take_outgoing() {
            match o.to {
                Target::User(u) => match courier.send(u, o.parcel.clone()).await {
                    Ok(d) => {
                        if let Delivery::Refused(why) = &d {
                            tracing::info!(to = %u, "people: parcel refused: {why}");
                        }
                        let p = people.clone();
                        let _ = tokio::task::spawn_blocking(move || p.delivered(&o)).await;
                    }
                    Err(e) => {
                        undelivered = true;
                        tracing::debug!(to = %u, "people: not delivered yet: {e}");
                        if !o.relayed {
                            hand_over(&people, &*courier, u, &o.parcel, &mut handed).await;
                        }
                    }
                },
                Target::Org(org) => {
                    if let Err(e) = courier.publish(org, o.parcel.clone()).await {
                        tracing::debug!(%org, "people: not published yet: {e}");
                        undelivered = true;
                        if unpublished.len() >= MAX_PENDING {
                            unpublished.pop_front();
                        }
                        unpublished.push_back(o);
                    }
                }
            }
        }
        let now = tokio::time::Instant::now();
        if tick {
            next_retry = now + retry_every;
        }
        if undelivered {
            next_retry = next_retry.min(now + backoff);
            if tick {
                backoff = (backoff * 2).min(retry_every);
            }
        } else if tick {
            backoff = first;
        }
    }
}

#[cfg(test)]
mod tests;

//! The people service over the network: [`NetCourier`] implements
//! [`Courier`](crate::people::Courier) with a [`NetHandle`], and [`start`] runs
//! [`people::pump`](crate::people::pump_every) plus the inbound loop that hands every
//! parcel another node sends here to [`People::receive`] (off the async runtime).
//!
//! Arrows: `net::courier → (net, people)`; `people` knows nothing of the network.
//!
//! ## Finding a user's node
//! Every node announces itself as a DHT **provider** of [`records::user_key`]`(its
//! user)` (at start and with each re-publish). To deliver to user U the courier asks
//! for U's providers, and keeps only those whose **signed node record** carries a
//! device certificate of U (so a peer announcing itself for somebody else's key is
//! ignored); it dials the addresses of that record if not connected, then sends the
//! parcel as an app message of kind [`PARCEL_KIND`]. The receiving node answers only
//! after its `People::receive` returned: `ok`, `refused:<why>` (for good: bad
//! signature, not addressed to this user…) or `retry:<why>` (a local storage error).
//! The recipient's `receive` also refuses a parcel addressed to another user, so a
//! wrong node can never make the sender drop a parcel.
//!
//! Org records go over gossipsub, topic `leither/org/<org id>`; what arrives there goes
//! to `People::receive` as well, which checks the parcel signature, the sender's
//! membership and the org signatures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{NetHandle, records};
use crate::identity::{NodeId, UserId};
use crate::org::OrgId;
use crate::people::{
    Courier, CourierFuture, Delivery, MAX_PARCEL_BYTES, OrgChange, People, PeopleError, Unreachable,
};

/// The app-message kind parcels travel under.
pub const PARCEL_KIND: &str = "leither/parcel";
/// The app-message kind of a parcel handed to a friend's node to keep for its
/// recipient ([`People::keep`]).
pub const KEEP_KIND: &str = "leither/parcel-keep";
/// How long one delivery attempt may take in all.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Publishing a topic message is tried this many times, every 0.5 s.
const PUBLISH_TRIES: usize = 20;
/// How long the nodes found for a user are trusted before they are looked up again.
const CACHE_FOR: Duration = Duration::from_secs(60);

/// Members other than admins that keep an org's record on the DHT each re-publish
/// period (admins always do).
pub const ORG_KEEPERS: usize = 3;

/// Whether this user's node publishes `org`'s record now. Admins always: they make the
/// changes and publish them. On the re-publish period (`on_change` false) also
/// [`ORG_KEEPERS`] members picked by a hash of org, period and user, so the record
/// outlives offline admins while an org of N members costs a few DHT puts per change
/// or period, not N.
pub fn publishes_org(
    view: &crate::org::OrgView,
    me: &UserId,
    period: u64,
    on_change: bool,
) -> bool {
    if view.admins.contains(me) {
        return true;
    }
    if on_change {
        return false;
    }
    let mut others: Vec<UserId> = view
        .members
        .iter()
        .map(|m| m.user)
        .filter(|u| !view.admins.contains(u))
        .collect();
    others.sort_by_cached_key(|u| {
        let mut h = blake3::Hasher::new();
        h.update(view.org.as_bytes());
        h.update(&period.to_le_bytes());
        h.update(u.as_bytes());
        *h.finalize().as_bytes()
    });
    others.iter().take(ORG_KEEPERS).any(|u| u == me)
}

/// The gossipsub topic of an org's records.
pub fn org_topic(org: &OrgId) -> String {
    format!("leither/org/{org}")
}

/// Nodes found per user, and when.
type NodeCache = HashMap<UserId, (Instant, Vec<NodeId>)>;

/// [`Courier`] over a running network.
#[derive(Clone)]
pub struct NetCourier {
    net: NetHandle,
    people: People,
    nodes: Arc<Mutex<NodeCache>>,
}

impl NetCourier {
    /// While the network's sync is paused ([`NetHandle::sync_paused`]) nothing is sent
    /// or taken; parcels wait in the sender's queue.
    pub fn new(net: NetHandle, people: People) -> NetCourier {
        NetCourier {
            net,
            people,
            nodes: Arc::default(),
        }
    }

    fn check_paused(&self) -> Result<(), Unreachable> {
        if self.net.sync_paused() {
            Err(Unreachable("sync is paused".into()))
        } else {
            Ok(())
        }
    }

    /// Nodes of `user`: DHT providers of the user key whose signed node record holds a
    /// device certificate of `user`.
    async fn nodes_of(&self, user: &UserId) -> Vec<NodeId> {
        if let Some((at, n)) = self.lock().get(user)
            && at.elapsed() < CACHE_FOR
            && !n.is_empty()
        {
            return n.clone();
        }
        let records = self.net.nodes_of_user(user).await.unwrap_or_default();
        let connected = self.net.peers().await.unwrap_or_default();
        let mut found = Vec::new();
        for r in records {
            let node = r.node;
            let Ok(peer) = super::peer_id_of(&node) else {
                continue;
            };
            if !connected
                .iter()
                .any(|x| x.node == node.to_string() || x.node == peer.to_string())
            {
                for a in &r.addrs {
                    let a = if a.contains("/p2p/") {
                        a.clone()
                    } else {
                        format!("{a}/p2p/{peer}")
                    };
                    if self.net.dial(&a).await.is_ok() {
                        break;
                    }
                }
            }
            found.push(node);
        }
        if !found.is_empty() {
            self.lock().insert(*user, (Instant::now(), found.clone()));
        }
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NodeCache> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn deliver(
        &self,
        to: UserId,
        kind: &str,
        parcel: Vec<u8>,
    ) -> Result<Delivery, Unreachable> {
        self.check_paused()?;
        let nodes = self.nodes_of(&to).await;
        if nodes.is_empty() {
            return Err(Unreachable(format!("no node of {to} found")));
        }
        let mut last = String::new();
        for n in nodes {
            match tokio::time::timeout(SEND_TIMEOUT, self.net.send(&n, kind, parcel.clone())).await
            {
                Ok(Ok(reply)) => match Answer::decode(&reply) {
                    Answer::Ok => return Ok(Delivery::Accepted),
                    Answer::Refused(why) => return Ok(Delivery::Refused(why)),
                    Answer::Retry(why) => last = format!("{n}: {why}"),
                },
                Ok(Err(e)) => last = format!("{n}: {e}"),
                Err(_) => last = format!("{n}: no answer in {SEND_TIMEOUT:?}"),
            }
        }
        // Look the user's nodes up again next time: an address may have changed.
        self.lock().remove(&to);
        Err(Unreachable(last))
    }
}

impl Courier for NetCourier {
    fn send(
        &self,
        to: UserId,
        parcel: Vec<u8>,
    ) -> CourierFuture<'_, Result<Delivery, Unreachable>> {
        Box::pin(self.deliver(to, PARCEL_KIND, parcel))
    }

    fn hand_over(
        &self,
        keeper: UserId,
        parcel: Vec<u8>,
    ) -> CourierFuture<'_, Result<Delivery, Unreachable>> {
        Box::pin(self.deliver(keeper, KEEP_KIND, parcel))
    }

    fn publish(&self, org: OrgId, parcel: Vec<u8>) -> CourierFuture<'_, Result<(), Unreachable>> {
        Box::pin(async move {
            self.check_paused()?;
            let topic = org_topic(&org);
            if self.net.publish(&topic, parcel.clone()).await.is_ok() {
                return Ok(());
            }
            // Typically no subscribed peer known yet (just started or reconnected):
            // try again for a few seconds in the background, not holding up the pump.
            let net = self.net.clone();
            tokio::spawn(async move {
                for _ in 0..PUBLISH_TRIES {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    match net.publish(&topic, parcel.clone()).await {
                        Ok(()) => return,
                        Err(super::NetError::NotRunning) => return,
                        Err(e) => tracing::debug!(%topic, "courier: publish: {e}"),
                    }
                }
            });
            Ok(())
        })
    }

    fn unsubscribe(&self, org: OrgId) {
        let net = self.net.clone();
        tokio::spawn(async move { net.unsubscribe(&org_topic(&org)).await });
    }

    fn subscribe(&self, org: OrgId) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut rx = match me.net.subscribe_validated(&org_topic(&org)).await {
                Ok(rx) => rx,
                Err(e) => {
                    tracing::warn!(%org, "courier: subscribe: {e}");
                    return;
                }
            };
            loop {
                let msg = tokio::select! {
                    _ = me.net.closed() => return,
                    m = rx.recv() => m,
                };
                match msg {
                    // Paused: not taken (caught up on resume, see `catch_up_on_return`).
                    Ok(m) if me.net.sync_paused() => {
                        me.net.validated(&m, super::Verdict::Ignore).await
                    }
                    Ok(m) => {
                        let p = me.people.clone();
                        let data = m.data.clone();
                        let r = tokio::task::spawn_blocking(move || p.receive(&data)).await;
                        // Forged, tampered or non-member posts are rejected, which
                        // lowers the forwarding peer's gossipsub score.
                        let verdict = match r {
                            Ok(r) => match Answer::of(r) {
                                Answer::Ok => super::Verdict::Accept,
                                Answer::Refused(why) => {
                                    tracing::info!(%org, from = ?m.from, "courier: topic parcel rejected: {why}");
                                    super::Verdict::Reject
                                }
                                Answer::Retry(why) => {
                                    tracing::warn!(%org, "courier: topic parcel not stored: {why}");
                                    super::Verdict::Ignore
                                }
                            },
                            Err(_) => super::Verdict::Ignore,
                        };
                        me.net.validated(&m, verdict).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(%org, "courier: {n} topic messages lagged")
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

/// What a node answers to a parcel.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Refused(String),
    Retry(String),
}

impl Answer {
    fn encode(&self) -> Vec<u8> {
        match self {
            Answer::Ok => b"ok".to_vec(),
            Answer::Refused(w) => format!("refused:{w}").into_bytes(),
            Answer::Retry(w) => format!("retry:{w}").into_bytes(),
        }
    }

    fn decode(b: &[u8]) -> Answer {
        let s = String::from_utf8_lossy(b);
        if s == "ok" {
            Answer::Ok
        } else if let Some(w) = s.strip_prefix("refused:") {
            Answer::Refused(w.to_string())
        } else if let Some(w) = s.strip_prefix("retry:") {
            Answer::Retry(w.to_string())
        } else {
            Answer::Retry(format!("unexpected answer {s:?}"))
        }
    }

    fn of(r: Result<(), PeopleError>) -> Answer {
        match r {
            Ok(()) => Answer::Ok,
            Err(
                e @ (PeopleError::Mimei(_) | PeopleError::Identity(_) | PeopleError::NoKey { .. }),
            ) => Answer::Retry(e.to_string()),
            Err(e) => Answer::Refused(e.to_string()),
        }
    }
}

/// Run the people service over `net`: the pump (retrying every `retry_every`) and the
/// inbound loop. While sync is paused, parcels are neither sent nor taken (senders
/// keep them and retry). Both end when the network stops; await the handles to know they
/// released the node.
pub fn start(net: NetHandle, people: People, retry_every: Duration) -> Vec<JoinHandle<()>> {
    let courier = NetCourier::new(net.clone(), people.clone());
    let mut tasks = Vec::new();
    if let Some(mut inbound) = net.inbound() {
        let p = people.clone();
        let n = net.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = n.closed() => return,
                    m = inbound.recv() => match m { Some(m) => m, None => return },
                };
                let keep = match msg.kind.as_str() {
                    PARCEL_KIND => false,
                    KEEP_KIND => true,
                    _ => continue, // dropping the reply answers with an error
                };
                let p = p.clone();
                let paused = n.sync_paused();
                tokio::spawn(async move {
                    let answer = if paused {
                        Answer::Retry("sync is paused".into())
                    } else if msg.body.len() > MAX_PARCEL_BYTES {
                        Answer::Refused("parcel too large".into())
                    } else {
                        let body = msg.body;
                        let r = tokio::task::spawn_blocking(move || {
                            if keep { p.keep(&body) } else { p.receive(&body) }
                        });
                        match r.await {

                            Ok(r) => Answer::of(r),
                            Err(e) => Answer::Retry(e.to_string()),
                        }
                    };
                    if let Answer::Refused(why) = &answer {
                        tracing::info!(node = %msg.node, user = %msg.user, "courier: parcel refused: {why}");
                    }
                    let _ = msg.reply.send(answer.encode());
                });
            }
        }));
    } else {
        tracing::warn!("courier: the network's inbound messages are taken by someone else");
    }
    tasks.push(tokio::spawn(publish_orgs(net.clone(), people.clone())));
    tasks.push(tokio::spawn(publish_profile(net.clone(), people.clone())));
    tasks.push(tokio::spawn(catch_up_on_return(
        net.clone(),
        people.clone(),
    )));
    let n = net.clone();
    tasks.push(tokio::spawn(async move {
        let pump = crate::people::pump_every(people, Arc::new(courier), retry_every);
        tokio::select! {
            _ = n.closed() => {}
            _ = pump => {}
        }
    }));
    tasks
}

/// How often [`catch_up_on_return`] looks at the connection state.
const RETURN_CHECK: Duration = Duration::from_secs(2);

/// Whenever this node comes back — its first peer after none (start, network lost and
/// found, a laptop waking up) or sync resumed — send what waits at once and ask the
/// members of this user's orgs for the chat it missed. Without it a node cut off while
/// running would wait for its next retry, and catch up only at its next start.
async fn catch_up_on_return(net: NetHandle, people: People) {
    let mut online = false;
    loop {
        tokio::select! {
            _ = net.closed() => return,
            _ = tokio::time::sleep(RETURN_CHECK) => {}
        }
        let now = !net.sync_paused() && net.peers().await.is_ok_and(|p| !p.is_empty());
        if now && !online {
            let p = people.clone();
            let r = tokio::task::spawn_blocking(move || p.requeue().and(p.catch_up()));
            if let Ok(Err(e)) = r.await {
                tracing::warn!("courier: catch-up failed: {e}");
            }
        }
        online = now;
    }
}

/// How often the profile is checked for a change to publish.
const PROFILE_CHECK: Duration = Duration::from_secs(2);

/// Keep this user's public profile on the DHT ([`NetHandle::publish_profile`]): when
/// it changes (checked every [`PROFILE_CHECK`]), and with each re-publish period.
async fn publish_profile(net: NetHandle, people: People) {
    let mut published: Option<(String, String)> = None;
    let mut at = Instant::now();
    let republish = Duration::from_millis(records::REPUBLISH_MS);
    // After a failed publish (no peer yet), wait longer each time, up to 30 s.
    let mut wait = PROFILE_CHECK;
    loop {
        let p = people.clone();
        if let Ok(Ok(profile)) = tokio::task::spawn_blocking(move || p.social().profile()).await {
            let now = (profile.name, profile.bio);
            if published.as_ref() != Some(&now) || at.elapsed() > republish {
                match net
                    .publish_profile(&now.0, &now.1, people.encryption_key())
                    .await
                {
                    Ok(n) if n > 0 => {
                        published = Some(now);
                        at = Instant::now();
                        wait = PROFILE_CHECK;
                    }
                    Ok(_) => {
                        tracing::debug!("courier: profile stored nowhere yet");
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                    Err(super::NetError::NotRunning) => return,
                    Err(e) => {
                        tracing::debug!("courier: publish profile: {e}");
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
        tokio::select! {
            _ = net.closed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Keep the public records of this user's orgs on the DHT ([`NetHandle::publish_org`]):
/// at start, when an org's charter, info or members change, and with each re-publish
/// period, so anyone can find an org by its ID alone — as far as [`publishes_org`]
/// makes this node one of the org's publishers.
async fn publish_orgs(net: NetHandle, people: People) {
    let mut events = people.subscribe();
    let mut every = tokio::time::interval(Duration::from_millis(records::REPUBLISH_MS));
    loop {
        let only = tokio::select! {
            _ = net.closed() => return,
            _ = every.tick() => None,
            e = events.recv() => match e {
                Ok(e) if matches!(e.change, OrgChange::Created | OrgChange::Joined | OrgChange::Members | OrgChange::Info) => Some(e.org),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let p = people.clone();
        let found = tokio::task::spawn_blocking(move || {
            let orgs = match only {
                Some(o) => vec![o],
                None => p.topics()?,
            };
            let period = records::now_ms() / records::REPUBLISH_MS;
            let mut out = Vec::new();
            for org in orgs {
                let view = p.orgs().view(&org)?;
                if !publishes_org(&view, &p.me(), period, only.is_some()) {
                    continue;
                }
                if let Some(parts) = p.orgs().public_records(&org)? {
                    out.push((org, parts));
                }
            }
            Ok::<_, PeopleError>(out)
        })
        .await;
        let Ok(Ok(found)) = found else { continue };
        for (org, [charter, info, members]) in found {
            let net = net.clone();
            // Just after start no peer may be known yet: try for a while.
            tokio::spawn(async move {
                for _ in 0..PUBLISH_TRIES {
                    match net
                        .publish_org(&org, charter.clone(), info.clone(), members.clone())
                        .await
                    {
                        Ok(n) if n > 0 => return,
                        Ok(_) => tracing::debug!(%org, "courier: org record stored nowhere yet"),
                        Err(super::NetError::NotRunning) => return,
                        Err(e) => tracing::debug!(%org, "courier: publish org record: {e}"),
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn an_org_record_is_published_by_its_admins_and_three_members_a_period() {
        use crate::org::{Member, OrgRole, OrgView};
        let id = |i: u8| UserId::from_bytes([i; 32]);
        let view = OrgView {
            org: OrgId::from_bytes([7; 32]),
            name: "Club".into(),
            about: String::new(),
            apps: vec![],
            creator: id(0),
            admins: vec![id(0), id(1)],
            my_role: None,
            members: (0..20)
                .map(|i| Member {
                    user: id(i),
                    name: String::new(),
                    role: if i < 2 {
                        OrgRole::Admin
                    } else {
                        OrgRole::Member
                    },
                    enc: crate::identity::EncryptionPublicKey::from_bytes([i; 32]),
                })
                .collect(),
            applications: vec![],
        };
        let who = |period: u64, on_change: bool| -> Vec<u8> {
            (0..20)
                .filter(|i| publishes_org(&view, &id(*i), period, on_change))
                .collect()
        };
        assert_eq!(who(1, true), [0, 1], "a change: the admins");
        let (a, b) = (who(1, false), who(2, false));
        assert_eq!((a.len(), b.len()), (5, 5), "the admins and three members");
        assert!(a.starts_with(&[0, 1]) && b.starts_with(&[0, 1]));
        assert_eq!(
            a,
            who(1, false),
            "every member's node agrees on the period's three"
        );
        assert!(
            (3..40).any(|p| who(p, false) != a),
            "the three change from period to period"
        );
    }

    #[test]
    fn answers_round_trip() {
        for a in [
            Answer::Ok,
            Answer::Refused("bad".into()),
            Answer::Retry("disk".into()),
        ] {
            assert_eq!(Answer::decode(&a.encode()), a);
        }
        assert!(matches!(Answer::decode(b"??"), Answer::Retry(_)));
    }
}

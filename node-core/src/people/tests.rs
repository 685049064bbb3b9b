//! Unit tests of the service, sans-IO: several `People` in one process, each one's
//! outgoing parcels handed (as bytes) to the others' `receive`. No network is involved;
//! the multi-node tests over the real network come with `net`.

use super::*;
use crate::identity::{IdentityOptions, KdfParams, KeyBackend};
use crate::social::MessageStatus;
use crate::store::{Store, StoreConfig};

struct User {
    dir: tempfile::TempDir,
    keys: Arc<Identity>,
    people: People,
    online: std::cell::Cell<bool>,
}

fn open_people(dir: &std::path::Path, keys: Arc<Identity>) -> People {
    let store = Store::open(&dir.join("store"), &StoreConfig::default()).unwrap();
    People::open(Mimeis::new(store), keys).unwrap()
}

fn user(name: &str) -> User {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = IdentityOptions::new(KeyBackend::File);
    opts.kdf = KdfParams::INSECURE_FAST_FOR_TESTS;
    let (id, _) = Identity::create(dir.path(), &opts, |_| Ok("pw".into())).unwrap();
    let keys = Arc::new(id);
    let people = open_people(dir.path(), keys.clone());
    people.social().set_profile(name, "").unwrap();
    User {
        dir,
        keys,
        people,
        online: std::cell::Cell::new(true),
    }
}

impl User {
    fn id(&self) -> UserId {
        self.people.me()
    }

    /// The org chat texts this user's node holds, oldest first.
    fn chat(&self, org: &OrgId) -> Vec<String> {
        self.people
            .orgs()
            .history(org, None, 100)
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .collect()
    }
}

/// Move parcels until none are left. Parcels for an offline user stay undelivered
/// (kept ones remain in the sender's queue for `requeue`). Returns refusals.
fn deliver(users: &[&User]) -> Vec<String> {
    let mut refusals = Vec::new();
    loop {
        let mut moved = false;
        for from in users {
            for o in from.people.take_outgoing() {
                moved = true;
                match o.to {
                    Target::User(to) => {
                        let Some(u) = users.iter().find(|u| u.id() == to && u.online.get()) else {
                            continue;
                        };
                        if let Err(e) = u.people.receive(&o.parcel) {
                            refusals.push(e.to_string());
                        }
                        from.people.delivered(&o).unwrap();
                    }
                    Target::Org(org) => {
                        for u in users.iter().filter(|u| {
                            u.id() != from.id()
                                && u.online.get()
                                && u.people.topics().unwrap().contains(&org)
                        }) {
                            if let Err(e) = u.people.receive(&o.parcel) {
                                refusals.push(e.to_string());
                            }
                        }
                    }
                }
            }
        }
        if !moved {
            return refusals;
        }
    }
}

/// `admin` makes an org; each of `members` applies with its invite and is approved.
fn org_with(admin: &User, members: &[&User], all: &[&User]) -> OrgId {
    let org = admin.people.create_org("Club", "").unwrap().org;
    for u in members {
        let inv = admin.people.org_invite(&org).unwrap();
        u.people.apply(Some(&inv), None, None, "").unwrap();
        deliver(all);
        admin
            .people
            .set_member(&org, &u.id(), Some(OrgRole::Member))
            .unwrap();
        deliver(all);
    }
    org
}

fn befriend(a: &User, b: &User) {
    let inv = b.people.invite().unwrap();
    let who = People::parse_invite(&inv).unwrap();
    assert_eq!(who.user, b.id());
    a.people.request_friend(&who.user, "hello").unwrap();
    deliver(&[a, b]);
    b.people.answer(&a.id(), true).unwrap();
    deliver(&[a, b]);
    assert_eq!(
        a.people.social().friend(&b.id()).unwrap().unwrap().state,
        FriendState::Friend
    );
}

#[test]
fn friends_by_invite_messages_both_ways_with_receipts() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    befriend(&alice, &bob);
    let m = alice.people.send_message(&bob.id(), "hi Bob").unwrap();
    deliver(&[&alice, &bob]);
    bob.people.send_message(&alice.id(), "hi Alice").unwrap();
    deliver(&[&alice, &bob]);
    let conv = bob.people.conversation(&alice.id(), None, 10).unwrap();
    assert_eq!(
        conv.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["hi Bob", "hi Alice"]
    );
    // Bob's node confirmed delivery; once he reads, Alice sees "read".
    let status = |u: &User, id| {
        u.people
            .conversation(&bob.id(), None, 10)
            .unwrap()
            .into_iter()
            .find(|x| x.id == id)
            .unwrap()
            .status
    };
    assert_eq!(status(&alice, m.id), MessageStatus::Delivered);
    let c = bob.people.conversations().unwrap();
    assert_eq!((c.len(), c[0].unread), (1, 1));
    bob.people.mark_read(&alice.id()).unwrap();
    deliver(&[&alice, &bob]);
    assert_eq!(status(&alice, m.id), MessageStatus::Read);
    assert!(alice.people.social().outbox().unwrap().is_empty());
}

#[test]
fn offline_friend_gets_queued_messages_in_order_exactly_once() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    befriend(&alice, &bob);
    bob.online.set(false);
    for t in ["one", "two", "three"] {
        alice.people.send_message(&bob.id(), t).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    deliver(&[&alice, &bob]);
    assert_eq!(alice.people.social().outbox().unwrap().len(), 3);
    bob.online.set(true);
    // Two retry rounds: the second sends nothing new to Bob's conversation.
    alice.people.requeue().unwrap();
    deliver(&[&alice, &bob]);
    alice.people.requeue().unwrap();
    deliver(&[&alice, &bob]);
    let got: Vec<String> = bob
        .people
        .conversation(&alice.id(), None, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(got, ["one", "two", "three"]);
    assert!(alice.people.social().outbox().unwrap().is_empty());
}

#[test]
fn friend_request_to_an_offline_user_survives_a_restart() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    bob.online.set(false);
    alice.people.request_friend(&bob.id(), "hi").unwrap();
    deliver(&[&alice, &bob]);
    // Alice's node restarts: the request is still queued in her courier Mimei.
    let User {
        dir, keys, people, ..
    } = alice;
    drop(people);
    let alice = User {
        people: open_people(dir.path(), keys.clone()),
        dir,
        keys,
        online: std::cell::Cell::new(true),
    };
    assert_eq!(
        alice
            .people
            .social()
            .friend(&bob.id())
            .unwrap()
            .unwrap()
            .state,
        FriendState::Outgoing,
        "the friend list is in the user's Mimei"
    );
    bob.online.set(true);
    assert_eq!(alice.people.requeue().unwrap(), 1);
    deliver(&[&alice, &bob]);
    assert_eq!(
        bob.people
            .social()
            .friend(&alice.id())
            .unwrap()
            .unwrap()
            .state,
        FriendState::Incoming
    );
    // Delivered: nothing left to retry.
    assert_eq!(alice.people.requeue().unwrap(), 0);
}

#[test]
fn org_apply_through_a_member_approve_chat_catch_up() {
    let (alice, bob, carol) = (user("Alice"), user("Bob"), user("Carol"));
    let all = [&alice, &bob, &carol];
    let org = alice.people.create_org("Garden club", "").unwrap().org;
    // Carol joins with Alice's invite.
    let inv = alice.people.org_invite(&org).unwrap();
    carol.people.apply(Some(&inv), None, None, "me").unwrap();
    deliver(&all);
    assert_eq!(
        alice.people.orgs().view(&org).unwrap().applications.len(),
        1
    );
    alice
        .people
        .set_member(&org, &carol.id(), Some(OrgRole::Member))
        .unwrap();
    deliver(&all);
    assert_eq!(
        carol.people.orgs().view(&org).unwrap().my_role,
        Some(OrgRole::Member)
    );
    // Bob applies through Carol (not an admin): she forwards it to Alice.
    let inv = carol.people.org_invite(&org).unwrap();
    assert_eq!(People::parse_org_invite(&inv).unwrap().1, carol.id());
    bob.people.apply(Some(&inv), None, None, "hi").unwrap();
    deliver(&all);
    alice
        .people
        .set_member(&org, &bob.id(), Some(OrgRole::Member))
        .unwrap();
    deliver(&all);
    // All three chat; Carol is offline for Bob's message and catches up.
    alice.people.chat(&org, "welcome").unwrap();
    deliver(&all);
    carol.online.set(false);
    std::thread::sleep(Duration::from_millis(2));
    bob.people.chat(&org, "thanks").unwrap();
    deliver(&all);
    carol.online.set(true);
    assert_eq!(carol.people.history(&org, None, 10).unwrap().len(), 1);
    carol.people.catch_up().unwrap();
    deliver(&all);
    assert_eq!(carol.chat(&org), ["welcome", "thanks"]);
    // Paging backwards.
    let last = carol.people.history(&org, None, 1).unwrap();
    assert_eq!(last[0].text, "thanks");
    let older = carol.people.history(&org, Some(last[0].time), 10).unwrap();
    assert_eq!(older[0].text, "welcome");
}

#[test]
fn outsiders_forgeries_and_tampering_are_refused() {
    let (alice, bob, mallory) = (user("Alice"), user("Bob"), user("Mallory"));
    let org = alice.people.create_org("Club", "").unwrap().org;
    let _ = alice.people.take_outgoing();
    // A non-member cannot post or read.
    assert!(matches!(
        mallory.people.chat(&org, "hi"),
        Err(PeopleError::Org(OrgError::Unknown(_)))
    ));
    let inv = alice.people.org_invite(&org).unwrap();
    mallory.people.apply(Some(&inv), None, None, "").unwrap();
    let _ = mallory.people.take_outgoing();
    assert!(matches!(
        mallory.people.history(&org, None, 10),
        Err(PeopleError::Org(OrgError::NotMember(_)))
    ));
    // A DM to a non-friend is refused before anything is sent.
    assert!(matches!(
        alice.people.send_message(&bob.id(), "hi"),
        Err(PeopleError::Social(SocialError::NotAFriend(_)))
    ));
    // Tampering with a parcel's body breaks it.
    alice.people.request_friend(&bob.id(), "hi").unwrap();
    let mut o = alice.people.take_outgoing().pop().unwrap();
    let n = o.parcel.len();
    o.parcel[n - 3] ^= 1;
    assert!(matches!(
        bob.people.receive(&o.parcel),
        Err(PeopleError::Rejected(_))
    ));
    // A parcel for Bob handed to Mallory is refused by her node.
    alice.people.request_friend(&bob.id(), "hi").unwrap();
    let o = alice.people.take_outgoing().pop().unwrap();
    assert!(matches!(
        mallory.people.receive(&o.parcel),
        Err(PeopleError::Rejected(_))
    ));
    assert!(bob.people.receive(&o.parcel).is_ok());
    // Garbage and oversized input.
    assert!(bob.people.receive(b"garbage").is_err());
    assert!(matches!(
        alice
            .people
            .send_message(&bob.id(), &"x".repeat(MAX_TEXT_LEN + 1)),
        Err(PeopleError::TooLarge { .. })
    ));
    assert!(People::parse_invite("leither:friend:AAAA").is_err());
    assert!(
        People::parse_org_invite(&People::parse_invite("x").err().unwrap().to_string()).is_err()
    );
}

#[test]
fn a_long_history_is_sent_in_parts_and_caught_up_whole() {
    let (alice, carol) = (user("Alice"), user("Carol"));
    let all = [&alice, &carol];
    let org = org_with(&alice, &[&carol], &all);
    carol.online.set(false);
    let text = "y".repeat(7000);
    let n = 100; // ~700 KiB of signed messages: more than two parts
    for _ in 0..n {
        alice.people.chat(&org, &text).unwrap();
    }
    deliver(&all);
    carol.online.set(true);
    carol.people.catch_up().unwrap();
    // Alice answers the request with several parts.
    for o in carol.people.take_outgoing() {
        alice.people.receive(&o.parcel).unwrap();
    }
    let parts = alice.people.take_outgoing();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert!(
        parts
            .iter()
            .all(|p| p.parcel.len() < HISTORY_PART_BYTES + 16 * 1024)
    );
    for o in &parts {
        carol.people.receive(&o.parcel).unwrap();
    }
    assert_eq!(carol.people.history(&org, None, 1000).unwrap().len(), n);
}

/// A courier over a table of in-process services, to test what `pump` does with the
/// answers a courier gives (delivered, refused, unreachable). Not a network.
struct TableCourier {
    peers: Vec<(People, Arc<std::sync::atomic::AtomicBool>)>,
    subscribed: Mutex<Vec<OrgId>>,
}

impl TableCourier {
    /// What `user`'s service says to a parcel, if that user is known and online.
    fn hand(
        &self,
        user: UserId,
        take: impl Fn(&People) -> Result<()>,
    ) -> Result<Delivery, Unreachable> {
        let Some((p, online)) = self.peers.iter().find(|(p, _)| p.me() == user) else {
            return Err(Unreachable("unknown user".into()));
        };
        if !online.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Unreachable("offline".into()));
        }
        Ok(match take(p) {
            Ok(()) => Delivery::Accepted,
            Err(e) => Delivery::Refused(e.to_string()),
        })
    }
}

impl Courier for TableCourier {
    fn send(
        &self,
        to: UserId,
        parcel: Vec<u8>,
    ) -> CourierFuture<'_, Result<Delivery, Unreachable>> {
        Box::pin(async move { self.hand(to, |p| p.receive(&parcel)) })
    }

    fn hand_over(
        &self,
        keeper: UserId,
        parcel: Vec<u8>,
    ) -> CourierFuture<'_, Result<Delivery, Unreachable>> {
        Box::pin(async move { self.hand(keeper, |p| p.keep(&parcel)) })
    }

    fn publish(&self, _org: OrgId, parcel: Vec<u8>) -> CourierFuture<'_, Result<(), Unreachable>> {
        Box::pin(async move {
            for (p, online) in &self.peers {
                if online.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = p.receive(&parcel);
                }
            }
            Ok(())
        })
    }

    fn subscribe(&self, org: OrgId) {
        self.subscribed.lock().unwrap().push(org);
    }

    fn unsubscribe(&self, org: OrgId) {
        self.subscribed.lock().unwrap().retain(|o| *o != org);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pump_sends_retries_until_taken_and_subscribes() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    befriend(&alice, &bob);
    let org = alice.people.create_org("Club", "").unwrap().org;
    let _ = alice.people.take_outgoing();
    let bob_online = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let alice_online = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let to_bob = Arc::new(TableCourier {
        peers: vec![(bob.people.clone(), bob_online.clone())],
        subscribed: Mutex::new(Vec::new()),
    });
    let to_alice = Arc::new(TableCourier {
        peers: vec![(alice.people.clone(), alice_online)],
        subscribed: Mutex::new(Vec::new()),
    });
    let tick = Duration::from_millis(100);
    let a = tokio::spawn(pump_every(alice.people.clone(), to_bob.clone(), tick));
    let b = tokio::spawn(pump_every(bob.people.clone(), to_alice.clone(), tick));

    alice
        .people
        .send_message(&bob.id(), "while you were out")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        bob.people
            .conversation(&alice.id(), None, 10)
            .unwrap()
            .is_empty()
    );
    bob_online.store(true, std::sync::atomic::Ordering::SeqCst);
    // Retried on the next tick; Bob's receipt comes back through his pump.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !alice.people.social().outbox().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = bob.people.conversation(&alice.id(), None, 10).unwrap();
    assert_eq!(got.len(), 1, "exactly once despite retries");
    assert_eq!(*to_bob.subscribed.lock().unwrap(), vec![org]);

    // Bob joins the org: his pump listens on its topic; removed, it leaves it.
    async fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let inv = alice.people.org_invite(&org).unwrap();
    bob.people.apply(Some(&inv), None, None, "").unwrap();
    until("Bob's application", || {
        alice.people.orgs().view(&org).unwrap().applications.len() == 1
    })
    .await;
    alice
        .people
        .set_member(&org, &bob.id(), Some(OrgRole::Member))
        .unwrap();
    until("Bob listens on the org topic", || {
        *to_alice.subscribed.lock().unwrap() == [org]
    })
    .await;
    alice.people.set_member(&org, &bob.id(), None).unwrap();
    until("Bob left the org topic", || {
        to_alice.subscribed.lock().unwrap().is_empty()
    })
    .await;
    a.abort();
    b.abort();
}

#[test]
fn a_friend_keeps_parcels_only_between_its_friends_and_each_once() {
    let (alice, bob, carol, dave) = (user("Alice"), user("Bob"), user("Carol"), user("Dave"));
    befriend(&alice, &bob);
    befriend(&alice, &carol);
    let dm = |text: &str| {
        alice.people.send_message(&bob.id(), text).unwrap();
        alice.people.take_outgoing().pop().unwrap().parcel
    };
    let first = dm("one");
    // Carol is Alice's friend but not Bob's: she does not keep it.
    assert!(matches!(
        carol.people.keep(&first),
        Err(PeopleError::Rejected(_))
    ));
    befriend(&carol, &bob);
    carol.people.keep(&first).unwrap();
    // The same message sent again (a new parcel, same body) is kept once.
    alice.people.requeue().unwrap();
    let again = alice
        .people
        .take_outgoing()
        .into_iter()
        .find(|o| o.to == Target::User(bob.id()))
        .unwrap()
        .parcel;
    assert_ne!(again, first);
    carol.people.keep(&again).unwrap();
    assert_eq!(carol.people.kept().unwrap(), 1);
    // A tampered parcel and a stranger's parcel are refused.
    let mut bad = first.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(carol.people.keep(&bad).is_err());
    befriend(&dave, &bob);
    dave.people.send_message(&bob.id(), "hi").unwrap();
    let from_dave = dave.people.take_outgoing().pop().unwrap().parcel;
    assert!(carol.people.keep(&from_dave).is_err());
    // Carol sends it on; Bob stores it once although two copies reach him.
    let out = carol.people.take_outgoing();
    assert_eq!(out.len(), 1);
    bob.people.receive(&out[0].parcel).unwrap();
    bob.people.receive(&again).unwrap();
    carol.people.delivered(&out[0]).unwrap();
    assert_eq!(carol.people.kept().unwrap(), 0);
    let got = bob.people.conversation(&alice.id(), None, 10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutual_friend_delivers_while_the_sender_is_offline() {
    let (alice, bob, carol) = (user("Alice"), user("Bob"), user("Carol"));
    befriend(&alice, &bob);
    befriend(&alice, &carol);
    befriend(&bob, &carol);
    let online = |on: bool| Arc::new(std::sync::atomic::AtomicBool::new(on));
    let (alice_on, bob_on, carol_on) = (online(true), online(false), online(true));
    let table = |ps: Vec<(&User, &Arc<std::sync::atomic::AtomicBool>)>| {
        Arc::new(TableCourier {
            peers: ps
                .into_iter()
                .map(|(u, o)| (u.people.clone(), o.clone()))
                .collect(),
            subscribed: Mutex::new(Vec::new()),
        })
    };
    let tick = Duration::from_millis(100);
    let a = tokio::spawn(pump_every(
        alice.people.clone(),
        table(vec![(&bob, &bob_on), (&carol, &carol_on)]),
        tick,
    ));
    let c = tokio::spawn(pump_every(
        carol.people.clone(),
        table(vec![(&bob, &bob_on), (&alice, &alice_on)]),
        tick,
    ));
    for i in 1..=3 {
        alice
            .people
            .send_message(&bob.id(), &format!("m{i}"))
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while carol.people.kept().unwrap() < 3 {
        assert!(std::time::Instant::now() < deadline, "Carol keeps nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Alice goes offline (her pump stops); Bob comes back and gets all from Carol.
    a.abort();
    alice_on.store(false, std::sync::atomic::Ordering::SeqCst);
    bob_on.store(true, std::sync::atomic::Ordering::SeqCst);
    let texts = || -> Vec<String> {
        bob.people
            .conversation(&alice.id(), None, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect()
    };
    while texts().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered by Carol"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(texts(), ["m1", "m2", "m3"]);
    while carol.people.kept().unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "Carol still keeps them"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.abort();
}

#[test]
fn org_topic_is_unreadable_without_the_chat_key_and_a_removed_member_loses_it() {
    let (alice, bob, carol) = (user("Alice"), user("Bob"), user("Carol"));
    let all = [&alice, &bob, &carol];
    let org = org_with(&alice, &[&bob, &carol], &all);
    let chat = |from: &User, text: &str| {
        from.people.chat(&org, text).unwrap();
        let out = from.people.take_outgoing();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to, Target::Org(org));
        out.into_iter().next().unwrap().parcel
    };
    let p = chat(&alice, "members only");
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&p, b"members only"), "chat travels encrypted");
    bob.people.receive(&p).unwrap();
    carol.people.receive(&p).unwrap();
    // An outsider cannot open it (and is not blamed for it: no key, not a forgery).
    let dave = user("Dave");
    assert!(matches!(
        dave.people.receive(&p),
        Err(PeopleError::NoKey { .. }) | Err(PeopleError::Rejected(_))
    ));

    // Carol is removed: Alice and Bob move to a new key Carol never gets.
    alice.people.set_member(&org, &carol.id(), None).unwrap();
    deliver(&all);
    assert_eq!(carol.people.orgs().view(&org).unwrap().my_role, None);
    let p = chat(&alice, "after Carol left");
    assert!(matches!(
        carol.people.receive(&p),
        Err(PeopleError::NoKey { epoch: 2, .. })
    ));
    bob.people.receive(&p).unwrap();
    assert_eq!(bob.chat(&org), ["members only", "after Carol left"]);
    assert_eq!(carol.chat(&org), ["members only"]);
    // Bob (still a member) posts under the new key; Alice reads it.
    let p = chat(&bob, "still here");
    alice.people.receive(&p).unwrap();
    assert_eq!(alice.chat(&org).last().unwrap(), "still here");
}

#[test]
fn a_post_made_before_the_chat_key_arrived_waits_for_it() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    let org = alice.people.create_org("Club", "").unwrap().org;
    let inv = alice.people.org_invite(&org).unwrap();
    bob.people.apply(Some(&inv), None, None, "").unwrap();
    deliver(&[&alice, &bob]);
    alice
        .people
        .set_member(&org, &bob.id(), Some(OrgRole::Member))
        .unwrap();
    // The new member list reaches Bob before the sealed chat key does.
    let mut out = alice.people.take_outgoing();
    let members = out.pop().unwrap();
    assert_eq!(members.to, Target::User(bob.id()));
    bob.people.receive(&members.parcel).unwrap();
    assert_eq!(
        bob.people.orgs().view(&org).unwrap().my_role,
        Some(OrgRole::Member)
    );
    assert!(bob.people.orgs().chat_key(&org).unwrap().is_none());
    bob.people.chat(&org, "posted early").unwrap();
    assert!(
        bob.people
            .take_outgoing()
            .iter()
            .all(|o| o.to != Target::Org(org)),
        "nothing can go on the topic without the key"
    );
    // The rest arrives, the key with it: the post goes out and Alice reads it, once.
    for o in out.into_iter().filter(|o| o.to == Target::User(bob.id())) {
        bob.people.receive(&o.parcel).unwrap();
    }
    assert!(bob.people.orgs().chat_key(&org).unwrap().is_some());
    deliver(&[&alice, &bob]);
    assert_eq!(alice.chat(&org), ["posted early"]);
    // Nothing is left waiting: a later key (rotation) sends nothing again.
    bob.people.release_waiting(&org).unwrap();
    assert!(bob.people.take_outgoing().is_empty());
}

#[test]
fn a_catch_up_asks_three_members_heard_from_last_then_others() {
    let names = ["Alice", "Bob", "Carol", "Dan", "Erin", "Frank"];
    let users: Vec<User> = names.iter().map(|n| user(n)).collect();
    let all: Vec<&User> = users.iter().collect();
    let (alice, carol) = (&users[0], &users[2]);
    let org = org_with(alice, &all[1..], &all);
    assert!(
        !carol.people.ask_again().unwrap(),
        "the joining catch-ups were answered"
    );
    let others: Vec<&User> = all
        .iter()
        .copied()
        .filter(|u| u.id() != carol.id())
        .collect();

    // Dan, Erin and Frank post: Carol hears them, so they are whom she asks first.
    for (u, name) in users[3..].iter().zip(&names[3..]) {
        std::thread::sleep(Duration::from_millis(3));
        u.people.chat(&org, &format!("by {name}")).unwrap();
        deliver(&all);
    }
    // Carol misses a message. Her catch-up asks three of the five others, and only
    // those answer.
    carol.online.set(false);
    alice.people.chat(&org, "missed").unwrap();
    deliver(&all);
    carol.online.set(true);
    carol.people.catch_up().unwrap();
    let req = carol.people.take_outgoing();
    assert_eq!(req.len(), 1);
    let mut answered = Vec::new();
    for u in &others {
        u.people.receive(&req[0].parcel).unwrap();
        if u.people
            .take_outgoing()
            .iter()
            .any(|o| o.to == Target::User(carol.id()))
        {
            answered.push(u.id());
        }
    }
    assert_eq!(
        answered.iter().copied().collect::<HashSet<_>>(),
        users[3..].iter().map(|u| u.id()).collect::<HashSet<_>>(),
        "three members answer, not all five: the ones heard from last"
    );
    // Nobody's answer reached her: a new catch-up within ASK_WAIT sends nothing,
    // and after it the two members not asked yet are asked.
    carol.people.catch_up().unwrap();
    assert!(
        carol.people.take_outgoing().is_empty(),
        "one request at a time"
    );
    let later = now_ms() + ASK_WAIT.as_millis() as u64;
    for u in &others {
        u.online.set(!answered.contains(&u.id()));
    }
    assert!(carol.people.ask_again_at(later).unwrap());
    deliver(&all);
    assert_eq!(
        carol.chat(&org),
        ["by Dan", "by Erin", "by Frank", "missed"]
    );
    assert!(
        !carol.people.ask_again_at(later + 1).unwrap(),
        "answered: nothing waits"
    );

    // When no member answers at all, the round ends once all were asked.
    for u in &others {
        u.online.set(false);
    }
    carol.people.asking().unwrap().clear();
    carol.people.catch_up().unwrap();
    deliver(&all);
    let mut t = now_ms();
    let mut rounds = 0;
    while carol.people.ask_again_at(t).unwrap() {
        deliver(&all);
        t += ASK_WAIT.as_millis() as u64;
        rounds += 1;
        assert!(rounds < 5, "gives up after asking everyone");
    }
    assert_eq!(rounds, 2, "three, then the other two, then nobody is left");
}

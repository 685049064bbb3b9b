//! Friends, direct messages and orgs over the real network: Alice, Bob and Carol on
//! three in-process nodes (own data dir, identity, store, libp2p swarm on loopback),
//! each running the people service with the network courier (`net::courier::start`).
//! Nodes go offline by stopping their network and closing the node, and come back
//! from the same data dir.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use leither_core::config::Config;
use leither_core::identity::{
    Identity, IdentityOptions, KdfParams, KeyBackend, Passphrase, PassphrasePurpose, UserId,
};
use leither_core::net::{self, NetHandle};
use leither_core::node::Node;
use leither_core::org::OrgRole;
use leither_core::people::People;
use leither_core::social::FriendState;

fn pass(_: PassphrasePurpose) -> Result<Passphrase, leither_core::identity::IdentityError> {
    Ok(Passphrase::new("test passphrase"))
}

struct Peer {
    node: Node,
    net: NetHandle,
    people: People,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The sync pause switch (the gateway's `/api/v1/sync`).
    paused: Arc<AtomicBool>,
}

const RETRY: Duration = Duration::from_millis(500);

async fn start(dir: &Path, bootstrap: &[String], name: &str) -> Peer {
    let identity = if Identity::exists(dir) {
        Identity::load(dir, pass).unwrap()
    } else {
        let opts = IdentityOptions {
            backend: KeyBackend::File,
            device_name: name.into(),
            kdf: KdfParams::INSECURE_FAST_FOR_TESTS,
        };
        Identity::create(dir, &opts, pass).unwrap().0
    };
    let mut c = Config::default();
    c.net.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    c.net.mdns = false;
    c.net.bootstrap = bootstrap.to_vec();
    // The previous run of this node may take a moment to release its store.
    let deadline = Instant::now() + Duration::from_secs(10);
    let node = loop {
        match Node::open(dir, c.clone(), identity.public()) {
            Ok(n) => break n,
            Err(e) => {
                assert!(Instant::now() < deadline, "reopening {name}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let paused = Arc::new(AtomicBool::new(false));
    let net = net::start_with_pause(node.clone(), &identity, paused.clone())
        .await
        .unwrap();
    node.set_net(net.clone());
    let people = node.start_people(Arc::new(identity)).unwrap();
    if people.social().profile().unwrap().name != name {
        people.social().set_profile(name, "").unwrap();
    }
    let tasks = net::courier::start(net.clone(), people.clone(), RETRY);
    Peer {
        node,
        net,
        people,
        tasks,
        paused,
    }
}

impl Peer {
    fn id(&self) -> UserId {
        self.people.me()
    }

    /// Go offline: stop the network, wait for the courier to let go, close the node.
    async fn stop(self) {
        self.node.stop_net().await;
        for t in self.tasks {
            let _ = t.await;
        }
    }

    fn texts(&self, peer: &UserId) -> Vec<String> {
        self.people
            .conversation(peer, None, 100)
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.text)
            .collect()
    }

    fn chat(&self, org: &leither_core::org::OrgId) -> Vec<String> {
        self.people
            .history(org, None, 100)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.text)
            .collect()
    }
}

async fn addr(n: &Peer) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = n.net.listen_addrs().await.unwrap();
        if let Some(a) = l.iter().find(|a| a.contains("/tcp/")) {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no listen address");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until `f` holds (30 s at most).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn friends_messages_and_orgs_over_the_network() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let alice = start(dirs[0].path(), &[], "Alice").await;
    let boot = vec![addr(&alice).await];
    let mut bob = start(dirs[1].path(), &boot, "Bob").await;
    let mut carol = start(dirs[2].path(), &boot, "Carol").await;
    let (a, b, c) = (alice.id(), bob.id(), carol.id());

    // Friendship handshake: Alice asks, Bob's node gets it, Bob accepts, Alice sees it.
    alice.people.request_friend(&b, "hi, it's Alice").unwrap();
    until("Bob sees Alice's request", || {
        bob.people
            .social()
            .friend(&a)
            .unwrap()
            .is_some_and(|f| f.state == FriendState::Incoming)
    })
    .await;
    bob.people.answer(&a, true).unwrap();
    until("Alice sees Bob accepted", || {
        alice
            .people
            .social()
            .friend(&b)
            .unwrap()
            .is_some_and(|f| f.state == FriendState::Friend)
    })
    .await;

    // DMs both ways.
    alice.people.send_message(&b, "hi Bob").unwrap();
    until("Bob gets Alice's DM", || bob.texts(&a) == ["hi Bob"]).await;
    bob.people.send_message(&a, "hi Alice").unwrap();
    until("Alice gets Bob's DM", || {
        alice.texts(&b) == ["hi Bob", "hi Alice"]
    })
    .await;

    // Bob goes offline; Alice sends three messages; Bob comes back and gets them in
    // order, exactly once.
    bob.stop().await;
    for i in 1..=3 {
        alice
            .people
            .send_message(&b, &format!("while away {i}"))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // Alice's node tries and fails
    bob = start(dirs[1].path(), &boot, "Bob").await;
    let want = [
        "hi Bob",
        "hi Alice",
        "while away 1",
        "while away 2",
        "while away 3",
    ];
    until("Bob gets the three queued messages", || {
        bob.texts(&a) == want
    })
    .await;
    tokio::time::sleep(RETRY * 4).await; // more retries must not duplicate anything
    assert_eq!(bob.texts(&a), want);

    // Sync paused on Alice's node: her message waits; resumed, it goes.
    alice.paused.store(true, Ordering::Relaxed);
    alice.people.send_message(&b, "after the pause").unwrap();
    tokio::time::sleep(RETRY * 4).await;
    assert_eq!(bob.texts(&a), want, "sent while sync was paused");
    alice.paused.store(false, Ordering::Relaxed);
    until("Bob gets the message held by the pause", || {
        bob.texts(&a).last().map(String::as_str) == Some("after the pause")
    })
    .await;
    assert_eq!(bob.texts(&a).len(), want.len() + 1);

    // Alice creates an org; Carol joins with Alice's invite.
    let org = alice.people.create_org("Garden club", "").unwrap().org;
    let inv = alice.people.org_invite(&org).unwrap();
    carol.people.apply(Some(&inv), None, None, "me").unwrap();
    until("Alice sees Carol's application", || {
        alice.people.orgs().view(&org).unwrap().applications.len() == 1
    })
    .await;
    alice
        .people
        .set_member(&org, &c, Some(OrgRole::Member))
        .unwrap();
    until("Carol is a member", || {
        carol.people.orgs().view(&org).unwrap().my_role == Some(OrgRole::Member)
    })
    .await;
    // Bob applies through Carol (a member, not an admin); she passes it to Alice.
    let inv = carol.people.org_invite(&org).unwrap();
    bob.people.apply(Some(&inv), None, None, "hi").unwrap();
    until("Alice sees Bob's application via Carol", || {
        alice
            .people
            .orgs()
            .view(&org)
            .unwrap()
            .applications
            .iter()
            .any(|x| x.user == b)
    })
    .await;
    alice
        .people
        .set_member(&org, &b, Some(OrgRole::Member))
        .unwrap();
    until("Bob is a member", || {
        bob.people.orgs().view(&org).is_ok_and(|v| {
            v.my_role == Some(OrgRole::Member) && v.members.iter().any(|m| m.user == c)
        })
    })
    .await;

    // All three chat.
    alice.people.chat(&org, "welcome").unwrap();
    until("everyone has Alice's chat", || {
        [&alice, &bob, &carol]
            .iter()
            .all(|p| p.chat(&org) == ["welcome"])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    bob.people.chat(&org, "thanks").unwrap();
    until("everyone has Bob's chat", || {
        [&alice, &bob, &carol]
            .iter()
            .all(|p| p.chat(&org) == ["welcome", "thanks"])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    carol.people.chat(&org, "hello all").unwrap();
    let three = ["welcome", "thanks", "hello all"];
    until("everyone has Carol's chat", || {
        [&alice, &bob, &carol].iter().all(|p| p.chat(&org) == three)
    })
    .await;

    // Carol goes offline, misses a message, comes back and catches up.
    carol.stop().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    alice.people.chat(&org, "while Carol was away").unwrap();
    until("Bob has the message Carol missed", || {
        bob.chat(&org).len() == 4
    })
    .await;
    carol = start(dirs[2].path(), &boot, "Carol").await;
    let four = ["welcome", "thanks", "hello all", "while Carol was away"];
    until("Carol caught up", || carol.chat(&org) == four).await;

    // Carol's node stays up but is cut off (sync paused): it takes nothing from the
    // topic and sends nothing. When it is back it asks for what it missed and sends
    // what she posted meanwhile, without a restart.
    carol.paused.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await; // the return check sees the pause
    alice.people.chat(&org, "while Carol was cut off").unwrap();
    until("Bob has the message Carol missed again", || {
        bob.chat(&org).len() == 5
    })
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    carol.people.chat(&org, "Carol, cut off").unwrap();
    tokio::time::sleep(RETRY * 4).await;
    assert_eq!(bob.chat(&org).len(), 5, "posted while sync was paused");
    assert_eq!(carol.chat(&org).len(), 5, "taken while sync was paused");
    carol.paused.store(false, Ordering::Relaxed);
    let six = [
        "welcome",
        "thanks",
        "hello all",
        "while Carol was away",
        "while Carol was cut off",
        "Carol, cut off",
    ];
    until("Carol is back: caught up and her post sent", || {
        [&alice, &bob, &carol].iter().all(|p| p.chat(&org) == six)
    })
    .await;

    // A non-member cannot post: Dave's node has no membership, his service refuses,
    // and bytes he publishes on the org's topic (garbage, a tampered copy of a real
    // chat parcel) are dropped by every member.
    let dave = start(dirs[3].path(), &boot, "Dave").await;
    assert!(dave.people.chat(&org, "let me in").is_err());
    let mut topic = dave
        .net
        .subscribe(&net::courier::org_topic(&org))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await; // let the mesh include Dave
    alice.people.chat(&org, "last one").unwrap();
    let seven: Vec<&str> = six.into_iter().chain(["last one"]).collect();
    until("everyone has the last chat", || {
        [&alice, &bob, &carol].iter().all(|p| p.chat(&org) == seven)
    })
    .await;
    let real = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let m = topic.recv().await.unwrap();
            if m.from == Some(alice.net.node_id()) {
                return m.data;
            }
        }
    })
    .await
    .expect("Dave's node sees the topic traffic");
    assert!(
        !real.windows(b"last one".len()).any(|w| w == b"last one"),
        "a subscribed outsider reads the org chat"
    );

    let mut tampered = real.clone();
    let n = tampered.len();
    tampered[n - 3] ^= 1; // inside the chat text
    for bytes in [tampered, b"garbage".to_vec()] {
        let mut ok = false;
        for _ in 0..20 {
            if dave
                .net
                .publish(&net::courier::org_topic(&org), bytes.clone())
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(ok, "Dave could not publish");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for p in [&alice, &bob, &carol] {
        assert_eq!(p.chat(&org), seven, "a tampered or outsider message got in");
    }

    dave.stop().await;
    carol.stop().await;
    bob.stop().await;
    alice.stop().await;
}

/// Carol first, then Alice and Bob bootstrapping from her (dirs 0, 1, 2); and the
/// bootstrap list, to restart them with.
async fn trio(dirs: &[tempfile::TempDir]) -> (Peer, Peer, Peer, Vec<String>) {
    let carol = start(dirs[2].path(), &[], "Carol").await;
    let boot = vec![addr(&carol).await];
    let alice = start(dirs[0].path(), &boot, "Alice").await;
    let bob = start(dirs[1].path(), &boot, "Bob").await;
    (alice, bob, carol, boot)
}

/// Wait until `f` gives something (30 s at most), and return it.
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `a` asks `b` to be friends; `b` accepts.
async fn befriend(a: &Peer, b: &Peer) {
    let (ai, bi) = (a.id(), b.id());
    a.people.request_friend(&bi, "").unwrap();
    until("the friend request arrives", || {
        b.people
            .social()
            .friend(&ai)
            .unwrap()
            .is_some_and(|f| f.state == FriendState::Incoming)
    })
    .await;
    b.people.answer(&ai, true).unwrap();
    until("the answer arrives", || {
        a.people
            .social()
            .friend(&bi)
            .unwrap()
            .is_some_and(|f| f.state == FriendState::Friend)
    })
    .await;
}

/// Store-and-forward through a mutual friend: Bob is offline while Alice sends three
/// messages; Carol (friend of both) keeps them; Alice goes offline too; Bob comes back
/// and gets them from Carol's node, in order, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mutual_friend_delivers_while_sender_and_recipient_were_never_online_together() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut alice, bob, carol, boot) = trio(&dirs).await;
    let (a, b) = (alice.id(), bob.id());
    befriend(&alice, &bob).await;
    befriend(&alice, &carol).await;
    befriend(&carol, &bob).await;

    bob.stop().await;
    for i in 1..=3 {
        alice.people.send_message(&b, &format!("kept {i}")).unwrap();
    }
    until("Carol keeps Alice's three messages", || {
        carol.people.kept().unwrap() == 3
    })
    .await;
    alice.stop().await;

    let bob = start(dirs[1].path(), &boot, "Bob").await;
    let want = ["kept 1", "kept 2", "kept 3"];
    until("Bob gets them from Carol", || bob.texts(&a) == want).await;
    tokio::time::sleep(RETRY * 4).await;
    assert_eq!(bob.texts(&a), want, "exactly once");

    // Alice returns: Bob's receipts reach her (directly or kept by Carol, since Alice
    // was offline when Bob sent them), her outbox empties, Carol holds nothing more,
    // nothing is doubled.
    alice = start(dirs[0].path(), &boot, "Alice").await;
    until("Alice's outbox empties and Carol lets go", || {
        alice.people.social().outbox().unwrap().is_empty() && carol.people.kept().unwrap() == 0
    })
    .await;
    assert_eq!(bob.texts(&a), want);

    alice.stop().await;
    bob.stop().await;
    carol.stop().await;
}

/// An org found by its ID alone: its members publish its public records on the DHT;
/// Bob, who has no invite, looks it up, applies to its admins, is approved and chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_org_is_found_by_its_id_alone_and_joined_without_an_invite() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (alice, bob, carol, _) = trio(&dirs).await;
    let org = alice
        .people
        .create_org("Chess club", "Tuesdays")
        .unwrap()
        .org;

    let found = eventually("the org on the DHT", async || {
        bob.net.find_org(&org).await.ok()
    })
    .await;
    assert_eq!(found.charter.name, "Chess club");
    assert_eq!(found.info.about, "Tuesdays");
    assert_eq!(found.charter.admins, [alice.id()]);
    assert_eq!(found.members.map(|m| m.members.len()), Some(1));

    bob.people
        .apply_found(&org, &found.record.charter, "may I?")
        .unwrap();
    until("Alice sees Bob's application", || {
        alice
            .people
            .orgs()
            .view(&org)
            .unwrap()
            .applications
            .iter()
            .any(|a| a.user == bob.id())
    })
    .await;
    alice
        .people
        .set_member(&org, &bob.id(), Some(OrgRole::Member))
        .unwrap();
    until("Bob is a member", || {
        bob.people
            .orgs()
            .view(&org)
            .is_ok_and(|v| v.my_role == Some(OrgRole::Member))
    })
    .await;
    bob.people.chat(&org, "hello chess").unwrap();
    until("Alice reads Bob's chat", || {
        alice.chat(&org) == ["hello chess"]
    })
    .await;
    // The published member list follows: Bob is on it.
    eventually("the new member list on the DHT", async || {
        let f = carol.net.find_org(&org).await.ok()?;
        f.members?
            .members
            .iter()
            .any(|m| m.user == bob.id())
            .then_some(())
    })
    .await;

    bob.stop().await;
    alice.stop().await;
    carol.stop().await;
}

/// Profiles are published on the DHT, and people found by display name: two Bobs make
/// a name ambiguous; a changed name is found under the new name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn people_are_found_by_display_name_through_their_published_profiles() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (alice, bob, carol, boot) = trio(&dirs).await;
    let bob2 = start(dirs[3].path(), &boot, "bob ").await;

    let p = eventually("Alice's profile", async || {
        alice.net.find_profile(&bob.id()).await.ok()
    })
    .await;
    assert_eq!(p.name, "Bob");
    assert_eq!(p.enc, bob.people.encryption_key());
    let found = eventually("Carol finds Alice by name", async || {
        let f = carol.net.find_people("  alice ").await.ok()?;
        (!f.is_empty()).then_some(f)
    })
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user, alice.id());
    let bobs = eventually("both Bobs", async || {
        let f = alice.net.find_people("Bob").await.ok()?;
        (f.len() == 2).then_some(f)
    })
    .await;
    let mut ids: Vec<UserId> = bobs.iter().map(|p| p.user).collect();
    ids.sort();
    let mut want = vec![bob.id(), bob2.id()];
    want.sort();
    assert_eq!(ids, want);

    // A new name is published and found.
    alice.people.social().set_profile("Alicia", "hi").unwrap();
    let found = eventually("Alicia", async || {
        let f = bob.net.find_people("alicia").await.ok()?;
        (f.len() == 1).then_some(f)
    })
    .await;
    assert_eq!(found[0].user, alice.id());
    assert_eq!(found[0].bio, "hi");

    for p in [bob2, bob, alice, carol] {
        p.stop().await;
    }
}

use super::*;
use crate::identity::{IdentityOptions, KdfParams, KeyBackend};
use crate::store::{Store, StoreConfig};

struct User {
    _dir: tempfile::TempDir,
    social: Social,
}

fn user(name: &str) -> User {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = IdentityOptions::new(KeyBackend::File);
    opts.kdf = KdfParams::INSECURE_FAST_FOR_TESTS;
    let (id, _) = Identity::create(dir.path(), &opts, |_| Ok("pw".into())).unwrap();
    let store = Store::open(&dir.path().join("store"), &StoreConfig::default()).unwrap();
    let mimeis = Mimeis::new(store);
    let social = Social::open(mimeis.clone(), Arc::new(id)).unwrap();
    social.set_profile(name, "").unwrap();
    User { _dir: dir, social }
}

/// Deliver envelopes (and the replies they cause) until nothing is left, like a network.
fn deliver(users: &[&User], mut queue: Vec<Outgoing>) {
    while let Some(o) = queue.pop() {
        let to = users
            .iter()
            .find(|u| u.social.me() == o.to)
            .expect("recipient");
        // Envelopes cross the wire as bytes.
        let env = Envelope::from_bytes(&o.envelope.to_bytes()).unwrap();
        queue.extend(to.social.receive(env).unwrap());
    }
}

fn befriend(a: &User, b: &User) {
    let req = a
        .social
        .request_friend(&b.social.me(), "hi, it's me")
        .unwrap();
    deliver(&[a, b], vec![req]);
    let ans = b.social.answer(&a.social.me(), true).unwrap();
    deliver(&[a, b], vec![ans]);
}

#[test]
fn friendship_handshake() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    let req = alice.social.request_friend(&bob.social.me(), "hi").unwrap();
    assert_eq!(
        alice
            .social
            .friend(&bob.social.me())
            .unwrap()
            .unwrap()
            .state,
        FriendState::Outgoing
    );
    deliver(&[&alice, &bob], vec![req]);
    let f = bob.social.friend(&alice.social.me()).unwrap().unwrap();
    assert_eq!(
        (f.state, f.name.as_str(), f.note.as_str()),
        (FriendState::Incoming, "Alice", "hi")
    );
    assert_eq!(
        bob.social.stream(10).unwrap()[0].kind,
        StreamKind::FriendRequest
    );
    assert_eq!(bob.social.unread().unwrap().stream, 1);

    let ans = bob.social.answer(&alice.social.me(), true).unwrap();
    deliver(&[&alice, &bob], vec![ans]);
    assert_eq!(
        alice
            .social
            .friend(&bob.social.me())
            .unwrap()
            .unwrap()
            .state,
        FriendState::Friend
    );
    assert_eq!(
        alice.social.friend(&bob.social.me()).unwrap().unwrap().name,
        "Bob"
    );
    assert_eq!(
        bob.social
            .friend(&alice.social.me())
            .unwrap()
            .unwrap()
            .state,
        FriendState::Friend
    );
    assert_eq!(
        alice.social.stream(10).unwrap()[0].kind,
        StreamKind::FriendAccepted
    );
}

#[test]
fn crossing_requests_make_friends_and_decline_forgets() {
    let (a, b, c) = (user("A"), user("B"), user("C"));
    let r1 = a.social.request_friend(&b.social.me(), "").unwrap();
    let r2 = b.social.request_friend(&a.social.me(), "").unwrap();
    deliver(&[&a, &b], vec![r1, r2]);
    assert_eq!(
        a.social.friend(&b.social.me()).unwrap().unwrap().state,
        FriendState::Friend
    );
    assert_eq!(
        b.social.friend(&a.social.me()).unwrap().unwrap().state,
        FriendState::Friend
    );

    let r = c.social.request_friend(&a.social.me(), "").unwrap();
    deliver(&[&a, &c], vec![r]);
    let no = a.social.answer(&c.social.me(), false).unwrap();
    deliver(&[&a, &c], vec![no]);
    assert!(a.social.friend(&c.social.me()).unwrap().is_none());
    assert!(c.social.friend(&a.social.me()).unwrap().is_none());
    assert_eq!(
        c.social.stream(1).unwrap()[0].kind,
        StreamKind::FriendDeclined
    );
}

#[test]
fn messages_both_ways_exactly_once_in_order_with_receipts() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    befriend(&alice, &bob);
    let mut sent = Vec::new();
    for t in ["one", "two", "three"] {
        let (m, out) = alice.social.send(&bob.social.me(), t).unwrap();
        assert_eq!(m.status, MessageStatus::Sent);
        sent.push(out);
        std::thread::sleep(std::time::Duration::from_millis(2)); // distinct sender times
    }
    assert_eq!(
        alice.social.outbox().unwrap().len(),
        3,
        "all wait for receipts"
    );
    // Deliver, then deliver everything again (a retry after a lost receipt).
    let again: Vec<Outgoing> = alice.social.outbox().unwrap();
    deliver(&[&alice, &bob], sent);
    deliver(&[&alice, &bob], again);
    let conv = bob
        .social
        .conversation(&alice.social.me(), None, 50)
        .unwrap();
    assert_eq!(
        conv.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    assert!(
        conv.iter()
            .all(|m| !m.outgoing && m.status == MessageStatus::Unread)
    );
    assert_eq!(
        bob.social.unread().unwrap().conversations,
        vec![(alice.social.me(), 3)]
    );
    // Delivery receipts cleared Alice's outbox and marked her messages delivered.
    assert!(alice.social.outbox().unwrap().is_empty());
    let mine = alice
        .social
        .conversation(&bob.social.me(), None, 50)
        .unwrap();
    assert!(
        mine.iter()
            .all(|m| m.outgoing && m.status == MessageStatus::Delivered),
        "{mine:?}"
    );

    let read = bob
        .social
        .mark_read(&alice.social.me())
        .unwrap()
        .expect("read receipt");
    deliver(&[&alice, &bob], vec![read]);
    assert!(
        alice
            .social
            .conversation(&bob.social.me(), None, 50)
            .unwrap()
            .iter()
            .all(|m| m.status == MessageStatus::Read)
    );
    assert_eq!(bob.social.unread().unwrap().conversations, vec![]);

    let (_, reply) = bob.social.send(&alice.social.me(), "hello back").unwrap();
    deliver(&[&alice, &bob], vec![reply]);
    let conv = alice
        .social
        .conversation(&bob.social.me(), None, 2)
        .unwrap();
    assert_eq!(
        conv.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["three", "hello back"]
    );
    let older = alice
        .social
        .conversation(&bob.social.me(), Some(conv[0].time), 10)
        .unwrap();
    assert_eq!(older.len(), 2, "paging before the oldest shown");
}

#[test]
fn strangers_forgers_and_tamperers_are_refused() {
    let (alice, bob, mallory) = (user("Alice"), user("Bob"), user("Mallory"));
    befriend(&alice, &bob);
    // Only friends can message.
    assert!(matches!(
        mallory.social.send(&bob.social.me(), "x"),
        Err(SocialError::NotAFriend(_))
    ));
    befriend(&mallory, &alice); // Mallory is Alice's friend, not Bob's.
    let (_, to_alice) = mallory.social.send(&alice.social.me(), "hi").unwrap();
    // Re-addressing Alice's envelope to Bob breaks the signature; Bob refuses it anyway.
    let Envelope::Direct(signed) = to_alice.envelope else {
        panic!()
    };
    assert!(bob.social.receive(Envelope::Direct(signed)).is_err());

    // A message whose bytes were changed in transit does not verify.
    let (_, out) = alice.social.send(&bob.social.me(), "secret").unwrap();
    let mut bytes = out.envelope.to_bytes();
    let n = bytes.len();
    bytes[n - 70] ^= 0x01;
    let tampered = Envelope::from_bytes(&bytes);
    assert!(tampered.is_err() || bob.social.receive(tampered.unwrap()).is_err());
    assert!(
        bob.social
            .conversation(&alice.social.me(), None, 10)
            .unwrap()
            .is_empty()
    );

    // Garbage is an error, not a panic.
    assert!(Envelope::from_bytes(b"\xff\xff\xff").is_err());
    assert!(Envelope::from_bytes(&vec![0u8; 200_000]).is_err());
}

#[test]
fn block_drops_requests_and_messages() {
    let (alice, bob) = (user("Alice"), user("Bob"));
    befriend(&alice, &bob);
    bob.social.block(&alice.social.me()).unwrap();
    let (_, m) = alice
        .social
        .send(&bob.social.me(), "are you there?")
        .unwrap();
    deliver(&[&alice, &bob], vec![m]);
    assert!(
        bob.social
            .conversation(&alice.social.me(), None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        bob.social.send(&alice.social.me(), "x"),
        Err(SocialError::NotAFriend(_))
    ));
    bob.social.unblock(&alice.social.me()).unwrap();
    assert!(bob.social.friend(&alice.social.me()).unwrap().is_none());
}

#[test]
fn profile_and_stream_notifications() {
    let a = user("Ann");
    let p = a.social.profile().unwrap();
    assert_eq!(p.name, "Ann");
    assert_eq!(p.devices.len(), 1, "this device, vouched for by the user");
    assert_eq!(p.devices[0].verify_device().unwrap().0, a.social.me());
    let p = a.social.set_avatar("png", b"\x89PNG...").unwrap();
    assert_eq!(p.avatar.as_deref(), Some("avatar.png"));
    assert_eq!(p.name, "Ann", "other fields kept");
    assert!(a.social.set_avatar("exe", b"MZ").is_err());
    assert!(
        a.social
            .set_avatar("png", &vec![0; profile::MAX_AVATAR_BYTES + 1])
            .is_err()
    );
    assert!(a.social.set_profile("x\ny", "").is_err());
    assert!(
        a.social
            .set_profile("ok", &"b".repeat(profile::MAX_BIO_LEN + 1))
            .is_err()
    );
    // Anyone may read a profile Mimei.
    let stranger = UserId::from_bytes([5; 32]);
    assert!(
        a.social
            .db
            .mimeis()
            .check(
                &stranger,
                &profile::mimei_of(&a.social.me()),
                crate::mimei::Perm::Read
            )
            .is_ok()
    );
    // But not the social Mimei.
    assert!(
        a.social
            .db
            .mimeis()
            .check(&stranger, &a.social.mimei(), crate::mimei::Perm::Read)
            .is_err()
    );

    a.social
        .notify(StreamKind::App, None, "backup finished")
        .unwrap();
    assert_eq!(a.social.unread().unwrap().stream, 1);
    a.social.mark_stream_read(&[]).unwrap();
    assert_eq!(a.social.unread().unwrap().stream, 0);
}

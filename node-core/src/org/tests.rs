use super::*;
use crate::identity::{IdentityOptions, KdfParams, KeyBackend};
use crate::store::{Store, StoreConfig};

struct User {
    _dir: tempfile::TempDir,
    orgs: Orgs,
    online: std::cell::Cell<bool>,
}

fn user() -> User {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = IdentityOptions::new(KeyBackend::File);
    opts.kdf = KdfParams::INSECURE_FAST_FOR_TESTS;
    let (id, _) = Identity::create(dir.path(), &opts, |_| Ok("pw".into())).unwrap();
    let store = Store::open(&dir.path().join("store"), &StoreConfig::default()).unwrap();
    let orgs = Orgs::open(Mimeis::new(store), Arc::new(id)).unwrap();
    User {
        _dir: dir,
        orgs,
        online: std::cell::Cell::new(true),
    }
}

impl User {
    fn id(&self) -> UserId {
        self.orgs.me
    }
}

/// A tiny network: broadcasts reach online members of the org, sends reach the user.
fn run(users: &[&User], effects: Vec<OrgEffect>, from: &User) -> Vec<String> {
    let mut notes = Vec::new();
    let mut queue: Vec<(UserId, Vec<OrgEffect>)> = vec![(from.id(), effects)];
    while let Some((sender, effects)) = queue.pop() {
        for e in effects {
            let targets: Vec<(&User, Vec<u8>)> = match e {
                OrgEffect::Broadcast(org, m) => {
                    let bytes = m.to_bytes();
                    users
                        .iter()
                        .filter(|u| {
                            u.id() != sender
                                && u.online.get()
                                && u.orgs.view(&org).is_ok_and(|v| v.my_role.is_some())
                        })
                        .map(|u| (*u, bytes.clone()))
                        .collect()
                }
                OrgEffect::SendTo(to, m) => users
                    .iter()
                    .filter(|u| u.id() == to && u.online.get())
                    .map(|u| (*u, m.to_bytes()))
                    .collect(),
                OrgEffect::Notify { text, .. } => {
                    notes.push(text);
                    Vec::new()
                }
            };
            for (u, bytes) in targets {
                let more = u
                    .orgs
                    .receive(OrgMessage::from_bytes(&bytes).unwrap(), Some(sender))
                    .unwrap();
                queue.push((u.id(), more));
            }
        }
    }
    notes
}

fn charter_of(u: &User, org: &OrgId) -> Signed<Charter> {
    u.orgs.charter(org).unwrap().unwrap().0
}

#[test]
fn create_apply_through_a_member_approve_chat_and_catch_up() {
    let (alice, bob, carol, mallory) = (user(), user(), user(), user());
    let all = [&alice, &bob, &carol, &mallory];
    let (org, fx) = alice.orgs.create("Garden club", "We grow things").unwrap();
    run(&all, fx, &alice);
    let v = alice.orgs.view(&org).unwrap();
    assert_eq!(
        (v.name.as_str(), v.my_role, v.creator),
        ("Garden club", Some(OrgRole::Admin), alice.id())
    );

    // Carol applies directly to Alice; Alice approves.
    let (_, join) = carol
        .orgs
        .apply(charter_of(&alice, &org), "Carol", "let me in")
        .unwrap();
    let notes = run(
        &all,
        alice
            .orgs
            .receive(OrgMessage::Join(join), Some(carol.id()))
            .unwrap(),
        &alice,
    );
    assert!(notes[0].contains("Carol applied"), "{notes:?}");
    assert_eq!(alice.orgs.view(&org).unwrap().applications.len(), 1);
    assert_eq!(carol.orgs.view(&org).unwrap().my_role, None, "pending");
    let notes = run(
        &all,
        alice
            .orgs
            .set_member(&org, &carol.id(), Some(OrgRole::Member))
            .unwrap(),
        &alice,
    );
    assert!(notes.iter().any(|n| n.contains("You joined")), "{notes:?}");
    assert_eq!(
        carol.orgs.view(&org).unwrap().my_role,
        Some(OrgRole::Member)
    );
    assert!(alice.orgs.view(&org).unwrap().applications.is_empty());

    // Bob applies through Carol, who is not an admin: she forwards to Alice.
    let (_, join) = bob
        .orgs
        .apply(charter_of(&carol, &org), "Bob", "hi")
        .unwrap();
    run(
        &all,
        carol
            .orgs
            .receive(OrgMessage::Join(join), Some(bob.id()))
            .unwrap(),
        &carol,
    );
    assert_eq!(
        alice.orgs.view(&org).unwrap().applications[0].user,
        bob.id()
    );
    assert!(
        carol.orgs.view(&org).unwrap().applications.is_empty(),
        "only admins see applications"
    );
    run(
        &all,
        alice
            .orgs
            .set_member(&org, &bob.id(), Some(OrgRole::Member))
            .unwrap(),
        &alice,
    );
    assert_eq!(bob.orgs.view(&org).unwrap().members.len(), 3);
    assert_eq!(
        carol.orgs.view(&org).unwrap().members.len(),
        3,
        "members see each other"
    );

    // All three chat; Carol is offline for part of it and catches up.
    for (u, t) in [(&alice, "welcome"), (&bob, "thanks"), (&carol, "hello all")] {
        let (_, fx) = u.orgs.chat(&org, t).unwrap();
        run(&all, fx, u);
    }
    carol.online.set(false);
    for (u, t) in [(&alice, "carol missed this"), (&bob, "and this")] {
        let (_, fx) = u.orgs.chat(&org, t).unwrap();
        run(&all, fx, u);
    }
    assert_eq!(carol.orgs.history(&org, None, 100).unwrap().len(), 3);
    // Cut off, Carol posts too (it reaches nobody): her newest message is now later
    // than the ones she missed, and her catch-up must still ask for those.
    std::thread::sleep(std::time::Duration::from_millis(2));
    let _ = carol.orgs.chat(&org, "posted while cut off").unwrap();
    carol.online.set(true);
    let req = carol
        .orgs
        .catch_up_request(&org, &HashSet::new(), &HashMap::new())
        .unwrap()
        .unwrap();
    let OrgMessage::HistoryRequest { ask, .. } = &req else {
        panic!("a history request")
    };
    assert_eq!(
        ask.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([alice.id(), bob.id()]),
        "the other two members (up to three are asked)"
    );
    let fx = alice.orgs.receive(req, Some(carol.id())).unwrap();
    let [OrgEffect::SendTo(to, OrgMessage::History { messages, .. })] = &fx[..] else {
        panic!("one history reply expected")
    };
    assert_eq!(
        (*to, messages.len()),
        (carol.id(), 2),
        "only what Carol lacks"
    );
    run(&all, fx, &alice);
    let texts: Vec<String> = carol
        .orgs
        .history(&org, None, 100)
        .unwrap()
        .into_iter()
        .map(|c| c.text)
        .collect();
    assert_eq!(
        texts,
        [
            "welcome",
            "thanks",
            "hello all",
            "carol missed this",
            "and this",
            "posted while cut off"
        ]
    );
    assert_eq!(alice.orgs.history(&org, None, 100).unwrap().len(), 5);
    assert_eq!(
        alice.orgs.history(&org, None, 2).unwrap().len(),
        2,
        "limit keeps the newest"
    );

    // Outsiders can neither post nor read.
    assert!(mallory.orgs.chat(&org, "spam").is_err());
    let forged = Signed::sign(
        mallory.orgs.keys.user_keypair(),
        &ChatMessage {
            org,
            author: mallory.id(),
            id: MessageId::from_bytes([1; 16]),
            time: 1,
            text: "spam".into(),
        },
    )
    .unwrap();
    assert!(
        alice
            .orgs
            .receive(OrgMessage::Chat(forged), Some(mallory.id()))
            .is_err()
    );
    // A request for everything, asking `ask`, from `from`: what Alice answers.
    let asks = |ask: UserId, from: UserId| {
        let req = OrgMessage::HistoryRequest {
            org,
            after: 0,
            have: vec![],
            ask: vec![ask],
        };
        alice.orgs.receive(req, Some(from)).unwrap()
    };
    assert!(
        asks(alice.id(), mallory.id()).is_empty(),
        "no history for outsiders"
    );
    assert!(
        asks(bob.id(), carol.id()).is_empty(),
        "only the members asked answer"
    );
    assert!(
        carol
            .orgs
            .catch_up_request(
                &org,
                &HashSet::from([alice.id(), bob.id()]),
                &HashMap::new()
            )
            .unwrap()
            .is_none(),
        "nobody left to ask"
    );
    // A tampered chat message is dropped.
    let (_, fx) = bob.orgs.chat(&org, "original").unwrap();
    let OrgEffect::Broadcast(_, OrgMessage::Chat(s)) = fx.into_iter().next().unwrap() else {
        panic!()
    };
    let mut bytes = s.to_bytes();
    let n = bytes.len();
    bytes[n - 80] ^= 1;
    if let Ok(t) = Signed::<ChatMessage>::from_bytes(&bytes) {
        assert!(
            alice
                .orgs
                .receive(OrgMessage::Chat(t), Some(bob.id()))
                .is_err()
        );
    }
    assert!(
        !alice
            .orgs
            .history(&org, None, 100)
            .unwrap()
            .iter()
            .any(|c| c.text == "original")
    );
}

#[test]
fn only_admins_manage_and_old_lists_cannot_undo() {
    let (alice, bob) = (user(), user());
    let all = [&alice, &bob];
    let (org, fx) = alice.orgs.create("Org", "").unwrap();
    run(&all, fx, &alice);
    let (_, join) = bob.orgs.apply(charter_of(&alice, &org), "Bob", "").unwrap();
    alice
        .orgs
        .receive(OrgMessage::Join(join), Some(bob.id()))
        .unwrap();
    let first = alice
        .orgs
        .set_member(&org, &bob.id(), Some(OrgRole::Member))
        .unwrap();
    let old_list = match &first[0] {
        OrgEffect::Broadcast(_, OrgMessage::Members(s)) => s.to_bytes(),
        _ => panic!(),
    };
    run(&all, first, &alice);
    assert!(matches!(
        bob.orgs.set_member(&org, &alice.id(), None),
        Err(OrgError::NotAdmin(_))
    ));
    assert!(matches!(
        bob.orgs.set_info(&org, Some("mine now"), None),
        Err(OrgError::NotAdmin(_))
    ));
    assert!(matches!(
        bob.orgs.set_admins(&org, vec![bob.id()]),
        Err(OrgError::NotCreator(_))
    ));
    // Alice removes Bob; replaying the older list that had him does nothing.
    run(
        &all,
        alice.orgs.set_member(&org, &bob.id(), None).unwrap(),
        &alice,
    );
    alice
        .orgs
        .receive(
            OrgMessage::Members(Signed::from_bytes(&old_list).unwrap()),
            None,
        )
        .unwrap();
    assert!(
        alice
            .orgs
            .view(&org)
            .unwrap()
            .members
            .iter()
            .all(|m| m.user != bob.id())
    );
    // Published apps (O4) and a second admin.
    let app = MimeiId::from_bytes([3; 32]);
    run(
        &all,
        alice.orgs.set_info(&org, None, Some(vec![app])).unwrap(),
        &alice,
    );
    assert_eq!(alice.orgs.view(&org).unwrap().apps, vec![app]);
    run(
        &all,
        alice
            .orgs
            .set_admins(&org, vec![alice.id(), bob.id()])
            .unwrap(),
        &alice,
    );
    assert_eq!(alice.orgs.view(&org).unwrap().admins.len(), 2);
}

#[test]
fn records_signed_by_the_wrong_key_are_refused() {
    let (alice, eve) = (user(), user());
    let (org, _) = alice.orgs.create("Real", "").unwrap();
    let (_, c) = alice.orgs.charter(&org).unwrap().unwrap();
    // Eve signs a charter for Alice's org with her own key.
    let fake = Signed::sign(
        eve.orgs.keys.user_keypair(),
        &Charter {
            seq: 9,
            admins: vec![eve.id()],
            ..c.clone()
        },
    )
    .unwrap();
    assert!(alice.orgs.receive(OrgMessage::Charter(fake), None).is_err());
    // …or a member list as a non-admin.
    let fake = Signed::sign(
        eve.orgs.keys.user_keypair(),
        &Members {
            org,
            members: vec![Member {
                user: eve.id(),
                role: OrgRole::Admin,
                name: String::new(),
                enc: eve.orgs.keys.encryption_key().public(),
            }],

            seq: 9,
            time: 0,
        },
    )
    .unwrap();
    assert!(alice.orgs.receive(OrgMessage::Members(fake), None).is_err());
    assert_eq!(alice.orgs.view(&org).unwrap().admins, vec![alice.id()]);
    assert!(OrgMessage::from_bytes(b"junk").is_err());
}

#[test]
fn a_member_list_too_long_to_sign_says_the_org_is_full() {
    let key = crate::identity::Keypair::generate().unwrap();
    let member = |i: u64| {
        let mut user = [0u8; 32];
        user[..8].copy_from_slice(&i.to_le_bytes());
        Member {
            user: UserId::from_bytes(user),
            role: OrgRole::Member,
            name: "a fairly long display name".into(),
            enc: crate::identity::EncryptionPublicKey::from_bytes([1; 32]),
        }
    };
    let list = |n: u64| Members {
        org: OrgId::from_bytes([3; 32]),
        members: (0..n).map(member).collect(),
        seq: 1,
        time: 0,
    };
    assert!(sign_members(&key, &list(100)).is_ok());
    let Err(OrgError::Invalid(why)) = sign_members(&key, &list(1000)) else {
        panic!("a full org is a clear error")
    };
    assert!(why.starts_with("the org is full"), "{why}");
}

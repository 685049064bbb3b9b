//! Social and org processing, measured in one process (issue 4). No network: parcels
//! are handed from one `People` to another as bytes, so these figures are the
//! per-node processing cost (signing, sealing, verifying, storing) that the network's
//! latency adds to. Run: `cargo bench -p leither-core --bench social`
//! (`SOCIAL_BENCH_SMALL=1` for a quick run with smaller sizes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use leither_core::identity::{Identity, IdentityOptions, KdfParams, KeyBackend, seal};
use leither_core::mimei::Mimeis;
use leither_core::org::OrgRole;
use leither_core::people::{Outbound, People, Target};
use leither_core::store::{Store, StoreConfig};

struct User {
    _dir: tempfile::TempDir,
    people: People,
}

fn user(name: &str) -> User {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = IdentityOptions::new(KeyBackend::File);
    opts.kdf = KdfParams::INSECURE_FAST_FOR_TESTS;
    let (id, _) = Identity::create(dir.path(), &opts, |_| Ok("pw".into())).unwrap();
    let store = Store::open(
        &dir.path().join("store"),
        &StoreConfig {
            cache_bytes: 4 * 1024 * 1024,
        },
    )
    .unwrap();
    let people = People::open(Mimeis::new(store), Arc::new(id)).unwrap();
    people.social().set_profile(name, "").unwrap();
    User { _dir: dir, people }
}

/// Hand every queued parcel to its recipients until nothing moves.
fn deliver(users: &[User]) {
    loop {
        let mut moved = false;
        for from in users {
            for o in from.people.take_outgoing() {
                moved = true;
                route(users, from, &o);
            }
        }
        if !moved {
            return;
        }
    }
}

fn route(users: &[User], from: &User, o: &Outbound) {
    match o.to {
        Target::User(to) => {
            if let Some(u) = users.iter().find(|u| u.people.me() == to) {
                let _ = u.people.receive(&o.parcel);
            }
            from.people.delivered(o).unwrap();
        }
        Target::Org(_) => {
            for u in users.iter().filter(|u| u.people.me() != from.people.me()) {
                let _ = u.people.receive(&o.parcel);
            }
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn fan_out(members: usize, messages: usize) {
    let users: Vec<User> = (0..members).map(|i| user(&format!("m{i}"))).collect();
    let admin = &users[0];
    let org = admin.people.create_org("Bench", "").unwrap().org;
    let invite = admin.people.org_invite(&org).unwrap();
    for u in &users[1..] {
        u.people.apply(Some(&invite), None, None, "").unwrap();
    }
    deliver(&users);
    for u in &users[1..] {
        admin
            .people
            .set_member(&org, &u.people.me(), Some(OrgRole::Member))
            .unwrap();
    }
    deliver(&users);
    assert_eq!(
        admin.people.orgs().view(&org).unwrap().members.len(),
        members
    );

    // Each message: the author posts (sign, store, queue) and each other member
    // processes the parcel (verify header and chat signature, check membership, store).
    let mut per_receive = Vec::new();
    let mut per_message = Vec::new();
    let start = Instant::now();
    for i in 0..messages {
        let author = &users[i % members];
        let t0 = Instant::now();
        author.people.chat(&org, &format!("message {i}")).unwrap();
        let out = author.people.take_outgoing();
        for o in &out {
            for u in users.iter().filter(|u| u.people.me() != author.people.me()) {
                let t = Instant::now();
                u.people.receive(&o.parcel).unwrap();
                per_receive.push(t.elapsed());
            }
        }
        per_message.push(t0.elapsed());
    }
    let total = start.elapsed();
    for u in &users {
        assert_eq!(
            u.people.history(&org, None, messages + 1).unwrap().len(),
            messages
        );
    }
    per_receive.sort();
    per_message.sort();
    let deliveries = per_receive.len();
    println!(
        "fan-out, {members} members, {messages} messages: one member processing one message p50 {} p99 {}; \
         one message to all {} others (sequential, one thread) p50 {} p99 {}; \
         {:.0} member-deliveries/s, {:.1} messages/s fully fanned out",
        ms(pct(&per_receive, 0.5)),
        ms(pct(&per_receive, 0.99)),
        members - 1,
        ms(pct(&per_message, 0.5)),
        ms(pct(&per_message, 0.99)),
        deliveries as f64 / total.as_secs_f64(),
        messages as f64 / total.as_secs_f64(),
    );
}

fn dm_throughput(n: usize) {
    // The cryptography alone: seal to the recipient's X25519 key and open.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = IdentityOptions::new(KeyBackend::File);
    opts.kdf = KdfParams::INSECURE_FAST_FOR_TESTS;
    let (id, _) = Identity::create(dir.path(), &opts, |_| Ok("pw".into())).unwrap();
    let key = id.encryption_key();
    let public = key.public();
    let text = vec![b'x'; 200];
    let start = Instant::now();
    for i in 0..n {
        let aad = (i as u64).to_le_bytes();
        let sealed = seal(&public, &text, &aad).unwrap();
        assert_eq!(key.open(&sealed, &aad).unwrap().len(), text.len());
    }
    let t = start.elapsed();
    println!(
        "DM seal+open (200-byte text): {:.0} /s ({:.1} µs each)",
        n as f64 / t.as_secs_f64(),
        t.as_secs_f64() * 1e6 / n as f64
    );

    // The whole path: send (seal, sign, store, outbox), receive (verify, open, store,
    // stream, receipt), receipt back (verify, open, status, outbox cleared).
    let users = vec![user("Alice"), user("Bob")];
    let (a, b) = (&users[0], &users[1]);
    a.people.request_friend(&b.people.me(), "").unwrap();
    deliver(&users);
    b.people.answer(&a.people.me(), true).unwrap();
    deliver(&users);
    let m = n / 4;
    let start = Instant::now();
    for i in 0..m {
        a.people
            .send_message(&b.people.me(), &format!("hello {i}"))
            .unwrap();
        deliver(&users);
    }
    let t = start.elapsed();
    assert!(a.people.social().outbox().unwrap().is_empty());
    println!(
        "DM end to end in one process (send, receive, delivery receipt): {:.0} messages/s ({} each)",
        m as f64 / t.as_secs_f64(),
        ms(t / m as u32)
    );
}

/// Pages read to time one page of history.
const PAGES: u32 = 50;

fn catch_up(n: usize) {
    // DMs: Bob is offline while Alice sends n; then the outbox is sent again.
    let users = vec![user("Alice"), user("Bob")];
    let (a, b) = (&users[0], &users[1]);
    a.people.request_friend(&b.people.me(), "").unwrap();
    deliver(&users);
    b.people.answer(&a.people.me(), true).unwrap();
    deliver(&users);
    for i in 0..n {
        a.people
            .send_message(&b.people.me(), &format!("queued {i}"))
            .unwrap();
    }
    let _ = a.people.take_outgoing(); // Bob was offline.
    let start = Instant::now();
    a.people.requeue().unwrap();
    deliver(&users);
    let t = start.elapsed();
    assert_eq!(
        b.people
            .conversation(&a.people.me(), None, n + 1)
            .unwrap()
            .len(),
        n
    );
    assert!(a.people.social().outbox().unwrap().is_empty());
    println!(
        "catch-up of {n} queued DMs (resend, receive in order, receipts back): {:.2} s ({:.0} messages/s)",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64()
    );
    let page = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        for _ in 0..PAGES {
            assert_eq!(f(), 50);
        }
        ms(start.elapsed() / PAGES)
    };
    println!(
        "newest page (50) of a {n}-message conversation: {} per page",
        page(&|| b
            .people
            .conversation(&a.people.me(), None, 50)
            .unwrap()
            .len())
    );

    // Org chat: Carol was offline for n messages and asks a member for the history.
    let users = vec![user("Alice"), user("Carol")];
    let (a, c) = (&users[0], &users[1]);
    let org = a.people.create_org("Catch-up", "").unwrap().org;
    let inv = a.people.org_invite(&org).unwrap();
    c.people.apply(Some(&inv), None, None, "").unwrap();
    deliver(&users);
    a.people
        .set_member(&org, &c.people.me(), Some(OrgRole::Member))
        .unwrap();
    deliver(&users);
    for i in 0..n {
        a.people.chat(&org, &format!("chat {i}")).unwrap();
    }
    let _ = a.people.take_outgoing(); // Carol was offline.
    let start = Instant::now();
    c.people.catch_up().unwrap();
    deliver(&users);
    let t = start.elapsed();
    assert_eq!(c.people.history(&org, None, n + 10).unwrap().len(), n);
    println!(
        "catch-up of {n} org chat messages (history request, one reply, verify and store each): {:.2} s ({:.0} messages/s)",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64()
    );
    println!(
        "newest page (50) of a {n}-message org chat: {} per page",
        page(&|| c.people.history(&org, None, 50).unwrap().len())
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is parsed.
    let small = std::env::var_os("SOCIAL_BENCH_SMALL").is_some();
    let (members, messages, dms, queued) = if small {
        (10, 20, 200, 500)
    } else {
        (50, 200, 4000, 10_000)
    };
    println!("social bench (sans-IO, one process, no network)");
    fan_out(members, messages);
    dm_throughput(dms);
    catch_up(queued);
}

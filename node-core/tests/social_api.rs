//! The social and org API of real `leither run` processes (issue 4): profile (and its
//! persistence across a restart), invites, friend and message errors, org creation,
//! chat and history, non-members refused, bad input. The nodes here share no network
//! (it is not wired yet): the multi-node tests (friendship handshake, DMs both ways,
//! store-and-forward, three-member org chat) come with it.

mod common;

use common::NodeProc;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no code>")
}

async fn expect_err(node: &NodeProc, m: Method, path: &str, body: Option<Value>, want: &str) {
    let (s, v) = node.call(m.clone(), path, body).await;
    assert!(
        s.is_client_error(),
        "{m} {path}: expected an error, got {s}: {v}"
    );
    assert_eq!(code(&v), want, "{m} {path} -> {s}: {v}");
    assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty());
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture";

#[tokio::test(flavor = "multi_thread")]
async fn profile_round_trip_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeProc::start(dir.path()).await;
    let me = node.ok(Method::GET, "/api/v1/node", None).await;
    let p = node
        .ok(
            Method::PUT,
            "/api/v1/social/profile",
            Some(json!({"name": "Alice", "bio": "gardener"})),
        )
        .await;
    assert_eq!(
        (p["name"].as_str(), p["bio"].as_str()),
        (Some("Alice"), Some("gardener"))
    );
    assert_eq!(p["user"], me["user"]);
    // Avatar: a file in the public profile Mimei.
    let r = node
        .req(Method::PUT, "/api/v1/social/profile/avatar")
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mimei = p["mimei"].as_str().unwrap().to_string();
    assert_eq!(node.get_file(&mimei, "avatar.png", "cur").await.1, PNG);
    // Only the name changes; bio and avatar stay.
    node.ok(
        Method::PUT,
        "/api/v1/social/profile",
        Some(json!({"name": "Alice B."})),
    )
    .await;

    node.stop();
    let node = NodeProc::start(dir.path()).await;
    let p = node.ok(Method::GET, "/api/v1/social/profile", None).await;
    assert_eq!(
        (p["name"].as_str(), p["bio"].as_str(), p["avatar"].as_str()),
        (Some("Alice B."), Some("gardener"), Some("avatar.png"))
    );
    let r = node
        .req(Method::GET, "/api/v1/social/profile/avatar")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap(), PNG);
    // This device is listed, once, after two starts.
    let devices = node.ok(Method::GET, "/api/v1/social/devices", None).await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    assert_eq!(devices[0]["node"], me["node"]);

    // Bad input: nothing changes.
    let long = "x".repeat(200);
    expect_err(
        &node,
        Method::PUT,
        "/api/v1/social/profile",
        Some(json!({"name": long})),
        "invalid_argument",
    )
    .await;
    expect_err(
        &node,
        Method::PUT,
        "/api/v1/social/profile",
        Some(json!({"name": 5})),
        "bad_request",
    )
    .await;
    let r = node
        .req(Method::PUT, "/api/v1/social/profile/avatar")
        .header("content-type", "text/html")
        .body("<script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let p = node.ok(Method::GET, "/api/v1/social/profile", None).await;
    assert_eq!(p["name"], "Alice B.");
}

#[tokio::test(flavor = "multi_thread")]
async fn invites_friends_and_messages_refuse_bad_input() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = NodeProc::start(da.path()).await;
    let bob = NodeProc::start(db.path()).await;
    let bob_user = bob.ok(Method::GET, "/api/v1/node", None).await["user"]
        .as_str()
        .unwrap()
        .to_string();
    let inv = bob.ok(Method::POST, "/api/v1/social/invite", None).await;
    assert_eq!(inv["user"], bob_user.as_str());
    let invite = inv["invite"].as_str().unwrap().to_string();
    assert!(invite.starts_with("leither:friend:"), "{invite}");

    // A DM to someone who is not a friend, and reading an unknown conversation.
    let conv = format!("/api/v1/social/conversations/{bob_user}/messages");
    expect_err(
        &alice,
        Method::POST,
        &conv,
        Some(json!({"text": "hi"})),
        "not_friend",
    )
    .await;
    expect_err(&alice, Method::GET, &conv, None, "unknown_user").await;
    expect_err(
        &alice,
        Method::POST,
        &format!("/api/v1/social/friends/{bob_user}/accept"),
        None,
        "no_request",
    )
    .await;
    expect_err(
        &alice,
        Method::DELETE,
        &format!("/api/v1/social/friends/{bob_user}"),
        None,
        "unknown_user",
    )
    .await;

    // Alice asks Bob with his invite: queued until the network reaches him.
    let (s, f) = alice
        .call(
            Method::POST,
            "/api/v1/social/friends",
            Some(json!({"invite": invite, "note": "hi"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    assert_eq!(
        (f["user"].as_str(), f["state"].as_str()),
        (Some(bob_user.as_str()), Some("outgoing"))
    );
    let list = alice.ok(Method::GET, "/api/v1/social/friends", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Still not a friend: no DM yet; the conversation is known now (empty).
    expect_err(
        &alice,
        Method::POST,
        &conv,
        Some(json!({"text": "hi"})),
        "not_friend",
    )
    .await;
    assert_eq!(alice.ok(Method::GET, &conv, None).await, json!([]));
    // Block, then asking again is refused.
    let b = alice
        .ok(
            Method::POST,
            &format!("/api/v1/social/friends/{bob_user}/block"),
            None,
        )
        .await;
    assert_eq!(b["state"], "blocked");
    expect_err(
        &alice,
        Method::POST,
        "/api/v1/social/friends",
        Some(json!({"user": bob_user})),
        "blocked",
    )
    .await;

    // Bad IDs and payloads.
    let me = alice.ok(Method::GET, "/api/v1/node", None).await["user"]
        .as_str()
        .unwrap()
        .to_string();
    expect_err(
        &alice,
        Method::POST,
        "/api/v1/social/friends",
        Some(json!({"user": me})),
        "yourself",
    )
    .await;
    expect_err(
        &alice,
        Method::POST,
        "/api/v1/social/friends",
        Some(json!({"user": "not-an-id"})),
        "invalid_id",
    )
    .await;
    expect_err(
        &alice,
        Method::POST,
        "/api/v1/social/friends",
        Some(json!({"invite": "leither:friend:AAAA"})),
        "invalid_argument",
    )
    .await;
    expect_err(
        &alice,
        Method::POST,
        "/api/v1/social/friends",
        Some(json!({})),
        "bad_request",
    )
    .await;
    expect_err(
        &alice,
        Method::GET,
        "/api/v1/social/conversations/zz/messages",
        None,
        "invalid_id",
    )
    .await;
    expect_err(
        &alice,
        Method::GET,
        &format!("{conv}?limit=0"),
        None,
        "bad_request",
    )
    .await;

    // The stream and conversations answer, with counts.
    let st = alice.ok(Method::GET, "/api/v1/social/stream", None).await;
    assert_eq!(st["unread"]["stream"], 0);
    alice
        .ok(Method::GET, "/api/v1/social/conversations", None)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn org_create_chat_history_and_non_members() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = NodeProc::start(da.path()).await;
    let ws_url = format!(
        "{}/api/v1/events?token={}",
        alice.url.replacen("http", "ws", 1),
        alice.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();

    let (s, v) = alice
        .call(
            Method::POST,
            "/api/v1/orgs",
            Some(json!({"name": "Garden club", "about": "We grow things"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let org = v["org"].as_str().unwrap().to_string();
    assert_eq!(
        (v["my_role"].as_str(), v["name"].as_str()),
        (Some("admin"), Some("Garden club"))
    );
    let info = alice
        .ok(Method::GET, &format!("/api/v1/orgs/{org}"), None)
        .await;
    assert_eq!(info["about"], "We grow things");
    assert_eq!(info["members"].as_array().unwrap().len(), 1);
    let list = alice.ok(Method::GET, "/api/v1/orgs", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Chat by the admin, pushed over the WebSocket, and paged history.
    let chat = format!("/api/v1/orgs/{org}/chat");
    let mut times = Vec::new();
    for i in 0..5 {
        let (s, m) = alice
            .call(
                Method::POST,
                &chat,
                Some(json!({"text": format!("msg {i}")})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        times.push(m["time"].as_u64().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut saw_chat = false;
    while !saw_chat {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap();
        let ev: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        saw_chat = ev == json!({"kind": "org", "org": org, "change": "chat"});
    }
    let h = alice
        .ok(Method::GET, &format!("{chat}?limit=2"), None)
        .await;
    let texts = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&h), ["msg 3", "msg 4"]);
    let older = alice
        .ok(
            Method::GET,
            &format!("{chat}?limit=10&before={}", h[0]["time"]),
            None,
        )
        .await;
    assert_eq!(texts(&older), ["msg 0", "msg 1", "msg 2"]);

    // Published apps (admins).
    let mimei = alice
        .ok(Method::POST, "/api/v1/mimei", Some(json!({"mark": "app"})))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    alice
        .ok(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/apps"),
            Some(json!({"apps": [mimei]})),
        )
        .await;
    let apps = alice
        .ok(Method::GET, &format!("/api/v1/orgs/{org}/apps"), None)
        .await;
    assert_eq!(apps, json!([mimei]));

    // Bad input.
    expect_err(
        &alice,
        Method::POST,
        &chat,
        Some(json!({"text": "x".repeat(9000)})),
        "too_large",
    )
    .await;
    expect_err(
        &alice,
        Method::POST,
        &chat,
        Some(json!({"text": ""})),
        "invalid_argument",
    )
    .await;
    expect_err(
        &alice,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": " "})),
        "invalid_argument",
    )
    .await;
    expect_err(&alice, Method::GET, "/api/v1/orgs/nope", None, "invalid_id").await;
    let stranger = alice.ok(Method::GET, "/api/v1/node", None).await["user"]
        .as_str()
        .unwrap()
        .to_string(); // a well-formed ID that is no org
    expect_err(
        &alice,
        Method::GET,
        &format!("/api/v1/orgs/{stranger}"),
        None,
        "unknown_org",
    )
    .await;
    expect_err(
        &alice,
        Method::POST,
        &format!("/api/v1/orgs/{org}/applications/{stranger}/approve"),
        None,
        "no_application",
    )
    .await;

    // Bob applies with Alice's invite; until approved he may not read or post.
    let bob = NodeProc::start(db.path()).await;
    let inv = alice
        .ok(Method::POST, &format!("/api/v1/orgs/{org}/invite"), None)
        .await;
    let (s, a) = bob
        .call(
            Method::POST,
            "/api/v1/orgs/apply",
            Some(json!({"invite": inv["invite"], "note": "let me in"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{a}");
    assert_eq!(a["org"], org.as_str());
    let mine = bob.ok(Method::GET, "/api/v1/orgs", None).await;
    assert_eq!(mine[0]["my_role"], Value::Null, "pending: {mine}");
    expect_err(&bob, Method::GET, &chat, None, "not_member").await;
    expect_err(
        &bob,
        Method::POST,
        &chat,
        Some(json!({"text": "hi"})),
        "not_member",
    )
    .await;
    expect_err(
        &bob,
        Method::GET,
        &format!("/api/v1/orgs/{org}/applications"),
        None,
        "forbidden",
    )
    .await;
    expect_err(
        &bob,
        Method::POST,
        &format!("/api/v1/orgs/{org}/invite"),
        None,
        "not_member",
    )
    .await;
    expect_err(
        &bob,
        Method::PUT,
        &format!("/api/v1/orgs/{org}/apps"),
        Some(json!({"apps": []})),
        "forbidden",
    )
    .await;
    expect_err(
        &bob,
        Method::POST,
        "/api/v1/orgs/apply",
        Some(json!({"invite": "leither:org:zzz"})),
        "invalid_argument",
    )
    .await;

    // The routes are in the OpenAPI document.
    let spec = alice.ok(Method::GET, "/api/v1/openapi.json", None).await;
    for p in [
        "/api/v1/social/profile",
        "/api/v1/social/conversations/{user}/messages",
        "/api/v1/social/stream",
        "/api/v1/orgs/{org}/chat",
        "/api/v1/orgs/{org}/applications/{user}/approve",
    ] {
        assert!(spec["paths"][p].is_object(), "{p} missing from the spec");
    }
}

/// The CLI commands, in-process (no running node): the same API handlers.
#[test]
fn cli_me_org_say_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::cli(d, &["init", "--keys", "file"]);
    let me = common::cli(d, &["me", "--name", "Alice", "--bio", "hi"]);
    assert!(me.contains("Alice"), "{me}");
    let inv = common::cli(d, &["invite"]);
    assert!(inv.trim().starts_with("leither:friend:"), "{inv}");
    let org = common::cli(d, &["org", "create", "Garden club"]);
    let org = org.trim();
    common::cli(d, &["org", "say", org, "hello all"]);
    let h = common::cli(d, &["org", "history", org]);
    assert!(h.contains("hello all"), "{h}");
    let m = common::cli(d, &["org", "members", org]);
    assert!(m.contains("admin"), "{m}");
    let ls = common::cli(d, &["org", "ls"]);
    assert!(ls.contains("Garden club"), "{ls}");
    // Errors come back with their code.
    let (_, err) = common::cli_fails(d, &["msg", "send", org, "hi"]);
    assert!(err.contains("not_friend"), "{err}");
    // Not an ID or invite: a display name, which is looked up on the network.
    let (_, err) = common::cli_fails(d, &["friend", "add", "nope"]);
    assert!(err.contains("net_not_running"), "{err}");
    let (_, err) = common::cli_fails(d, &["org", "say", org, ""]);
    assert!(err.contains("invalid_argument"), "{err}");
}

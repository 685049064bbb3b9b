//! The loopback API of a real `leither run` process: access checks, the Mimei
//! operations, and bad input (issue 2). Each bad request must get a clear JSON error
//! with a stable code, and must lose nothing.

mod common;

use common::NodeProc;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn node_with_mimei() -> (tempfile::TempDir, NodeProc, String) {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(dir.path()).await;
    let info = node
        .ok(Method::POST, "/api/v1/mimei", Some(json!({"mark": "test"})))
        .await;
    let id = info["id"].as_str().unwrap().to_string();
    (dir, node, id)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no code>")
}

#[tokio::test]
async fn access_needs_token_host_and_origin() {
    let (_d, node, _) = node_with_mimei().await;
    let raw = |path: &str| node.http.get(format!("{}{path}", node.url));

    let r = raw("/api/v1/mimei").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&r.json_value().await), "unauthorized");

    let r = raw("/api/v1/mimei")
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // DNS rebinding: the page's own name arrives as Host.
    let r = raw("/api/v1/mimei")
        .bearer_auth(&node.token)
        .header("host", "attacker.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&r.json_value().await), "forbidden_host");

    // A web page calling the API from the user's browser.
    let r = raw("/api/v1/mimei")
        .bearer_auth(&node.token)
        .header("origin", "https://attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&r.json_value().await), "forbidden_origin");
    let r = raw("/api/v1/mimei")
        .bearer_auth(&node.token)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The node's own origin is fine; so is `localhost`.
    let own = node.url.clone();
    let r = raw("/api/v1/mimei")
        .bearer_auth(&node.token)
        .header("origin", own)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let port = node.url.rsplit(':').next().unwrap();
    let r = raw("/api/v1/mimei")
        .bearer_auth(&node.token)
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The OpenAPI document is public and describes the operations.
    let r = raw("/api/v1/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let spec = r.json_value().await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/mimei/{id}/files/{path}",
        "/api/v1/mimei/{id}/backup",
        "/api/v1/mimei/{id}/db/{key}",
    ] {
        assert!(spec["paths"][path].is_object(), "spec lacks {path}");
    }
}

#[tokio::test]
async fn files_versions_release_fork_over_http() {
    let (_d, node, id) = node_with_mimei().await;
    assert!(
        node.put_file(&id, "notes/a.txt", b"first".to_vec())
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let v0 = node
        .ok(
            Method::POST,
            &format!("/api/v1/mimei/{id}/backup"),
            Some(json!({"message": "one"})),
        )
        .await;
    assert_eq!(v0["number"], 0);
    node.put_file(&id, "notes/a.txt", b"second".to_vec())
        .await
        .unwrap();
    node.ok(Method::POST, &format!("/api/v1/mimei/{id}/backup"), None)
        .await;
    assert_eq!(
        node.get_file(&id, "notes/a.txt", "0").await,
        (StatusCode::OK, b"first".to_vec())
    );
    assert_eq!(
        node.get_file(&id, "notes/a.txt", "last").await,
        (StatusCode::OK, b"second".to_vec())
    );
    node.ok(
        Method::POST,
        &format!("/api/v1/mimei/{id}/release"),
        Some(json!({"version": 0})),
    )
    .await;
    assert_eq!(
        node.get_file(&id, "notes/a.txt", "release").await.1,
        b"first"
    );
    let fork = node
        .ok(
            Method::POST,
            &format!("/api/v1/mimei/{id}/fork"),
            Some(json!({"mark": "f", "version": "release"})),
        )
        .await;
    assert_eq!(fork["origin"]["mimei"], id.as_str());
    let fid = fork["id"].as_str().unwrap();
    assert_eq!(node.get_file(fid, "notes/a.txt", "cur").await.1, b"first");
    let ls = node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{id}/ls?recursive=true&version=0"),
            None,
        )
        .await;
    assert_eq!(ls.as_array().unwrap().len(), 2, "{ls}");
    let diff = node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{id}/diff?from=0&to=1"),
            None,
        )
        .await;
    assert_eq!(diff["files"][0]["change"], "modified");

    // ETag and ranges.
    let r = node
        .req(
            Method::GET,
            &format!("/api/v1/mimei/{id}/files/notes/a.txt"),
        )
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(r.headers()["content-type"], "text/plain");
    let r = node
        .req(
            Method::GET,
            &format!("/api/v1/mimei/{id}/files/notes/a.txt"),
        )
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = node
        .req(
            Method::GET,
            &format!("/api/v1/mimei/{id}/files/notes/a.txt"),
        )
        .header("range", "bytes=1-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"eco");

    // A large file streams in and out intact.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    node.put_file(&id, "big.bin", big.clone()).await.unwrap();
    assert_eq!(node.get_file(&id, "big.bin", "cur").await.1, big);
}

#[tokio::test]
async fn database_over_http() {
    let (_d, node, id) = node_with_mimei().await;
    let put = |k: &str, v: &'static [u8]| {
        node.req(Method::PUT, &format!("/api/v1/mimei/{id}/db/{k}"))
            .body(v)
            .send()
    };
    assert_eq!(
        put("users/alice", b"{\"age\":3}").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    put("users/bob", b"\xff\x00").await.unwrap();
    node.ok(
        Method::POST,
        &format!("/api/v1/mimei/{id}/db"),
        Some(json!({"ops": [{"key": "x", "value": "1"}, {"key": "users/bob"}]})),
    )
    .await;
    let scan = node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{id}/db?prefix=users/"),
            None,
        )
        .await;
    assert_eq!(
        scan,
        json!([{"key": "users/alice", "value": "{\"age\":3}"}])
    );
    // Newest first: the last `limit` keys, in descending order.
    put("users/carol", b"c").await.unwrap();
    put("users/dave", b"d").await.unwrap();
    let last = node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{id}/db?prefix=users/&reverse=true&limit=2"),
            None,
        )
        .await;
    assert_eq!(
        last,
        json!([{"key": "users/dave", "value": "d"}, {"key": "users/carol", "value": "c"}])
    );
    node.ok(Method::POST, &format!("/api/v1/mimei/{id}/backup"), None)
        .await;
    node.req(
        Method::DELETE,
        &format!("/api/v1/mimei/{id}/db/users/alice"),
    )
    .send()
    .await
    .unwrap();
    let r = node
        .req(
            Method::GET,
            &format!("/api/v1/mimei/{id}/db/users/alice?version=0"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"{\"age\":3}");
    let (s, v) = node
        .call(
            Method::GET,
            &format!("/api/v1/mimei/{id}/db/users/alice"),
            None,
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "no_such_key"));
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_loses_nothing() {
    let (_d, node, id) = node_with_mimei().await;
    node.put_file(&id, "keep.txt", b"precious".to_vec())
        .await
        .unwrap();
    node.ok(Method::POST, &format!("/api/v1/mimei/{id}/backup"), None)
        .await;

    let cases: Vec<(Method, String, Option<Value>, StatusCode, &str)> = vec![
        (
            Method::GET,
            "/api/v1/mimei/not-an-id!".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            Method::GET,
            "/api/v1/mimei/abc".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            Method::GET,
            format!("/api/v1/mimei/{}", "0".repeat(52)),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            format!("/api/v1/mimei/{id}/files/keep.txt?version=7"),
            None,
            StatusCode::NOT_FOUND,
            "no_such_version",
        ),
        (
            Method::GET,
            format!("/api/v1/mimei/{id}/files/keep.txt?version=latest"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::GET,
            format!("/api/v1/mimei/{id}/files/missing"),
            None,
            StatusCode::NOT_FOUND,
            "no_such_path",
        ),
        (
            Method::PUT,
            format!("/api/v1/mimei/{id}/files/keep.txt?version=0"),
            None,
            StatusCode::CONFLICT,
            "read_only_version",
        ),
        (
            Method::DELETE,
            format!("/api/v1/mimei/{id}/files/keep.txt?version=last"),
            None,
            StatusCode::CONFLICT,
            "read_only_version",
        ),
        (
            Method::PUT,
            format!("/api/v1/mimei/{id}/files/a%2F..%2F..%2Fx"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::PUT,
            format!("/api/v1/mimei/{id}/files//etc/passwd"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::PUT,
            format!("/api/v1/mimei/{id}/files/nul%00byte"),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            Method::PUT,
            format!("/api/v1/mimei/{id}/files/keep.txt/under-a-file"),
            None,
            StatusCode::CONFLICT,
            "not_a_directory",
        ),
        (
            Method::POST,
            format!("/api/v1/mimei/{id}/move"),
            Some(json!({"from": "keep.txt", "to": "../out"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
        ),
        (
            Method::POST,
            "/api/v1/mimei".into(),
            Some(json!({"mark": "test"})),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            Method::POST,
            "/api/v1/mimei".into(),
            Some(json!({"mark": "x".repeat(300)})),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/api/v1/mimei/{id}/release"),
            Some(json!({"version": "cur"})),
            StatusCode::BAD_REQUEST,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/api/v1/mimei/{id}/import"),
            Some(json!({"dir": "/nonexistent/dir"})),
            StatusCode::NOT_FOUND,
            "no_such_local_path",
        ),
    ];
    for (method, path, body, status, want) in cases {
        let (s, v) = node.call(method.clone(), &path, body).await;
        assert_eq!((s, code(&v)), (status, want), "{method} {path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Raw `..` segments, which HTTP client libraries would normalise away.
    for target in [
        format!("/api/v1/mimei/{id}/files/../escape"),
        format!("/api/v1/mimei/{id}/files/a/../../x"),
    ] {
        let (status, body) = raw_request(&node, "PUT", &target, b"evil").await;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(
            (status, code(&v)),
            (400, "invalid_path"),
            "PUT {target}: {v}"
        );
    }
    let (_, v) = node.call(Method::GET, "/api/v1/no/such/route", None).await;
    assert_eq!(code(&v), "no_such_route");

    // Malformed JSON.
    let r = node
        .req(Method::POST, "/api/v1/mimei")
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&r.json_value().await), "bad_request");

    // Oversized database value.
    let big = vec![b'x'; leither_core::mimei::MAX_DB_VALUE_LEN + 1];
    let r = node
        .req(Method::PUT, &format!("/api/v1/mimei/{id}/db/k"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&r.json_value().await), "too_large");

    // Nothing was lost or changed by any of it.
    assert_eq!(node.get_file(&id, "keep.txt", "cur").await.1, b"precious");
    assert_eq!(node.get_file(&id, "keep.txt", "0").await.1, b"precious");
    let log = node
        .ok(Method::GET, &format!("/api/v1/mimei/{id}/versions"), None)
        .await;
    assert_eq!(log.as_array().unwrap().len(), 1);
    let ls = node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{id}/ls?recursive=true"),
            None,
        )
        .await;
    assert_eq!(ls.as_array().unwrap().len(), 1, "{ls}");
}

#[tokio::test]
async fn request_body_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "[api]\nmax_body_mib = 1\n").unwrap();
    let node = NodeProc::start(dir.path()).await;
    let info = node
        .ok(Method::POST, "/api/v1/mimei", Some(json!({"mark": "m"})))
        .await;
    let id = info["id"].as_str().unwrap();
    let r = node
        .put_file(id, "big", vec![0u8; 2 * 1024 * 1024])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The server closes that connection while the client may still be writing the
    // rest of the body; ask on a fresh connection, not a pooled one that may be dead.
    let ls = reqwest::Client::new()
        .get(format!("{}/api/v1/mimei/{id}/ls", node.url))
        .bearer_auth(&node.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let ls: Value = serde_json::from_slice(&ls).unwrap();
    assert_eq!(ls, json!([]), "nothing half-written");
}

#[tokio::test]
async fn corrupted_block_is_reported_not_served() {
    let (dir, mut node, id) = node_with_mimei().await;
    node.put_file(&id, "victim", b"original bytes".to_vec())
        .await
        .unwrap();
    node.put_file(&id, "bystander", b"fine".to_vec())
        .await
        .unwrap();
    let st = node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{id}/stat?path=victim"),
            None,
        )
        .await;
    let hash: leither_core::store::BlockHash = st["hash"].as_str().unwrap().parse().unwrap();
    node.stop();
    {
        // Rot one block on disk behind the node's back.
        let db = sled::open(dir.path().join("store")).unwrap();
        let mut key = vec![b'B'];
        key.extend_from_slice(hash.as_bytes());
        assert!(
            db.insert(key, b"rotten bytes!!".as_slice())
                .unwrap()
                .is_some()
        );
        db.flush().unwrap();
    }
    let node = NodeProc::start(dir.path()).await;
    let r = node
        .req(Method::GET, &format!("/api/v1/mimei/{id}/files/victim"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&r.json_value().await), "corrupt_block");

    let report = node
        .ok(Method::POST, &format!("/api/v1/mimei/{id}/verify"), None)
        .await;
    assert_eq!(report["problems"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(node.get_file(&id, "bystander", "cur").await.1, b"fine");
}

#[tokio::test]
async fn websocket_pushes_events() {
    let (_d, node, id) = node_with_mimei().await;
    let ws_url = format!(
        "{}/api/v1/events?token={}",
        node.url.replacen("http", "ws", 1),
        node.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("websocket");
    node.put_file(&id, "f", b"x".to_vec()).await.unwrap();
    let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("event in time")
        .unwrap()
        .unwrap();
    let ev: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(ev, json!({"kind": "files_changed", "id": id}));

    // Without the token the upgrade is refused.
    let bad = format!("{}/api/v1/events", node.url.replacen("http", "ws", 1));
    assert!(tokio_tungstenite::connect_async(bad).await.is_err());
}

/// One HTTP/1.1 request over a plain socket, path sent exactly as given.
async fn raw_request(node: &NodeProc, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = node.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        node.token,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body_at = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(resp.len());
    (status, resp[body_at..].to_vec())
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap_or(Value::Null)
    }
}

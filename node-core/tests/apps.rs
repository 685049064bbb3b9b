//! Mimei apps on a real `leither run` process (issue 5): publish and install with the
//! CLI, launch codes and app sessions on `<app-id>.localhost` origins, the app's own
//! space, batches and tasks, and isolation: a hostile app trying to reach another
//! app's data every way we could think of is refused.

mod common;

use std::time::{Duration, Instant};

use common::{NodeProc, cli};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/examples");

/// A browser-like client of one app origin (requests go to 127.0.0.1 with the app's
/// Host, as Chromium does for `*.localhost`).
struct Origin {
    http: reqwest::Client,
    base: String,
    host: String,
    cookie: Option<String>,
}

impl Origin {
    fn new(node: &NodeProc, app: &str) -> Origin {
        let port = node.url.rsplit(':').next().unwrap().to_string();
        Origin {
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: node.url.clone(),
            host: format!("{app}.localhost:{port}"),
            cookie: None,
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.host)
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("host", &self.host);
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        r
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        let s = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Exchange a launch code for the session cookie, like a browser following the URL.
    async fn launch(&mut self, node: &NodeProc, app: &str) -> String {
        let v = node
            .ok(Method::POST, &format!("/api/v1/apps/{app}/launch"), None)
            .await;
        let url = v["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("http://{}/?launch=", self.host)),
            "{url}"
        );
        let code = v["code"].as_str().unwrap().to_string();
        let r = self
            .req(Method::GET, &format!("/?launch={code}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("Partitioned") && set.contains("Secure"),
            "{set}"
        );
        self.cookie = Some(set.split(';').next().unwrap().to_string());
        code
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no code>")
}

async fn setup() -> (tempfile::TempDir, NodeProc, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(dir.path()).await;
    let notes = cli(
        dir.path(),
        &["--json", "app", "publish", &format!("{EXAMPLES}/notes")],
    );
    let notes: Value = serde_json::from_str(&notes).unwrap();
    let album = cli(
        dir.path(),
        &["--json", "app", "publish", &format!("{EXAMPLES}/album")],
    );
    let album: Value = serde_json::from_str(&album).unwrap();
    // Install by name and by ID.
    cli(dir.path(), &["app", "install", "notes"]);
    cli(
        dir.path(),
        &["app", "install", album["id"].as_str().unwrap()],
    );
    (
        dir,
        node,
        notes["id"].as_str().unwrap().to_string(),
        album["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn publish_install_launch_and_use_own_space() {
    let (dir, node, notes, _album) = setup().await;
    let list: Value = serde_json::from_str(&cli(dir.path(), &["--json", "app", "list"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let text = cli(dir.path(), &["app", "list"]);
    assert!(
        text.contains("notes 1.0.0") && text.contains("asks for: mimei.read"),
        "{text}"
    );

    let mut o = Origin::new(&node, &notes);
    // The bundle is served under a strict CSP, without a session.
    let r = o.req(Method::GET, "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self';"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("frame-ancestors {}", node.url)),
        "{csp}"
    );
    let r = o.req(Method::GET, "/_leither/sdk.js").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("export const db"));
    let r = o.req(Method::GET, "/app.js").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/javascript");

    // No session yet: the API is closed.
    let (s, v) = o.call(Method::GET, "/api/v1/app", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(code(&v), "no_app_session");

    let used = o.launch(&node, &notes).await;
    // A launch code works once.
    let r = o
        .req(Method::GET, &format!("/?launch={used}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let (s, me) = o.call(Method::GET, "/api/v1/app", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["id"], notes.as_str());
    let r = o
        .req(Method::PUT, "/api/v1/app/db/note/1")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = o
        .req(Method::GET, "/api/v1/app/db/note/1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "hello");
    let r = o
        .req(Method::PUT, "/api/v1/app/files/docs/a.txt")
        .body("file body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Batch: all or nothing.
    let (s, v) = o
        .call(
            Method::POST,
            "/api/v1/batch",
            Some(json!({"ops": [
                {"op": "db_put", "key": "note/2", "value": "two"},
                {"op": "file_put", "path": "docs/b.txt", "content": "bee"},
                {"op": "file_delete", "path": "docs/missing.txt"}
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let r = o
        .req(Method::GET, "/api/v1/app/db/note/2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "nothing of a failed batch is written"
    );
    let (s, v) = o
        .call(
            Method::POST,
            "/api/v1/batch",
            Some(json!({"ops": [
                {"op": "db_put", "key": "note/2", "value": "two"},
                {"op": "file_put", "path": "docs/b.txt", "content_base64": "YmVl"},
                {"op": "file_delete", "path": "docs/a.txt"}
            ]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, ls) = o.call(Method::GET, "/api/v1/app/ls?path=docs", None).await;
    assert_eq!(ls.as_array().unwrap().len(), 1, "{ls}");
    let (_, items) = o
        .call(Method::GET, "/api/v1/app/db?prefix=note/", None)
        .await;
    assert_eq!(items.as_array().unwrap().len(), 2, "{items}");

    // A background task runs on the node after its delay.
    let (s, t) = o
        .call(
            Method::POST,
            "/api/v1/app/tasks",
            Some(json!({"ops": [{"op": "db_put", "key": "task/ran", "value": "$now"}], "delay_secs": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let (s, v) = o
        .call(
            Method::POST,
            "/api/v1/app/tasks",
            Some(json!({"ops": [{"op": "db_delete", "key": "x"}], "every_secs": 1})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::TOO_MANY_REQUESTS, "limit"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = o
            .req(Method::GET, "/api/v1/app/db/task/ran")
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            let ms: u64 = r.text().await.unwrap().parse().unwrap();
            assert!(ms > 0);
            break;
        }
        assert!(Instant::now() < deadline, "the task did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The owner sees the same data in the app's data Mimei.
    let data = me["data"].as_str().unwrap();
    let (_, b) = node.get_file(data, "docs/b.txt", "cur").await;
    assert_eq!(b, b"bee");
    // The owner's token does not make an app caller.
    let (s, v) = node.call(Method::GET, "/api/v1/app/db", None).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "apps_only"));

    // The session survives a restart of the node.
    drop(node);
    let node = NodeProc::start(dir.path()).await;
    let port = node.url.rsplit(':').next().unwrap();
    o.base = node.url.clone();
    o.host = format!("{notes}.localhost:{port}");
    let r = o
        .req(Method::GET, "/api/v1/app/db/note/1")
        .send()
        .await
        .unwrap();
    let s = r.status();
    assert_eq!(s, StatusCode::OK, "{}", r.text().await.unwrap());

    // Uninstall keeping data, reinstall: the notes are still there. Without
    // --keep-data they are gone, and the old session with them.
    cli(dir.path(), &["app", "uninstall", "notes", "--keep-data"]);
    let (s, _) = o.call(Method::GET, "/api/v1/app", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    cli(dir.path(), &["app", "install", "notes"]);
    o.launch(&node, &notes).await;
    let r = o
        .req(Method::GET, "/api/v1/app/db/note/1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    cli(dir.path(), &["app", "uninstall", "notes"]);
    cli(dir.path(), &["app", "install", "notes"]);
    o.launch(&node, &notes).await;
    let r = o
        .req(Method::GET, "/api/v1/app/db/note/1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_hostile_app_cannot_reach_another_apps_data() {
    let (dir, node, notes, album) = setup().await;
    let mut victim = Origin::new(&node, &notes);
    victim.launch(&node, &notes).await;
    let (_, me) = victim.call(Method::GET, "/api/v1/app", None).await;
    let data = me["data"].as_str().unwrap().to_string();
    let r = victim
        .req(Method::PUT, "/api/v1/app/db/secret")
        .body("the victim's secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    victim
        .req(Method::PUT, "/api/v1/app/files/secret.txt")
        .body("secret file")
        .send()
        .await
        .unwrap();

    // The hostile app ("album") has its own valid session.
    let mut evil = Origin::new(&node, &album);
    evil.launch(&node, &album).await;
    let denied = |s: StatusCode| s == StatusCode::FORBIDDEN || s == StatusCode::UNAUTHORIZED;

    // Through the API, by ID: no grant → refused.
    for path in [
        format!("/api/v1/mimei/{data}/db/secret"),
        format!("/api/v1/mimei/{data}/db"),
        format!("/api/v1/mimei/{data}/files/secret.txt"),
        format!("/api/v1/mimei/{notes}/files/index.html"),
        "/api/v1/mimei".to_string(),
    ] {
        let (s, v) = evil.call(Method::GET, &path, None).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "app_forbidden"),
            "{path}"
        );
    }
    // Permission denied without the grant, allowed after it — for public Mimei only.
    cli(dir.path(), &["app", "grant", "album", "mimei.read"]);
    let r = evil
        .req(
            Method::GET,
            &format!("/api/v1/mimei/{notes}/files/index.html"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for path in [
        format!("/api/v1/mimei/{data}/db/secret"),
        format!("/api/v1/mimei/{data}/files/secret.txt"),
        format!("/api/v1/mimei/{data}"),
    ] {
        let (s, v) = evil.call(Method::GET, &path, None).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "app_forbidden"),
            "{path}"
        );
    }
    // Writes to other Mimei and the app/node management routes stay closed.
    for (m, path) in [
        (Method::PUT, format!("/api/v1/mimei/{data}/db/secret")),
        (Method::POST, format!("/api/v1/apps/{notes}/launch")),
        (Method::GET, "/api/v1/apps".to_string()),
        (Method::PUT, format!("/api/v1/apps/{album}/grants/messages")),
        (Method::GET, "/api/v1/events".to_string()),
        (Method::GET, "/api/v1/node".to_string()),
        (Method::POST, format!("/api/v1/mimei/{data}/export")),
        (Method::GET, "/api/v1/social/conversations".to_string()),
        (Method::GET, "/api/v1/social/friends".to_string()),
    ] {
        let (s, v) = evil.call(m.clone(), &path, Some(json!({}))).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "app_forbidden"),
            "{m} {path}"
        );
    }
    // A batch naming the victim's data Mimei.
    let (s, v) = evil
        .call(
            Method::POST,
            "/api/v1/batch",
            Some(json!({"mimei": data, "ops": [{"op": "db_delete", "key": "secret"}]})),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "app_forbidden"));

    // Through the other app's origin: its own cookie is not a session there…
    let mut via_victim = Origin::new(&node, &notes);
    via_victim.cookie = evil.cookie.clone();
    let (s, v) = via_victim
        .call(Method::GET, "/api/v1/app/db/secret", None)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "no_app_session"));
    // …and a page of the hostile origin calling the victim's origin (the browser
    // would send the victim's cookie only if it were same-site; it says where from).
    let r = victim
        .req(Method::GET, "/api/v1/app/db/secret")
        .header("origin", evil.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = victim
        .req(Method::GET, "/api/v1/app/db/secret")
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // With a stolen-looking token: the user's real token as a bearer on the app
    // origin is ignored (still the app's rights), made-up cookies are nobody.
    let r = evil
        .req(Method::GET, &format!("/api/v1/mimei/{data}/db/secret"))
        .bearer_auth(&node.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut forged = Origin::new(&node, &notes);
    for c in [
        format!("leither_app={}", node.token),
        "leither_app=".to_string(),
        format!("leither_app={}", "a".repeat(52)),
    ] {
        forged.cookie = Some(c.clone());
        let (s, _) = forged
            .call(Method::GET, "/api/v1/app/db/secret", None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{c}");
    }
    // A launch code of one app does not open another.
    let v = node
        .ok(Method::POST, &format!("/api/v1/apps/{album}/launch"), None)
        .await;
    let r = victim
        .req(
            Method::GET,
            &format!("/?launch={}", v["code"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Path tricks: dot segments (encoded, since clients resolve plain ones), encoded
    // slashes, doubled slashes, backslashes.
    for path in [
        format!("/api/v1/app/%2e%2e/%2e%2e/mimei/{data}/db/secret"),
        format!("/api/v1/app/files/%2E%2E/%2E%2E/mimei/{data}/db/secret"),
        format!("/api/v1/app/files/..%2f..%2fmimei%2f{data}%2fdb%2fsecret"),
        format!("/api/v1/app//..//mimei/{data}/db/secret"),
        "/api/v1/app/files/..%5csecret.txt".to_string(),
        format!("/api/v1/app/db/%2e%2e/{data}"),
    ] {
        let r = evil.req(Method::GET, &path).send().await.unwrap();
        let s = r.status();
        let body = r.text().await.unwrap();
        assert!(
            denied(s) || s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND,
            "{path}: {s}"
        );
        assert!(
            !body.contains("the victim's secret") && !body.contains("secret file"),
            "{path} leaked: {body}"
        );
    }
    // Raw requests, so no client library resolves the dots first.
    for target in [
        format!("/api/v1/app/../mimei/{data}/db/secret"),
        format!("/api/v1/app/files/../../mimei/{data}/files/secret.txt"),
        format!("/api/v1/app/db/../../mimei/{data}/db/secret"),
        "/../../api/v1/app/db/secret".to_string(),
    ] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = node.url.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            evil.host,
            evil.cookie.as_deref().unwrap()
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        let status = answer.split(' ').nth(1).unwrap_or("");
        assert!(
            ["400", "401", "403", "404"].contains(&status),
            "{target}: {answer}"
        );
        assert!(
            !answer.contains("the victim's secret") && !answer.contains("secret file"),
            "{target} leaked: {answer}"
        );
    }
    // The victim's data is untouched and its own app still reads it.
    let r = victim
        .req(Method::GET, "/api/v1/app/db/secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "the victim's secret");
    // After revoking, the grant is gone again.
    cli(dir.path(), &["app", "revoke", "album", "mimei.read"]);
    let (s, _) = evil
        .call(
            Method::GET,
            &format!("/api/v1/mimei/{notes}/files/index.html"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An origin of an app that is not installed, and a bad app label.
    let other = Origin::new(&node, &"0".repeat(52));
    let (s, v) = other.call(Method::GET, "/", None).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_installed"));
    let mut bad = Origin::new(&node, "x");
    bad.host = format!("nope.{}", bad.host);
    let (s, v) = bad.call(Method::GET, "/api/v1/node", None).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden_host"));
}

//! The HTTP bridge (SPEC P6) of a real `leither run` process: public release content at
//! `/m/<id>/<path>` without a token; everything else refused with a JSON 404.

mod common;

use common::NodeProc;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const PUBLIC: &str = r#"{"member":{"read":true,"write":true,"backup":true,"publish":false},"guest":{"read":true,"write":false,"backup":false,"publish":false}}"#;

struct Site {
    _dir: tempfile::TempDir,
    node: NodeProc,
    id: String,
    big: Vec<u8>,
}

async fn put(node: &NodeProc, id: &str, path: &str, data: impl Into<Vec<u8>>) {
    let r = node.put_file(id, path, data.into()).await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

/// A public Mimei with version 0 released and a newer, unreleased version 1.
async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(dir.path()).await;
    let rights: Value = serde_json::from_str(PUBLIC).unwrap();
    let info = node
        .ok(
            Method::POST,
            "/api/v1/mimei",
            Some(json!({"mark": "site", "rights": rights})),
        )
        .await;
    let id = info["id"].as_str().unwrap().to_string();
    let big: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
    put(&node, &id, "index.html", "<h1>home</h1>").await;
    put(&node, &id, "style.css", "h1{}").await;
    put(&node, &id, "docs/index.html", "<p>docs</p>").await;
    put(&node, &id, "docs/a b.txt", "spaced").await;
    put(&node, &id, "img/big.png", big.clone()).await;
    put(&node, &id, "only-in-v1.txt", "draft").await;
    node.ok(
        Method::DELETE,
        &format!("/api/v1/mimei/{id}/files/only-in-v1.txt"),
        None,
    )
    .await;
    node.ok(Method::POST, &format!("/api/v1/mimei/{id}/backup"), None)
        .await;
    node.ok(
        Method::POST,
        &format!("/api/v1/mimei/{id}/release"),
        Some(json!({"version": 0})),
    )
    .await;
    put(&node, &id, "only-in-v1.txt", "draft").await;
    put(&node, &id, "index.html", "<h1>unpublished</h1>").await;
    node.ok(Method::POST, &format!("/api/v1/mimei/{id}/backup"), None)
        .await;
    Site {
        _dir: dir,
        node,
        id,
        big,
    }
}

impl Site {
    /// A request as a stranger's browser would send it: no token, any Host.
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.node
            .http
            .get(format!("{}/m/{}/{path}", self.node.url, self.id))
    }
}

/// One request over a plain TCP connection, path sent exactly as given.
async fn raw_get(url: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.strip_prefix("http://").unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn code(r: reqwest::Response) -> String {
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null);
    v["error"]["code"].as_str().unwrap_or("<none>").to_string()
}

#[tokio::test]
async fn serves_release_with_types_etags_and_ranges() {
    let s = site().await;

    // Content and type; the release (v0), not the newer v1 or cur.
    let r = s.get("index.html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html");
    assert!(
        r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(r.text().await.unwrap(), "<h1>home</h1>");
    let r = s.get("style.css").send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css");
    let r = s.get("docs/a%20b.txt").send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain");
    assert_eq!(r.text().await.unwrap(), "spaced");

    // The ETag is the content digest, as the API reports it.
    let st = s
        .node
        .ok(
            Method::GET,
            &format!("/api/v1/mimei/{}/stat?path=index.html&version=0", s.id),
            None,
        )
        .await;
    assert_eq!(etag, format!("\"{}\"", st["hash"].as_str().unwrap()));
    let r = s
        .get("index.html")
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()[header::ETAG], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());
    let r = s
        .get("index.html")
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Directories: trailing slash → index.html; without → redirect.
    let r = s.get("").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "<h1>home</h1>");
    let r = s.get("docs/").send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html");
    assert_eq!(r.text().await.unwrap(), "<p>docs</p>");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(format!("{}/m/{}/docs", s.node.url, s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        r.headers()[header::LOCATION],
        format!("/m/{}/docs/", s.id).as_str()
    );
    let r = s.get("img/").send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "no index.html, no listing"
    );

    // A large (chunked, streamed) file, whole and in ranges across chunk borders.
    let r = s.get("img/big.png").send().await.unwrap();
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "700000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &s.big[..]);
    let range = |h: &'static str| {
        let req = s.get("img/big.png").header(header::RANGE, h);
        async move { req.send().await.unwrap() }
    };
    let r = range("bytes=262000-262299").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()[header::CONTENT_RANGE],
        "bytes 262000-262299/700000"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &s.big[262000..262300]);
    let r = range("bytes=-100").await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &s.big[699_900..]);
    let r = range("bytes=699990-").await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), &s.big[699_990..]);
    let r = s
        .get("style.css")
        .header(header::RANGE, "bytes=1-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.text().await.unwrap(), "1{");

    // Bad ranges: unsatisfiable → 416 with the size; unusable → whole file.
    for bad in [
        "bytes=700000-",
        "bytes=800000-900000",
        "bytes=10-5",
        "bytes=-0",
    ] {
        let r = range(bad).await;
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            "bytes */700000",
            "{bad}"
        );
    }
    for ignored in ["bytes=0-1,5-6", "lines=1-2", "bytes=a-b"] {
        let r = range(ignored).await;
        assert_eq!(r.status(), StatusCode::OK, "{ignored}");
        assert_eq!(r.bytes().await.unwrap().len(), 700_000);
    }
    // If-Range with another tag: the whole (changed) file.
    let r = s
        .get("img/big.png")
        .header(header::RANGE, "bytes=0-9")
        .header(header::IF_RANGE, "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // HEAD: headers, no body.
    let r = s
        .node
        .http
        .head(format!("{}/m/{}/img/big.png", s.node.url, s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "700000");
    assert!(r.bytes().await.unwrap().is_empty());

    // Any Host is fine for public content (no DNS-rebinding stake), the API still checks.
    let r = s
        .get("index.html")
        .header(header::HOST, "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = s
        .node
        .req(Method::GET, "/api/v1/mimei")
        .header(header::HOST, "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .node
        .http
        .get(format!("{}/api/v1/mimei", s.node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no token, no API");

    // A new release is served at once, under the same URLs.
    assert_eq!(
        s.get("only-in-v1.txt").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    s.node
        .ok(
            Method::POST,
            &format!("/api/v1/mimei/{}/release", s.id),
            Some(json!({"version": 1})),
        )
        .await;
    let r = s.get("index.html").send().await.unwrap();
    assert_ne!(r.headers()[header::ETAG], etag.as_str());
    assert_eq!(r.text().await.unwrap(), "<h1>unpublished</h1>");
    let r = s.get("only-in-v1.txt").send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "draft");

    // Described in the OpenAPI document, as needing no token.
    let r = s
        .node
        .http
        .get(format!("{}/api/v1/openapi.json", s.node.url))
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let op = &doc["paths"]["/m/{target}/{path}"]["get"];
    assert!(op.is_object(), "bridge missing from OpenAPI");
    assert_eq!(op["security"], json!([{}]));
}

#[tokio::test]
async fn refuses_what_is_not_public_release() {
    let s = site().await;
    // Files only in a later, unreleased version, and missing paths.
    let r = s.get("only-in-v1.txt").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(r).await, "not_found");
    let r = s.get("nope.html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = s.get("index.html/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Path traversal, raw and %-encoded, and bad escapes. Sent over a raw socket:
    // HTTP clients would normalise `..` away before sending.
    for bad in [
        "../index.html",
        "docs/../index.html",
        "%2e%2e/x",
        "./x",
        "a%00b",
        "%zz",
    ] {
        let (status, body) = raw_get(&s.node.url, &format!("/m/{}/{bad}", s.id)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body.contains("\"invalid_path\"") || body.contains("\"bad_path\""),
            "{bad}: {body}"
        );
    }

    // Unknown IDs and names.
    let url = |rest: &str| format!("{}/m/{rest}", s.node.url);
    let r = s.node.http.get(url("no-such-name/x")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(r).await, "unknown_name");
    let other = "0".repeat(s.id.len());
    let r = s
        .node
        .http
        .get(url(&format!("{other}/x")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Only GET and HEAD.
    let r = s
        .node
        .http
        .post(url(&format!("{}/index.html", s.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // A private Mimei with a release is not served (and looks like no Mimei at all).
    let info = s
        .node
        .ok(
            Method::POST,
            "/api/v1/mimei",
            Some(json!({"mark": "private"})),
        )
        .await;
    let private = info["id"].as_str().unwrap().to_string();
    put(&s.node, &private, "secret.txt", "secret").await;
    s.node
        .ok(
            Method::POST,
            &format!("/api/v1/mimei/{private}/backup"),
            None,
        )
        .await;
    s.node
        .ok(
            Method::POST,
            &format!("/api/v1/mimei/{private}/release"),
            Some(json!({"version": 0})),
        )
        .await;
    let r = s
        .node
        .http
        .get(url(&format!("{private}/secret.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(code(r).await, "not_found");

    // Making the public one private stops the bridge at once (rights are checked on
    // every request, even for cached files).
    assert_eq!(
        s.get("style.css").send().await.unwrap().status(),
        StatusCode::OK
    );
    s.node
        .ok(
            Method::PUT,
            &format!("/api/v1/mimei/{}/rights", s.id),
            Some(json!({"member": {"read": true, "write": false, "backup": false, "publish": false},
                        "guest": {"read": false, "write": false, "backup": false, "publish": false}})),
        )
        .await;
    assert_eq!(
        s.get("style.css").send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

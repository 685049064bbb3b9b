//! The node's front door before and after an identity exists (`leither run --onboard`),
//! and the embedded shell UI: real `leither` processes on loopback.

mod common;

use common::NodeProc;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn onboarding_over_http_then_the_api_opens() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start_with(dir.path(), &["--onboard"]).await;

    // No identity yet: status says so, the API says not yet, the token is still needed.
    let (s, v) = node.call(Method::GET, "/api/v1/identity", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["state"], "none");
    let (s, v) = node.call(Method::GET, "/api/v1/node", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "no_identity");
    let anon = node
        .http
        .get(format!("{}/api/v1/identity", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let (s, v) = node
        .call(Method::POST, "/api/v1/identity/phrase", Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // The API's description is there already, for clients written before onboarding.
    let early = node.ok(Method::GET, "/api/v1/openapi.json", None).await;
    for p in [
        "/api/v1/identity/create",
        "/api/v1/node",
        "/api/v1/social/stream",
    ] {
        assert!(
            early["paths"][p].is_object(),
            "{p} missing before onboarding"
        );
    }

    // Bad input: a clear error, nothing created.
    let (s, v) = node
        .call(
            Method::POST,
            "/api/v1/identity/restore",
            Some(json!({"phrase": "not a phrase"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_phrase");
    assert!(!dir.path().join("identity.json").exists());

    // Create: the phrase comes back once, the node opens.
    let v = node
        .ok(
            Method::POST,
            "/api/v1/identity/create",
            Some(json!({"device_name": "test laptop"})),
        )
        .await;
    let phrase = v["recovery_phrase"].as_str().unwrap().to_string();
    assert_eq!(phrase.split_whitespace().count(), 24);
    assert_eq!(v["status"]["state"], "ready");
    assert_eq!(v["status"]["device"], "test laptop");
    let user = v["status"]["user"].as_str().unwrap().to_string();
    let status = node.ok(Method::GET, "/api/v1/node", None).await;
    assert_eq!(status["user"], user.as_str());
    assert_eq!(status["limits"]["profile"], "full");
    let again = node
        .ok(Method::POST, "/api/v1/identity/phrase", Some(json!({})))
        .await;
    assert_eq!(again["phrase"], phrase.as_str());
    let (s, v) = node
        .call(Method::POST, "/api/v1/identity/create", Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "identity_exists");

    // The routes are in the OpenAPI document.
    let doc = node.ok(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(
        doc, early,
        "the document is the same before and after onboarding"
    );
    for p in [
        "/api/v1/identity",
        "/api/v1/identity/create",
        "/api/v1/sync",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI doc"
        );
    }

    // A second node restores the same user from the phrase: a new device.
    let dir2 = tempfile::tempdir().unwrap();
    let other = NodeProc::start_with(dir2.path(), &["--onboard", "--light"]).await;
    let v = other
        .ok(
            Method::POST,
            "/api/v1/identity/restore",
            Some(json!({"phrase": phrase})),
        )
        .await;
    assert_eq!(v["status"]["user"], user.as_str());
    assert_ne!(v["status"]["node"], status["node"]);
    let st = other.ok(Method::GET, "/api/v1/node", None).await;
    assert_eq!(st["limits"]["profile"], "light");
    assert_eq!(st["limits"]["serve_others"], false);

    // The identity survives a restart: the node opens at once (passphrase from the env).
    drop(node);
    let node = NodeProc::start_with(dir.path(), &["--onboard"]).await;
    let v = node.ok(Method::GET, "/api/v1/identity", None).await;
    assert_eq!(v["state"], "ready");
    assert_eq!(v["user"], user.as_str());
}

#[tokio::test]
async fn shell_ui_is_served_with_a_strict_policy_and_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProc::start(dir.path()).await;
    let page = node
        .http
        .get(format!("{}/", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("/ui/app.js"));
    assert!(
        !html.contains(&node.token),
        "the page must not carry the token"
    );
    let js = node
        .http
        .get(format!("{}/ui/app.js", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    for missing in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/screens//me.js"] {
        let r = node
            .http
            .get(format!("{}{missing}", node.url))
            .send()
            .await
            .unwrap();
        // (`..` is resolved by the client: that request reaches the API, which wants a token.)
        assert!(
            matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED),
            "{missing}: {}",
            r.status()
        );
    }
    // `leither ui`: the signed-in link, token in the fragment.
    let link = common::cli(dir.path(), &["ui"]);
    assert_eq!(link.trim(), format!("{}/#token={}", node.url, node.token));

    // An app's origin (`<app-id>.localhost`) is not the shell: the request goes on to
    // the node's router.
    let port = node.url.rsplit(':').next().unwrap();
    let r = node
        .http
        .get(format!("{}/", node.url))
        .header("host", format!("someapp.localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains("/ui/app.js"));

    // DNS rebinding: another Host gets nothing, not even the UI.
    let r = node
        .http
        .get(format!("{}/", node.url))
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

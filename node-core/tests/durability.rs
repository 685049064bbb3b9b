//! Crash safety (issue 2): SIGKILL the node again and again while clients write files,
//! database keys, imports and backups; after each restart every acknowledged write must
//! be there, every version must be complete and intact, and nothing half-made remains.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{NodeProc, Rng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Default)]
struct Acked {
    files: BTreeMap<String, Vec<u8>>,
    keys: BTreeMap<String, String>,
    /// Version number → paths the version must contain (with their content).
    versions: BTreeMap<u64, BTreeMap<String, Vec<u8>>>,
}

fn content(round: u64, i: u64) -> Vec<u8> {
    // Mixed sizes: most small, some spanning several chunks.
    let len = if i.is_multiple_of(7) {
        600_000 + (i as usize * 13) % 5000
    } else {
        10 + (i as usize * 31) % 3000
    };
    (0..len)
        .map(|j| ((j as u64 * 7 + i * 13 + round) % 251) as u8)
        .collect()
}

/// Write, import and back up as fast as the node acknowledges, until the node dies.
async fn writer(
    node: Arc<(String, String)>,
    id: String,
    round: u64,
    import_dir: std::path::PathBuf,
    acked: Arc<Mutex<Acked>>,
) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let (url, token) = (&node.0, &node.1);
    let mut cur: BTreeMap<String, Vec<u8>> = acked.lock().unwrap().files.clone();
    for i in 0.. {
        let step = i % 10;
        let ok = if step < 6 {
            let path = format!("r{round}/f{i}");
            let data = content(round, i);
            let r = http
                .put(format!("{url}/api/v1/mimei/{id}/files/{path}"))
                .bearer_auth(token)
                .body(data.clone())
                .send()
                .await;
            let ok = matches!(&r, Ok(r) if r.status() == StatusCode::OK);
            if ok {
                cur.insert(path.clone(), data.clone());
                acked.lock().unwrap().files.insert(path, data);
            }
            ok
        } else if step < 8 {
            let (k, v) = (format!("r{round}/k{i}"), format!("value {i}"));
            let r = http
                .put(format!("{url}/api/v1/mimei/{id}/db/{k}"))
                .bearer_auth(token)
                .body(v.clone())
                .send()
                .await;
            let ok = matches!(&r, Ok(r) if r.status() == StatusCode::NO_CONTENT);
            if ok {
                acked.lock().unwrap().keys.insert(k, v);
            }
            ok
        } else if step == 8 {
            // Import mirrors the directory into `imp/` (the directory's content is fixed).
            let r = http
                .post(format!("{url}/api/v1/mimei/{id}/import"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(json!({"dir": import_dir, "into": "imp"}).to_string())
                .send()
                .await;
            let ok = matches!(&r, Ok(r) if r.status() == StatusCode::OK);
            if ok {
                for e in std::fs::read_dir(&import_dir).unwrap() {
                    let e = e.unwrap();
                    let p = format!("imp/{}", e.file_name().to_str().unwrap());
                    let data = std::fs::read(e.path()).unwrap();
                    cur.insert(p.clone(), data.clone());
                    acked.lock().unwrap().files.insert(p, data);
                }
            }
            ok
        } else {
            let r = http
                .post(format!("{url}/api/v1/mimei/{id}/backup"))
                .bearer_auth(token)
                .send()
                .await;
            match r {
                Ok(r) if r.status() == StatusCode::OK => {
                    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap_or_default())
                        .unwrap_or(Value::Null);
                    if let Some(n) = v["number"].as_u64() {
                        acked.lock().unwrap().versions.insert(n, cur.clone());
                    }
                    true
                }
                _ => false,
            }
        };
        if !ok {
            return;
        }
    }
}

#[tokio::test]
async fn sigkill_during_writes_and_backups_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let import_dir = tempfile::tempdir().unwrap();
    for i in 0..40u64 {
        std::fs::write(import_dir.path().join(format!("i{i}")), content(99, i)).unwrap();
    }
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = Rng(0x5eed_1e17);
    let mut id = String::new();
    let mut checked_versions = 0;
    let rounds = 12;
    let t0 = std::time::Instant::now();
    for round in 0..rounds {
        let mut node = NodeProc::start(dir.path()).await;
        eprintln!("round {round}: node up at {:?}", t0.elapsed());
        if round == 0 {
            let info = node
                .ok(
                    Method::POST,
                    "/api/v1/mimei",
                    Some(json!({"mark": "durable"})),
                )
                .await;
            id = info["id"].as_str().unwrap().to_string();
        }
        let snapshot = take(&acked);
        check(&node, &id, &snapshot, checked_versions).await;
        checked_versions = snapshot.versions.len();
        eprintln!("round {round}: checked at {:?}", t0.elapsed());

        let shared = Arc::new((node.url.clone(), node.token.clone()));
        let w = tokio::spawn(writer(
            shared,
            id.clone(),
            round,
            import_dir.path().to_path_buf(),
            acked.clone(),
        ));
        // Let it run a varying while, then kill without warning.
        tokio::time::sleep(Duration::from_millis(100 + rng.below(600))).await;
        node.kill();
        tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("writer notices the dead node")
            .unwrap();
    }
    let node = NodeProc::start(dir.path()).await;
    let a = take(&acked);
    check(&node, &id, &a, 0).await;
    assert!(
        a.files.len() > 50 && a.versions.len() > 3,
        "the test did real work: {} files, {} versions",
        a.files.len(),
        a.versions.len()
    );
}

fn take(acked: &Mutex<Acked>) -> Acked {
    let a = acked.lock().unwrap();
    Acked {
        files: a.files.clone(),
        keys: a.keys.clone(),
        versions: a.versions.clone(),
    }
}

/// Everything acknowledged is there and every version is whole. Versions before
/// `skip_versions` had their content checked in an earlier round (`verify` still reads
/// every block of every version each time).
async fn check(node: &NodeProc, id: &str, a: &Acked, skip_versions: usize) {
    eprintln!(
        "checking {} files, {} keys, {} versions",
        a.files.len(),
        a.keys.len(),
        a.versions.len()
    );
    for (path, data) in &a.files {
        let (s, got) = node.get_file(id, path, "cur").await;
        assert_eq!(s, StatusCode::OK, "acknowledged file {path} is missing");
        assert!(got == *data, "acknowledged file {path} has wrong content");
    }
    for (k, v) in &a.keys {
        let r = node
            .req(Method::GET, &format!("/api/v1/mimei/{id}/db/{k}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "acknowledged key {k} is missing"
        );
        assert_eq!(r.bytes().await.unwrap().as_ref(), v.as_bytes());
    }
    for (n, files) in a.versions.iter().skip(skip_versions) {
        for (path, data) in files {
            let (s, got) = node.get_file(id, path, &n.to_string()).await;
            assert_eq!(s, StatusCode::OK, "version {n} lacks {path}");
            assert!(got == *data, "version {n} has wrong {path}");
        }
    }
    // Every version (acknowledged or not) is complete and intact, heads agree.
    let report = node
        .ok(Method::POST, &format!("/api/v1/mimei/{id}/verify"), None)
        .await;
    assert_eq!(report["problems"], json!([]), "verify: {report}");
}

//! A small harness for tests that run real `leither` processes on loopback.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_leither");

/// The binary under test: `LEITHER_BIN` if set (a copy, when several checkouts share
/// one target dir and so one `target/debug/leither`), else the one cargo built.
pub fn bin() -> PathBuf {
    std::env::var_os("LEITHER_BIN").map_or_else(|| PathBuf::from(BIN), PathBuf::from)
}

/// Environment every test process gets (no keyring service on CI; see README).
pub fn leither(dir: &Path) -> Command {
    let mut c = Command::new(bin());

    c.arg("--data-dir")
        .arg(dir)
        .env("LEITHER_PASSPHRASE", "test passphrase")
        .env_remove("LEITHER_DATA_DIR");
    if std::env::var_os("RUST_LOG").is_none() {
        c.env("RUST_LOG", "warn");
    }

    c
}

/// Run a CLI command to completion; returns stdout, panics with stderr on failure.
pub fn cli(dir: &Path, args: &[&str]) -> String {
    let out = leither(dir).args(args).output().expect("run leither");
    assert!(
        out.status.success(),
        "leither {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Run a CLI command expected to fail; returns (stdout, stderr).
pub fn cli_fails(dir: &Path, args: &[&str]) -> (String, String) {
    let out = leither(dir).args(args).output().expect("run leither");
    assert!(!out.status.success(), "leither {args:?} should have failed");
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A `leither run` process with its API.
pub struct NodeProc {
    pub dir: PathBuf,
    child: Child,
    pub url: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl NodeProc {
    /// Start a node on `dir` with an ephemeral API port and wait until it answers.
    #[allow(clippy::zombie_processes)] // the child is owned and waited for by `NodeProc`'s Drop
    pub async fn start(dir: &Path) -> NodeProc {
        NodeProc::start_with(dir, &[]).await
    }

    /// Like [`NodeProc::start`], with more `leither run` arguments.
    #[allow(clippy::zombie_processes)]
    pub async fn start_with(dir: &Path, extra: &[&str]) -> NodeProc {
        let mut child = leither(dir)
            .args(["run", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn leither run");
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        loop {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node did not start within 30 s");
            }

            if let Ok(text) = std::fs::read_to_string(dir.join("api.json")) {
                let info: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if info["pid"].as_u64() == Some(pid as u64) {
                    let url = info["url"].as_str().unwrap().to_string();
                    let token = std::fs::read_to_string(dir.join("api-token"))
                        .unwrap()
                        .trim()
                        .to_string();
                    return NodeProc {
                        dir: dir.to_path_buf(),
                        child,
                        url,
                        token,
                        http,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "node exited with {status}");
    }

    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// Send and parse a JSON answer, returning status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.req(method, path);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Like `call` but asserts success.
    pub async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, body).await;
        assert!(s.is_success(), "{method} {path} -> {s}: {v}");
        v
    }

    pub async fn put_file(
        &self,
        id: &str,
        path: &str,
        data: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        self.req(Method::PUT, &format!("/api/v1/mimei/{id}/files/{path}"))
            .body(data)
            .send()
            .await
    }

    pub async fn get_file(&self, id: &str, path: &str, version: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .req(
                Method::GET,
                &format!("/api/v1/mimei/{id}/files/{path}?version={version}"),
            )
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.bytes().await.unwrap().to_vec())
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random numbers for tests (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

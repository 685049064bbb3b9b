//! `leither peers | dial | records | name …` and `leither mimei pull | pin | backup-request`:
//! thin calls of the `/api/v1/net` routes of the running node.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Client, enc};
use crate::output::Out;

#[derive(Subcommand, Debug)]
pub enum NameCmd {
    /// Claim a name (or re-point one you own) for a Mimei ID or a node ID.
    Claim { name: String, target: String },
    /// Look a name up in the network.
    Resolve { name: String },
}

pub async fn peers(c: &Client, out: &Out) -> Result<()> {
    let v: Value = c.get("/api/v1/net/peers").await?;
    out.value(&v, || {
        let list = v.as_array().cloned().unwrap_or_default();
        println!("{} peers", list.len());
        for p in list {
            println!(
                "{}  {}  {}",
                p["node"].as_str().unwrap_or(""),
                p["rtt_ms"]
                    .as_f64()
                    .map(|r| format!("{r:.1} ms"))
                    .unwrap_or_else(|| "-".into()),
                p["addrs"][0].as_str().unwrap_or("")
            );
        }
    })
}

pub async fn dial(c: &Client, out: &Out, addr: &str) -> Result<()> {
    let v: Value = c.post("/api/v1/net/dial", &json!({ "addr": addr })).await?;
    out.value(&v, || println!("connected to {addr}"))
}

pub async fn records(c: &Client, out: &Out) -> Result<()> {
    let v: Value = c.get("/api/v1/net/records").await?;
    out.value(&v, || {
        for r in v.as_array().cloned().unwrap_or_default() {
            println!(
                "{:<6} {}  seq {}  {}",
                r["kind"].as_str().unwrap_or(""),
                r["subject"].as_str().unwrap_or(""),
                r["seq"],
                r["summary"].as_str().unwrap_or("")
            );
        }
    })
}

pub async fn name(c: &Client, out: &Out, cmd: NameCmd) -> Result<()> {
    let v: Value = match cmd {
        NameCmd::Claim { name, target } => {
            // A node ID and a Mimei ID have the same text form; ask the node which
            // one it knows, defaulting to a Mimei.
            let is_node = c
                .get::<Value>("/api/v1/net/status")
                .await
                .ok()
                .is_some_and(|s| s["node"].as_str() == Some(target.as_str()));
            let body = if is_node {
                json!({"name": name, "node": target})
            } else {
                json!({"name": name, "mimei": target})
            };
            c.post("/api/v1/net/names", &body).await?
        }
        NameCmd::Resolve { name } => c.get(&format!("/api/v1/net/names/{}", enc(&name))).await?,
    };
    out.value(&v, || {
        println!(
            "{} → {} {}  (owner {}, seq {})",
            v["name"].as_str().unwrap_or(""),
            v["kind"].as_str().unwrap_or(""),
            v["target"].as_str().unwrap_or(""),
            v["owner"].as_str().unwrap_or(""),
            v["seq"]
        )
    })
}

pub async fn pull(c: &Client, out: &Out, id: &str, version: Option<&str>) -> Result<()> {
    let version = match version {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| anyhow::anyhow!("pull takes a version number after @, got `{v}`"))?,
        ),
    };
    let v: Value = c
        .post(
            "/api/v1/net/pull",
            &json!({"mimei": id, "version": version}),
        )
        .await?;
    out.value(&v, || print_pull(&v))
}

fn print_pull(v: &Value) {
    if v["already_present"].as_bool() == Some(true) {
        println!(
            "{}@{} is already here",
            v["mimei"].as_str().unwrap_or(""),
            v["version"]
        );
    } else {
        println!(
            "pulled {}@{}: {} blocks, {} bytes from {} holders ({} blocks already here) in {} ms",
            v["mimei"].as_str().unwrap_or(""),
            v["version"],
            v["blocks_fetched"],
            v["bytes_fetched"],
            v["holders_used"],
            v["blocks_local"],
            v["millis"]
        );
    }
}

pub async fn pin(c: &Client, out: &Out, id: &str) -> Result<()> {
    let v: Value = c.post("/api/v1/net/pin", &json!({ "mimei": id })).await?;
    out.value(&v, || {
        for r in v.as_array().cloned().unwrap_or_default() {
            print_pull(&r);
        }
    })
}

pub async fn backup_request(c: &Client, out: &Out, peer: &str, id: &str) -> Result<()> {
    let v: Value = c
        .post(
            "/api/v1/net/backup-request",
            &json!({"peer": peer, "mimei": id}),
        )
        .await?;
    out.value(&v, || println!("{peer} accepted to keep {id}"))
}

/// Lines for `leither status` (nothing when the network is off).
pub async fn status_lines(c: &Client) -> Option<Value> {
    c.get::<Value>("/api/v1/net/status").await.ok()
}

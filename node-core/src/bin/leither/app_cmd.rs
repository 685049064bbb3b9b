//! `leither app …`: publish, install and manage Mimei apps, as API calls.

use std::path::PathBuf;

use anyhow::{Context, Result};
use axum::http::Method;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Client, enc};
use crate::output::Out;

#[derive(Subcommand, Debug)]
pub enum AppCmd {
    /// Publish the app in DIR (with its manifest.json): create or update its Mimei,
    /// back it up and mark the backup `release`.
    Publish { dir: PathBuf },
    /// Install an app's current release (by app ID, or by name for a local app).
    Install {
        app: String,
        /// Grant a permission the manifest asks for (repeatable): messages,
        /// profile.read, mimei.read.
        #[arg(long = "grant", value_name = "PERMISSION")]
        grants: Vec<String>,
    },
    /// Follow the publisher's current release.
    Update { app: String },
    /// Uninstall an app; its data is emptied unless --keep-data.
    Uninstall {
        app: String,
        #[arg(long)]
        keep_data: bool,
    },
    /// Installed apps.
    List,
    /// Grant an installed app a permission its manifest asks for.
    Grant { app: String, permission: String },
    /// Take a permission back.
    Revoke { app: String, permission: String },
    /// Print a one-time URL that opens the app in a browser (needs a running node).
    Open { app: String },
}

/// An app ID from an ID or the name of an installed app.
async fn app_id(c: &Client, app: &str) -> Result<String> {
    if app.len() == 52 && app.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(app.to_ascii_lowercase());
    }
    let list: Vec<Value> = c.get("/api/v1/apps").await?;
    list.iter()
        .find(|a| a["manifest"]["name"].as_str() == Some(app))
        .and_then(|a| a["id"].as_str())
        .map(str::to_string)
        .with_context(|| format!("no installed app named `{app}` (`leither app list`)"))
}

fn show(a: &Value) {
    let grants: Vec<&str> = a["grants"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "{}  {} {}  (version {}{})",
        a["id"].as_str().unwrap_or(""),
        a["manifest"]["name"].as_str().unwrap_or(""),
        a["manifest"]["version"].as_str().unwrap_or(""),
        a["version"],
        match (a["release"].as_u64(), a["version"].as_u64()) {
            (Some(r), Some(v)) if r != v => format!("; release {r} available: leither app update"),
            _ => String::new(),
        }
    );
    let asked: Vec<&str> = a["manifest"]["permissions"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "    asks for: {}   granted: {}",
        if asked.is_empty() {
            "-".to_string()
        } else {
            asked.join(", ")
        },
        if grants.is_empty() {
            "-".to_string()
        } else {
            grants.join(", ")
        }
    );
}

pub async fn run(c: &Client, out: &Out, cmd: AppCmd) -> Result<()> {
    match cmd {
        AppCmd::Publish { dir } => {
            let dir = std::fs::canonicalize(&dir)
                .with_context(|| format!("reading {}", dir.display()))?;
            let v: Value = c.post("/api/v1/apps/publish", &json!({"dir": dir})).await?;
            out.value(&v, || {
                println!(
                    "published {} {} as release {}",
                    v["name"].as_str().unwrap_or(""),
                    v["version"].as_str().unwrap_or(""),
                    v["release"]
                );
                println!("app ID    {}", v["id"].as_str().unwrap_or(""));
            })
        }
        AppCmd::Install { app, grants } => {
            let v: Value = c
                .post(
                    "/api/v1/apps/install",
                    &json!({"app": app, "grants": grants}),
                )
                .await?;
            out.value(&v, || {
                print!("installed ");
                show(&v);
            })
        }
        AppCmd::Update { app } => {
            let id = app_id(c, &app).await?;
            let v: Value = c
                .post(&format!("/api/v1/apps/{}/update", enc(&id)), &json!({}))
                .await?;
            out.value(&v, || {
                print!("updated ");
                show(&v);
            })
        }
        AppCmd::Uninstall { app, keep_data } => {
            let id = app_id(c, &app).await?;
            let v: Value = c
                .json(
                    Method::DELETE,
                    &format!("/api/v1/apps/{}?keep_data={keep_data}", enc(&id)),
                    None::<&()>,
                )
                .await?;
            out.value(&v, || {
                println!(
                    "uninstalled {} ({})",
                    v["manifest"]["name"].as_str().unwrap_or(""),
                    if keep_data {
                        "data kept"
                    } else {
                        "data removed"
                    }
                )
            })
        }
        AppCmd::List => {
            let v: Vec<Value> = c.get("/api/v1/apps").await?;
            out.value(&v, || {
                if v.is_empty() {
                    println!("no apps installed");
                }
                v.iter().for_each(show)
            })
        }
        AppCmd::Grant { app, permission } => grant(c, out, &app, &permission, true).await,
        AppCmd::Revoke { app, permission } => grant(c, out, &app, &permission, false).await,
        AppCmd::Open { app } => {
            if !c.is_remote() {
                anyhow::bail!(
                    "no node is running on this data directory: start one (`leither run`), then open the app"
                );
            }
            let id = app_id(c, &app).await?;
            let v: Value = c
                .post(&format!("/api/v1/apps/{}/launch", enc(&id)), &json!({}))
                .await?;
            out.value(&v, || println!("{}", v["url"].as_str().unwrap_or("")))
        }
    }
}

async fn grant(c: &Client, out: &Out, app: &str, perm: &str, on: bool) -> Result<()> {
    let id = app_id(c, app).await?;
    let v: Value = c
        .json(
            if on { Method::PUT } else { Method::DELETE },
            &format!("/api/v1/apps/{}/grants/{}", enc(&id), enc(perm)),
            None::<&()>,
        )
        .await?;
    out.value(&v, || show(&v))
}

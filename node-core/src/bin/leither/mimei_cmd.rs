//! `leither mimei …`: every Mimei operation, as API calls.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::http::Method;
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use leither_core::api::ErrorBody;
use leither_core::mimei::{
    Diff, DirEntry, EntryKind, ExportStats, Heads, ImportStats, MimeiInfo, MimeiRef, Perms,
    Progress, Rights, VerifyReport, VersionRecord,
};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Client, content_length, enc, enc_path};
use crate::output::Out;

/// `ID` or `ID@VERSION` (VERSION = cur, last, release or a number).
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub version: Option<String>,
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.rsplit_once('@') {
            Some((id, v)) if !v.is_empty() => Ok(Target {
                id: id.into(),
                version: Some(v.into()),
            }),
            Some(_) => Err("empty version after @".into()),
            None => Ok(Target {
                id: s.into(),
                version: None,
            }),
        }
    }
}

impl Target {
    fn query(&self) -> String {
        self.version
            .as_ref()
            .map(|v| format!("version={}", enc(v)))
            .unwrap_or_default()
    }
}

#[derive(Subcommand, Debug)]
pub enum MimeiCmd {
    /// Create a Mimei (optionally filled from a directory).
    Create {
        /// Mark: with author, app type and ext it defines the Mimei's stable ID.
        mark: String,
        #[arg(long, default_value = "")]
        app_type: String,
        #[arg(long, default_value = "")]
        ext: String,
        /// Readable by anyone (guests may read).
        #[arg(long)]
        public: bool,
        /// Import this directory into the new Mimei's cur.
        #[arg(long, value_name = "DIR")]
        import: Option<PathBuf>,
    },
    /// List the Mimei on this node.
    List,
    /// Show a Mimei's info and named versions.
    Info { id: String },
    /// Write a file into cur from a local file or stdin (`-`).
    Put {
        id: String,
        path: String,
        #[arg(default_value = "-")]
        file: String,
    },
    /// Print a file (or write it with -o). ID@VERSION reads a backup.
    Get {
        target: Target,
        path: String,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List a directory.
    Ls {
        target: Target,
        #[arg(default_value = "")]
        path: String,
        #[arg(short, long)]
        recursive: bool,
    },
    /// Delete a file or directory from cur.
    Rm { id: String, path: String },
    /// Move a file or directory within cur.
    Mv {
        id: String,
        from: String,
        to: String,
    },
    /// Freeze cur into the next numbered version.
    Backup {
        id: String,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// Show the versions.
    Log { id: String },
    /// Mark a version (default: last) as the published release.
    Release { target: Target },
    /// Fork a version (default: last) into a new Mimei.
    Fork { target: Target, mark: String },
    /// Show what changed between two versions (default: last → cur).
    Diff {
        id: String,
        #[arg(default_value = "last")]
        from: String,
        #[arg(default_value = "cur")]
        to: String,
    },
    /// Make cur (or a directory of it) mirror a local directory.
    Import {
        id: String,
        dir: PathBuf,
        #[arg(long, default_value = "")]
        into: String,
    },
    /// Write a version's files into a new or empty local directory.
    Export {
        target: Target,
        dir: PathBuf,
        #[arg(long, default_value = "")]
        from: String,
    },
    /// The Mimei's key-value database.
    #[command(subcommand)]
    Db(DbCmd),
    /// References to other Mimei.
    Refs { id: String },
    /// Change the reference count to another Mimei.
    Ref {
        id: String,
        target: String,
        #[arg(allow_hyphen_values = true)]
        delta: i64,
    },
    /// Check every block of cur and of every version against its digest.
    Verify { id: String },
    /// Fetch a Mimei version from the network (ID or name, optionally @VERSION),
    /// verify every block and keep it here.
    Pull { target: Target },
    /// Pull every announced version of a Mimei and keep holding it.
    Pin { id: String },
    /// Ask a peer (node ID) to keep a copy of a Mimei.
    BackupRequest { peer: String, id: String },
    /// Move a directory into a new Mimei, leaving a reference.
    Split {
        id: String,
        path: String,
        mark: String,
    },
    /// Set what members and guests may do (letters r w b p = read write backup publish).
    Rights {
        id: String,
        #[arg(long, default_value = "rwb")]
        member: String,
        #[arg(long, default_value = "")]
        guest: String,
    },
    /// Give a user a role (admin, member, guest) or `none` to remove it.
    Member {
        id: String,
        user: String,
        role: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCmd {
    /// Set a key in cur.
    Put {
        id: String,
        key: String,
        value: String,
    },
    /// Print a value.
    Get { target: Target, key: String },
    /// Delete a key from cur.
    Rm { id: String, key: String },
    /// List entries in key order.
    Scan {
        target: Target,
        #[command(flatten)]
        range: ScanArgs,
    },
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[arg(long)]
    prefix: Option<String>,
    #[arg(long)]
    start: Option<String>,
    #[arg(long)]
    end: Option<String>,
    #[arg(long)]
    limit: Option<usize>,
}

fn perms(s: &str) -> Result<Perms> {
    let mut p = Perms::NONE;
    for c in s.chars() {
        match c {
            'r' => p.read = true,
            'w' => p.write = true,
            'b' => p.backup = true,
            'p' => p.publish = true,
            _ => bail!("unknown permission letter {c:?} (use r, w, b, p)"),
        }
    }
    Ok(p)
}

fn abs(p: &Path) -> Result<String> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    Ok(p.display().to_string())
}

pub async fn run(c: &Client, out: &Out, cmd: MimeiCmd) -> Result<()> {
    let base = |id: &str| format!("/api/v1/mimei/{}", enc(id));
    match cmd {
        MimeiCmd::Pull { target } => {
            crate::net_cmd::pull(c, out, &target.id, target.version.as_deref()).await
        }
        MimeiCmd::Pin { id } => crate::net_cmd::pin(c, out, &id).await,
        MimeiCmd::BackupRequest { peer, id } => {
            crate::net_cmd::backup_request(c, out, &peer, &id).await
        }
        MimeiCmd::Create {
            mark,
            app_type,
            ext,
            public,
            import,
        } => {
            let rights = public.then(Rights::public);
            let info: MimeiInfo = c
                .post(
                    "/api/v1/mimei",
                    &json!({"mark": mark, "app_type": app_type, "ext": ext, "rights": rights}),
                )
                .await?;
            if let Some(dir) = import {
                let stats: ImportStats = with_progress(
                    c,
                    out,
                    &format!("{}/import", base(&info.id.to_string())),
                    json!({"dir": abs(&dir)?}),
                    "importing",
                )
                .await?;
                out.human(|| eprintln!("imported {} files, {} bytes", stats.files, stats.bytes));
            }
            out.value(&info, || println!("{}", info.id))
        }
        MimeiCmd::List => {
            let list: Vec<MimeiInfo> = c.get("/api/v1/mimei").await?;
            out.value(&list, || {
                for m in &list {
                    println!(
                        "{}  {}{}",
                        m.id,
                        m.mark,
                        if m.app_type.is_empty() {
                            String::new()
                        } else {
                            format!("  ({})", m.app_type)
                        }
                    );
                }
            })
        }
        MimeiCmd::Info { id } => {
            let v: serde_json::Value = c.get(&base(&id)).await?;
            out.value(&v, || {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default())
            })
        }
        MimeiCmd::Put { id, path, file } => {
            let body = if file == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                Body::from(buf)
            } else {
                let f = tokio::fs::File::open(&file)
                    .await
                    .with_context(|| format!("opening {file}"))?;
                Body::from_stream(file_stream(f))
            };
            let resp = c
                .call(
                    Method::PUT,
                    &format!("{}/files/{}", base(&id), enc_path(&path)?),
                    body,
                    Some("application/octet-stream"),
                    None,
                )
                .await?;
            let e: DirEntry =
                serde_json::from_slice(&resp.into_body().collect().await?.to_bytes())?;
            out.value(&e, || {
                println!(
                    "{}  {} bytes  {}",
                    e.path,
                    e.size.unwrap_or(0),
                    e.hash.map(|h| h.to_string()).unwrap_or_default()
                )
            })
        }
        MimeiCmd::Get {
            target,
            path,
            output,
        } => {
            let url = format!(
                "{}/files/{}?{}",
                base(&target.id),
                enc_path(&path)?,
                target.query()
            );
            let resp = c.call(Method::GET, &url, Body::empty(), None, None).await?;
            let _len = content_length(&resp);
            let mut stream = resp.into_body().into_data_stream();
            use futures_util::StreamExt;
            match output {
                Some(p) => {
                    let tmp = p.with_extension("leither-part");
                    let mut f = std::fs::File::create(&tmp)
                        .with_context(|| format!("creating {}", tmp.display()))?;
                    while let Some(b) = stream.next().await {
                        f.write_all(&b?)?;
                    }
                    f.sync_all()?;
                    std::fs::rename(&tmp, &p)?;
                }
                None => {
                    let mut so = std::io::stdout().lock();
                    while let Some(b) = stream.next().await {
                        so.write_all(&b?)?;
                    }
                }
            }
            Ok(())
        }
        MimeiCmd::Ls {
            target,
            path,
            recursive,
        } => {
            let url = format!(
                "{}/ls?path={}&recursive={recursive}&{}",
                base(&target.id),
                enc(&path),
                target.query()
            );
            let list: Vec<DirEntry> = c.get(&url).await?;
            out.value(&list, || {
                for e in &list {
                    match e.kind {
                        EntryKind::Dir => println!("{}/", e.path),
                        EntryKind::File => println!("{}  {}", e.path, e.size.unwrap_or(0)),
                        EntryKind::Mimei => println!(
                            "{}  -> mimei {}",
                            e.path,
                            e.mimei.map(|m| m.to_string()).unwrap_or_default()
                        ),
                    }
                }
            })
        }
        MimeiCmd::Rm { id, path } => {
            let v: serde_json::Value = c
                .json(
                    Method::DELETE,
                    &format!("{}/files/{}", base(&id), enc_path(&path)?),
                    None::<&()>,
                )
                .await?;
            out.value(&v, || println!("removed {}", v["removed"]))
        }
        MimeiCmd::Mv { id, from, to } => {
            let v: serde_json::Value = c
                .post(
                    &format!("{}/move", base(&id)),
                    &json!({"from": from, "to": to}),
                )
                .await?;
            out.value(&v, || println!("moved {}", v["moved"]))
        }
        MimeiCmd::Backup { id, message } => {
            let r: VersionRecord = c
                .post(
                    &format!("{}/backup", base(&id)),
                    &json!({"message": message}),
                )
                .await?;
            out.value(&r, || {
                println!(
                    "version {}  ({} files, {} bytes)  root {}",
                    r.number, r.files, r.bytes, r.fs_root
                )
            })
        }
        MimeiCmd::Log { id } => {
            let log: Vec<VersionRecord> = c.get(&format!("{}/versions", base(&id))).await?;
            let view: serde_json::Value = c.get(&base(&id)).await?;
            let heads: Heads = serde_json::from_value(view["heads"].clone())?;
            out.value(&log, || {
                for r in log.iter().rev() {
                    let mut tags = Vec::new();
                    if heads.last == Some(r.number) {
                        tags.push("last");
                    }
                    if heads.release == Some(r.number) {
                        tags.push("release");
                    }
                    let tags = if tags.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", tags.join(", "))
                    };
                    println!(
                        "{}{}  {} files  {} bytes  {}  {}",
                        r.number, tags, r.files, r.bytes, r.fs_root, r.message
                    );
                }
            })
        }
        MimeiCmd::Release { target } => {
            let heads: Heads = c
                .post(
                    &format!("{}/release", base(&target.id)),
                    &json!({"version": target.version.as_deref().unwrap_or("last")}),
                )
                .await?;
            out.value(&heads, || {
                println!(
                    "release = {}",
                    heads.release.map(|n| n.to_string()).unwrap_or_default()
                )
            })
        }
        MimeiCmd::Fork { target, mark } => {
            let info: MimeiInfo = c
                .post(
                    &format!("{}/fork", base(&target.id)),
                    &json!({"mark": mark, "version": target.version.as_deref().unwrap_or("last")}),
                )
                .await?;
            out.value(&info, || println!("{}", info.id))
        }
        MimeiCmd::Diff { id, from, to } => {
            let d: Diff = c
                .get(&format!(
                    "{}/diff?from={}&to={}",
                    base(&id),
                    enc(&from),
                    enc(&to)
                ))
                .await?;
            out.value(&d, || {
                for f in &d.files {
                    let sign = match f.change {
                        leither_core::mimei::Change::Added => '+',
                        leither_core::mimei::Change::Removed => '-',
                        leither_core::mimei::Change::Modified => 'M',
                    };
                    println!("{sign} {}", f.path);
                }
                for k in &d.db {
                    println!("db {:?} {}", k.change, k.key);
                }
            })
        }
        MimeiCmd::Import { id, dir, into } => {
            let s: ImportStats = with_progress(
                c,
                out,
                &format!("{}/import", base(&id)),
                json!({"dir": abs(&dir)?, "into": into}),
                "importing",
            )
            .await?;
            out.value(&s, || {
                println!(
                    "{} files ({} bytes): {} changed, {} removed, {} skipped; {} bytes newly stored",
                    s.files, s.bytes, s.changed, s.removed, s.skipped, s.new_bytes
                )
            })
        }
        MimeiCmd::Export { target, dir, from } => {
            let body = json!({"dir": abs(&dir)?, "from": from, "version": target.version.as_deref().unwrap_or("cur")});
            let s: ExportStats = with_progress(
                c,
                out,
                &format!("{}/export", base(&target.id)),
                body,
                "exporting",
            )
            .await?;
            out.value(&s, || {
                println!(
                    "{} files, {} bytes written to {}",
                    s.files,
                    s.bytes,
                    dir.display()
                )
            })
        }
        MimeiCmd::Db(db) => run_db(c, out, db).await,
        MimeiCmd::Refs { id } => {
            let refs: Vec<MimeiRef> = c.get(&format!("{}/refs", base(&id))).await?;
            out.value(&refs, || {
                for r in &refs {
                    println!("{}  {}", r.mimei, r.count);
                }
            })
        }
        MimeiCmd::Ref { id, target, delta } => {
            let r: MimeiRef = c
                .post(
                    &format!("{}/refs", base(&id)),
                    &json!({"target": target, "delta": delta}),
                )
                .await?;
            out.value(&r, || println!("{}  {}", r.mimei, r.count))
        }
        MimeiCmd::Verify { id } => {
            let r: VerifyReport = c.post(&format!("{}/verify", base(&id)), &()).await?;
            out.value(&r, || {
                println!(
                    "{} versions, {} files, {} bytes checked",
                    r.versions, r.files, r.bytes
                );
                for p in &r.problems {
                    println!("PROBLEM: {p}");
                }
                if r.problems.is_empty() {
                    println!("all intact");
                }
            })?;
            if r.problems.is_empty() {
                Ok(())
            } else {
                bail!("{} problems found", r.problems.len())
            }
        }
        MimeiCmd::Split { id, path, mark } => {
            let info: MimeiInfo = c
                .post(
                    &format!("{}/split", base(&id)),
                    &json!({"path": path, "mark": mark}),
                )
                .await?;
            out.value(&info, || println!("{}", info.id))
        }
        MimeiCmd::Rights { id, member, guest } => {
            let rights = Rights {
                member: perms(&member)?,
                guest: perms(&guest)?,
            };
            let info: MimeiInfo = c
                .json(Method::PUT, &format!("{}/rights", base(&id)), Some(&rights))
                .await?;
            out.value(&info, || {
                println!(
                    "rights: member {:?}, guest {:?}",
                    info.rights.member, info.rights.guest
                )
            })
        }
        MimeiCmd::Member { id, user, role } => {
            let url = format!("{}/members/{}", base(&id), enc(&user));
            let info: MimeiInfo = if role == "none" {
                c.json(Method::DELETE, &url, None::<&()>).await?
            } else {
                c.json(Method::PUT, &url, Some(&json!({"role": role})))
                    .await?
            };
            out.value(&info, || println!("members: {:?}", info.members))
        }
    }
}

async fn run_db(c: &Client, out: &Out, cmd: DbCmd) -> Result<()> {
    let base = |id: &str| format!("/api/v1/mimei/{}/db", enc(id));
    match cmd {
        DbCmd::Put { id, key, value } => {
            c.call(
                Method::PUT,
                &format!("{}/{}", base(&id), enc(&key)),
                Body::from(value),
                Some("application/octet-stream"),
                None,
            )
            .await?;
            out.value(&json!({"ok": true}), || {})
        }
        DbCmd::Get { target, key } => {
            let resp = c
                .call(
                    Method::GET,
                    &format!("{}/{}?{}", base(&target.id), enc(&key), target.query()),
                    Body::empty(),
                    None,
                    None,
                )
                .await?;
            let bytes = resp.into_body().collect().await?.to_bytes();
            std::io::stdout().write_all(&bytes)?;
            if out.is_tty() {
                println!();
            }
            Ok(())
        }
        DbCmd::Rm { id, key } => {
            let v: serde_json::Value = c
                .json(
                    Method::DELETE,
                    &format!("{}/{}", base(&id), enc(&key)),
                    None::<&()>,
                )
                .await?;
            out.value(&v, || println!("existed: {}", v["existed"]))
        }
        DbCmd::Scan { target, range } => {
            let mut q = vec![target.query()];
            for (k, v) in [
                ("prefix", &range.prefix),
                ("start", &range.start),
                ("end", &range.end),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", enc(v)));
                }
            }
            if let Some(l) = range.limit {
                q.push(format!("limit={l}"));
            }
            let items: Vec<serde_json::Value> = c
                .get(&format!("{}?{}", base(&target.id), q.join("&")))
                .await?;
            out.value(&items, || {
                for i in &items {
                    let v = i
                        .get("value")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            format!("(base64) {}", i["value_base64"].as_str().unwrap_or(""))
                        });
                    println!("{}\t{}", i["key"].as_str().unwrap_or(""), v);
                }
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Line<T> {
    Progress(Progress),
    Done(T),
    Error(leither_core::api::error::ErrorDetail),
}

/// Run a long job with a progress bar fed by the node's NDJSON progress lines.
async fn with_progress<T: serde::de::DeserializeOwned>(
    c: &Client,
    out: &Out,
    path: &str,
    body: serde_json::Value,
    what: &str,
) -> Result<T> {
    let resp = c
        .call(
            Method::POST,
            path,
            Body::from(serde_json::to_vec(&body)?),
            Some("application/json"),
            Some("application/x-ndjson"),
        )
        .await?;
    let bar = out.progress_bar(what);
    let mut stream = resp.into_body().into_data_stream();
    let mut buf = Vec::new();
    use futures_util::StreamExt;
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            match serde_json::from_slice::<Line<T>>(&line)? {
                Line::Progress(p) => {
                    if let Some(bar) = &bar {
                        bar.set_length(p.bytes_total);
                        bar.set_position(p.bytes_done);
                        bar.set_message(format!("{}/{} files", p.files_done, p.files_total));
                    }
                }
                Line::Done(v) => {
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
                    return Ok(v);
                }
                Line::Error(e) => {
                    if let Some(bar) = bar {
                        bar.abandon();
                    }
                    return Err(crate::client::ApiFailure {
                        body: ErrorBody { error: e },
                    }
                    .into());
                }
            }
        }
    }
    bail!("the node ended the {what} stream without a result")
}

fn file_stream(
    f: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> {
    futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}

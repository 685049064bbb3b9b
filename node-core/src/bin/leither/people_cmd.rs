//! `leither me | invite | friend | msg | stream | org`: friends, messages and
//! organizations, as calls to the node's `/api/v1/social` and `/api/v1/orgs`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::http::Method;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Client, enc};
use crate::output::Out;

#[derive(Subcommand, Debug)]
pub enum FriendCmd {
    /// Ask someone to be friends: their user ID, an invite (`leither:friend:…`) or
    /// their display name (found on the network; must be unique).
    Add {
        who: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Accept a friend request.
    Accept { user: String },
    /// Decline a friend request.
    Decline { user: String },
    /// Remove a friend or pending request (also undoes a block).
    Remove { user: String },
    /// Block a user: their requests and messages are dropped.
    Block { user: String },
    /// Friends, pending requests and blocked users.
    #[command(alias = "ls")]
    List,
    /// Find people on the network by display name.
    Find { name: String },
}

#[derive(Subcommand, Debug)]
pub enum MsgCmd {
    /// Send a direct message to a friend.
    Send { user: String, text: String },
    /// Conversations, or the messages of one (oldest first).
    Ls {
        user: Option<String>,
        /// Only messages older than this time (ms since the epoch).
        #[arg(long)]
        before: Option<u64>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Mark a conversation read (sends a read receipt).
    Read { user: String },
}

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Create an organization (you become its admin).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        about: String,
    },
    /// Your organizations.
    #[command(alias = "list")]
    Ls,
    /// One organization: members, roles, apps, applications.
    Info { org: String },
    /// Make an invite (`leither:org:…`) someone can apply with.
    Invite { org: String },
    /// Find an org on the network by its ID alone: name, about, admins, members.
    Lookup { org: String },
    /// Apply to join, with an org invite (through the member who made it), or with the
    /// org's ID alone (found on the network; the application goes to its admins).
    Apply {
        /// `leither:org:…` invite, or an org ID.
        invite: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Approve an application (admins).
    Approve { org: String, user: String },
    /// Reject an application (admins).
    Reject { org: String, user: String },
    /// Members and their roles.
    Members { org: String },
    /// Set a member's role: guest, member or admin (admins; admin: the creator).
    Role {
        org: String,
        user: String,
        role: String,
    },
    /// Remove a member (admins).
    Remove { org: String, user: String },
    /// Post to the org chat.
    Say { org: String, text: String },
    /// Chat history (oldest first).
    History {
        org: String,
        #[arg(long)]
        before: Option<u64>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Send a request whose answer has no body (204).
async fn no_body(c: &Client, method: Method, path: &str) -> Result<()> {
    c.call(method, path, Body::empty(), None, None).await?;
    Ok(())
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn print_friend(f: &Value) {
    println!("{:<9} {}  {}", s(&f["state"]), s(&f["user"]), s(&f["name"]));
}

/// `leither me`: show or change the profile.
pub async fn me(
    c: &Client,
    out: &Out,
    name: Option<String>,
    bio: Option<String>,
    avatar: Option<PathBuf>,
) -> Result<()> {
    if name.is_some() || bio.is_some() {
        let _: Value = c
            .json(
                Method::PUT,
                "/api/v1/social/profile",
                Some(&json!({"name": name, "bio": bio})),
            )
            .await?;
    }
    if let Some(path) = avatar {
        let ct = match path.extension().and_then(|e| e.to_str()) {
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("webp") => "image/webp",
            Some("gif") => "image/gif",
            Some("svg") => "image/svg+xml",
            _ => bail!("the avatar must be a .png, .jpg, .webp, .gif or .svg file"),
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        c.call(
            Method::PUT,
            "/api/v1/social/profile/avatar",
            Body::from(bytes),
            Some(ct),
            None,
        )
        .await?;
    }
    let p: Value = c.get("/api/v1/social/profile").await?;
    out.value(&p, || {
        println!("user     {}", s(&p["user"]));
        println!("name     {}", s(&p["name"]));
        println!("bio      {}", s(&p["bio"]));
        println!("avatar   {}", p["avatar"].as_str().unwrap_or("-"));
        println!("profile  {}", s(&p["mimei"]));
        for d in p["devices"].as_array().into_iter().flatten() {
            println!("device   {}  {}", s(&d["node"]), s(&d["name"]));
        }
    })
}

/// `leither invite`: a friend invite to share.
pub async fn invite(c: &Client, out: &Out) -> Result<()> {
    let v: Value = c.post("/api/v1/social/invite", &json!({})).await?;
    out.value(&v, || println!("{}", s(&v["invite"])))
}

pub async fn friend(c: &Client, out: &Out, cmd: FriendCmd) -> Result<()> {
    let path = |u: &str, what: &str| format!("/api/v1/social/friends/{}{what}", enc(u));
    match cmd {
        FriendCmd::Add { who, note } => {
            let body = if who.starts_with("leither:") {
                json!({"invite": who, "note": note})
            } else if who.parse::<leither_core::identity::UserId>().is_ok() {
                json!({"user": who, "note": note})
            } else {
                json!({"name": who, "note": note})
            };
            let f: Value = c.post("/api/v1/social/friends", &body).await?;
            out.value(&f, || {
                if s(&f["state"]) == "friend" {
                    println!("friends with {}", s(&f["user"]));
                } else {
                    println!(
                        "friend request to {} queued (sent when the network reaches them)",
                        s(&f["user"])
                    );
                }
            })
        }
        FriendCmd::Find { name } => {
            let v: Value = c
                .get(&format!("/api/v1/social/people?name={}", enc(&name)))
                .await?;
            out.value(&v, || {
                let found = v.as_array().cloned().unwrap_or_default();
                if found.is_empty() {
                    println!("nobody called {name:?} found on the network");
                }
                for p in found {
                    println!("{}  {}  {}", s(&p["user"]), s(&p["name"]), s(&p["bio"]));
                }
            })
        }
        FriendCmd::Accept { user } => {
            let f: Value = c.post(&path(&user, "/accept"), &json!({})).await?;
            out.value(&f, || println!("friends with {user}"))
        }
        FriendCmd::Decline { user } => {
            no_body(c, Method::POST, &path(&user, "/decline")).await?;
            out.value(&json!({"declined": user}), || println!("declined {user}"))
        }
        FriendCmd::Remove { user } => {
            no_body(c, Method::DELETE, &path(&user, "")).await?;
            out.value(&json!({"removed": user}), || println!("removed {user}"))
        }
        FriendCmd::Block { user } => {
            let f: Value = c.post(&path(&user, "/block"), &json!({})).await?;
            out.value(&f, || println!("blocked {user}"))
        }
        FriendCmd::List => {
            let v: Value = c.get("/api/v1/social/friends").await?;
            out.value(&v, || {
                let list = v.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    println!("no friends yet (`leither invite`, `leither friend add`)");
                }
                list.iter().for_each(print_friend);
            })
        }
    }
}

pub async fn msg(c: &Client, out: &Out, cmd: MsgCmd) -> Result<()> {
    match cmd {
        MsgCmd::Send { user, text } => {
            let m: Value = c
                .post(
                    &format!("/api/v1/social/conversations/{}/messages", enc(&user)),
                    &json!({"text": text}),
                )
                .await?;
            out.value(&m, || println!("{} {}", s(&m["status"]), s(&m["id"])))
        }
        MsgCmd::Ls {
            user: None,
            before: _,
            limit: _,
        } => {
            let v: Value = c.get("/api/v1/social/conversations").await?;
            out.value(&v, || {
                for conv in v.as_array().into_iter().flatten() {
                    println!(
                        "{}  {:<16} {:>3} unread  {}",
                        s(&conv["user"]),
                        s(&conv["name"]),
                        conv["unread"],
                        s(&conv["last"]["text"])
                    );
                }
            })
        }
        MsgCmd::Ls {
            user: Some(user),
            before,
            limit,
        } => {
            let mut q = format!("limit={limit}");
            if let Some(b) = before {
                q.push_str(&format!("&before={b}"));
            }
            let v: Value = c
                .get(&format!(
                    "/api/v1/social/conversations/{}/messages?{q}",
                    enc(&user)
                ))
                .await?;
            out.value(&v, || {
                for m in v.as_array().into_iter().flatten() {
                    let who = if m["outgoing"].as_bool() == Some(true) {
                        "me"
                    } else {
                        short(s(&m["peer"]))
                    };
                    println!(
                        "{} {:<12} [{}] {}",
                        m["time"],
                        who,
                        s(&m["status"]),
                        s(&m["text"])
                    );
                }
            })
        }
        MsgCmd::Read { user } => {
            no_body(
                c,
                Method::POST,
                &format!("/api/v1/social/conversations/{}/read", enc(&user)),
            )
            .await?;
            out.value(&json!({"read": user}), || println!("marked read"))
        }
    }
}

/// `leither stream`: everything addressed to you.
pub async fn stream(c: &Client, out: &Out, limit: usize) -> Result<()> {
    let v: Value = c
        .get(&format!("/api/v1/social/stream?limit={limit}"))
        .await?;
    out.value(&v, || {
        println!("{} unread", v["unread"]["stream"]);
        for i in v["items"].as_array().into_iter().flatten() {
            println!(
                "{} {} {:<15} {}",
                if i["read"].as_bool() == Some(true) {
                    " "
                } else {
                    "*"
                },
                i["time"],
                s(&i["kind"]),
                s(&i["text"])
            );
        }
    })
}

fn print_members(v: &Value) {
    for m in v["members"].as_array().into_iter().flatten() {
        println!("{:<7} {}  {}", s(&m["role"]), s(&m["user"]), s(&m["name"]));
    }
}

pub async fn org(c: &Client, out: &Out, cmd: OrgCmd) -> Result<()> {
    let base = |o: &str| format!("/api/v1/orgs/{}", enc(o));
    match cmd {
        OrgCmd::Create { name, about } => {
            let v: Value = c
                .post("/api/v1/orgs", &json!({"name": name, "about": about}))
                .await?;
            out.value(&v, || println!("{}", s(&v["org"])))
        }
        OrgCmd::Ls => {
            let v: Value = c.get("/api/v1/orgs").await?;
            out.value(&v, || {
                for o in v.as_array().into_iter().flatten() {
                    println!(
                        "{}  {:<8} {}",
                        s(&o["org"]),
                        o["my_role"].as_str().unwrap_or("pending"),
                        s(&o["name"])
                    );
                }
            })
        }
        OrgCmd::Info { org } => {
            let v: Value = c.get(&base(&org)).await?;
            out.value(&v, || {
                println!("org      {}", s(&v["org"]));
                println!("name     {}", s(&v["name"]));
                println!("about    {}", s(&v["about"]));
                println!("creator  {}", s(&v["creator"]));
                println!("my role  {}", v["my_role"].as_str().unwrap_or("pending"));
                print_members(&v);
                for a in v["applications"].as_array().into_iter().flatten() {
                    println!(
                        "applies {}  {}: {}",
                        s(&a["user"]),
                        s(&a["name"]),
                        s(&a["note"])
                    );
                }
            })
        }
        OrgCmd::Invite { org } => {
            let v: Value = c
                .post(&format!("{}/invite", base(&org)), &json!({}))
                .await?;
            out.value(&v, || println!("{}", s(&v["invite"])))
        }
        OrgCmd::Lookup { org } => {
            let v: Value = c.get(&format!("{}/lookup", base(&org))).await?;
            out.value(&v, || {
                println!("{}  {}", s(&v["name"]), s(&v["org"]));
                if !s(&v["about"]).is_empty() {
                    println!("{}", s(&v["about"]));
                }
                print_members(&v);
            })
        }
        OrgCmd::Apply { invite, note } => {
            let body = if invite.starts_with("leither:") {
                json!({"invite": invite, "note": note})
            } else {
                json!({"org": invite, "note": note})
            };
            let v: Value = c.post("/api/v1/orgs/apply", &body).await?;

            out.value(&v, || {
                println!(
                    "applied to {} (sent when the network reaches the member)",
                    s(&v["org"])
                )
            })
        }
        OrgCmd::Approve { org, user } => {
            let v: Value = c
                .post(
                    &format!("{}/applications/{}/approve", base(&org), enc(&user)),
                    &json!({}),
                )
                .await?;
            out.value(&v, || println!("approved {user}"))
        }
        OrgCmd::Reject { org, user } => {
            no_body(
                c,
                Method::POST,
                &format!("{}/applications/{}/reject", base(&org), enc(&user)),
            )
            .await?;
            out.value(&json!({"rejected": user}), || println!("rejected {user}"))
        }
        OrgCmd::Members { org } => {
            let v: Value = c.get(&base(&org)).await?;
            out.value(&v["members"], || print_members(&v))
        }
        OrgCmd::Role { org, user, role } => {
            let v: Value = c
                .json(
                    Method::PUT,
                    &format!("{}/members/{}", base(&org), enc(&user)),
                    Some(&json!({"role": role})),
                )
                .await?;
            out.value(&v, || println!("{user} is now {role}"))
        }
        OrgCmd::Remove { org, user } => {
            let v: Value = c
                .json(
                    Method::DELETE,
                    &format!("{}/members/{}", base(&org), enc(&user)),
                    None::<&()>,
                )
                .await?;
            out.value(&v, || println!("removed {user}"))
        }
        OrgCmd::Say { org, text } => {
            let v: Value = c
                .post(&format!("{}/chat", base(&org)), &json!({"text": text}))
                .await?;
            out.value(&v, || println!("{} {}", v["time"], s(&v["id"])))
        }
        OrgCmd::History { org, before, limit } => {
            let mut q = format!("limit={limit}");
            if let Some(b) = before {
                q.push_str(&format!("&before={b}"));
            }
            let v: Value = c.get(&format!("{}/chat?{q}", base(&org))).await?;
            out.value(&v, || {
                for m in v.as_array().into_iter().flatten() {
                    println!(
                        "{} {:<12} {}",
                        m["time"],
                        short(s(&m["author"])),
                        s(&m["text"])
                    );
                }
            })
        }
    }
}

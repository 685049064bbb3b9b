//! `leither`: the headless Leither node and its command line.
//!
//! Every command is a request to the node's API — to the running node if there is one,
//! else to a node opened inside this process (see `client.rs`).

mod app_cmd;
mod client;
mod ident;
mod mimei_cmd;
mod net_cmd;
mod output;
mod people_cmd;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use leither_core::api::{self, API_INFO_FILE, ApiInfo};
use leither_core::config::{self, CONFIG_FILE, Config};
use leither_core::identity::{Identity, KeyBackend, RecoveryPhrase};
use leither_core::node::Node;

use crate::client::Client;
use crate::output::Out;

#[derive(Parser, Debug)]
#[command(
    name = "leither",
    version,
    about = "Leither: your own peer-to-peer personal cloud node"
)]
struct Cli {
    /// Data directory (default: the platform's data dir, e.g. ~/.local/share/leither).
    #[arg(long, global = true, env = "LEITHER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Log level or filter (overrides the config file; RUST_LOG overrides both).
    #[arg(long, global = true)]
    log_level: Option<String>,
    /// File holding the key-file passphrase (when no OS keyring is used; the
    /// environment variable LEITHER_PASSPHRASE works too).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create the data directory, config file and identity (prints the recovery phrase).
    Init {
        /// Where secret keys go: auto (OS keyring if it works, else encrypted file),
        /// keyring, or file.
        #[arg(long, default_value = "auto")]
        keys: KeyBackend,
        /// Restore an existing identity from its recovery phrase (read from the
        /// terminal, stdin or --phrase-file): this becomes another device of that user.
        #[arg(long)]
        recover: bool,
        #[arg(long, requires = "recover")]
        phrase_file: Option<PathBuf>,
    },
    /// Show this node's identity, or its recovery phrase.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Run the node and its API until interrupted.
    Run {
        /// Address of the loopback API (overrides config `api.listen`), e.g. 127.0.0.1:0.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// On first run, create or restore the identity in the UI (`leither ui`)
        /// instead of here; an identity whose key file needs a passphrase is unlocked
        /// there too.
        #[arg(long)]
        onboard: bool,
        /// Light-node profile (config `node.profile = "light"`): serves only this
        /// user's data, bounded storage and connections.
        #[arg(long)]
        light: bool,
    },
    /// Print the link that opens this node's UI in a browser, signed in (keep it
    /// private: it holds the API token, in the part browsers never send).
    Ui,
    /// Show what this node is and holds.
    Status,
    /// Mimei: versioned files and databases.
    #[command(subcommand)]
    Mimei(mimei_cmd::MimeiCmd),
    /// Mimei apps: publish, install, update, uninstall, grants, open.
    #[command(subcommand)]
    App(app_cmd::AppCmd),
    /// Free stored blocks that nothing references.
    Gc,
    /// Peers this node is connected to.
    Peers,
    /// Connect to a peer by multiaddr (`/ip4/…/tcp/…/p2p/…`).
    Dial { addr: String },
    /// The signed DHT records this node stores.
    Records,
    /// Names in the network: claim, resolve.
    #[command(subcommand)]
    Name(net_cmd::NameCmd),
    /// Print the API URL and token location (for curl and other clients).
    Api,
    /// Your profile: show it, or change name, bio or avatar.
    Me {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        bio: Option<String>,
        /// An image file (.png, .jpg, .webp, .gif, .svg; at most 2 MiB).
        #[arg(long)]
        avatar: Option<PathBuf>,
    },
    /// Make a friend invite (`leither:friend:…`) to share as a link or QR code.
    Invite,
    /// Friends: add, accept, decline, remove, block, list.
    #[command(subcommand)]
    Friend(people_cmd::FriendCmd),
    /// Direct messages: send, ls, read.
    #[command(subcommand)]
    Msg(people_cmd::MsgCmd),
    /// Everything addressed to you (messages, requests, org events), newest first.
    Stream {
        #[arg(long, default_value_t = 30)]
        limit: usize,
    },
    /// Organizations: create, apply, approve, members, chat.
    #[command(subcommand)]
    Org(people_cmd::OrgCmd),
}

#[derive(Subcommand, Debug)]
enum IdentityCmd {
    /// User, node and account IDs and where the keys are kept.
    Show,
    /// Print the 24-word recovery phrase (keep it secret; it restores your identity).
    Phrase,
}

fn main() {
    let cli = Cli::parse();
    let out = Out { json: cli.json };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cli, &out)) {
        if let (true, Some(f)) = (out.json, e.downcast_ref::<client::ApiFailure>()) {
            println!(
                "{}",
                serde_json::to_string_pretty(&f.body).unwrap_or_default()
            );
        } else {
            eprintln!("error: {e:#}");
        }
        std::process::exit(1);
    }
}

fn init_logging(config: &Config, flag: Option<&str>) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or(flag.map(str::to_string))
        .unwrap_or_else(|| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli, out: &Out) -> Result<()> {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    let config = Config::load(&data_dir)?;
    init_logging(
        &config,
        cli.log_level.as_deref().or(match cli.cmd {
            Cmd::Run { .. } => None,
            _ => Some("warn"),
        }),
    );
    let pass = ident::PassphraseSource {
        file: cli.passphrase_file.clone(),
    };
    match cli.cmd {
        Cmd::Init {
            keys,
            recover,
            phrase_file,
        } => {
            let phrase = if recover {
                Some(ident::read_phrase(phrase_file.as_deref())?)
            } else {
                None
            };
            init(&data_dir, keys, phrase, &pass, out)
        }
        Cmd::Identity(IdentityCmd::Show) => {
            let id = Identity::read_public(&data_dir)?;
            out.value(&id, || {
                println!("user      {}", id.user);
                println!("node      {}", id.node);
                println!("account   {}", id.account);
                println!("keys      {:?}", id.backend);
            })
        }
        Cmd::Identity(IdentityCmd::Phrase) => {
            let id = ident::unlock(&data_dir, &pass)?;
            let phrase = id.recovery_phrase();
            let words = phrase.show();
            out.value(&serde_json::json!({"phrase": words.as_str()}), || {
                println!("{}", words.as_str())
            })
        }
        Cmd::Run {
            listen,
            onboard,
            light,
        } => run_node(&data_dir, config, listen, onboard, light, &pass, out).await,
        Cmd::Ui => {
            let info: ApiInfo = std::fs::read_to_string(data_dir.join(API_INFO_FILE))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .with_context(|| {
                    format!(
                        "no node is running on {} (start one with `leither run`)",
                        data_dir.display()
                    )
                })?;
            let token = std::fs::read_to_string(data_dir.join(api::auth::TOKEN_FILE))
                .context("reading the API token")?;
            let link = format!("{}/#token={}", info.url, token.trim());
            out.value(&serde_json::json!({"url": info.url, "link": link}), || {
                println!("{link}")
            })
        }
        Cmd::Status => {
            let c = connect(&data_dir, &config).await?;
            let mut v: serde_json::Value = c.get("/api/v1/node").await?;
            let net = net_cmd::status_lines(&c).await;
            v["net"] = net.clone().unwrap_or(serde_json::Value::Null);
            out.value(&v, || {
                println!(
                    "node {}",
                    if c.is_remote() {
                        "running"
                    } else {
                        "not running (opened in this process)"
                    }
                );
                println!("user      {}", v["user"].as_str().unwrap_or(""));
                println!("data dir  {}", v["data_dir"].as_str().unwrap_or(""));
                println!("mimei     {}", v["mimei_count"]);
                println!(
                    "blocks    {} ({} bytes; {} on disk)",
                    v["store"]["blocks"], v["store"]["block_bytes"], v["store"]["disk_bytes"]
                );
                match &net {
                    Some(n) => {
                        println!("net node  {}", n["node"].as_str().unwrap_or(""));
                        println!(
                            "peers     {} connected, {} in the routing table",
                            n["peers"], n["routing_table"]
                        );
                        println!("NAT       {}", n["nat"].as_str().unwrap_or(""));
                        for a in n["listen"].as_array().into_iter().flatten() {
                            println!("listen    {}", a.as_str().unwrap_or(""));
                        }
                        println!("records   {} stored for the DHT", n["stored_records"]);
                    }
                    None => println!("net       off"),
                }
            })
        }
        Cmd::Mimei(m) => {
            let c = connect(&data_dir, &config).await?;
            mimei_cmd::run(&c, out, m).await
        }
        Cmd::App(a) => {
            let c = connect(&data_dir, &config).await?;
            app_cmd::run(&c, out, a).await
        }
        Cmd::Peers => net_cmd::peers(&connect(&data_dir, &config).await?, out).await,
        Cmd::Dial { addr } => net_cmd::dial(&connect(&data_dir, &config).await?, out, &addr).await,
        Cmd::Records => net_cmd::records(&connect(&data_dir, &config).await?, out).await,
        Cmd::Name(n) => net_cmd::name(&connect(&data_dir, &config).await?, out, n).await,
        Cmd::Gc => {
            let c = connect(&data_dir, &config).await?;
            let v: serde_json::Value = c.post("/api/v1/store/gc", &()).await?;
            out.value(&v, || {
                println!(
                    "freed {} blocks ({} bytes)",
                    v["blocks_freed"], v["bytes_freed"]
                )
            })
        }
        Cmd::Me { name, bio, avatar } => {
            let c = connect_people(&data_dir, &config, &pass).await?;
            people_cmd::me(&c, out, name, bio, avatar).await
        }
        Cmd::Invite => {
            let c = connect_people(&data_dir, &config, &pass).await?;
            people_cmd::invite(&c, out).await
        }
        Cmd::Friend(f) => {
            let c = connect_people(&data_dir, &config, &pass).await?;
            people_cmd::friend(&c, out, f).await
        }
        Cmd::Msg(m) => {
            let c = connect_people(&data_dir, &config, &pass).await?;
            people_cmd::msg(&c, out, m).await
        }
        Cmd::Stream { limit } => {
            let c = connect_people(&data_dir, &config, &pass).await?;
            people_cmd::stream(&c, out, limit).await
        }
        Cmd::Org(o) => {
            let c = connect_people(&data_dir, &config, &pass).await?;
            people_cmd::org(&c, out, o).await
        }
        Cmd::Api => {
            let info: Option<ApiInfo> = std::fs::read_to_string(data_dir.join(API_INFO_FILE))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            let token_file = data_dir.join(api::auth::TOKEN_FILE);
            let v = serde_json::json!({"url": info.as_ref().map(|i| i.url.clone()), "token_file": token_file});
            out.value(&v, || match &info {
                Some(i) => {
                    println!("API:    {}", i.url);
                    println!("token:  {}", token_file.display());
                    println!(
                        "try:    curl -H \"Authorization: Bearer $(cat {})\" {}/api/v1/node",
                        token_file.display(),
                        i.url
                    );
                    println!("spec:   {}{}", i.url, api::OPENAPI_PATH);
                }
                None => println!(
                    "no node is running on {} (start one with `leither run`)",
                    data_dir.display()
                ),
            })
        }
    }
}

fn init(
    data_dir: &Path,
    keys: KeyBackend,
    recover: Option<RecoveryPhrase>,
    pass: &ident::PassphraseSource,
    out: &Out,
) -> Result<()> {
    if Identity::exists(data_dir) {
        bail!(
            "{} already holds an identity (`leither identity show`)",
            data_dir.display()
        );
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    if !data_dir.join(CONFIG_FILE).exists() {
        std::fs::write(data_dir.join(CONFIG_FILE), Config::default_file())?;
    }
    let (id, phrase) = ident::create(data_dir, keys, recover, pass)?;
    let public = id.public();
    let words = phrase.as_ref().map(|p| p.show());
    let v = serde_json::json!({"data_dir": data_dir, "user": public.user, "node": public.node,
        "keys": public.backend, "recovery_phrase": words.as_ref().map(|w| w.as_str())});
    out.value(&v, || {
        println!("data dir  {}", data_dir.display());
        println!("user      {}", public.user);
        println!("node      {}", public.node);
        println!("keys      {:?}", public.backend);
        match &words {
            Some(w) => {
                println!();
                println!(
                    "Your recovery phrase. Write it down and keep it safe: it is the only way to"
                );
                println!("restore this identity on a new device (`leither init --recover`).");
                println!();
                println!("    {}", w.as_str());
                println!();
            }
            None => println!("recovered: this is a new device of user {}", public.user),
        }
    })
}

fn open_node(data_dir: &Path, config: &Config) -> Result<Node> {
    let identity = Identity::read_public(data_dir)?;
    Node::open(data_dir, config.clone(), identity).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") {
            anyhow::anyhow!(
                "another leither process is using {} ({text})",
                data_dir.display()
            )
        } else {
            e.into()
        }
    })
}

async fn connect(data_dir: &Path, config: &Config) -> Result<Client> {
    Client::connect(data_dir, || open_node(data_dir, config)).await
}

/// Like [`connect`], but an in-process node also gets the people service, which needs
/// the unlocked keys (keyring, or the key file's passphrase).
async fn connect_people(
    data_dir: &Path,
    config: &Config,
    pass: &ident::PassphraseSource,
) -> Result<Client> {
    Client::connect(data_dir, || {
        let node = open_node(data_dir, config)?;
        let keys = ident::unlock(data_dir, pass)?;
        node.start_people(std::sync::Arc::new(keys))?;
        Ok(node)
    })
    .await
}

async fn run_node(
    data_dir: &Path,
    mut config: Config,
    listen: Option<std::net::SocketAddr>,
    onboard: bool,
    light: bool,
    pass: &ident::PassphraseSource,
    out: &Out,
) -> Result<()> {
    if let Some(l) = listen {
        config.api.listen = l;
        config.validate()?;
    }
    if light {
        config.node.profile = config::Profile::Light;
    }
    let identity = if onboard {
        None
    } else {
        if !Identity::exists(data_dir) {
            init(data_dir, KeyBackend::Auto, None, pass, out)?;
        }
        // Unlocking proves the keys are there and the passphrase is right before serving.
        Some(ident::unlock(data_dir, pass)?)
    };
    let running = leither_core::run::start(leither_core::run::StartOptions {
        data_dir: data_dir.to_path_buf(),
        config,
        identity,
    })
    .await?;
    let url = running.url.clone();
    let ready = running.gateway.node().is_some();
    out.value(
        &serde_json::json!({"url": url, "data_dir": data_dir, "identity_ready": ready}),
        || {
            println!("Leither node running");
            println!("  API       {url}  (spec: {url}{})", api::OPENAPI_PATH);
            println!("  UI        {url}/  (`leither ui` prints a signed-in link)");
            println!(
                "  token     {}",
                data_dir.join(api::auth::TOKEN_FILE).display()
            );
            println!("  data dir  {}", data_dir.display());
            if !ready {
                println!("  identity  none yet: open the UI to create or restore it");
            }
            println!("Press Ctrl-C to stop.");
        },
    )?;
    running.until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

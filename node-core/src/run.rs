//! Starting a node: one function shared by `leither run` and the desktop shell, so both
//! run the same node on the same data directory and identity.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::api::gateway::Gateway;
use crate::api::{self, API_INFO_FILE, AccessPolicy, ApiInfo};
use crate::config::Config;
use crate::identity::Identity;

/// What to start.
pub struct StartOptions {
    pub data_dir: PathBuf,
    pub config: Config,
    /// An identity the caller already unlocked (the CLI prompts for it). Without one,
    /// the node opens if its identity unlocks without asking (OS keyring, or
    /// `LEITHER_PASSPHRASE`); otherwise the UI onboards or unlocks.
    pub identity: Option<Identity>,
}

/// A node serving its API (and UI) on loopback.
pub struct Running {
    pub url: String,
    pub addr: SocketAddr,
    pub gateway: Arc<Gateway>,
    token: String,
    data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The API token (give it to the UI only through a channel that is not logged).
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The link that opens the UI in a browser already signed in: the token is in the
    /// fragment, which browsers never send to the server.
    pub fn ui_link(&self) -> String {
        format!("{}/#token={}", self.url, self.token)
    }

    /// Serve until `signal` resolves, then stop.
    pub async fn until(mut self, signal: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::select! {
            _ = signal => self.stop().await,
            r = &mut self.task => {
                let _ = std::fs::remove_file(self.data_dir.join(API_INFO_FILE));
                r.context("API task")?.context("serving the API")
            }
        }
    }

    /// Stop serving and wait for open requests to finish.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let r = (&mut self.task).await;
        if let Some(node) = self.gateway.node() {
            node.stop_net().await;
        }
        let _ = std::fs::remove_file(self.data_dir.join(API_INFO_FILE));
        r.context("API task")?.context("serving the API")
    }
}

/// Bind the API address, open the node if its identity is available, serve.
/// Writes `<data dir>/api.json` so local clients find the node.
pub async fn start(opts: StartOptions) -> Result<Running> {
    let StartOptions {
        data_dir,
        config,
        identity,
    } = opts;
    config.validate()?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another node running? use --listen 127.0.0.1:0 for a free port)",
                config.api.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let token = api::auth::load_or_create_token(&data_dir)?;
    let gateway = Gateway::new(
        &data_dir,
        config,
        AccessPolicy::loopback(addr.port(), token.clone()),
    );
    match identity {
        Some(id) => {
            gateway.open(id).map_err(|e| in_use(&data_dir, e.into()))?;
        }
        None => {
            gateway
                .open_if_unlockable()
                .map_err(|e| in_use(&data_dir, e.into()))?;
        }
    }
    gateway.start_network().await?;

    let info = ApiInfo {
        url: url.clone(),
        pid: std::process::id(),
    };
    crate::fsutil::write_private_atomic(
        &data_dir.join(API_INFO_FILE),
        serde_json::to_string(&info)?.as_bytes(),
    )?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(api::serve(gateway.clone(), listener, async move {
        let _ = stopped.await;
    }));
    tracing::info!(%url, data_dir = %data_dir.display(), "Leither node running");
    Ok(Running {
        url,
        addr,
        gateway,
        token,
        data_dir,
        stop: Some(stop),
        task,
    })
}

fn in_use(data_dir: &Path, e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    if text.contains("lock") {
        anyhow::anyhow!(
            "another leither process is using {} ({text})",
            data_dir.display()
        )
    } else {
        e
    }
}

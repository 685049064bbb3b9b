//! The node's configuration: one struct, TOML on disk, documented defaults (GUIDE 9).
//!
//! The file is `<data dir>/config.toml`; a missing file or missing keys mean the
//! defaults below. Command-line flags override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the config file inside the data directory.
pub const CONFIG_FILE: &str = "config.toml";

/// Everything a node can be configured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub api: ApiConfig,
    pub store: StoreSection,
    pub log: LogConfig,
    pub node: NodeSection,
    pub net: crate::net::NetConfig,
}

/// What kind of node this is (SPEC N1, D2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// `full` (serves friends' and orgs' data, no fixed bounds) or `light` (phones and
    /// laptops on battery: serves only its own user's data, bounded storage and
    /// connections). `leither run --light` sets `light`.
    pub profile: Profile,
}

/// The node profile; see [`NodeSection::profile`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Full,
    Light,
}

/// The bounds a profile puts on a node. The network layer asks these before it
/// accepts a connection or agrees to hold data for someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Limits {
    pub profile: Profile,
    /// Whether the node stores and serves data of other users (friends, orgs).
    pub serve_others: bool,
    /// Most bytes of blocks the node keeps (`None`: no bound but the disk).
    pub max_storage_bytes: Option<u64>,
    /// Most simultaneous peer connections.
    pub max_connections: u32,
    /// Page cache of the store, in MiB.
    pub store_cache_mib: u64,
}

/// Storage bound of a light node.
pub const LIGHT_MAX_STORAGE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Connection bound of a light node.
pub const LIGHT_MAX_CONNECTIONS: u32 = 16;
/// Connection bound of a full node.
pub const FULL_MAX_CONNECTIONS: u32 = 256;
/// Store cache of a light node, in MiB (at most).
pub const LIGHT_STORE_CACHE_MIB: u64 = 8;

/// The loopback HTTP/WebSocket API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on. Only loopback addresses are accepted (the API is local).
    /// Port 0 picks a free port; the chosen URL is written to `<data dir>/api.json`.
    pub listen: SocketAddr,
    /// Largest request body (file uploads), in MiB.
    pub max_body_mib: u64,
}

/// The block store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// Page cache of the store, in MiB (bounds memory use).
    pub cache_mib: u64,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`, or a tracing filter such as
    /// `leither_core=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
}

/// Default API port.
pub const DEFAULT_API_PORT: u16 = 7787;

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_API_PORT)),
            max_body_mib: 4096,
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection { cache_mib: 32 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("api.listen must be a loopback address (the API is local only), got {0}")]
    NotLoopback(SocketAddr),
}

impl Config {
    /// Load `<dir>/config.toml`, or the defaults if there is none.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path,
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.api.listen.ip().is_loopback() {
            return Err(ConfigError::NotLoopback(self.api.listen));
        }
        Ok(())
    }

    /// The bounds of this node's profile.
    pub fn limits(&self) -> Limits {
        match self.node.profile {
            Profile::Full => Limits {
                profile: Profile::Full,
                serve_others: true,
                max_storage_bytes: None,
                max_connections: FULL_MAX_CONNECTIONS,
                store_cache_mib: self.store.cache_mib,
            },
            Profile::Light => Limits {
                profile: Profile::Light,
                serve_others: false,
                max_storage_bytes: Some(LIGHT_MAX_STORAGE_BYTES),
                max_connections: LIGHT_MAX_CONNECTIONS,
                store_cache_mib: self.store.cache_mib.min(LIGHT_STORE_CACHE_MIB),
            },
        }
    }

    /// The defaults as a commented TOML file, for `leither init`.
    pub fn default_file() -> String {
        let body = toml::to_string_pretty(&Config::default()).unwrap_or_default();
        format!(
            "# Leither node configuration. Every key is optional; these are the defaults.\n\
             # Command-line flags override this file.\n\n{body}"
        )
    }
}

/// The platform's data directory for Leither (e.g. `~/.local/share/leither` on Linux),
/// unless `LEITHER_DATA_DIR` is set.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LEITHER_DATA_DIR") {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("org", "Leither", "leither")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".leither"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_the_default_file() {
        let parsed: Config = toml::from_str(&Config::default_file()).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn partial_file_keeps_other_defaults_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[api]\nlisten = \"127.0.0.1:0\"\n",
        )
        .unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!(c.api.listen.port(), 0);
        assert_eq!(c.store, StoreSection::default());
        std::fs::write(dir.path().join(CONFIG_FILE), "[api]\nlisen = \"x\"\n").unwrap();
        assert!(matches!(
            Config::load(dir.path()),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[api]\nlisten = \"0.0.0.0:80\"\n",
        )
        .unwrap();
        assert!(matches!(
            Config::load(dir.path()),
            Err(ConfigError::NotLoopback(_))
        ));
    }

    #[test]
    fn light_profile_bounds_the_node() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[node]\nprofile = \"light\"\n[store]\ncache_mib = 64\n",
        )
        .unwrap();
        let light = Config::load(dir.path()).unwrap().limits();
        assert_eq!(light.profile, Profile::Light);
        assert!(!light.serve_others);
        assert_eq!(light.max_storage_bytes, Some(LIGHT_MAX_STORAGE_BYTES));
        assert_eq!(light.max_connections, LIGHT_MAX_CONNECTIONS);
        assert_eq!(light.store_cache_mib, LIGHT_STORE_CACHE_MIB);
        let full = Config::default().limits();
        assert!(full.serve_others);
        assert_eq!(full.max_storage_bytes, None);
        assert_eq!(full.store_cache_mib, 32);
        std::fs::write(dir.path().join(CONFIG_FILE), "[node]\nprofile = \"tiny\"\n").unwrap();
        assert!(matches!(
            Config::load(dir.path()),
            Err(ConfigError::Parse { .. })
        ));
    }
}

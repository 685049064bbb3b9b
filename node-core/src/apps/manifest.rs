//! `manifest.json`: what an app is and which permissions it asks for.

use std::path::Path;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppError, Result};
use crate::mimei::MimeiPath;

/// Name of the manifest file at the root of an app bundle.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A capability beyond the app's own storage, granted by the user.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Permission {
    /// Its own files and database (always granted; listing it is allowed).
    #[serde(rename = "storage")]
    Storage,
    /// Send and read the user's direct messages.
    #[serde(rename = "messages")]
    Messages,
    /// Read the user's profile.
    #[serde(rename = "profile.read")]
    ProfileRead,
    /// Read public Mimei by ID and version.
    #[serde(rename = "mimei.read")]
    MimeiRead,
}

impl Permission {
    pub const ALL: [Permission; 4] = [
        Permission::Storage,
        Permission::Messages,
        Permission::ProfileRead,
        Permission::MimeiRead,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::Storage => "storage",
            Permission::Messages => "messages",
            Permission::ProfileRead => "profile.read",
            Permission::MimeiRead => "mimei.read",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Permission {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                AppError::BadManifest(format!(
                    "unknown permission `{s}` (known: storage, messages, profile.read, mimei.read)"
                ))
            })
    }
}

fn default_entry() -> String {
    "index.html".into()
}

/// The manifest of an app bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lowercase letters, digits and `-`; with the publisher it names the app Mimei.
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// Path of the icon inside the bundle.
    #[serde(default)]
    pub icon: Option<String>,
    /// The page the app opens with (default `index.html`).
    #[serde(default = "default_entry")]
    pub entry: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// CSP hashes (`sha256-…`) of inline scripts the app needs; none by default.
    #[serde(default)]
    pub script_hashes: Vec<String>,
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| AppError::BadManifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Read and check `<dir>/manifest.json`, and that its entry and icon exist.
    pub fn read_dir(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path)
            .map_err(|e| AppError::BadManifest(format!("reading {}: {e}", path.display())))?;
        let m = Manifest::parse(&bytes)?;
        for f in std::iter::once(&m.entry).chain(m.icon.as_ref()) {
            if !dir.join(f).is_file() {
                return Err(AppError::BadManifest(format!(
                    "`{f}` named in the manifest is not a file in {}",
                    dir.display()
                )));
            }
        }
        Ok(m)
    }

    fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(AppError::BadManifest(why));
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(format!(
                "name `{}`: use 1-64 lowercase letters, digits and `-`",
                self.name
            ));
        }
        if self.version.is_empty() || self.version.len() > 64 {
            return bad("version: 1-64 characters".into());
        }
        if self.description.len() > 1024 {
            return bad("description: at most 1024 bytes".into());
        }
        for f in std::iter::once(&self.entry).chain(self.icon.as_ref()) {
            MimeiPath::parse(f).map_err(|e| AppError::BadManifest(format!("`{f}`: {e}")))?;
            if f.is_empty() {
                return bad("entry: must name a file".into());
            }
        }
        for h in &self.script_hashes {
            let ok = ["sha256-", "sha384-", "sha512-"]
                .iter()
                .any(|p| h.strip_prefix(p).is_some_and(|b| !b.is_empty()))
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=-".contains(&b));
            if !ok {
                return bad(format!("script hash `{h}`: expected sha256-<base64>"));
            }
        }
        Ok(())
    }
}

//! Mimei apps (SPEC A1–A4): an app is a Mimei holding an HTML5 bundle and a
//! `manifest.json`. The publisher imports a directory into the app Mimei, backs it up
//! and marks the backup `release`; a user installs a release, which pins that version,
//! creates the app's private data Mimei and records the permissions the user granted.
//!
//! What lives where (all Mimei of the node's user):
//!
//! | Mimei | app type | holds |
//! |---|---|---|
//! | the app | [`APP_TYPE`], mark = app name, public | bundle + manifest, versions, `release` |
//! | its data | [`DATA_TYPE`], mark = app ID, private | the app's own files and database |
//! | registry | [`REGISTRY_TYPE`], private | installed apps, sessions, background tasks |
//!
//! Running an app (its origin, cookie session, CSP, the route allowlist) is the API's
//! business (`api/app_origin.rs`); this module keeps the state and the rules.
//!
//! Installing from another node: [`LocalSource`] only accepts apps whose Mimei is
//! already on this node; the API's install and update first pull the release the
//! author's routing record names when the node runs the network (`api/apps.rs`).

mod manifest;
mod tasks;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use manifest::{MANIFEST_FILE, Manifest, Permission};
pub use tasks::{
    MAX_TASK_OPS, MAX_TASKS_PER_APP, MIN_DELAY_SECS, MIN_EVERY_SECS, NewTask, Task, TaskOp, TaskRun,
};

use crate::identity::UserId;
use crate::mimei::{
    BatchOp, DbRange, MimeiError, MimeiId, MimeiPath, Mimeis, NewMimei, OwnedDb, Rights, VersionRef,
};

/// App type of an app's Mimei.
pub const APP_TYPE: &str = "leither.app";
/// App type of an app's private data Mimei (its mark is the app ID).
pub const DATA_TYPE: &str = "leither.app-data";
/// App type of the registry of installed apps.
pub const REGISTRY_TYPE: &str = "leither.apps";
/// How long a launch code may wait before it is exchanged.
pub const LAUNCH_CODE_TTL: Duration = Duration::from_secs(60);
/// How long an app session (its cookie) lasts.
pub const SESSION_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// What went wrong with an app operation.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no app named or with ID `{0}` on this node")]
    NotFound(String),
    #[error("app {0} is not installed")]
    NotInstalled(MimeiId),
    #[error("app {0} is already installed (`leither app update` follows its new release)")]
    AlreadyInstalled(MimeiId),
    #[error("`{0}` names more than one app; use its ID")]
    Ambiguous(String),
    #[error("app {0} has no release yet (the publisher runs `leither app publish`)")]
    NoRelease(MimeiId),
    #[error(
        "app Mimei {0} is not on this node, and fetching apps from other nodes is not wired in yet"
    )]
    NotLocal(MimeiId),
    #[error("bad manifest: {0}")]
    BadManifest(String),
    #[error("the app does not ask for permission `{0}` in its manifest")]
    NotRequested(String),
    #[error("invalid or expired launch code")]
    BadLaunchCode,
    #[error("{0}")]
    Limit(String),
    #[error("no task {0}")]
    NoSuchTask(String),
    #[error(transparent)]
    Mimei(#[from] MimeiError),
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Makes sure the release of an app Mimei is on this node before it is installed or
/// updated. The network layer replaces [`LocalSource`] with one that pulls it.
pub trait AppSource: Send + Sync {
    fn ensure_release_local<'a>(
        &'a self,
        app: &'a MimeiId,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;
}

/// Accepts only apps whose Mimei, with a release, is already local.
pub struct LocalSource {
    mimeis: Mimeis,
}

impl AppSource for LocalSource {
    fn ensure_release_local<'a>(
        &'a self,
        app: &'a MimeiId,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            match self.mimeis.heads(app) {
                Ok(h) if h.release.is_some() => Ok(()),
                Ok(_) => Err(AppError::NoRelease(*app)),
                Err(MimeiError::NotFound(_)) => Err(AppError::NotLocal(*app)),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// An app installed for this node's user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InstalledApp {
    /// The app Mimei.
    pub id: MimeiId,
    pub manifest: Manifest,
    /// The version of the app Mimei that runs (the release at install or last update).
    pub version: u64,
    /// Permissions the user granted (own storage is always there).
    pub grants: BTreeSet<Permission>,
    /// The app's private data Mimei.
    pub data: MimeiId,
    /// Milliseconds since the Unix epoch.
    pub installed: u64,
}

/// An installed app with the publisher's current release (for `update`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppListing {
    #[serde(flatten)]
    pub app: InstalledApp,
    /// The app Mimei's current `release` on this node.
    pub release: Option<u64>,
}

/// What `publish` made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Published {
    pub id: MimeiId,
    pub name: String,
    pub version: String,
    /// The app Mimei version now marked `release`.
    pub release: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    app: MimeiId,
    expires: u64,
}

struct Launch {
    app: MimeiId,
    made: Instant,
}

/// The apps of one node. Cheap to clone.
#[derive(Clone)]
pub struct Apps {
    mimeis: Mimeis,
    user: UserId,
    registry: Arc<OnceLock<OwnedDb>>,
    launches: Arc<Mutex<HashMap<String, Launch>>>,
    source: Arc<RwLock<Arc<dyn AppSource>>>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random_token() -> Result<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)
        .map_err(|e| AppError::Mimei(MimeiError::Corrupt(format!("no randomness: {e}"))))?;
    Ok(crate::encoding::encode(&raw))
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn parse<T: for<'a> Deserialize<'a>>(b: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| MimeiError::Corrupt(format!("{what}: {e}")).into())
}

fn app_key(app: &MimeiId) -> String {
    format!("app/{app}")
}

fn session_key(token: &str) -> String {
    format!("session/{}", blake3::hash(token.as_bytes()).to_hex())
}

impl Apps {
    pub fn new(mimeis: Mimeis, user: UserId) -> Self {
        let source: Arc<dyn AppSource> = Arc::new(LocalSource {
            mimeis: mimeis.clone(),
        });
        Apps {
            mimeis,
            user,
            registry: Arc::new(OnceLock::new()),
            launches: Arc::default(),
            source: Arc::new(RwLock::new(source)),
        }
    }

    /// Replace where app releases come from (the network layer's pull).
    pub fn set_source(&self, source: Arc<dyn AppSource>) {
        if let Ok(mut s) = self.source.write() {
            *s = source;
        }
    }

    /// Where app releases come from.
    pub fn source(&self) -> Arc<dyn AppSource> {
        match self.source.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn mimeis(&self) -> &Mimeis {
        &self.mimeis
    }

    /// The registry if it exists: reads (and the task scheduler) do not create it, so a
    /// node without apps has no registry Mimei.
    fn registry_existing(&self) -> Result<Option<&OwnedDb>> {
        if let Some(r) = self.registry.get() {
            return Ok(Some(r));
        }
        let id = MimeiId::derive(&self.user, REGISTRY_TYPE, "", "installed");
        match self.mimeis.info(&id) {
            Ok(_) => self.registry().map(Some),
            Err(MimeiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn registry(&self) -> Result<&OwnedDb> {
        if let Some(r) = self.registry.get() {
            return Ok(r);
        }
        let db = OwnedDb::open(&self.mimeis, &self.user, REGISTRY_TYPE, "installed", None)?;
        Ok(self.registry.get_or_init(|| db))
    }

    /// Publish the app in `dir` (with its `manifest.json`): create or update the app
    /// Mimei's `cur` to mirror the directory, back it up and mark it `release`.
    pub fn publish(&self, dir: &Path) -> Result<Published> {
        let manifest = Manifest::read_dir(dir)?;
        let id = self.mimeis.ensure(
            &self.user,
            &NewMimei {
                app_type: APP_TYPE.into(),
                ext: String::new(),
                mark: manifest.name.clone(),
                rights: Some(Rights::public()),
            },
        )?;
        self.mimeis
            .import_dir(&self.user, &id, dir, &MimeiPath::root(), &|_| {})?;
        let rec = self.mimeis.backup(
            &self.user,
            &id,
            &format!("{} {}", manifest.name, manifest.version),
        )?;
        self.mimeis
            .release(&self.user, &id, VersionRef::Number(rec.number))?;
        Ok(Published {
            id,
            name: manifest.name,
            version: manifest.version,
            release: rec.number,
        })
    }

    /// The app Mimei named by an ID or by an app name (the mark of a local app Mimei).
    pub fn resolve(&self, id_or_name: &str) -> Result<MimeiId> {
        if let Ok(id) = id_or_name.parse::<MimeiId>() {
            return Ok(id);
        }
        let found: Vec<MimeiId> = self
            .mimeis
            .all()?
            .into_iter()
            .filter(|i| i.app_type == APP_TYPE && i.mark == id_or_name)
            .map(|i| i.id)
            .collect();
        match found.as_slice() {
            [] => Err(AppError::NotFound(id_or_name.into())),
            [one] => Ok(*one),
            _ => Err(AppError::Ambiguous(id_or_name.into())),
        }
    }

    /// The manifest of a version of an app Mimei.
    pub fn manifest_at(&self, app: &MimeiId, version: u64) -> Result<Manifest> {
        let info = self.mimeis.info(app)?;
        if info.app_type != APP_TYPE {
            return Err(AppError::NotFound(app.to_string()));
        }
        let path = MimeiPath::parse(MANIFEST_FILE)?;
        let bytes = self
            .mimeis
            .read_file(&self.user, app, VersionRef::Number(version), &path)
            .and_then(|r| Ok(r.read_all()?))
            .map_err(|e| AppError::BadManifest(format!("reading {MANIFEST_FILE}: {e}")))?;
        Manifest::parse(&bytes)
    }

    fn release_of(&self, app: &MimeiId) -> Result<u64> {
        self.mimeis
            .heads(app)?
            .release
            .ok_or(AppError::NoRelease(*app))
    }

    /// Install the current release of a local app Mimei, granting `grants` (each must
    /// be asked for by the manifest). Creates the app's data Mimei.
    pub fn install(&self, app: &MimeiId, grants: &[Permission]) -> Result<InstalledApp> {
        if self.get(app)?.is_some() {
            return Err(AppError::AlreadyInstalled(*app));
        }
        let version = self.release_of(app)?;
        let manifest = self.manifest_at(app, version)?;
        for g in grants {
            if !manifest.permissions.contains(g) {
                return Err(AppError::NotRequested(g.to_string()));
            }
        }
        let data = self.mimeis.ensure(
            &self.user,
            &NewMimei {
                app_type: DATA_TYPE.into(),
                ext: String::new(),
                mark: app.to_string(),
                rights: None,
            },
        )?;
        let installed = InstalledApp {
            id: *app,
            manifest,
            version,
            grants: grants.iter().copied().collect(),
            data,
            installed: now_ms(),
        };
        self.put(&installed)?;
        Ok(installed)
    }

    fn put(&self, a: &InstalledApp) -> Result<()> {
        Ok(self.registry()?.write(&[(app_key(&a.id), Some(json(a)))])?)
    }

    /// An installed app, if it is installed.
    pub fn get(&self, app: &MimeiId) -> Result<Option<InstalledApp>> {
        let Some(reg) = self.registry_existing()? else {
            return Ok(None);
        };
        match reg.get(&app_key(app))? {
            Some(b) => Ok(Some(parse(&b, "installed app")?)),
            None => Ok(None),
        }
    }

    fn installed(&self, app: &MimeiId) -> Result<InstalledApp> {
        self.get(app)?.ok_or(AppError::NotInstalled(*app))
    }

    /// Every installed app with the publisher's current release.
    pub fn list(&self) -> Result<Vec<AppListing>> {
        let Some(reg) = self.registry_existing()? else {
            return Ok(Vec::new());
        };
        reg.scan("app/", None)?
            .into_iter()
            .map(|(_, v)| {
                let app: InstalledApp = parse(&v, "installed app")?;
                let release = self.mimeis.heads(&app.id).ok().and_then(|h| h.release);
                Ok(AppListing { app, release })
            })
            .collect()
    }

    /// Follow the publisher's current release. Grants the new manifest no longer asks
    /// for are dropped; new permissions are not granted until the user grants them.
    pub fn update(&self, app: &MimeiId) -> Result<InstalledApp> {
        let mut a = self.installed(app)?;
        let version = self.release_of(app)?;
        let manifest = self.manifest_at(app, version)?;
        a.grants.retain(|g| manifest.permissions.contains(g));
        a.version = version;
        a.manifest = manifest;
        self.put(&a)?;
        Ok(a)
    }

    /// Uninstall: forget the app, its sessions and tasks; unless `keep_data`, empty its
    /// data Mimei (files and database).
    pub fn uninstall(&self, app: &MimeiId, keep_data: bool) -> Result<InstalledApp> {
        let a = self.installed(app)?;
        let reg = self.registry()?;
        let mut ops: Vec<(String, Option<Vec<u8>>)> = vec![(app_key(app), None)];
        for (k, v) in reg.scan("session/", None)? {
            if parse::<Session>(&v, "session").is_ok_and(|s| s.app == *app) {
                ops.push((k, None));
            }
        }
        for (k, _) in reg.scan(&tasks::prefix(app), None)? {
            ops.push((k, None));
        }
        reg.write(&ops)?;
        if !keep_data {
            self.clear_data(&a.data)?;
        }
        Ok(a)
    }

    fn clear_data(&self, data: &MimeiId) -> Result<()> {
        let top = self
            .mimeis
            .list(&self.user, data, VersionRef::Cur, &MimeiPath::root(), false)?;
        let mut ops: Vec<BatchOp> = Vec::new();
        for e in top {
            self.mimeis.delete(&self.user, data, &e.path)?;
        }
        loop {
            let keys = self.mimeis.db_scan(
                &self.user,
                data,
                VersionRef::Cur,
                &DbRange {
                    limit: Some(1000),
                    ..Default::default()
                },
            )?;
            if keys.is_empty() {
                break;
            }
            ops.clear();
            ops.extend(keys.into_iter().map(|e| BatchOp::DbDelete { key: e.key }));
            self.mimeis.apply_batch(&self.user, data, &ops)?;
        }
        Ok(())
    }

    /// Grant a permission the manifest asks for.
    pub fn grant(&self, app: &MimeiId, perm: Permission) -> Result<InstalledApp> {
        let mut a = self.installed(app)?;
        if !a.manifest.permissions.contains(&perm) {
            return Err(AppError::NotRequested(perm.to_string()));
        }
        a.grants.insert(perm);
        self.put(&a)?;
        Ok(a)
    }

    /// Take a permission back.
    pub fn revoke(&self, app: &MimeiId, perm: Permission) -> Result<InstalledApp> {
        let mut a = self.installed(app)?;
        a.grants.remove(&perm);
        self.put(&a)?;
        Ok(a)
    }

    /// A one-time code that opens a session for `app` when its origin receives it.
    pub fn launch(&self, app: &MimeiId) -> Result<String> {
        self.installed(app)?;
        let code = random_token()?;
        let mut l = self
            .launches
            .lock()
            .map_err(|_| MimeiError::Corrupt("launch table poisoned".into()))?;
        l.retain(|_, v| v.made.elapsed() < LAUNCH_CODE_TTL);
        l.insert(
            code.clone(),
            Launch {
                app: *app,
                made: Instant::now(),
            },
        );
        Ok(code)
    }

    /// Exchange a launch code for a session token of `app` (the code works once, only
    /// for the app it was made for, and only for a minute).
    pub fn redeem(&self, app: &MimeiId, code: &str) -> Result<String> {
        let launch = self
            .launches
            .lock()
            .map_err(|_| MimeiError::Corrupt("launch table poisoned".into()))?
            .remove(code)
            .ok_or(AppError::BadLaunchCode)?;
        if launch.app != *app || launch.made.elapsed() >= LAUNCH_CODE_TTL {
            return Err(AppError::BadLaunchCode);
        }
        self.installed(app)?;
        let token = random_token()?;
        let s = Session {
            app: *app,
            expires: now_ms() + SESSION_TTL_MS,
        };
        self.registry()?
            .write(&[(session_key(&token), Some(json(&s)))])?;
        Ok(token)
    }

    /// The installed app a session token belongs to, if it is valid for `app`.
    pub fn session(&self, app: &MimeiId, token: &str) -> Result<Option<InstalledApp>> {
        let Some(reg) = self.registry_existing()? else {
            return Ok(None);
        };
        let Some(b) = reg.get(&session_key(token))? else {
            return Ok(None);
        };
        let s: Session = parse(&b, "session")?;
        if s.app != *app || s.expires < now_ms() {
            return Ok(None);
        }
        self.get(app)
    }
}

#[cfg(test)]
mod tests;

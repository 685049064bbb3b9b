//! Identity for the CLI. TEMPORARY until the identity module lands: a stand-in user ID
//! kept in `user-id` so the rest of the CLI can be built and tested.

use std::path::Path;

use anyhow::{Context, Result};
use leither_core::identity::UserId;

pub fn exists(data_dir: &Path) -> bool {
    data_dir.join("user-id").exists()
}

pub fn create(data_dir: &Path) -> Result<UserId> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = UserId::from_bytes(raw);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(data_dir.join("user-id"), id.to_string())?;
    Ok(id)
}

pub fn load(data_dir: &Path) -> Result<UserId> {
    let s = std::fs::read_to_string(data_dir.join("user-id"))
        .context("no identity here: run `leither init` first")?;
    Ok(s.trim().parse()?)
}

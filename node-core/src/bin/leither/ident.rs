//! Identity commands and unlocking: where the CLI meets `leither_core::identity`.
//!
//! Secrets live in the OS keyring when one works, else in `keys.enc` protected by a
//! passphrase taken from `LEITHER_PASSPHRASE`, `--passphrase-file`, or a prompt.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use leither_core::identity::{
    Identity, IdentityError, IdentityOptions, KeyBackend, Passphrase, PassphrasePurpose,
    RecoveryPhrase,
};

/// Where a passphrase for the key file comes from.
#[derive(Debug, Clone, Default)]
pub struct PassphraseSource {
    pub file: Option<PathBuf>,
}

impl PassphraseSource {
    pub fn get(&self, purpose: PassphrasePurpose) -> Result<Passphrase, IdentityError> {
        if let Ok(p) = std::env::var("LEITHER_PASSPHRASE") {
            return Ok(Passphrase::from(p));
        }
        if let Some(f) = &self.file {
            let text = std::fs::read_to_string(f).map_err(|e| {
                IdentityError::PassphraseUnavailable(format!("reading {}: {e}", f.display()))
            })?;
            return Ok(Passphrase::from(
                text.trim_end_matches(['\n', '\r']).to_string(),
            ));
        }
        if !std::io::stdin().is_terminal() {
            return Err(IdentityError::PassphraseUnavailable(
                "no OS keyring here; set LEITHER_PASSPHRASE or pass --passphrase-file".into(),
            ));
        }
        let prompt = |p: &str| {
            rpassword::prompt_password(p)
                .map_err(|e| IdentityError::PassphraseUnavailable(e.to_string()))
        };
        match purpose {
            PassphrasePurpose::Unlock => Ok(Passphrase::from(prompt(
                "Passphrase for the Leither key file: ",
            )?)),
            PassphrasePurpose::New => {
                eprintln!("No OS keyring is available: your keys go into an encrypted file.");
                let a = prompt("Choose a passphrase for it: ")?;
                let b = prompt("Repeat it: ")?;
                if a != b {
                    return Err(IdentityError::PassphraseUnavailable(
                        "the two passphrases differ".into(),
                    ));
                }
                Ok(Passphrase::from(a))
            }
        }
    }
}

/// Create a new identity (or recover one from its phrase) in `data_dir`.
pub fn create(
    data_dir: &Path,
    backend: KeyBackend,
    recover: Option<RecoveryPhrase>,
    pass: &PassphraseSource,
) -> Result<(Identity, Option<RecoveryPhrase>)> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let options = IdentityOptions::new(backend);
    Ok(match recover {
        Some(phrase) => (
            Identity::recover(data_dir, &phrase, &options, |p| pass.get(p))?,
            None,
        ),
        None => {
            let (id, phrase) = Identity::create(data_dir, &options, |p| pass.get(p))?;
            (id, Some(phrase))
        }
    })
}

/// Read a recovery phrase from a file or, interactively, from the terminal.
pub fn read_phrase(file: Option<&Path>) -> Result<RecoveryPhrase> {
    let text = match file {
        Some(f) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        None => {
            if !std::io::stdin().is_terminal() {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                rpassword::prompt_password("Recovery phrase (24 words): ")?
            }
        }
    };
    if text.trim().is_empty() {
        bail!("no recovery phrase given");
    }
    Ok(RecoveryPhrase::parse(&text)?)
}

/// Unlock the identity of `data_dir`.
pub fn unlock(data_dir: &Path, pass: &PassphraseSource) -> Result<Identity> {
    Ok(Identity::load(data_dir, |p| pass.get(p))?)
}

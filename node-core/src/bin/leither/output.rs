//! Printing results: human text by default, JSON with `--json` (for scripts).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

pub struct Out {
    pub json: bool,
}

impl Out {
    /// Print `v` as JSON with `--json`, else run `human`.
    pub fn value<T: Serialize>(&self, v: &T, human: impl FnOnce()) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v)?);
        } else {
            human();
        }
        Ok(())
    }

    /// Run `f` only in human mode.
    pub fn human(&self, f: impl FnOnce()) {
        if !self.json {
            f();
        }
    }

    pub fn is_tty(&self) -> bool {
        std::io::stdout().is_terminal()
    }

    /// A progress bar on stderr when a person is watching.
    pub fn progress_bar(&self, what: &str) -> Option<ProgressBar> {
        if self.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        Some(bar)
    }
}

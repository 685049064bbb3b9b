//! The Leither app on Android (and iOS): the same shell as the desktop
//! (`leither_desktop::run`: the node in-process, its UI in the app's webview), always
//! with the light-node profile — a phone serves only its own user's data, keeps
//! storage and connections bounded, and has no tray (the OS decides when it runs).

use std::path::PathBuf;

/// Android's private storage of this app (`identifier` in src-tauri/tauri.conf.json),
/// unless `LEITHER_DATA_DIR` says otherwise.
fn data_dir() -> PathBuf {
    std::env::var_os("LEITHER_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/data/data/org.leither.desktop/files/leither"))
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let options = leither_desktop::Options {
        data_dir: Some(data_dir()),
        light: true,
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
    };
    if let Err(e) = leither_desktop::run(options) {
        eprintln!("error: {e:#}");
    }
}

//! The Leither desktop shell: the node runs in this process (the same
//! `leither_core::run::start` as `leither run`, same data directory and identity), and
//! a window shows the node's own UI from its loopback URL. There is no second API: the
//! window talks to the node over HTTP like a browser would.
//!
//! - Closing the window hides it; the node keeps running. The tray icon opens it
//!   again, pauses sync, toggles start-at-login, or quits.
//! - One instance: starting the app again shows the running one's window.
//! - The API token reaches the page through an initialization script that runs only
//!   on the node's own origin, never through a URL.

use std::path::PathBuf;
use std::sync::Mutex;

use leither_core::config::{self, Config, Profile};
use leither_core::run::{Running, StartOptions};
use tauri::{Manager, WebviewUrl, WebviewWindowBuilder};

/// How to start the shell.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Data directory (default: the platform's, or `LEITHER_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// Run the light-node profile.
    pub light: bool,
    /// API address (default: config `api.listen`; a free port if that one is taken).
    pub listen: Option<std::net::SocketAddr>,
}

impl Options {
    /// `--data-dir DIR`, `--light`, `--listen ADDR` (the rest is ignored: the OS and
    /// WebDriver may add their own arguments).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Options {
        let mut o = Options::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--light" => o.light = true,
                "--data-dir" => o.data_dir = it.next().map(PathBuf::from),
                "--listen" => o.listen = it.next().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        o
    }
}

/// The running node, kept in Tauri's state so Quit can stop it cleanly.
struct NodeState(Mutex<Option<Running>>);

/// The window's label.
const MAIN: &str = "main";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Start the node, then the UI. Returns when the app quits.
pub fn run(options: Options) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    init_logging();
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(config::default_data_dir);
    let mut cfg = Config::load(&data_dir)?;
    if options.light {
        cfg.node.profile = Profile::Light;
    }
    if let Some(l) = options.listen {
        cfg.api.listen = l;
    }
    let running = tauri::async_runtime::block_on(start_node(data_dir, cfg))?;
    tracing::info!(url = %running.url, ms = started.elapsed().as_millis() as u64, "node started in-process");
    let url = running.url.clone();
    let script = token_script(&running);

    let builder = tauri::Builder::default();
    #[cfg(desktop)]
    let builder = builder
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_main(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ));
    let app = builder
        .manage(NodeState(Mutex::new(Some(running))))
        .setup(move |app| {
            let page: tauri::Url = format!("{url}/").parse()?;
            WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(page))
                .title("Leither")
                .inner_size(1100.0, 740.0)
                .min_inner_size(420.0, 480.0)
                .initialization_script(&script)
                .build()?;
            #[cfg(desktop)]
            tray::build(app.handle())?;
            Ok(())
        })
        .on_page_load(move |webview, payload| {
            if let tauri::webview::PageLoadEvent::Finished = payload.event() {
                tracing::info!(
                    ms = started.elapsed().as_millis() as u64,
                    url = %payload.url(),
                    label = webview.label(),
                    "window ready"
                );
            }
        })
        .on_window_event(|window, event| {
            // Close hides: the node keeps serving the user's devices and friends.
            #[cfg(desktop)]
            if let tauri::WindowEvent::CloseRequested { api, .. } = event
                && window.label() == MAIN
            {
                api.prevent_close();
                let _ = window.hide();
                tracing::info!("window closed; the node keeps running (tray icon: Quit)");
            }
            #[cfg(not(desktop))]
            let _ = (window, event);
        })
        .build(tauri::generate_context!())?;
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            stop_node(handle);
        }
    });
    Ok(())
}

/// The node, on the configured port or, if that is taken (a headless node of another
/// data directory, say), on a free one.
async fn start_node(data_dir: PathBuf, cfg: Config) -> anyhow::Result<Running> {
    let first = leither_core::run::start(StartOptions {
        data_dir: data_dir.clone(),
        config: cfg.clone(),
        identity: None,
    })
    .await;
    match first {
        Err(e) if format!("{e:#}").contains("listening on") => {
            tracing::warn!("{e:#}; using a free port");
            let mut cfg = cfg;
            cfg.api.listen.set_port(0);
            leither_core::run::start(StartOptions {
                data_dir,
                config: cfg,
                identity: None,
            })
            .await
        }
        other => other,
    }
}

/// The script that hands the page its token: only on the node's own origin, so an app
/// or any other page the window might show never sees it.
fn token_script(running: &Running) -> String {
    let origin = serde_json::to_string(&running.url).unwrap_or_default();
    let token = serde_json::to_string(running.token()).unwrap_or_default();
    format!(
        "(function(){{if(window.location.origin==={origin}){{\
         Object.defineProperty(window,'__LEITHER__',{{value:Object.freeze({{token:{token},shell:'desktop'}})}});}}}})();"
    )
}

fn show_main<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

fn stop_node<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let state = app.state::<NodeState>();
    let running = state.0.lock().ok().and_then(|mut g| g.take());
    if let Some(mut r) = running {
        if let Err(e) = tauri::async_runtime::block_on(r.stop()) {
            tracing::warn!("stopping the node: {e:#}");
        }
        tracing::info!("node stopped");
    }
}

#[cfg(desktop)]
mod tray {
    use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
    use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
    use tauri::{AppHandle, Manager, Runtime};
    use tauri_plugin_autostart::ManagerExt;

    use super::{NodeState, show_main};

    fn set_sync_paused<R: Runtime>(app: &AppHandle<R>, paused: bool) {
        if let Ok(g) = app.state::<NodeState>().0.lock()
            && let Some(r) = g.as_ref()
        {
            r.gateway.set_sync_paused(paused);
        }
    }

    pub fn build<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
        let open = MenuItem::with_id(app, "open", "Open Leither", true, None::<&str>)?;
        let pause = CheckMenuItem::with_id(app, "pause", "Pause sync", true, false, None::<&str>)?;
        let autostart_on = app.autolaunch().is_enabled().unwrap_or(false);
        let autostart = CheckMenuItem::with_id(
            app,
            "autostart",
            "Start at login",
            true,
            autostart_on,
            None::<&str>,
        )?;
        let quit = MenuItem::with_id(app, "quit", "Quit (stops the node)", true, None::<&str>)?;
        let sep = PredefinedMenuItem::separator(app)?;
        let menu = Menu::with_items(app, &[&open, &pause, &autostart, &sep, &quit])?;
        let pause_item = pause.clone();
        let autostart_item = autostart.clone();
        let mut tray = TrayIconBuilder::with_id("leither")
            .tooltip("Leither")
            .menu(&menu)
            .show_menu_on_left_click(false)
            .on_menu_event(move |app, event| match event.id().as_ref() {
                "open" => show_main(app),
                "pause" => {
                    let paused = pause_item.is_checked().unwrap_or(false);
                    set_sync_paused(app, paused);
                }
                "autostart" => {
                    let want = autostart_item.is_checked().unwrap_or(false);
                    let al = app.autolaunch();
                    let r = if want { al.enable() } else { al.disable() };
                    if let Err(e) = r {
                        tracing::warn!("start at login: {e}");
                        let _ = autostart_item.set_checked(!want);
                    }
                }
                "quit" => app.exit(0),
                _ => {}
            })
            .on_tray_icon_event(|tray, event| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
                {
                    show_main(tray.app_handle());
                }
            });
        if let Some(icon) = app.default_window_icon() {
            tray = tray.icon(icon.clone());
        }
        tray.build(app)?;
        Ok(())
    }
}

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

//! `leither-desktop [--data-dir DIR] [--light] [--listen ADDR]`

fn main() {
    let options = leither_desktop::Options::from_args(std::env::args().skip(1));
    if let Err(e) = leither_desktop::run(options) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

// The shell UI is embedded with include_dir (api/ui.rs); rebuild when its files change.
fn main() {
    println!("cargo:rerun-if-changed=../ui/shell");
}

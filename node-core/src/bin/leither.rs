//! `leither`: the headless Leither node and its command line.
fn main() {
    println!("leither {}", env!("CARGO_PKG_VERSION"));
}

#!/usr/bin/env bash
# Build the desktop app as a Debian package (.deb), offline once crates and npm
# packages are cached. Needs the Tauri build packages (see .ci/run / MACHINE-NOTES).
#   ./package.sh            -> prints the path of the .deb
set -euo pipefail
cd "$(dirname "$0")"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
# The Tauri CLI from npm (a prebuilt binary in the npm package; `cargo install
# tauri-cli` works too but compiles for ~8 minutes).
if [ ! -x src-tauri/node_modules/.bin/tauri ]; then
  npm ci --prefix src-tauri --no-audit --no-fund >&2
fi
CI=true src-tauri/node_modules/.bin/tauri build --bundles deb >&2
deb=$(ls -t "$TARGET"/release/bundle/deb/*.deb | head -1)
echo "$deb"

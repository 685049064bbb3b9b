#!/usr/bin/env bash
# Run Leither. With a display ($DISPLAY or $WAYLAND_DISPLAY) and the Tauri build
# packages installed: the desktop app (node in-process, UI in a window, tray icon).
# Otherwise: the headless node, serving its API and UI on http://127.0.0.1:7787
# (`leither ui` prints the signed-in link). The first build takes minutes.
# Extra arguments go to the program: e.g. --light, or --listen 127.0.0.1:0.
#   LEITHER_HEADLESS=1 ./run.sh   forces the headless node.
set -euo pipefail
cd "$(dirname "$0")"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${LEITHER_HEADLESS:-}" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] \
   && pkg-config --exists webkit2gtk-4.1 2>/dev/null; then
  cargo build --release -p leither-desktop
  exec "$TARGET/release/leither-desktop" "$@"
fi
cargo build --release -p leither-core --bin leither
# First run: create or restore the identity in the browser (the UI), not here.
exec "$TARGET/release/leither" run --onboard "$@"
